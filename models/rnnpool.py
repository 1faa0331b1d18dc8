"""The RNNPool operator (patch -> 4*h2 vector) and RNNPoolLayer (the operator strided over a feature map)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.errors import ModelInputError
from models.fastgrnn import FastGRNN


class RNNPool(nn.Module):
    """RNNPool(nRows, nCols, nHiddenDims, nHiddenDimsBiDir, inputDims), EdgeML's argument order and names.

    Input [P, k, r, c] (P patches), output [P, 4 * h2] ordered
    [rows forward, rows backward, columns forward, columns backward] final states, where "rows" is the
    bidirectional RNN2 over the r summaries that RNN1 makes along each row, and "columns" the RNN2 over the
    c summaries RNN1 makes down each column. zeta/nu start at 100/-100 (sigmoid 1 and 0) as in EdgeML.
    The sparsity arguments are kept fractions of W1, U1, W2, U2, applied by :meth:`sparsify`.
    """

    def __init__(
        self,
        nRows: int,
        nCols: int,
        nHiddenDims: int,
        nHiddenDimsBiDir: int,
        inputDims: int,
        w1Sparsity: float = 1.0,
        u1Sparsity: float = 1.0,
        w2Sparsity: float = 1.0,
        u2Sparsity: float = 1.0,
    ) -> None:
        super().__init__()
        self.nRows = nRows
        self.nCols = nCols
        self.nHiddenDims = nHiddenDims
        self.nHiddenDimsBiDir = nHiddenDimsBiDir
        self.inputDims = inputDims
        self.cell_rnn = FastGRNN(
            inputDims, nHiddenDims, zetaInit=100.0, nuInit=-100.0, wSparsity=w1Sparsity, uSparsity=u1Sparsity
        )
        self.cell_bidirrnn = FastGRNN(
            nHiddenDims,
            nHiddenDimsBiDir,
            zetaInit=100.0,
            nuInit=-100.0,
            bidirectional=True,
            wSparsity=w2Sparsity,
            uSparsity=u2Sparsity,
        )

    @property
    def output_dims(self) -> int:
        """Length of the vector one patch becomes (4 * h2)."""
        return 4 * self.nHiddenDimsBiDir

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """[P, k, r, c] patches -> [P, 4 * h2]."""
        expected = (self.inputDims, self.nRows, self.nCols)
        if inputs.dim() != 4 or tuple(inputs.shape[1:]) != expected:
            raise ModelInputError(
                f"RNNPool expects patches of shape [P, {expected[0]}, {expected[1]}, {expected[2]}], "
                f"got {tuple(inputs.shape)}"
            )
        patches, k, r, c = inputs.shape
        # Pass A: RNN1 runs down each column (time = rows, batch = patch x column).
        down_columns = inputs.permute(2, 0, 3, 1).reshape(r, patches * c, k)
        column_summaries = self.cell_rnn(down_columns).reshape(patches, c, -1).transpose(0, 1)
        columns = self.cell_bidirrnn(column_summaries)
        # Pass B: RNN1 runs along each row (time = columns, batch = patch x row).
        along_rows = inputs.permute(3, 0, 2, 1).reshape(c, patches * r, k)
        row_summaries = self.cell_rnn(along_rows).reshape(patches, r, -1).transpose(0, 1)
        rows = self.cell_bidirrnn(row_summaries)
        return torch.cat([rows, columns], dim=1)

    def sparsify(self) -> None:
        """Hard-threshold W1, U1, W2, U2 to their kept fractions."""
        self.cell_rnn.cell.sparsify()
        self.cell_bidirrnn.cell.sparsify()


class RNNPoolLayer(RNNPool):
    """RNNPool strided over a feature map: [B, k, H, W] -> [B, 4 * h2, (H - r) // s + 1, (W - c) // s + 1].

    It is an RNNPool (same parameters, same names) whose forward takes a whole feature map, so a model that
    registers it as ``rnn_model`` keeps EdgeML's state_dict keys. Use :meth:`pool_patches` for raw patches.
    """

    def __init__(
        self,
        nRows: int,
        nCols: int,
        nHiddenDims: int,
        nHiddenDimsBiDir: int,
        inputDims: int,
        stride: int,
        **sparsity: float,
    ) -> None:
        super().__init__(nRows, nCols, nHiddenDims, nHiddenDimsBiDir, inputDims, **sparsity)
        if stride < 1:
            raise ModelInputError(f"RNNPoolLayer stride must be >= 1, got {stride}")
        self.stride = stride

    def pool_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """The bare operator: [P, k, r, c] -> [P, 4 * h2]."""
        return super().forward(patches)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """[B, k, H, W] -> [B, 4 * h2, H', W'] with H' = (H - nRows) // stride + 1 (no padding)."""
        if feature_map.dim() != 4 or feature_map.shape[1] != self.inputDims:
            raise ModelInputError(
                f"RNNPoolLayer expects a [B, {self.inputDims}, H, W] feature map, got {tuple(feature_map.shape)}"
            )
        batch, k, height, width = feature_map.shape
        if height < self.nRows or width < self.nCols:
            raise ModelInputError(
                f"RNNPoolLayer needs a map of at least {self.nRows}x{self.nCols}, got {height}x{width}"
            )
        out_h = (height - self.nRows) // self.stride + 1
        out_w = (width - self.nCols) // self.stride + 1
        columns = F.unfold(feature_map, kernel_size=(self.nRows, self.nCols), stride=self.stride)
        patches = columns.transpose(1, 2).reshape(batch * out_h * out_w, k, self.nRows, self.nCols)
        pooled = self.pool_patches(patches)
        return pooled.reshape(batch, out_h, out_w, -1).permute(0, 3, 1, 2)

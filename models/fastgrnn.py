"""FastGRNN cell and its unrolled (optionally shared-bidirectional) RNN, with EdgeML's parameter names.

Module attributes mirror EdgeML's ``edgeml_pytorch.graph.rnn`` (``FastGRNN.cell``, ``FastGRNN.unrollRNN.RNNCell``,
``unrollRNN.RNNCell_reverse``) so that an EdgeML state_dict, which lists the shared cell under every one of these
paths, loads unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from models.errors import ModelInputError


def hard_threshold(matrix: torch.Tensor, keep_fraction: float) -> torch.Tensor:
    """Zero all but the ``keep_fraction`` largest-magnitude entries (EdgeML's ``utils.hardThreshold``)."""
    if keep_fraction >= 1.0:
        return matrix
    flat = matrix.abs().flatten()
    keep = max(1, round(keep_fraction * flat.numel()))
    threshold = torch.topk(flat, keep, sorted=True).values[-1]
    return matrix * (matrix.abs() >= threshold).to(matrix.dtype)


class FastGRNNCell(nn.Module):
    """One FastGRNN step.

    z = sigmoid(W x + U h + b_g), h~ = tanh(W x + U h + b_h),
    h' = z * h + (sigmoid(zeta) * (1 - z) + sigmoid(nu)) * h~.
    W is [input_size, hidden_size] and U is [hidden_size, hidden_size], as in EdgeML (x @ W).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        zetaInit: float = 1.0,
        nuInit: float = -4.0,
        wSparsity: float = 1.0,
        uSparsity: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.w_sparsity = wSparsity
        self.u_sparsity = uSparsity
        self.W = nn.Parameter(0.1 * torch.randn(input_size, hidden_size))
        self.U = nn.Parameter(0.1 * torch.randn(hidden_size, hidden_size))
        self.bias_gate = nn.Parameter(torch.ones(1, hidden_size))
        self.bias_update = nn.Parameter(torch.ones(1, hidden_size))
        self.zeta = nn.Parameter(zetaInit * torch.ones(1, 1))
        self.nu = nn.Parameter(nuInit * torch.ones(1, 1))

    def step(self, w_comp: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Advance one step given the precomputed input projection ``x @ W``."""
        pre_comp = w_comp + state @ self.U
        z = torch.sigmoid(pre_comp + self.bias_gate)
        h_tilde = torch.tanh(pre_comp + self.bias_update)
        return z * state + (torch.sigmoid(self.zeta) * (1.0 - z) + torch.sigmoid(self.nu)) * h_tilde

    def forward(self, input: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """h' for input [batch, input_size] and state [batch, hidden_size]."""
        return self.step(input @ self.W, state)

    @torch.no_grad()
    def sparsify(self) -> None:
        """Hard-threshold W and U to their target densities (EdgeML's ``wSparsity``/``uSparsity``: kept fraction)."""
        self.W.copy_(hard_threshold(self.W, self.w_sparsity))
        self.U.copy_(hard_threshold(self.U, self.u_sparsity))


class FastGRNNUnroll(nn.Module):
    """Unrolls a cell over time; EdgeML's ``unrollRNN``, holding the cell as ``RNNCell`` (and ``RNNCell_reverse``)."""

    def __init__(self, cell: FastGRNNCell, bidirectional: bool) -> None:
        super().__init__()
        self.RNNCell = cell
        self.bidirectional = bidirectional
        if bidirectional:
            self.RNNCell_reverse = cell

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        """Final hidden state(s) for ``sequence`` [time, batch, input] with zero initial state.

        Returns [batch, hidden] or, when bidirectional, [batch, 2 * hidden] = [forward final, backward final].
        """
        if self.bidirectional:
            # Both directions share the cell, so run them as one batch: the sequence and its time reversal.
            batch = sequence.shape[1]
            both = torch.cat([sequence, sequence.flip(0)], dim=1)
            final = self._run(both)
            return torch.cat([final[:batch], final[batch:]], dim=1)
        return self._run(sequence)

    def _run(self, sequence: torch.Tensor) -> torch.Tensor:
        cell = self.RNNCell
        w_comp = sequence @ cell.W
        state = sequence.new_zeros(sequence.shape[1], cell.hidden_size)
        for t in range(sequence.shape[0]):
            state = cell.step(w_comp[t], state)
        return state


class FastGRNN(nn.Module):
    """FastGRNN over a [time, batch, input] sequence, returning final state(s); EdgeML's ``FastGRNN`` layout."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        zetaInit: float = 1.0,
        nuInit: float = -4.0,
        bidirectional: bool = False,
        wSparsity: float = 1.0,
        uSparsity: float = 1.0,
    ) -> None:
        super().__init__()
        self.cell = FastGRNNCell(
            input_size, hidden_size, zetaInit=zetaInit, nuInit=nuInit, wSparsity=wSparsity, uSparsity=uSparsity
        )
        self.unrollRNN = FastGRNNUnroll(self.cell, bidirectional)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        """Final state [batch, hidden] (or [batch, 2 * hidden] when bidirectional)."""
        if sequence.dim() != 3 or sequence.shape[2] != self.cell.input_size:
            raise ModelInputError(
                f"FastGRNN expects a [time, batch, {self.cell.input_size}] tensor, got shape {tuple(sequence.shape)}"
            )
        return self.unrollRNN(sequence)

"""FastGRNN and RNNPool against an independent reference written with explicit loops over rows and columns."""

from __future__ import annotations

import math

import pytest
import torch

from models.errors import ModelInputError
from models.fastgrnn import FastGRNNCell, hard_threshold
from models.rnnpool import RNNPool, RNNPoolLayer


def reference_step(cell: FastGRNNCell, x: list[float], h: list[float]) -> list[float]:
    """One FastGRNN step with scalar loops (W is input x hidden, U hidden x hidden)."""
    W, U = cell.W.tolist(), cell.U.tolist()
    bg, bh = cell.bias_gate[0].tolist(), cell.bias_update[0].tolist()
    zeta = 1 / (1 + math.exp(-cell.zeta.item()))
    nu = 1 / (1 + math.exp(-cell.nu.item()))
    out = []
    for j in range(len(h)):
        pre = sum(x[i] * W[i][j] for i in range(len(x))) + sum(h[i] * U[i][j] for i in range(len(h)))
        z = 1 / (1 + math.exp(-(pre + bg[j])))
        h_tilde = math.tanh(pre + bh[j])
        out.append(z * h[j] + (zeta * (1 - z) + nu) * h_tilde)
    return out


def reference_run(cell: FastGRNNCell, sequence: list[list[float]]) -> list[float]:
    h = [0.0] * cell.hidden_size
    for x in sequence:
        h = reference_step(cell, x, h)
    return h


def reference_rnnpool(pool: RNNPool, patch: torch.Tensor) -> list[float]:
    """[k, r, c] -> rows fwd, rows bwd, columns fwd, columns bwd, with explicit row/column loops."""
    k, r, c = patch.shape
    rnn1, rnn2 = pool.cell_rnn.cell, pool.cell_bidirrnn.cell
    pixel = [[[patch[ch, i, j].item() for ch in range(k)] for j in range(c)] for i in range(r)]
    row_summaries = [reference_run(rnn1, [pixel[i][j] for j in range(c)]) for i in range(r)]
    column_summaries = [reference_run(rnn1, [pixel[i][j] for i in range(r)]) for j in range(c)]
    return (
        reference_run(rnn2, row_summaries)
        + reference_run(rnn2, row_summaries[::-1])
        + reference_run(rnn2, column_summaries)
        + reference_run(rnn2, column_summaries[::-1])
    )


def randomised_pool(rows: int, cols: int, k: int, h1: int, h2: int, cls: type = RNNPool, **kwargs: int) -> RNNPool:
    torch.manual_seed(0)
    pool = cls(rows, cols, h1, h2, k, **kwargs)
    with torch.no_grad():
        for cell, zeta, nu in ((pool.cell_rnn.cell, 0.7, -1.2), (pool.cell_bidirrnn.cell, -0.4, 0.3)):
            cell.W.normal_(0, 0.5)
            cell.U.normal_(0, 0.5)
            cell.bias_gate.normal_(0, 0.5)
            cell.bias_update.normal_(0, 0.5)
            cell.zeta.fill_(zeta)
            cell.nu.fill_(nu)
    return pool


def test_cell_matches_equations() -> None:
    torch.manual_seed(1)
    cell = FastGRNNCell(3, 5, zetaInit=0.5, nuInit=-0.5)
    x, h = torch.randn(1, 3), torch.randn(1, 5)
    expected = reference_step(cell, x[0].tolist(), h[0].tolist())
    torch.testing.assert_close(cell(x, h)[0], torch.tensor(expected), atol=1e-5, rtol=1e-5)


def test_rnnpool_matches_loop_reference_on_non_square_patches() -> None:
    pool = randomised_pool(rows=3, cols=5, k=2, h1=4, h2=3)
    patches = torch.randn(2, 2, 3, 5)
    out = pool(patches)
    assert out.shape == (2, 12)
    for p in range(2):
        torch.testing.assert_close(out[p], torch.tensor(reference_rnnpool(pool, patches[p])), atol=1e-5, rtol=1e-5)


def test_rnnpool_output_order_rows_before_columns() -> None:
    """A patch that varies only along rows gives identical column summaries, so the columns' fwd == bwd."""
    pool = randomised_pool(rows=4, cols=4, k=1, h1=3, h2=2)
    patch = torch.arange(4.0).view(1, 1, 4, 1).expand(1, 1, 4, 4) / 4
    out = pool(patch.contiguous())[0]
    rows_fwd, rows_bwd, cols_fwd, cols_bwd = out.split(2)
    torch.testing.assert_close(cols_fwd, cols_bwd)
    assert not torch.allclose(rows_fwd, rows_bwd, atol=1e-4)


def test_rnnpool_layer_strides_the_operator() -> None:
    layer = randomised_pool(rows=4, cols=4, k=2, h1=3, h2=2, cls=RNNPoolLayer, stride=2)
    feature_map = torch.randn(2, 2, 8, 10)
    out = layer(feature_map)
    assert out.shape == (2, 8, 3, 4)
    for b in range(2):
        for i in range(3):
            for j in range(4):
                patch = feature_map[b, :, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4]
                torch.testing.assert_close(
                    out[b, :, i, j], torch.tensor(reference_rnnpool(layer, patch)), atol=1e-5, rtol=1e-5
                )


def test_rnnpool_defaults_follow_edgeml() -> None:
    pool = RNNPool(8, 8, 16, 16, 4)
    assert pool.cell_rnn.cell.zeta.item() == 100.0 and pool.cell_rnn.cell.nu.item() == -100.0
    assert pool.cell_rnn.cell.W.shape == (4, 16) and pool.cell_bidirrnn.cell.U.shape == (16, 16)
    assert pool(torch.randn(3, 4, 8, 8)).shape == (3, 64)


def test_rnnpool_rejects_wrong_patch_shape() -> None:
    with pytest.raises(ModelInputError, match=r"\[P, 4, 8, 8\]"):
        RNNPool(8, 8, 16, 16, 4)(torch.randn(2, 4, 8, 7))
    with pytest.raises(ModelInputError, match="at least 8x8"):
        RNNPoolLayer(8, 8, 16, 16, 4, stride=4)(torch.randn(1, 4, 6, 20))


def test_sparsify_keeps_the_configured_fraction() -> None:
    pool = RNNPool(8, 8, 16, 16, 4, w1Sparsity=0.5, u1Sparsity=0.3, w2Sparsity=0.3, u2Sparsity=0.3)
    pool.sparsify()
    assert int((pool.cell_rnn.cell.W != 0).sum()) == 32
    assert int((pool.cell_rnn.cell.U != 0).sum()) == round(0.3 * 256)
    assert int((pool.cell_bidirrnn.cell.W != 0).sum()) == round(0.3 * 256)
    matrix = torch.tensor([[1.0, -5.0], [3.0, 0.5]])
    assert torch.equal(hard_threshold(matrix, 0.5), torch.tensor([[0.0, -5.0], [3.0, 0.0]]))

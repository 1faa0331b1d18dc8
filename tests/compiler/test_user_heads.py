"""Forms that detection and classification repositories write their heads and blocks in: SSD's permuted heads
flattened to rows, joined and viewed per box; a TensorFlow port's permute then flatten before a Linear; GhostNet's
channel slice with its trailing axes; YOLOv5's Focus (strided slices joined), a pixel unshuffle, a crop, and a
maximum with a constant. Each captures, computes what torch does, and compiles host C == golden."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hil.compiler import float_executor
from hil.compiler.bench_layers import Fn, realistic_inputs, seeded
from hil.compiler.capture import capture
from hil.compiler.ir import to_graph_layout
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.errors import CompileError
from tests.compiler.host_golden import assert_host_c_equals_golden

SHAPE = (1, 3, 16, 16)


class SsdHeads(nn.Module):
    """Two feature maps, each with a loc head (3 anchors x 4) and a conf head (3 anchors x 2), flattened as
    ssd.pytorch does: permute(0, 2, 3, 1).contiguous().view(b, -1), torch.cat, then view(b, -1, 4) and a softmax
    over the classes."""

    def __init__(self) -> None:
        super().__init__()
        self.f1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU6())
        self.f2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU6())
        self.loc = nn.ModuleList([nn.Conv2d(8, 12, 3, padding=1), nn.Conv2d(16, 12, 3, padding=1)])
        self.conf = nn.ModuleList([nn.Conv2d(8, 6, 3, padding=1), nn.Conv2d(16, 6, 3, padding=1)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.f1(x)
        features = (first, self.f2(first))
        loc = [head(f).permute(0, 2, 3, 1).contiguous() for head, f in zip(self.loc, features, strict=True)]
        conf = [head(f).permute(0, 2, 3, 1).contiguous() for head, f in zip(self.conf, features, strict=True)]
        loc = torch.cat([o.view(o.size(0), -1) for o in loc], 1)
        conf = torch.cat([o.view(o.size(0), -1) for o in conf], 1)
        return loc.view(loc.size(0), -1, 4), F.softmax(conf.view(conf.size(0), -1, 2), dim=-1)


class PermutedClassifier(nn.Module):
    """A TensorFlow port: the map permuted to NHWC and flattened in that order before its Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 6, 3, 2, 1), nn.Linear(6 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        return self.fc(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))


class GhostModule(nn.Module):
    """GhostNet's module: a convolution, a cheap depthwise one on its output, both joined and sliced to the output
    channels with the trailing axes written out."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.primary = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU())
        self.cheap = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary(x)
        out = torch.cat([x1, self.cheap(x1)], dim=1)
        return out[:, : self.out_channels, :, :]


def _check(model: nn.Module, ops: list[str], tmp_path) -> None:
    x = realistic_inputs(SHAPE, 1)[0] * 4
    with torch.no_grad():
        expected = model(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ops
    got = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, to_graph_layout(e.numpy()) if e.dim() == 4 else e.numpy(), atol=1e-5)
    inputs = [to_graph_layout(v.numpy()) for v in realistic_inputs(SHAPE, 4)]
    compiled = compile_model(model, x, inputs, tmp_path / "c", "heads")
    assert_host_c_equals_golden(compiled, inputs[:2], tmp_path / "host", type(model).__name__)


def test_ssd_heads_flattened_joined_and_viewed_per_box(tmp_path) -> None:
    """Before, view(b, -1) of a permuted map failed; now loc and conf are each one concat_rows of their heads'
    maps, whatever the heads' channels (12 values a pixel viewed as rows of 4), and the softmax over the classes
    runs on conf's last axis."""
    conv = ["conv2d"] * 6
    _check(seeded(SsdHeads(), 0), [*conv, "concat_rows", "concat_rows", "softmax"], tmp_path)


def test_a_linear_on_a_map_flattened_channels_last(tmp_path) -> None:
    """The Linear's weight columns are put in channel-major order after the map's flatten_chw (before, the reshape
    of a permuted map to rows failed)."""
    _check(seeded(PermutedClassifier(), 0), ["conv2d", "flatten_chw", "linear"], tmp_path)


@pytest.mark.parametrize(("out_channels", "ops"), [(6, ["slice_channels"]), (8, [])])
def test_a_channel_slice_written_with_its_trailing_axes(out_channels: int, ops: list[str], tmp_path) -> None:
    """x[:, :n, :, :] is x[:, :n] (it failed before); keeping every channel is no node at all."""
    _check(seeded(GhostModule(out_channels), 0), ["conv2d", "conv2d", "concat_channels", *ops], tmp_path)


class Focus(nn.Module):
    """YOLOv5's Focus: the four pixels of every 2x2 block as channels by strided slices, then a convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = (x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2])
        return self.conv(torch.cat(parts, 1))


class Reshaped(nn.Module):
    """A convolution, a pixel unshuffle, a crop of some channels' middle rows and columns, and a maximum and a
    minimum with constants."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(self.conv(x), 2)[:, 2:14, 1:-1, 2:7]
        return torch.minimum(torch.maximum(x, torch.tensor(-0.25)), torch.tensor(2.0))


def test_yolov5_focus_is_four_pixel_slices_joined(tmp_path) -> None:
    """x[..., ::2, ::2] and its three neighbours each subsample the input (slice_pixels: they failed before), and
    the four are joined along the channels."""
    _check(seeded(Focus(), 0), [*["slice_pixels"] * 4, "concat_channels", "conv2d"], tmp_path)


def test_a_pixel_unshuffle_a_crop_and_a_clamp_by_tensors(tmp_path) -> None:
    """pixel_unshuffle is space_to_depth, a slice of channels, rows and columns is slice_channels then
    slice_pixels, and torch.maximum / torch.minimum with a one-value tensor are one clamp table (each failed
    before)."""
    ops = ["conv2d", "space_to_depth", "slice_channels", "slice_pixels", "activation"]
    _check(seeded(Reshaped(), 0), ops, tmp_path)


def _reorg(x: torch.Tensor, s: int = 2) -> torch.Tensor:
    """YOLOv2's reorg layer as PyTorch ports write it (darknet's order): three views and transposes."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // s, s, w // s, s).transpose(3, 4).contiguous()
    x = x.view(b, c, h // s * w // s, s * s).transpose(2, 3).contiguous()
    x = x.view(b, c, s * s, h // s, w // s).transpose(1, 2).contiguous()
    return x.view(b, s * s * c, h // s, w // s)


@pytest.mark.parametrize(
    ("moved", "ops"),
    [
        (_reorg, ["space_to_depth", "permute_channels"]),
        (
            lambda x: x.view(1, 8, 8, 2, 8, 2).permute(0, 1, 3, 5, 2, 4).reshape(1, 32, 8, 8),
            ["space_to_depth"],
        ),
        (lambda x: x.view(1, 2, 2, 2, 16, 16).permute(0, 1, 4, 2, 5, 3).reshape(1, 2, 32, 32), ["depth_to_space"]),
        (lambda x: x.view(1, 2, 2, 2, 16, 16).permute(0, 3, 4, 1, 5, 2).reshape(1, 2, 32, 32), ["depth_to_space"]),
    ],
    ids=["YOLOv2 reorg", "space to depth by hand", "pixel shuffle by hand", "depth to space in DCR order"],
)
def test_a_block_move_written_as_views_and_a_permute(moved, ops: list[str]) -> None:
    """Views and permutes that end in a map of another shape are a space_to_depth (then a channel permutation) or
    a depth_to_space (after one, which folds into the convolution before), when the steps replayed on indices are
    exactly that; they failed before. Each computes what torch does."""
    model = seeded(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Fn(moved)), 0).eval()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        expected = to_graph_layout(model(x).numpy())
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ["conv2d", *ops]
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("picked", "ops", "shape"),
    [
        (lambda x: x[:, :, 3], ["slice_pixels"], (1, 1, 16, 8)),
        (lambda x: x[:, :, 3, -2], ["slice_pixels", "flatten_chw"], (1, 8)),
        (lambda x: F.adaptive_avg_pool2d(x, 1)[..., 0, 0], ["avgpool", "flatten_chw"], (1, 8)),
        (lambda x: F.adaptive_avg_pool2d(x, 1)[:, 2:5, 0, 0], ["avgpool", "slice_channels", "flatten_chw"], (1, 3)),
    ],
    ids=["a row", "a pixel", "a pooled map's one pixel", "some channels of it"],
)
def test_rows_and_pixels_picked_by_index(picked, ops: list[str], shape: tuple[int, ...]) -> None:
    """A row of a map by index is the sequence of that row; a pixel (also the one pixel of a global pool, as
    classifiers write x[..., 0, 0]) is rows [B, C]. They failed before; each computes what torch does."""
    model = seeded(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Fn(picked)), 0)
    x = torch.randn(SHAPE)
    graph = optimize(capture(model, x))
    assert [n.op for n in graph.nodes] == ["conv2d", *ops]
    assert graph.tensors[graph.outputs[0]].shape == shape
    (got,) = float_executor.outputs(graph, [to_graph_layout(x.numpy())])
    with torch.no_grad():
        np.testing.assert_allclose(got, to_graph_layout(model(x).numpy(), shape), atol=1e-5)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        (lambda o: o.permute(0, 2, 3, 1).reshape(1, -1), r"model output: reads \[B, M\] rows of NHWC-permuted maps"),
        (lambda o: o.permute(0, 2, 3, 1).reshape(1, -1).view(1, 2, -1, 4), r"may be viewed only as \[B, N, k\]"),
        (lambda o: o[:, 1], r"only slices of a map's channels \(step 1\), rows and columns \(any step, or one by"),
        (lambda o: o[:, :, :, 3], r"only slices of a map's channels \(step 1\), rows and columns"),
        (lambda o: o[:, ::2], r"only slices of a map's channels \(step 1\)"),
        (lambda o: torch.maximum(o, o * 2), r"torch\.maximum of a tensor and a one-value constant"),
        (lambda o: torch.minimum(o, torch.ones(8, 1, 1)), r"torch\.minimum of a tensor and a one-value constant"),
        (
            lambda o: o.view(1, 8, 4, 64).transpose(2, 3).reshape(1, 32, 8, 8),
            r"^model output: reads a rearranged \[1, 8, 16, 16\]",
        ),
    ],
    ids=[
        "rows read as they are",
        "rows viewed as 4-d",
        "one channel by index",
        "one column of a map by index",
        "every other channel",
        "maximum of two maps",
        "minimum with a constant per channel",
        "views that move pixels but are no block move",
    ],
)
def test_a_head_form_the_compiler_cannot_take_is_named(form, named: str) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Fn(form)).eval()
    with pytest.raises(CompileError, match=named) as error:
        capture(model, torch.zeros(SHAPE))
    assert "\n" not in str(error.value)

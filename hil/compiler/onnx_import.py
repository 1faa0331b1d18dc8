"""ONNX in: an .onnx file as a PyTorch module the compiler captures like any other.

The `onnx` package parses the file; each node becomes the PyTorch layer it stands for (Conv -> nn.Conv2d,
ConvTranspose -> nn.ConvTranspose2d, PRelu -> nn.PReLU, Gemm -> nn.Linear, BatchNormalization -> nn.BatchNorm2d/1d,
DepthToSpace -> F.pixel_shuffle, the rest their torch.nn.functional forms), run in the graph's order, so capture
sees the same modules and functions a hand-written model gives it and compiles to the same C.

Why not onnx2torch: it requires torchvision (Requires-Dist, and its NMS/RoiAlign converters import it when the
package loads), which this project does not install (torch stays 2.13.0 alone). The operators below are the ones
the compiler takes; any other fails here in one line naming it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hil.compiler.onnx_spelled_out import find_layer_norms, find_spelled_out
from hil.errors import CompileError


class OnnxImportError(CompileError):
    """An .onnx file the importer cannot read, or a node whose operator it (or the compiler) cannot take."""


def _onnx():
    try:
        import onnx
    except ImportError as error:
        raise OnnxImportError("reading .onnx files needs the onnx package: pip install -e '.[onnx]'") from error
    return onnx


def _load(path: Path):
    onnx = _onnx()
    path = Path(path)
    if not path.is_file():
        raise OnnxImportError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as error:  # onnx raises DecodeError, ValidationError, ... for a damaged file
        raise OnnxImportError(
            f"{path}: not a valid ONNX model ({type(error).__name__}: {error})".split("\n")[0]
        ) from error
    return model


def _first_input(graph, path: Path):
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if not inputs:
        raise OnnxImportError(f"{path}: the graph has no input")
    return inputs[0]


def _input_shape_of(model, path: Path, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The first input's shape: input_shape where given (it must fit the dimensions the file fixes), else the file's,
    with a symbolic batch (`dynamic_axes={"input": {0: "batch"}}`) as 1. Any other symbolic dimension needs
    input_shape: the generated C has one fixed size, and guessing 1 for a height would compile the wrong model."""
    info = _first_input(model.graph, path)
    dims = info.type.tensor_type.shape.dim
    declared = [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    spelled = "x".join(str(v) if v else (d.dim_param or "?") for v, d in zip(declared, dims, strict=True))
    if input_shape is not None:
        fits = len(input_shape) == len(declared)
        if not fits or any(v not in (None, s) for v, s in zip(declared, input_shape, strict=True)):
            given = ",".join(str(s) for s in input_shape)
            raise OnnxImportError(f"{path}: input shape {given} does not fit input '{info.name}' of shape {spelled}")
        return tuple(input_shape)
    open_axes = [axis for axis, v in enumerate(declared) if v is None and axis > 0]
    if open_axes:
        names = ", ".join(dims[axis].dim_param or f"axis {axis}" for axis in open_axes)
        raise OnnxImportError(
            f"{path}: input '{info.name}' ({spelled}) leaves {names} open: give the shape with --input-shape "
            f"(e.g. 1,3,240,320) or, in a pytest run, as --model {path}@1x3x240x320; or export with fixed sizes"
        )
    return tuple(v or 1 for v in declared)


def onnx_input_shape(path: Path, input_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The shape the model's first input is compiled for (`_input_shape_of` says how it is chosen)."""
    return _input_shape_of(_load(path), Path(path), input_shape)


def onnx_output_names(path: Path) -> tuple[str, ...]:
    """The names of the model's outputs, in order."""
    return tuple(o.name for o in _load(path).graph.output)


def _attrs(node) -> dict:
    onnx = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(attrs: dict, node_name: str) -> tuple[int, int, int, int]:
    """ONNX pads [top, left, bottom, right] of a 2-d op, or of a 1-d op's one row ([begin, end] as [0, begin, 0,
    end]); auto_pad other than NOTSET is refused."""
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise OnnxImportError(f"ONNX node '{node_name}': auto_pad {attrs['auto_pad']!r} is not supported (use pads)")
    pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
    top, left, bottom, right = (0, pads[0], 0, pads[1]) if len(pads) == 2 else pads
    return top, left, bottom, right


class OnnxModule(nn.Module):
    """The graph's nodes in order; layers with weights are submodules, named after the ONNX nodes."""

    def __init__(self, path: Path, input_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        model = _load(path)
        self.input_shape = _input_shape_of(model, path, input_shape)
        graph = model.graph
        onnx = _onnx()
        self.constants: dict[str, np.ndarray] = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in self.constants]
        self.output_names = [o.name for o in graph.output]
        self.layers = nn.ModuleDict()
        self.steps: list[tuple[str, list[str], list[str], Callable]] = []  # (node for messages, inputs, outputs, run)
        nodes = list(graph.node)
        for node in nodes:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = onnx.numpy_helper.to_array(_attrs(node)["value"])
        probe = ShapeProbe(self)
        spelled = [
            *find_spelled_out(nodes, self.constants, self.output_names, _attrs),
            *find_layer_norms(nodes, self.constants, self.output_names, _attrs),
        ]
        inside = {i for s in spelled for i in s.nodes[:-1]}
        roots = {s.nodes[-1]: s for s in spelled}
        for index, node in enumerate(nodes):
            name = node.name or f"{node.op_type}_{index}"
            if node.op_type == "Constant" or index in inside:
                continue
            if index in roots:
                activation = roots[index]
                run = lambda x, *_, f=activation.function: f(x)  # noqa: E731
                label = f"{name}' ({activation.name} spelled out)"
                self.steps.append((label, [activation.source], list(node.output), run))
                continue
            operands = [n for n in node.input if n]
            if node.op_type == "Shape":
                self.constants[node.output[0]] = _shape_of(node, probe.shape(node.input[0], name))
                continue
            if node.op_type in FOLD and all(n in self.constants for n in operands):
                arrays = [self.constants[n] if n else None for n in node.input]
                self.constants[node.output[0]] = np.asarray(FOLD[node.op_type](_attrs(node), *arrays))
                continue
            if node.op_type not in CONVERTERS:
                raise OnnxImportError(
                    f"ONNX node '{name}': operator {node.op_type} is not supported; supported: {', '.join(CONVERTERS)}"
                )
            step = CONVERTERS[node.op_type](self, name, node, _attrs(node))
            self.steps.append((f"{name}' ({node.op_type})", list(node.input), list(node.output), step))

    def constant(self, name: str, node_name: str) -> np.ndarray:
        if name not in self.constants:
            raise OnnxImportError(f"ONNX node '{node_name}': input '{name}' must be a constant (an initializer)")
        return self.constants[name]

    def _constant_tensor(self, name: str) -> torch.Tensor | None:
        """An operand that is a constant (x + c, x * c), as a tensor capture takes as one; None for an absent one."""
        return _tensor(self.constants[name]) if name in self.constants else None

    def add_layer(self, node_name: str, layer: nn.Module) -> nn.Module:
        key = re.sub(r"\W", "_", node_name).strip("_") or "layer"
        while key in self.layers:
            key += "_"
        self.layers[key] = layer
        return layer

    def run(self, values: dict[str, torch.Tensor], steps: list) -> dict[str, torch.Tensor]:
        """values (the inputs, then each step's outputs as it runs) after steps, a part of self.steps."""
        for node, names, outputs, step in steps:
            args = [values[n] if n in values else self._constant_tensor(n) for n in names]
            try:
                result = step(*args)
                for name, value in zip(outputs, result if isinstance(result, tuple) else (result,), strict=False):
                    values[name] = value
            except OnnxImportError:
                raise
            except CompileError as error:  # capture refused what the node became: name the node
                raise OnnxImportError(f"ONNX node '{node}: {error}") from error
        return values

    def forward(self, *inputs: torch.Tensor):
        values = self.run(dict(zip(self.input_names, inputs, strict=True)), self.steps)
        outs = [values[n] for n in self.output_names]
        return outs[0] if len(outs) == 1 else tuple(outs)


class ShapeProbe:
    """Shapes of the values an importing module has built so far, from running its steps on zeros of its input
    shape. Exporters compute chunk sizes and views from Shape nodes, and ONNX's shape inference cannot follow a
    Slice or Reshape whose bounds are computed, nor any value at all in a file exported with dynamic axes."""

    def __init__(self, module: OnnxModule) -> None:
        self.module = module
        self.values = {name: torch.zeros(module.input_shape) for name in module.input_names[:1]}
        self.ran = 0

    def shape(self, name: str, node_name: str) -> tuple[int, ...]:
        if name in self.module.constants:
            return tuple(self.module.constants[name].shape)
        if len(self.module.input_names) == 1:
            with torch.no_grad():
                self.module.run(self.values, self.module.steps[self.ran :])
            self.ran = len(self.module.steps)
        if name not in self.values:
            raise OnnxImportError(f"ONNX node '{node_name}': Shape of '{name}', which depends on a second input")
        return tuple(self.values[name].shape)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _with_weights(m: OnnxModule, name: str, node, layer: nn.Module, weight: np.ndarray) -> None:
    """A convolution's weight, and its bias (the node's third input) where it has one, copied in; the layer added."""
    with torch.no_grad():
        layer.weight.copy_(_tensor(weight))
        if layer.bias is not None:
            layer.bias.copy_(_tensor(m.constant(node.input[2], name)))
    m.add_layer(name, layer)


def _conv(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Conv: nn.Conv2d, or nn.Conv1d for a sequence's 1-d kernel (its pads symmetric)."""
    weight = m.constant(node.input[1], name)
    if weight.ndim not in (3, 4):
        raise OnnxImportError(f"ONNX node '{name}': only 1-d and 2-d convolutions are supported, got {weight.shape}")
    top, left, bottom, right = _pads(a, name)
    symmetric = (top, left) == (bottom, right)  # else the zeros go in an F.pad the compiler folds into the conv
    if weight.ndim == 3 and not symmetric:
        raise OnnxImportError(f"ONNX node '{name}': a 1-d convolution with asymmetric pads is not supported")
    groups, one_d = int(a.get("group", 1)), weight.ndim == 3
    conv = (nn.Conv1d if one_d else nn.Conv2d)(
        weight.shape[1] * groups,
        weight.shape[0],
        tuple(weight.shape[2:]),
        stride=tuple(a.get("strides", [1] * (weight.ndim - 2))),
        padding=(left,) if one_d else ((top, left) if symmetric else 0),
        dilation=tuple(a.get("dilations", [1] * (weight.ndim - 2))),
        groups=groups,
        bias=len(node.input) > 2 and bool(node.input[2]),
    )
    _with_weights(m, name, node, conv, weight)
    if symmetric:
        return lambda x, *_: conv(x)
    return lambda x, *_: conv(F.pad(x, (left, right, top, bottom)))


def _conv_transpose(m: OnnxModule, name: str, node, a: dict) -> Callable:
    weight = m.constant(node.input[1], name)
    top, left, bottom, right = _pads(a, name)
    if weight.ndim != 4 or (top, left) != (bottom, right) or "output_shape" in a:
        raise OnnxImportError(
            f"ONNX node '{name}': only 2-d ConvTranspose with symmetric pads and no output_shape is supported"
        )
    groups = int(a.get("group", 1))
    conv = nn.ConvTranspose2d(
        weight.shape[0],
        weight.shape[1] * groups,
        tuple(weight.shape[2:]),
        stride=tuple(a.get("strides", [1, 1])),
        padding=(top, left),
        output_padding=tuple(a.get("output_padding", [0, 0])),
        groups=groups,
        bias=len(node.input) > 2 and bool(node.input[2]),
        dilation=tuple(a.get("dilations", [1, 1])),
    )
    _with_weights(m, name, node, conv, weight)
    return lambda x, *_: conv(x)


def _prelu(m: OnnxModule, name: str, node, a: dict) -> Callable:
    slope = m.constant(node.input[1], name).ravel()
    prelu = m.add_layer(name, nn.PReLU(slope.size))
    with torch.no_grad():
        prelu.weight.copy_(_tensor(slope))
    return lambda x, *_: prelu(x)


def _text(value, default: str) -> str:
    value = default if value is None else value
    return value.decode() if isinstance(value, bytes) else str(value)


# Resize's coordinate transformations a linear Resize takes -> F.interpolate's align_corners (half_pixel is
# PyTorch's own placement; pytorch_half_pixel differs from it only for an output of one pixel, refused below).
LINEAR_TRANSFORMS = {"half_pixel": False, "pytorch_half_pixel": False, "align_corners": True}


def _resize(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Resize by constant scales or sizes (what torch exports nn.Upsample as): nearest, where for whole factors every
    coordinate transformation but align_corners and tf_crop_and_resize picks the same pixels; or linear (bilinear)
    with PyTorch's coordinates."""
    mode, transform = _text(a.get("mode"), "nearest"), _text(a.get("coordinate_transformation_mode"), "half_pixel")
    inputs = list(node.input) + [""] * (4 - len(node.input))
    scales = m.constant(inputs[2], name) if inputs[2] else np.zeros(0)
    sizes = m.constant(inputs[3], name)[2:] if scales.size != 4 else None
    if mode == "linear" and transform in LINEAR_TRANSFORMS and (sizes is None or min(sizes) > 1):
        corners = LINEAR_TRANSFORMS[transform]

        def linear(x: torch.Tensor, *_) -> torch.Tensor:
            size = [round(n * f) for n, f in zip(x.shape[2:], scales[2:], strict=True)] if sizes is None else sizes
            return F.interpolate(x, size=tuple(int(v) for v in size), mode="bilinear", align_corners=corners)

        return linear
    if mode != "nearest" or transform in ("align_corners", "tf_crop_and_resize"):
        raise OnnxImportError(
            f"ONNX node '{name}': only nearest Resize, and linear Resize with coordinate transformation "
            f"{', '.join(LINEAR_TRANSFORMS)} to more than one pixel, are supported, got {mode} ({transform})"
        )
    if sizes is None:
        factor = (float(scales[2]), float(scales[3]))
        return lambda x, *_: F.interpolate(x, scale_factor=factor, mode="nearest")
    return lambda x, *_: F.interpolate(x, size=tuple(int(v) for v in sizes), mode="nearest")


def _depth_to_space(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """DepthToSpace: mode CRD is torch.pixel_shuffle's channel order; mode DCR (ONNX's default, TensorFlow's order)
    takes a block's channels block-major, so its channels are first reordered into CRD's (a permute_channels that
    folds into the convolution before it)."""
    mode, factor = _text(a.get("mode"), "DCR"), int(a["blocksize"])
    if mode == "CRD":
        return lambda x, *_: F.pixel_shuffle(x, factor)

    def dcr(x: torch.Tensor, *_) -> torch.Tensor:
        b, c, h, w = x.shape
        blocks = x.view(b, factor, factor, c // factor**2, h, w).permute(0, 3, 1, 2, 4, 5)
        return F.pixel_shuffle(blocks.reshape(b, c, h, w), factor)

    return dcr


def _gemm(m: OnnxModule, name: str, node, a: dict) -> Callable:
    weight = m.constant(node.input[1], name) * float(a.get("alpha", 1.0))
    if a.get("transA", 0):
        raise OnnxImportError(f"ONNX node '{name}': Gemm with transA is not supported")
    weight = weight if a.get("transB", 0) else weight.T
    bias = m.constant(node.input[2], name) * float(a.get("beta", 1.0)) if len(node.input) > 2 else None
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(_tensor(weight))
        if bias is not None:
            linear.bias.copy_(_tensor(np.broadcast_to(bias, (weight.shape[0],))))
    m.add_layer(name, linear)
    return lambda x, *_: linear(x)


def _matmul(m: OnnxModule, name: str, node, a: dict) -> Callable:
    weight = m.constant(node.input[1], name)
    linear = m.add_layer(name, nn.Linear(weight.shape[0], weight.shape[1], bias=False))
    with torch.no_grad():
        linear.weight.copy_(_tensor(weight.T))
    return lambda x, *_: linear(x)


def _batchnorm(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """A BatchNorm2d for maps and a BatchNorm1d for rows (the input's rank is known only when it runs)."""
    scale, bias, mean, var = (m.constant(n, name) for n in node.input[1:5])
    norms = []
    for kind in (nn.BatchNorm2d, nn.BatchNorm1d):
        bn = m.add_layer(name, kind(len(scale), eps=float(a.get("epsilon", 1e-5))))
        with torch.no_grad():
            for target, value in ((bn.weight, scale), (bn.bias, bias), (bn.running_mean, mean), (bn.running_var, var)):
                target.copy_(_tensor(value))
        norms.append(bn)
    return lambda x, *_: norms[0](x) if x.dim() == 4 else norms[1](x)


def _clip(m: OnnxModule, name: str, node, a: dict) -> Callable:
    bounds = [float(m.constant(n, name)) if n else None for n in list(node.input[1:3]) + [""] * (3 - len(node.input))]
    low = a.get("min", bounds[0] if bounds[0] is not None else -np.inf)
    high = a.get("max", bounds[1] if bounds[1] is not None else np.inf)
    if (low, high) == (0.0, 6.0):
        return lambda x, *_: F.relu6(x)
    if low == 0.0 and high == np.inf:
        return lambda x, *_: F.relu(x)
    return lambda x, *_: F.hardtanh(x, float(low), float(high))


def _pool(kind: str) -> Callable:
    def convert(m: OnnxModule, name: str, node, a: dict) -> Callable:
        top, left, bottom, right = _pads(a, name)
        if (top, left) != (bottom, right):
            raise OnnxImportError(f"ONNX node '{name}': {node.op_type} with asymmetric pads is not supported")
        kernel, stride = tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"]))
        ceil, padding = bool(a.get("ceil_mode", 0)), (left,) if len(kernel) == 1 else (top, left)
        if kind == "max":
            pool = F.max_pool1d if len(kernel) == 1 else F.max_pool2d
            return lambda x, *_: pool(x, kernel, stride, padding, ceil_mode=ceil)
        include = bool(a.get("count_include_pad", 0)) or (top, left) == (0, 0)
        pool = F.avg_pool1d if len(kernel) == 1 else F.avg_pool2d
        return lambda x, *_: pool(x, kernel, stride, padding, ceil, include)

    return convert


def _reshape(m: OnnxModule, name: str, node, a: dict) -> Callable:
    shape = [int(v) for v in m.constant(node.input[1], name)]
    return lambda x, *_: x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])


def _axes(m: OnnxModule, name: str, node, a: dict) -> list[int]:
    """The axes a Squeeze, Unsqueeze or Reduce node names: an attribute below opset 13 (18 for most Reduce nodes),
    its second input from then; none named, []."""
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    return [int(v) for v in m.constant(node.input[1], name)] if len(node.input) > 1 and node.input[1] else []


def _squeeze(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Squeeze of the axes it names (none: every axis of size 1), as torch's."""
    axes = _axes(m, name, node, a)
    return lambda x, *_: x.squeeze(tuple(axes)) if axes else x.squeeze()


def _unsqueeze(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Unsqueeze: an axis of size 1 at each place it names, in increasing order (as ONNX defines them)."""
    axes = _axes(m, name, node, a)

    def unsqueeze(x: torch.Tensor, *_) -> torch.Tensor:
        for axis in sorted(v % (x.dim() + len(axes)) for v in axes):
            x = x.unsqueeze(axis)
        return x

    return unsqueeze


# ONNX's gate order in W, R and B -> PyTorch's: GRU z, r, h -> r, z, n; LSTM i, o, f, c -> i, f, g, o.
ONNX_GATES = {"GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1)}


def _zeros_or_absent(m: OnnxModule, name: str, node_name: str, what: str) -> None:
    if name and np.any(m.constant(name, node_name)):
        raise OnnxImportError(
            f"ONNX node '{node_name}': a nonzero {what} is not supported; the kernels start from zeros"
        )


def _recurrent(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """GRU and LSTM: nn.GRU / nn.LSTM with the node's weights in PyTorch's gate order, run on X as the node lays
    it out (layout 0: [T, B, K], batch_first=False; 1: [B, T, K]); Y comes back in ONNX's [T, D, B, H] (layout 1:
    [B, T, D, H]) and Y_h as the module's h_n, which capture reads per layer (Gather) like a PyTorch model's."""
    kind, inputs = node.op_type, [*node.input, *[""] * 8]
    direction, layout = _text(a.get("direction"), "forward"), int(a.get("layout", 0))
    refused = {
        "direction reverse": direction == "reverse",
        "activations other than the defaults": "activations" in a,
        "clip": "clip" in a,
        "input_forget": bool(a.get("input_forget", 0)),
        "linear_before_reset 0 (PyTorch's GRU applies the reset gate after the linear map)": kind == "GRU"
        and not a.get("linear_before_reset", 0),
        "sequence_lens": bool(inputs[4]),
    }
    if any(refused.values()):
        raise OnnxImportError(
            f"ONNX node '{name}' ({kind}): {', '.join(k for k, v in refused.items() if v)} is not supported"
        )
    _zeros_or_absent(m, inputs[5], name, "initial_h")
    if kind == "LSTM":
        _zeros_or_absent(m, inputs[6], name, "initial_c")
        _zeros_or_absent(m, inputs[7], name, "peephole P")
    w, r = m.constant(inputs[1], name), m.constant(inputs[2], name)
    directions, rows, features = w.shape
    gates = ONNX_GATES[kind]
    hidden = rows // len(gates)
    b = m.constant(inputs[3], name) if inputs[3] else np.zeros((directions, 2 * rows), np.float32)
    layer = (nn.GRU if kind == "GRU" else nn.LSTM)(
        features, hidden, batch_first=bool(layout), bidirectional=directions == 2
    )

    def torch_order(v: np.ndarray) -> torch.Tensor:
        return _tensor(np.concatenate([v[g * hidden : (g + 1) * hidden] for g in gates]))

    with torch.no_grad():
        for d in range(directions):
            suffix = "_reverse" if d else ""
            getattr(layer, f"weight_ih_l0{suffix}").copy_(torch_order(w[d]))
            getattr(layer, f"weight_hh_l0{suffix}").copy_(torch_order(r[d]))
            getattr(layer, f"bias_ih_l0{suffix}").copy_(torch_order(b[d, :rows]))
            getattr(layer, f"bias_hh_l0{suffix}").copy_(torch_order(b[d, rows:]))
    m.add_layer(name, layer)

    def run(x: torch.Tensor, *_) -> tuple:
        out, states = layer(x)
        h = states if kind == "GRU" else states[0]
        if layout:
            y = out.reshape(*out.shape[:2], directions, hidden)
        else:
            y = out.reshape(out.shape[0], out.shape[1], directions, hidden).transpose(1, 2)
        return (y, h) if kind == "GRU" else (y, h, states[1])

    return run


def _gather(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Gather of one constant index along an axis (out[:, -1], h_n[-1] as torch exports them): x[..., i]."""
    index = m.constant(node.input[1], name)
    if index.ndim != 0:
        raise OnnxImportError(f"ONNX node '{name}': only Gather of one index is supported, got indices {index.shape}")
    axis = int(a.get("axis", 0))
    return lambda x, *_: x[(*(slice(None),) * (axis % x.dim()), int(index))]


def _shape_of(node, shape: tuple[int, ...]) -> np.ndarray:
    """A Shape node's value, a constant here: what exporters compute chunk sizes and views from."""
    a = _attrs(node)
    return np.array(shape[a.get("start", 0) : a.get("end", len(shape))], dtype=np.int64)


def _slice_map(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Slice of a map by constant bounds (what chunk exports as): x[:, start:end] along the channels."""
    inputs = list(node.input) + [""] * (5 - len(node.input))
    bounds = [m.constant(n, name) if n else None for n in inputs[1:5]]
    if bounds[0] is None:  # opset < 10: the bounds are attributes
        bounds = [a["starts"], a["ends"], a.get("axes"), None]
    return lambda x, *_: x[_slice_index(x.dim(), *bounds)]


def _split(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """Split (what chunk and split export as): by the sizes it names, else into as many equal parts as outputs."""
    axis = int(a.get("axis", 0))
    sizes = a.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = m.constant(node.input[1], name)
    if sizes is None:
        return lambda x, *_: torch.chunk(x, len(node.output), dim=axis)
    return lambda x, *_: torch.split(x, [int(v) for v in sizes], dim=axis)


def _flatten(m: OnnxModule, name: str, node, a: dict) -> Callable:
    if int(a.get("axis", 1)) != 1:
        raise OnnxImportError(f"ONNX node '{name}': Flatten is supported at axis 1 only")
    return lambda x, *_: torch.flatten(x, 1)


def _pad(m: OnnxModule, name: str, node, a: dict) -> Callable:
    pads = [int(v) for v in (m.constant(node.input[1], name) if len(node.input) > 1 else a["pads"])]
    mode = _text(a.get("mode"), "constant")
    if len(pads) != 8 or any(pads[:2]) or any(pads[4:6]):
        raise OnnxImportError(f"ONNX node '{name}': only padding of rows and columns is supported, got {pads}")
    torch_pads = (pads[3], pads[7], pads[2], pads[6])
    return lambda x, *_: F.pad(x, torch_pads, mode="replicate" if mode == "edge" else mode)


def _softmax(m: OnnxModule, name: str, node, a: dict) -> Callable:
    axis = int(a.get("axis", -1))
    return lambda x, *_: F.softmax(x, dim=axis)


def _reduce(function: Callable) -> Callable:
    """ReduceMean, ReduceSum or ReduceMax over the axes it names (an attribute, or an input from opset 13 for the
    sum and 18 for the others; none: every axis) as its torch function, which capture takes over H and W or over the
    channels."""

    def convert(m: OnnxModule, name: str, node, a: dict) -> Callable:
        axes, keep = _axes(m, name, node, a), bool(a.get("keepdims", 1))
        return lambda x, *_: function(x, tuple(axes) if axes else tuple(range(x.dim())), keepdim=keep)

    return convert


def _gelu(m: OnnxModule, name: str, node, a: dict) -> Callable:
    approximate = _text(a.get("approximate"), "none")
    return lambda x, *_: F.gelu(x, approximate=approximate)


def _layer_norm(m: OnnxModule, name: str, node, a: dict) -> Callable:
    """LayerNormalization (opset 17) over the last axis: F.layer_norm with the node's scale and bias."""
    scale = _tensor(m.constant(node.input[1], name))
    bias = _tensor(m.constant(node.input[2], name)) if len(node.input) > 2 and node.input[2] else None
    eps, axis = float(a.get("epsilon", 1e-5)), int(a.get("axis", -1))

    def layer_norm(x: torch.Tensor, *_) -> torch.Tensor:
        if axis % x.dim() != x.dim() - 1:
            raise OnnxImportError(
                f"ONNX node '{name}': LayerNormalization over axis {axis} (only the last is supported)"
            )
        return F.layer_norm(x, (x.shape[-1],), scale, bias, eps)

    return layer_norm


CONVERTERS: dict[str, Callable] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "Relu": lambda m, n, node, a: lambda x, *_: F.relu(x),
    "Clip": _clip,
    "LeakyRelu": lambda m, n, node, a: lambda x, *_: F.leaky_relu(x, float(a.get("alpha", 0.01))),
    "HardSwish": lambda m, n, node, a: lambda x, *_: F.hardswish(x),
    "HardSigmoid": lambda m, n, node, a: lambda x, *_: F.hardsigmoid(x),
    "Sigmoid": lambda m, n, node, a: lambda x, *_: torch.sigmoid(x),
    "Tanh": lambda m, n, node, a: lambda x, *_: torch.tanh(x),
    "Elu": lambda m, n, node, a: lambda x, *_: F.elu(x, float(a.get("alpha", 1.0))),
    "Celu": lambda m, n, node, a: lambda x, *_: F.celu(x, float(a.get("alpha", 1.0))),
    "Softplus": lambda m, n, node, a: lambda x, *_: F.softplus(x),
    "Gelu": _gelu,
    "LayerNormalization": _layer_norm,
    "PRelu": _prelu,
    "ConvTranspose": _conv_transpose,
    "Resize": _resize,
    "DepthToSpace": _depth_to_space,
    "Softmax": _softmax,
    "MaxPool": _pool("max"),
    "AveragePool": _pool("average"),
    "GlobalAveragePool": lambda m, n, node, a: (
        lambda x, *_: (F.adaptive_avg_pool1d if x.dim() == 3 else F.adaptive_avg_pool2d)(x, 1)
    ),
    "GlobalMaxPool": lambda m, n, node, a: (
        lambda x, *_: (F.adaptive_max_pool1d if x.dim() == 3 else F.adaptive_max_pool2d)(x, 1)
    ),
    "ReduceMean": _reduce(torch.mean),
    "ReduceSum": _reduce(torch.sum),
    "ReduceMax": _reduce(torch.amax),
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Reshape": _reshape,
    "Pad": _pad,
    "Add": lambda m, n, node, a: lambda x, y: x + y,
    "Sub": lambda m, n, node, a: lambda x, y: x - y,
    "Mul": lambda m, n, node, a: lambda x, y: x * y,
    "Div": lambda m, n, node, a: lambda x, y: x / y,
    "Neg": lambda m, n, node, a: lambda x: -x,
    "Max": lambda m, n, node, a: lambda *xs: functools.reduce(torch.maximum, xs),
    "Min": lambda m, n, node, a: lambda *xs: functools.reduce(torch.minimum, xs),
    "Abs": lambda m, n, node, a: lambda x: torch.abs(x),
    "Exp": lambda m, n, node, a: lambda x: torch.exp(x),
    "Log": lambda m, n, node, a: lambda x: torch.log(x),
    "Sqrt": lambda m, n, node, a: lambda x: torch.sqrt(x),
    "Reciprocal": lambda m, n, node, a: lambda x: torch.reciprocal(x),
    "Sin": lambda m, n, node, a: lambda x: torch.sin(x),
    "Cos": lambda m, n, node, a: lambda x: torch.cos(x),
    "Pow": lambda m, n, node, a: lambda x, y: x**y,
    "Concat": lambda m, n, node, a: lambda *xs: torch.cat(xs, dim=int(a["axis"])),
    "Split": _split,
    "Slice": _slice_map,
    "Transpose": lambda m, n, node, a: lambda x: x.permute(*[int(v) for v in a.get("perm", range(x.dim())[::-1])]),
    "GRU": _recurrent,
    "LSTM": _recurrent,
    "Gather": _gather,
    "Dropout": lambda m, n, node, a: lambda x, *_: x,
    "Identity": lambda m, n, node, a: lambda x, *_: x,
}


def _slice_index(rank: int, starts, ends, axes=None, steps=None) -> tuple[slice, ...]:
    """ONNX Slice's bounds as an index up to the last axis it slices (x[:, a:b] for a slice of channels)."""
    axes = range(len(starts)) if axes is None else [int(v) % rank for v in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * (max(axes) + 1)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = slice(int(start), int(end), int(step))
    return tuple(index)


def _slice(a: dict, data, starts, ends, axes=None, steps=None) -> np.ndarray:
    return data[_slice_index(data.ndim, starts, ends, axes, steps)]


# Operators on constants only (the index arithmetic exporters write, e.g. for F.pad), evaluated here with numpy.
FOLD: dict[str, Callable] = {
    "ConstantOfShape": lambda a, shape: np.full(
        [int(v) for v in shape], _onnx().numpy_helper.to_array(a["value"]).ravel()[0] if "value" in a else 0.0
    ),
    "Concat": lambda a, *xs: np.concatenate(xs, axis=int(a["axis"])),
    "Reshape": lambda a, x, shape: x.reshape([x.shape[i] if s == 0 else int(s) for i, s in enumerate(shape)]),
    "Slice": _slice,
    "Transpose": lambda a, x: np.transpose(x, a.get("perm")),
    "Cast": lambda a, x: x.astype(_onnx().helper.tensor_dtype_to_np_dtype(a["to"])),
    "Unsqueeze": lambda a, x, axes=None: np.expand_dims(x, tuple(int(v) for v in (a.get("axes") or axes))),
    "Squeeze": lambda a, x, axes=None: np.squeeze(x, tuple(int(v) for v in (a.get("axes") or axes))),
    "Gather": lambda a, x, i: np.take(x, i, axis=int(a.get("axis", 0))),
    "Expand": lambda a, x, shape: x * np.ones([int(v) for v in shape], dtype=x.dtype),
    "Identity": lambda a, x: x,  # torch.onnx's name for an initializer it deduplicated (equal LayerNorm weights)
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: np.trunc(x / y).astype(x.dtype) if np.issubdtype(x.dtype, np.integer) else x / y,
}


def load_onnx(path: Path, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """The .onnx file at path as an eval-mode PyTorch module for input_shape (default: `onnx_input_shape`'s);
    raises OnnxImportError in one line."""
    return OnnxModule(Path(path), input_shape).eval()

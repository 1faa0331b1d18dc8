"""Capture a PyTorch model into the IR by running it once on an example input.

Modules the compiler knows (convolution, Linear, batch norm, LayerNorm, ReLU/ReLU6, RNNPool, L2Norm) are recorded
whole; the tensor operations a model's own forward applies between them (residual add, arithmetic with constants,
products that are gated activations, padding, channel slices, max, concatenation, the NHWC flatten of the heads,
and LAYER_FUNCTIONS: activations, softmax, pooling, flatten to rows) are recorded through a TorchFunctionMode, so
a module and its functional form are alike. A channels-last tensor (NHWC: a map after permute(0, 2, 3, 1), a
sequence's frames, a map's tokens) is the map's own bytes in the IR, which is NHWC. Tensors computed from the
model's parameters and buffers alone are constants. Running the model, rather than tracing it symbolically, lets its
forward use ordinary Python (shape checks, loops over blocks). Anything else fails here, naming the module and its
type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from hil.compiler import activations
from hil.compiler.ir import Graph, Node, Tensor, affine_params, graph_shape
from hil.errors import CompileError


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32).copy()


def _conv(module: nn.Conv1d | nn.Conv2d) -> tuple[str, dict, dict]:
    """A convolution; a Conv1d is the Conv2d of a map of one row (its kernel 1 x k, its weight [O, I, 1, k])."""
    if module.padding_mode != "zeros":
        raise CompileError(f"only zero padding is supported, got padding_mode '{module.padding_mode}'")
    row = isinstance(module, nn.Conv1d)
    lift = (lambda values, fill: (fill, *values)) if row else (lambda values, fill: tuple(values))
    dilation, kernel = lift(module.dilation, 1), lift(module.kernel_size, 1)
    padding = module.padding if isinstance(module.padding, str) else lift(module.padding, 0)
    attrs = {"stride": lift(module.stride, 1), "padding": padding, "groups": module.groups}
    if module.padding == "same":  # PyTorch's (and TensorFlow's) SAME: the odd zero goes below and right
        total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        attrs["padding"] = tuple(t // 2 for t in total)
        attrs["padding_end"] = tuple(t - t // 2 for t in total)
    elif module.padding == "valid":
        attrs["padding"] = (0, 0)
    if dilation != (1, 1):
        attrs["dilation"] = dilation
    params = {"weight": _np(module.weight)[:, :, None] if row else _np(module.weight)}
    if module.bias is not None:
        params["bias"] = _np(module.bias)
    return "conv2d", attrs, params


def _conv_transpose(module: nn.ConvTranspose2d) -> tuple[str, dict, dict]:
    """A transposed convolution as the convolution it equals. Kernel == stride without padding (a U-Net's 2x2
    stride 2): every input pixel writes its own output block, so a 1x1 convolution to C_out * kh * kw channels
    then depth_to_space (attrs depth_to_space, a data move capture adds after it), which costs no more than the
    output. Otherwise zeros inserted between the input's pixels (attrs insert_zeros, a data move capture adds before
    it), then a stride-1 convolution with the kernel flipped and its channels swapped, padded by kernel - 1 - padding
    (plus output_padding below and right)."""
    if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
        raise CompileError("only groups 1, dilation 1 and zero padding are supported")
    (kh, kw), (ph, pw), (oh, ow) = module.kernel_size, module.padding, module.output_padding
    if ph > kh - 1 or pw > kw - 1:
        raise CompileError(f"padding {ph, pw} beyond kernel - 1 {kh - 1, kw - 1} is not supported")
    weight, bias = _np(module.weight), None if module.bias is None else _np(module.bias)
    if tuple(module.stride) == (kh, kw) and (ph, pw, oh, ow) == (0, 0, 0, 0):
        c_in, c_out = weight.shape[:2]
        params = {"weight": np.ascontiguousarray(weight.transpose(1, 2, 3, 0).reshape(c_out * kh * kw, c_in, 1, 1))}
        if bias is not None:
            params["bias"] = np.repeat(bias, kh * kw)
        return "conv2d", {"stride": (1, 1), "padding": (0, 0), "groups": 1, "depth_to_space": (kh, kw)}, params
    attrs = {
        "stride": (1, 1),
        "padding": (kh - 1 - ph, kw - 1 - pw),
        "padding_end": (kh - 1 - ph + oh, kw - 1 - pw + ow),
        "groups": 1,
        "insert_zeros": tuple(module.stride),
    }
    params = {"weight": np.ascontiguousarray(weight.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])}
    if bias is not None:
        params["bias"] = bias
    return "conv2d", attrs, params


def _batchnorm(module: nn.BatchNorm2d) -> tuple[str, dict, dict]:
    params = {
        "mean": _np(module.running_mean),
        "var": _np(module.running_var),
        "gamma": _np(module.weight) if module.weight is not None else np.ones(module.num_features, np.float32),
        "beta": _np(module.bias) if module.bias is not None else np.zeros(module.num_features, np.float32),
    }
    return "batchnorm", {"eps": float(module.eps)}, params


def _rnnpool(module: nn.Module) -> tuple[str, dict, dict]:
    attrs = {
        "rows": module.nRows,
        "cols": module.nCols,
        "stride": module.stride,
        "hidden1": module.nHiddenDims,
        "hidden2": module.nHiddenDimsBiDir,
    }
    params = {}
    for prefix, cell in (("rnn1", module.cell_rnn.cell), ("rnn2", module.cell_bidirrnn.cell)):
        for name in ("W", "U", "bias_gate", "bias_update", "zeta", "nu"):
            params[f"{prefix}.{name}"] = _np(getattr(cell, name))
    return "rnnpool", attrs, params


def _linear(module: nn.Linear) -> tuple[str, dict, dict]:
    params = {"weight": _np(module.weight)}
    if module.bias is not None:
        params["bias"] = _np(module.bias)
    return "linear", {}, params


def _prelu(module: nn.PReLU) -> tuple[str, dict, dict]:
    """One slope for every channel runs as leaky_relu's table (exact to the int8 grid); a slope per channel runs
    prelu_s8."""
    if module.weight.numel() == 1:
        return "activation", {"function": "leaky_relu", "negative_slope": float(module.weight.reshape(()))}, {}
    return "prelu", {}, {"slope": _np(module.weight)}


def _l2norm(module: nn.Module) -> tuple[str, dict, dict]:
    return "l2norm", {"eps": float(module.eps)}, {"weight": _np(module.weight)}


def _layer_norm(module: nn.LayerNorm) -> tuple[str, dict, dict]:
    """LayerNorm over the last axis alone (a transformer's tokens, ConvNeXt's channels-last map, a vector)."""
    if len(module.normalized_shape) != 1:
        raise CompileError(f"only LayerNorm over the last axis is supported, got {tuple(module.normalized_shape)}")
    return (
        "layer_norm",
        {"eps": float(module.eps)},
        _layer_norm_params(module.weight, module.bias, module.normalized_shape[0]),
    )


def _layer_norm_params(weight, bias, channels: int) -> dict:
    """A layer_norm node's weight and bias: the module's, or 1 and 0 when it has none."""
    return {
        "weight": np.ones(channels, np.float32) if weight is None else _np(weight),
        "bias": np.zeros(channels, np.float32) if bias is None else _np(bias),
    }


def _recurrent(module: nn.GRU | nn.LSTM) -> tuple[str, dict, dict]:
    """A GRU or an LSTM: its layers become nodes where it runs (_recurrent_layers); here only what the kernels
    cannot take."""
    if getattr(module, "proj_size", 0):
        raise CompileError(f"an LSTM with proj_size={module.proj_size} is not supported")
    return type(module).__name__.lower(), {}, {}


def _known_modules() -> dict[type, Callable[[nn.Module], tuple[str, dict, dict]]]:
    from models.blocks import L2Norm
    from models.rnnpool import RNNPoolLayer

    return {
        nn.Conv1d: _conv,
        nn.Conv2d: _conv,
        nn.ConvTranspose2d: _conv_transpose,
        nn.BatchNorm2d: _batchnorm,
        nn.BatchNorm1d: _batchnorm,
        nn.Linear: _linear,
        nn.LayerNorm: _layer_norm,
        nn.GRU: _recurrent,
        nn.LSTM: _recurrent,
        nn.ReLU: lambda m: ("relu", {}, {}),
        nn.ReLU6: lambda m: ("relu6", {}, {}),
        nn.PReLU: _prelu,
        RNNPoolLayer: _rnnpool,
        L2Norm: _l2norm,
    }


NCHW, NHWC, FLAT = "nchw", "nhwc", "flat"  # FLAT: [B, N] rows (after flatten or a Linear), IR shape as torch's
# A [1, C, 1, 1] gate broadcast over a map's pixels by expand or expand_as (SENet's x * y.expand_as(x)): its IR
# tensor is the gate itself, so only a product with that map may read it.
EXPANDED = "expanded [1, C, 1, 1] gate"


@dataclass(frozen=True)
class Rearranged:
    """The layout of a map part-way through views and transposes (a channel shuffle's view to [B, g, C/g, H, W],
    transpose, view back): the map's NCHW shape and the steps so far (function, arguments after the tensor, keyword
    arguments). A view back to that shape ends it: capture replays the steps on indices to find what they did."""

    shape: tuple[int, ...]
    steps: tuple

    def __str__(self) -> str:
        return f"rearranged {list(self.shape)} (a view or transpose not yet back to [B, C, H, W])"

    def replayed(self) -> torch.Tensor:
        """Where each value ends up: the steps run on the flat index of every value of the map."""
        index = torch.arange(math.prod(self.shape)).reshape(self.shape)
        for step, rest, keywords in self.steps:
            index = step(index, *rest, **keywords).contiguous()  # the model's contiguous() is not a step
        return index


@dataclass(frozen=True)
class PermutedRows:
    """[B, M] rows that are NHWC maps' values one map after another: an SSD head's
    o.permute(0, 2, 3, 1).contiguous().view(b, -1), and torch.cat of such rows. They become an IR tensor when viewed
    as [B, N, k] (one concat_rows of the maps, whatever their channels) or read by a Linear."""

    sources: tuple[str, ...]

    def __str__(self) -> str:
        return "[B, M] rows of NHWC-permuted maps (o.permute(0, 2, 3, 1).view(b, -1)) not yet viewed as [B, N, k]"


@dataclass(frozen=True)
class RecurrentStates:
    """A GRU's or an LSTM's final states h_n [layers * directions, B, H], torch's order: per layer forward, then
    backward. Each is one frame of a gru or lstm node's output (its last, or its first when it ran in reverse):
    (IR tensor, reverse)."""

    finals: tuple[tuple[str, bool], ...]
    batch_first: bool = False  # after h_n.transpose(0, 1) (or permute(1, 0, 2)): [B, layers * directions, H]

    def __str__(self) -> str:
        shape = "[B, layers * directions, H]" if self.batch_first else "[layers * directions, B, H]"
        return f"a GRU's or LSTM's final states h_n {shape}"


# One sequence's frames (batch 1) in a shape of other singleton axes whose values, in torch's order, are the IR
# frames' bytes: time-first [T, 1, C] (a GRU or LSTM with batch_first=False, ONNX's), ONNX's Y [T, D, 1, H].
FRAME_BYTES = "frames [T, C] of one sequence in another shape"

# An LSTM's final cell states c_n: no kernel writes them.
CELL_STATES = "an LSTM's final cell states c_n"


# The tensor methods a rearrangement is made of (contiguous is an identity).
REARRANGES = (
    "view",
    "reshape",
    "transpose",
    "permute",
    "flatten",
    "unflatten",
    "swapaxes",
    "movedim",
    "squeeze",
    "unsqueeze",
)

IDENTITIES = ("dropout", "feature_dropout", "alpha_dropout", "contiguous")  # identities in eval mode
ACTIVATIONS = (
    "leaky_relu",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "silu",
    "gelu",
    "elu",
    "celu",
    "selu",
    "softplus",
    "mish",
    "log_sigmoid",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "reciprocal",
    "sin",
    "cos",
)


GATED_FORMS = (
    "x times an element-wise function of x (x * sigmoid(x), x * relu6(x + 3), x * sigmoid(1.702 * x)), x times a "
    "tensor of its shape, or a map times a [1, C, 1, 1] gate of its channels (squeeze-and-excitation) or a "
    "[1, 1, H, W] gate of its pixels (spatial attention)"
)

# torch's names for arithmetic -> the operation; rsub and rdiv are sub and div with their operands swapped.
ARITHMETIC = {
    **dict.fromkeys(("add", "add_", "__add__", "__radd__", "__iadd__"), "add"),
    **dict.fromkeys(("sub", "sub_", "__sub__", "__isub__", "subtract"), "sub"),
    **dict.fromkeys(("rsub", "__rsub__"), "rsub"),
    **dict.fromkeys(("mul", "mul_", "__mul__", "__rmul__", "__imul__", "multiply"), "mul"),
    **dict.fromkeys(("div", "div_", "__truediv__", "__itruediv__", "true_divide", "divide"), "div"),
    **dict.fromkeys(("__rdiv__", "__rtruediv__"), "rdiv"),
    **dict.fromkeys(("neg", "neg_", "__neg__", "negative"), "neg"),
}


def _elementwise_steps(graph: Graph, x: str, gate: str) -> list[activations.FunctionStep] | None:
    """The element-wise steps (table activations, ReLU, ReLU6, constant scales and shifts) that compute gate from
    x, in order; None where gate is not such a function of x."""
    steps: list[activations.FunctionStep] = []
    while gate != x:
        node = graph.producer(gate)
        if node is None:
            return None
        if node.op == "activation":
            steps[:0] = activations.steps_of(node.attrs)
        elif node.op in ("relu", "relu6"):
            steps.insert(0, (node.op, {}))
        elif node.op == "batchnorm" and node.affine_step() is not None:
            steps.insert(0, node.affine_step())
        else:
            return None
        gate = node.inputs[0]
    return steps


class _Capture(TorchFunctionMode):
    """Maps every live torch tensor of the run to an IR tensor, and records the IR nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.graph = Graph({}, [], [], [])
        self.names: dict[int, tuple[str, str]] = {}  # id(tensor) -> (IR tensor, torch layout)
        self.alive: list[torch.Tensor] = []  # keeps ids unique while the run lasts
        self.depth = 0
        self.scopes: list[str] = []  # the container modules whose forward is running, innermost last

    @property
    def where(self) -> str:
        """What a functional op is named after: the innermost container module running it (its block, as
        'mob.5'), or the model's own forward."""
        return self.scopes[-1] if self.scopes else "forward"

    def new_tensor(self, torch_tensor: torch.Tensor, shape: tuple[int, ...], layout: str = NCHW) -> str:
        name = f"t{len(self.graph.tensors)}"
        self.graph.tensors[name] = Tensor(name, shape)
        self.alias(torch_tensor, name, layout)
        return name

    def alias(self, torch_tensor: torch.Tensor, name: str, layout) -> None:
        """torch_tensor holds IR tensor name, in layout (a new one, or one already recorded: an identity, a view);
        it is kept alive so its id stays unique while the run lasts."""
        self.names[id(torch_tensor)] = (name, layout)
        self.alive.append(torch_tensor)

    def lookup(
        self, t: torch.Tensor, what: str, rearranged: bool = False, expanded: bool = False, rows: bool = False
    ) -> tuple[str, str]:
        """The IR tensor and layout of t; a map part-way through a rearrangement, an expanded gate, or rows of
        permuted maps, only where the caller takes one."""
        if id(t) not in self.names:
            raise CompileError(f"{what}: uses a tensor that does not come from the model input (a constant?)")
        name, layout = self.names[id(t)]
        if isinstance(layout, PermutedRows) and not rows:
            raise CompileError(
                f"{what}: reads {layout}; view them as [B, N, k] (loc.view(b, -1, 4)) or feed them to a Linear"
            )
        if isinstance(layout, Rearranged) and not rearranged:
            raise CompileError(
                f"{what}: reads a {layout}; views and transposes of a map must end in a view back to its "
                "[B, C, H, W] before anything else reads it"
            )
        if layout == EXPANDED and not expanded:
            raise CompileError(f"{what}: reads an {layout}; only the product of the map and its gate may read one")
        if layout == FRAME_BYTES:
            raise CompileError(
                f"{what}: reads {layout} {tuple(t.shape)}; view or transpose them back to [1, T, C] first"
            )
        if layout == CELL_STATES:
            raise CompileError(f"{what}: reads {layout}, which the compiled LSTM does not keep; read h_n or the output")
        if isinstance(layout, RecurrentStates):
            raise CompileError(
                f"{what}: reads {layout}; take one layer's state as rows with h_n[-1] (or h_n[i], h_n.squeeze(0) of "
                "a one-layer GRU), or use the output's last frame out[:, -1]"
            )
        return name, layout

    def add_node(
        self,
        op: str,
        name: str,
        inputs: list[str],
        out: torch.Tensor,
        shape,
        attrs=None,
        params=None,
        layout: str = NCHW,
    ) -> None:
        output = self.new_tensor(out, tuple(shape), layout)
        self.graph.nodes.append(Node(op, name, inputs, output, attrs or {}, params or {}))

    def add_table(self, where: str, source: str, steps: list, result: torch.Tensor, layout: str) -> None:
        """An activation node of the table the element-wise steps compute, named after the function it equals
        (activations.named)."""
        function, attrs = activations.named(steps)
        attrs = {"function": function, **attrs}
        self.add_node("activation", where, [source], result, self.graph.tensors[source].shape, attrs, layout=layout)

    def add_inner_node(
        self,
        op: str,
        name: str,
        source: str | list[str],
        shape: tuple[int, ...],
        attrs: dict,
        params: dict | None = None,
    ) -> str:
        """A node whose output no torch tensor holds (the zeros a transposed convolution inserts, the convolution
        before its depth_to_space, the maps torch.stack joins); its output's name."""
        output = f"t{len(self.graph.tensors)}"
        self.graph.tensors[output] = Tensor(output, shape)
        inputs = [source] if isinstance(source, str) else source
        self.graph.nodes.append(Node(op, name, inputs, output, attrs, params or {}))
        return output

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.depth == 0:
            self._record(func, args, kwargs, result)
        return result

    def _record(self, func, args, kwargs, result) -> None:
        operands = [t for a in (*args, *kwargs.values()) for t in (a if isinstance(a, (list, tuple)) else [a])]
        if not any(isinstance(t, torch.Tensor) and id(t) in self.names for t in operands):
            return  # a constant, computed from the model's own parameters or buffers (a mean, a 1 / std)
        if getattr(func, "__name__", "") in IDENTITIES:
            if isinstance(result, torch.Tensor) and result is not args[0]:
                entry = self.names[id(args[0])]
                if entry[1] != FRAME_BYTES and not isinstance(entry[1], RecurrentStates):
                    entry = self.lookup(args[0], f"{self.where}: {func.__name__}", True, True)
                self.alias(result, *entry)
            return
        name = getattr(func, "__name__", repr(func))
        if not isinstance(result, (torch.Tensor, tuple)) or name in ("dim", "size", "__get__"):
            return
        where = f"{self.where}: torch.{name} #{len(self.graph.nodes)}"
        states = [t for t in (args[0] if name == "cat" else args[:1]) if isinstance(t, torch.Tensor)]
        if states and isinstance(self.names.get(id(states[0]), (None, None))[1], RecurrentStates):
            self._final_state(where, func, args, kwargs, result)
            return
        if not any(isinstance(a, (torch.Tensor, list, tuple)) for a in args):
            raise CompileError(f"{where}: takes the model's tensor as a keyword argument; pass it positionally")
        if name in ("view", "reshape", "flatten", "cat") and self._permuted_rows(where, name, args, kwargs, result):
            return
        if name in ("transpose", "permute", "swapaxes", "movedim") and self._channels_last(name, args, kwargs, result):
            return
        if name in ("unsqueeze", "view", "reshape") and self._sequence_as_image(where, args, result):
            return
        if name in REARRANGES and self._same_map(args, result):
            self.alias(result, self.names[id(args[0])][0], NCHW)
            return
        if name in REARRANGES and self._frame_bytes(where, func, args, kwargs, result):
            return
        if name in REARRANGES and self._rearranges(args, result, name):
            self._rearrange(where, func, args, kwargs, result)
        elif name in ("expand", "expand_as"):
            self._expand(where, args, result)
        elif name in ("chunk", "split", "split_with_sizes", "tensor_split"):
            self._split(where, name, args, kwargs, result)
        elif name in LAYER_FUNCTIONS:
            LAYER_FUNCTIONS[name](self, where, name, args, kwargs, result)
        elif name in ARITHMETIC:
            self._arithmetic(where, ARITHMETIC[name], args, kwargs, result)
        elif name == "pad":
            self._pad(where, args, kwargs, result)
        elif name == "__getitem__":
            self._slice(where, args, result)
        elif name == "max":
            source, layout = self.lookup(args[0], where)
            if (
                layout != NCHW
                or kwargs.get("dim", args[1] if len(args) > 1 else None) != 1
                or not kwargs.get("keepdim", False)
            ):
                raise CompileError(f"{where}: only max over channels (dim=1, keepdim=True) is supported")
            values = result[0]
            self.add_node("channel_max", where, [source], values, self._nhwc(values))
        elif name == "cat":
            self._cat(where, args, kwargs, result)
        elif name == "stack":
            self._stack(where, args, kwargs, result)
        elif name == "permute":
            source, layout = self.lookup(args[0], where)
            dims = tuple(args[1:]) if len(args) > 2 else tuple(args[1])
            if layout != NCHW or dims != (0, 2, 3, 1):
                raise CompileError(f"{where}: only permute(0, 2, 3, 1) (to NHWC) is supported, got {dims}")
            self.alias(result, source, NHWC)
        elif name in ("reshape", "view") and self.lookup(args[0], where)[1] == FLAT:
            self._view_rows(where, args, result)
        elif name in ("reshape", "view", "squeeze") and self.lookup(args[0], where)[1] == NCHW:
            _flatten(self, where, name, args, kwargs, result)
        elif name in ("reshape", "view"):
            self._view_channels_last(where, args, result)
        else:
            raise CompileError(
                f"{where}: operation '{name}' is not supported by the compiler; supported: {supported()}"
            )

    @staticmethod
    def _nhwc(t: torch.Tensor) -> tuple[int, ...]:
        return graph_shape(tuple(t.shape))

    def _arithmetic(self, where: str, operation: str, args, kwargs, result: torch.Tensor) -> None:
        """x + y and x - y of two maps (or rows) of one shape (with alpha); x * a gate of x; x and a constant (a
        number, or a tensor the same for every pixel: [C, 1, 1], [1, C, 1, 1]) added, subtracted, multiplied or
        divided."""
        first = args[0]
        second = args[1] if len(args) > 1 else kwargs.get("other")
        if operation in ("rsub", "rdiv"):
            first, second, operation = second, first, operation[1:]
        alpha = kwargs.get("alpha", 1)
        if operation == "div" and kwargs.get("rounding_mode") is not None:
            raise CompileError(f"{where}: division with rounding_mode={kwargs['rounding_mode']!r} is not supported")
        tracked = [isinstance(t, torch.Tensor) and id(t) in self.names for t in (first, second)]
        if all(tracked):
            if operation in ("add", "sub"):
                self._sum(where, first, second, alpha if operation == "add" else -alpha, result)
            elif operation == "mul":
                self._product(where, first, second, result)
            else:
                raise CompileError(
                    f"{where}: of two maps only their sum (x + y), difference (x - y) and product (x * y) are "
                    f"supported, not {operation}"
                )
            return
        x, constant = (first, second) if tracked[0] else (second, first)
        c = np.asarray(constant.detach().cpu() if isinstance(constant, torch.Tensor) else constant, np.float64)
        if operation == "neg":
            scale, offset = -1.0, 0.0
        elif operation in ("add", "sub"):
            sign = 1.0 if operation == "add" else -1.0
            scale, offset = (1.0, sign * alpha * c) if tracked[0] else (sign * alpha, c)
        elif operation == "mul":
            scale, offset = c, 0.0
        elif tracked[0] and np.all(c != 0):
            scale, offset = 1.0 / c, 0.0
        elif not tracked[0] and c.size == 1:
            self._over(where, x, float(c), result)
            return
        else:
            raise CompileError(
                f"{where}: only division by a non-zero constant, or of one number by x, is supported (not a constant "
                "per channel over x)"
            )
        self._affine(where, x, scale, offset, result)

    def _over(self, where: str, x: torch.Tensor, numerator: float, result: torch.Tensor) -> None:
        """numerator / x, as ONNX writes rsqrt (1 / Sqrt(x)): the table of the reciprocal times it."""
        source, layout = self.lookup(x, where)
        if layout not in (NCHW, FLAT):
            raise CompileError(f"{where}: a number over x is supported on NCHW maps and [B, N] rows, got {layout}")
        self.add_table(
            where, source, [("reciprocal", {}), ("affine", {"scale": numerator, "offset": 0.0})], result, layout
        )

    def _sum(self, where: str, first: torch.Tensor, second: torch.Tensor, weight: float, result: torch.Tensor) -> None:
        """first + weight * second: an add, after a scale of second (-1 for x - y, alpha for torch.add's), which
        folds into the convolution that makes it or runs as a table."""
        a, b = self.lookup(first, where), self.lookup(second, where)
        shape = self.graph.tensors[a[0]].shape
        if not (a[1] == b[1] and first.shape == second.shape and self.graph.tensors[b[0]].shape == shape):
            raise CompileError(f"{where}: only the sum or difference of two maps (or rows) of one shape is supported")
        operand = b[0]
        if weight != 1:
            channels = self.graph.tensors[operand].shape[-1]
            scale = affine_params(np.full(channels, float(weight)), np.zeros(channels))
            attrs = {"eps": 0.0}
            operand = self.add_inner_node("batchnorm", f"{where} (x {weight:g})", operand, shape, attrs, scale)
        self.add_node("add", where, [a[0], operand], result, shape, layout=a[1])

    def _affine(self, where: str, x: torch.Tensor, scale, offset, result: torch.Tensor) -> None:
        """scale * x + offset with constants the same for every pixel (or row): a per-channel affine map, the
        batchnorm node (mean 0, variance 1), which folds into the convolution before it or joins a table."""
        source, layout = self.lookup(x, where)
        if tuple(result.shape) != tuple(x.shape):
            raise CompileError(
                f"{where}: arithmetic with a constant is supported on maps, rows and channels-last tensors, keeping "
                f"their shape; got a {layout} tensor of shape {tuple(x.shape)} giving {tuple(result.shape)}"
            )
        axis = 1 if layout == NCHW else x.dim() - 1
        channels = x.shape[axis]
        per_channel = []
        for value in (scale, offset):
            spread = np.moveaxis(np.broadcast_to(np.asarray(value, np.float64), tuple(x.shape)), axis, 0)
            spread = spread.reshape(channels, -1)
            if np.any(spread != spread[:, :1]):
                raise CompileError(
                    f"{where}: a constant operand must be a number or the same for every pixel (one value per "
                    f"channel, shape [C, 1, 1]); got shape {np.shape(value)} for a tensor of shape {tuple(x.shape)}"
                )
            per_channel.append(spread[:, 0].copy())
        params = affine_params(*per_channel)
        shape = self.graph.tensors[source].shape
        self.add_node("batchnorm", where, [source], result, shape, {"eps": 0.0}, params, layout=layout)

    def _view_rows(self, where: str, args, result: torch.Tensor) -> None:
        """Rows [B, N] viewed as they are, or as [B, N, 1, 1] (SENet's gate after its Linear layers): unflatten."""
        source = self.lookup(args[0], where)[0]
        if tuple(result.shape) == tuple(args[0].shape):
            self.alias(result, source, FLAT)
        elif result.dim() == 4 and tuple(result.shape[2:]) == (1, 1) and result.shape[0] == args[0].shape[0]:
            self.add_node("unflatten", where, [source], result, self._nhwc(result))
        else:
            raise CompileError(f"{where}: rows may be viewed only as [B, N, 1, 1], got {tuple(result.shape)}")

    def _expand(self, where: str, args, result: torch.Tensor) -> None:
        """expand or expand_as of a [1, C, 1, 1] gate over a map's pixels: the gate itself, marked EXPANDED."""
        source, layout = self.lookup(args[0], where)
        gate = tuple(args[0].shape)
        if layout != NCHW or gate != (1, gate[1], 1, 1) or tuple(result.shape[:2]) != gate[:2]:
            raise CompileError(
                f"{where}: only expanding a [1, C, 1, 1] gate over a map's pixels is supported (x * "
                f"y.expand_as(x)), got {gate} to {tuple(result.shape)}"
            )
        self.alias(result, source, EXPANDED)

    def _product(self, where: str, first: torch.Tensor, second: torch.Tensor, result: torch.Tensor) -> None:
        """x times a gate of x: the one table activation it is (_gated); else a map times a [1, C, 1, 1] gate of its
        channels (an SE block's, expanded or broadcast), a map times a [1, 1, H, W] gate of its pixels (CBAM's
        spatial attention), or two maps or rows of one shape (a GLU): multiply."""
        names = [self.lookup(t, where, expanded=True) for t in (first, second)]
        layouts = [layout for _, layout in names]
        if EXPANDED not in layouts and self._gated(where, [first, second], result):
            return
        for (x, layout), (other, other_layout) in (names, names[::-1]):
            shape, other_shape = self.graph.tensors[x].shape, self.graph.tensors[other].shape
            channel_gate = other_layout in (NCHW, EXPANDED) and len(shape) == 4 and other_shape == (1, 1, 1, shape[3])
            pixel_gate = other_layout == NCHW and len(shape) == 4 and other_shape == (*shape[:3], 1)
            same = other_layout == layout and other_shape == shape
            if (layout in (NCHW, FLAT) and (channel_gate or pixel_gate)) or (same and layout in (NCHW, FLAT, NHWC)):
                self.add_node("multiply", where, [x, other], result, shape, layout=layout)
                return
        if EXPANDED in layouts:
            raise CompileError(f"{where}: an {EXPANDED} may only multiply the map of its channels")
        raise CompileError(f"{where}: a product of two tensors is supported only as {GATED_FORMS}")

    def _gated(self, where: str, operands: list[torch.Tensor], result: torch.Tensor) -> bool:
        """x times a gate computed from x alone, as models write SiLU (x * torch.sigmoid(x), timm's
        x.mul_(x.sigmoid())), hardswish (x * F.relu6(x + 3) / 6) or QuickGELU (x * torch.sigmoid(1.702 * x)) by
        hand: the one table activation it is, named after the function it equals; whether it was one. The gate's
        own nodes stay until passes.drop_unread removes them, when nothing else reads the gate."""
        names = [self.lookup(t, where, expanded=True) for t in operands]
        for (x, layout), (gate, _) in (names, names[::-1]):
            steps = _elementwise_steps(self.graph, x, gate)
            if steps is not None and layout in (NCHW, FLAT, NHWC):
                self.add_table(where, x, [("gated", {"gate": steps})], result, layout)
                return True
        return False

    def _view_channels_last(self, where: str, args, result: torch.Tensor) -> None:
        """A view of a channels-last tensor. One that keeps the channels last ([B, H*W, C] tokens of a map after
        permute(0, 2, 3, 1), and back to [B, H, W, C]) is the map itself; one to other [B, N, k] rows (an SSD head's
        conf.view(b, -1, classes) of a map of several anchors) is flatten, which concat_rows reads."""
        source, layout = self.lookup(args[0], where)
        if layout != NHWC or result.dim() not in (3, 4):
            raise CompileError(
                f"{where}: only views of a channels-last (NHWC) tensor as [B, N, C] or [B, H, W, C] are supported, "
                f"got {tuple(result.shape)}"
            )
        shape = self.graph.tensors[source].shape
        tokens = result.dim() == 3 and tuple(result.shape[1:]) == (math.prod(shape[1:-1]), shape[-1])
        if len(shape) == 4 and (tokens or tuple(result.shape) == shape):
            self.alias(result, source, NHWC)
        elif result.dim() == 3:
            self.add_node("flatten", where, [source], result, tuple(result.shape), layout=NHWC)
        else:
            raise CompileError(f"{where}: a channels-last tensor of IR shape {shape} viewed as {tuple(result.shape)}")

    def _channels_last(self, name: str, args, kwargs, result) -> bool:
        """A transpose between torch's channels-first order and channels-last (NHWC), which in the IR's NHWC is the
        same bytes: a map's permute(0, 2, 3, 1) is done elsewhere; here a sequence's x.transpose(1, 2) to frames
        [B, L, C], and both back (permute(0, 3, 1, 2), transpose(1, 2) of a sequence's frames). Whether it was one."""
        source, layout = self.names.get(id(args[0]), (None, None))
        if layout not in (NCHW, NHWC) or not isinstance(result, torch.Tensor):
            return False
        rank = args[0].dim()
        probe = torch.empty(tuple(range(2, 2 + rank)))  # distinct sizes: the result's shape names the permutation
        order = tuple(size - 2 for size in getattr(probe, name)(*args[1:], **kwargs).shape)
        sequence = _frames(self, source, args[0])  # a sequence [B, C, L] or its frames: IR [B, 1, L, C] either way
        if layout == NCHW and sequence and order == (0, 2, 1):
            self.alias(result, source, NHWC)
        elif layout == NHWC and ((rank == 4 and order == (0, 3, 1, 2)) or (sequence and order == (0, 2, 1))):
            self.alias(result, source, NCHW)
        else:
            return False
        return True

    def _frame_bytes(self, where: str, func, args, kwargs, result) -> bool:
        """A view, transpose or squeeze of one sequence (batch 1) that keeps the values of frames [T, C] in order:
        time-first [T, 1, C] and back, ONNX's Y [T, D, 1, H]. Of frames (or FRAME_BYTES) in the IR bytes' order, or
        of a sequence [1, T, K] in its torch order read time first, [T, 1, K] (a [1, T, K] input's transpose(0, 1):
        its values transposed once, transpose_rows). An alias: frames when it is [1, T, C], else FRAME_BYTES.
        Whether it was one."""
        source, layout = self.names.get(id(args[0]), (None, None))
        if layout not in (NCHW, NHWC, FRAME_BYTES) or not isinstance(result, torch.Tensor) or result.dim() < 3:
            return False
        shape = self.graph.tensors[source].shape
        if len(shape) != 4 or shape[:2] != (1, 1) or (layout != FRAME_BYTES and not _frames(self, source, args[0])):
            return False
        order = torch.arange(math.prod(shape))

        def keeps(places: torch.Tensor) -> bool:  # whether the step leaves values in the order places numbers them
            return torch.equal(func(places.reshape(args[0].shape), *args[1:], **kwargs).flatten(), order)

        ir_places = order.reshape(1, *shape[2:]).transpose(1, 2) if layout == NCHW else order
        if not keeps(ir_places):
            # a sequence [1, C, L] in torch's order, which the IR holds as [1, 1, L, C]: its values transposed once
            time_first = (args[0].shape[1], 1, args[0].shape[2])
            if layout != NCHW or tuple(result.shape) != time_first or not keeps(order):
                return False
            source = self.frames_of_sequence(where, source, args[0])
            shape = self.graph.tensors[source].shape
        self.alias(result, source, NHWC if tuple(result.shape) == (1, *shape[2:]) else FRAME_BYTES)
        return True

    def _sequence_as_image(self, where: str, args, result) -> bool:
        """x.unsqueeze(1) (or a view to [B, 1, C, L]) of a [B, C, L] sequence: an image of one channel whose rows are
        the sequence's channels, as a keyword spotter reads its [B, frames, MFCCs] input. Its values are the
        sequence's transposed (transpose_rows). Whether it was one."""
        source, layout = self.names.get(id(args[0]), (None, None))
        if layout != NCHW or args[0].dim() != 3 or not isinstance(result, torch.Tensor) or result.dim() != 4:
            return False
        if tuple(result.shape) != (args[0].shape[0], 1, *args[0].shape[1:]):
            return False
        shape = self._nhwc(result)
        self.add_node("transpose_rows", where, [source], result, shape, {"output_shape": shape})
        return True

    def sequence_of_frames(self, where: str, source: str, frames: torch.Tensor) -> str:
        """The IR tensor of channels-last frames [B, L, C] (IR [B, 1, L, C]) read as the sequence [B, L, C] of L
        channels (a Conv1d after x.transpose(1, 2) of a [B, frames, features] input): transpose_rows to
        [B, 1, C, L]."""
        return self._transposed_rows(f"{where} (as a sequence)", source, graph_shape(tuple(frames.shape)))

    def frames_of_sequence(self, where: str, source: str, sequence: torch.Tensor) -> str:
        """The IR tensor of a sequence [B, T, K] (IR [B, 1, K, T]: T channels) read as frames of K features, IR
        [B, 1, T, K] (a GRU or LSTM on a [B, T, K] input): transpose_rows, sequence_of_frames' inverse."""
        return self._transposed_rows(f"{where} (frames)", source, (sequence.shape[0], 1, *sequence.shape[1:]))

    def _transposed_rows(self, name: str, source: str, shape: tuple[int, ...]) -> str:
        return self.add_inner_node("transpose_rows", name, source, shape, {"output_shape": shape})

    def _same_map(self, args, result) -> bool:
        """Whether a view only adds or drops the one row of a sequence (x.unsqueeze(2) of [B, C, L] for a Conv2d of
        1 x k kernels, and squeeze(2) back): the same IR tensor, [B, 1, L, C] either way."""
        source = args[0]
        if not isinstance(result, torch.Tensor) or self.names.get(id(source), (None, None))[1] != NCHW:
            return False
        dims = sorted((source.dim(), result.dim()))
        return dims == [3, 4] and graph_shape(tuple(source.shape)) == graph_shape(tuple(result.shape))

    def _rearranges(self, args, result, name: str) -> bool:
        """Whether a view or transpose is (part of) a rearrangement of a map's values: on a Rearranged tensor, or on
        a map unless it is one of the heads' views (to [B, N] rows, or permute(0, 2, 3, 1) to NHWC)."""
        layout = self.names[id(args[0])][1] if id(args[0]) in self.names else None
        if isinstance(layout, Rearranged):
            return True
        to_nhwc = name == "permute" and tuple(args[1:] if len(args) > 2 else args[1]) == (0, 2, 3, 1)
        map_view = layout == NCHW and args[0].dim() == 4 and isinstance(result, torch.Tensor)
        return map_view and result.dim() != 2 and not to_nhwc

    def _rearrange(self, where: str, func, args, kwargs, result: torch.Tensor) -> None:
        """One step of a rearrangement; when it brings the values back to the map's shape, the channel permutation
        the steps make (permute_channels), found by replaying them on indices. Anything that moves values between
        pixels fails here."""
        source, layout = self.lookup(args[0], where, rearranged=True)
        start = Rearranged(tuple(args[0].shape), ()) if layout == NCHW else layout
        rearranged = Rearranged(start.shape, (*start.steps, (func, tuple(args[1:]), dict(kwargs))))
        if result.dim() == 2 and result.shape[0] == rearranged.shape[0]:
            self._rearranged_rows(where, source, rearranged, result)
            return
        b, c, h, w = rearranged.shape
        tokens = torch.arange(b * c * h * w).reshape(b, c, h, w).permute(0, 2, 3, 1).reshape(b, h * w, c)
        if tuple(result.shape) == tuple(tokens.shape) and torch.equal(rearranged.replayed(), tokens):
            self.alias(result, source, NHWC)  # a map's tokens, x.flatten(2).transpose(1, 2): its NHWC bytes
            return
        if result.dim() == 3 and self._anchor_rows(where, source, rearranged, result):
            return
        if tuple(result.shape) != rearranged.shape:
            if not (result.dim() == 4 and self._block_move(where, source, rearranged, result)):
                self.alias(result, source, rearranged)
            return
        index = rearranged.replayed()
        order = (index[0, :, 0, 0] // (h * w)).numpy()
        grid = np.arange(b * c * h * w).reshape(b, c, h, w)
        if not np.array_equal(index.reshape(b, c, h, w).numpy(), grid[:, order]):
            raise CompileError(
                f"{where}: views and transposes of a map must only reorder its channels (a channel shuffle); these "
                "move values between pixels"
            )
        self._permuted(where, source, [int(v) for v in order], result)

    def _anchor_rows(self, where: str, source: str, rearranged: Rearranged, result: torch.Tensor) -> bool:
        """A YOLO head's x.view(b, na, no, ny, nx).permute(0, 1, 3, 4, 2) viewed as [B, na * ny * nx, no] rows:
        anchor by anchor, each anchor's no channels as rows of its pixels. That is concat_rows of the anchors'
        channel slices. Whether the steps replayed on indices are exactly that."""
        (b, c, h, w), columns = rearranged.shape, result.shape[2]
        if c % columns or tuple(result.shape) != (b, c // columns * h * w, columns):
            return False
        anchors = c // columns
        start = torch.arange(b * c * h * w).reshape(b, anchors, columns, h, w)
        if not torch.equal(rearranged.replayed(), start.permute(0, 1, 3, 4, 2).reshape(tuple(result.shape))):
            return False
        slices = [
            self.add_inner_node("slice_channels", f"{where} (anchor {a})", source, (b, h, w, columns), attrs)
            for a, attrs in enumerate({"start": a * columns, "stop": (a + 1) * columns} for a in range(anchors))
        ]
        self.add_node("concat_rows", where, slices, result, tuple(result.shape), {"columns": columns}, layout=NHWC)
        return True

    def _block_move(self, where: str, source: str, rearranged: Rearranged, result: torch.Tensor) -> bool:
        """A rearrangement that ends in a map of another shape (a space-to-depth or pixel shuffle written as views
        and a permute, YOLOv2's reorg, or torch's own as ONNX exports them): space_to_depth then a channel
        permutation, or a channel permutation then depth_to_space, when the steps replayed on indices are exactly
        that. Whether it was one."""
        (b, c, h, w), (_, c_out, h_out, w_out) = rearranged.shape, tuple(result.shape)
        index = rearranged.replayed().reshape(b, c_out, h_out, w_out)
        start = torch.arange(index.numel()).reshape(b, c, h, w)
        if h_out and h % h_out == 0 and h // h_out == w // max(w_out, 1) > 1 and w % w_out == 0:
            factor = h // h_out
            moved = F.pixel_unshuffle(start, factor)
            where_moved = {int(v): k for k, v in enumerate(moved[0, :, 0, 0])}
            order = [where_moved.get(int(v), -1) for v in index[0, :, 0, 0]]
            if -1 in order or not torch.equal(index, moved[:, order]):
                return False
            shape = (b, h_out, w_out, c_out)
            moved_name = self.add_inner_node("space_to_depth", where, source, shape, {"factor": (factor, factor)})
            self._permuted(where, moved_name, order, result)
            return True
        if h and h_out % h == 0 and h_out // h == w_out // max(w, 1) > 1 and w_out % w == 0:
            factor = h_out // h
            order = (index[0, :, :factor, :factor].reshape(-1) // (h * w)).tolist()
            if sorted(order) != list(range(c)) or not torch.equal(index, F.pixel_shuffle(start[:, order], factor)):
                return False
            permuted = source
            if order != list(range(c)):
                attrs = {"order": tuple(order)}
                permuted = self.add_inner_node("permute_channels", where, source, (b, h, w, c), attrs)
            self.add_node("depth_to_space", where, [permuted], result, self._nhwc(result), {"factor": (factor,) * 2})
            return True
        return False

    def _permuted(self, where: str, source: str, order: list[int], result: torch.Tensor) -> None:
        """result as source's channels in order: the map itself, or a permute_channels node."""
        if order == list(range(len(order))):
            self.alias(result, source, NCHW)
            return
        self.add_node("permute_channels", where, [source], result, self._nhwc(result), {"order": tuple(order)})

    def _rearranged_rows(self, where: str, source: str, rearranged: Rearranged, result: torch.Tensor) -> None:
        """A rearrangement that ends in [B, N] rows (x.squeeze(-1).squeeze(-1) after a global pool): the map's
        flatten in torch's channel-major order when the steps keep that order, else one line."""
        index = rearranged.replayed()
        if not torch.equal(index.reshape(-1), torch.arange(index.numel())):
            raise CompileError(f"{where}: views of a map as rows must keep torch's channel-major order (a flatten)")
        self.add_node("flatten_chw", where, [source], result, tuple(result.shape), layout=FLAT)

    def _split(self, where: str, name: str, args, kwargs, result) -> None:
        """chunk, split or tensor_split of a map along its channels: a slice_channels node per piece."""
        source = _map_input(self, where, args[0], name)
        dim = kwargs.get("dim", args[2] if len(args) > 2 else 0)
        if dim % 4 != 1:
            raise CompileError(f"{where}: only {name} along the channels (dim 1) of a map is supported, got dim {dim}")
        start = 0
        for piece in result:
            stop = start + piece.shape[1]
            self.add_node("slice_channels", where, [source], piece, self._nhwc(piece), {"start": start, "stop": stop})
            start = stop

    def _pad(self, where: str, args, kwargs, result) -> None:
        source, layout = self.lookup(args[0], where)
        pads = tuple(args[1]) if len(args) > 1 else tuple(kwargs["pad"])
        mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
        value = args[3] if len(args) > 3 else kwargs.get("value", None)
        if args[0].dim() == 3 and len(pads) == 2:  # a sequence's ends are its one row's columns
            pads = (*pads, 0, 0)
        if layout == NCHW and mode == "constant" and not value and len(pads) == 4:
            left, right, top, bottom = pads
            attrs = {"left": left, "right": right, "top": top, "bottom": bottom}
            self.add_node("zero_pad", where, [source], result, self._nhwc(result), attrs)
            return
        if layout != NCHW or mode not in ("replicate", "reflect") or len(pads) != 4:
            raise CompileError(
                f"{where}: only zero, replicate or reflect padding of rows and columns is supported, got {mode} {pads}"
            )
        left, right, top, bottom = pads
        attrs = {"left": left, "right": right, "top": top, "bottom": bottom}
        self.add_node(
            "pad" if mode == "replicate" else "reflect_pad", where, [source], result, self._nhwc(result), attrs
        )

    def _final_state(self, where: str, func, args, kwargs, result) -> None:
        """A GRU's or LSTM's final states h_n as [B, H] rows: one layer's, h_n[i], or h_n.squeeze(0) (a view to
        [B, H]) of a one-layer, one-direction one; or all of them side by side, h_n.transpose(0, 1) (or
        permute(1, 0, 2)) viewed as [B, layers * directions * H]. Each is that frame of the layer's output
        (slice_pixels) as rows; several are joined (concat_channels). torch.cat of h_n along dim 0 (ONNX's layers'
        Y_h joined) is h_n of them all."""
        name = getattr(func, "__name__", "")
        if name == "cat" and kwargs.get("dim", args[1] if len(args) > 1 else 0) == 0:
            entries = [self.names.get(id(t), (None, None)) for t in args[0]]
            if all(isinstance(layout, RecurrentStates) and not layout.batch_first for _, layout in entries):
                finals = tuple(f for _, layout in entries for f in layout.finals)
                self.alias(result, entries[0][0], RecurrentStates(finals))
                return
        source, layout = self.names[id(args[0])]
        finals, pick = layout.finals, None
        if name in ("transpose", "permute", "swapaxes") and not layout.batch_first and result.dim() == 3:
            probe = torch.empty(2, 3, 4)  # distinct sizes: the result's shape names the permutation
            if tuple(getattr(probe, name)(*args[1:], **kwargs).shape) == (3, 2, 4):
                self.alias(result, source, RecurrentStates(finals, batch_first=True))
                return
        if layout.batch_first and name in ("reshape", "view", "flatten") and result.dim() == 2:
            rows = [self._state_rows(where, final) for final in finals]
            self.add_node("concat_channels", where, rows, result, tuple(result.shape), layout=FLAT)
            return
        index = args[1] if name == "__getitem__" else None
        index = index if isinstance(index, tuple) else (index,)
        if name == "__getitem__" and isinstance(index[0], int) and all(i in (slice(None), Ellipsis) for i in index[1:]):
            pick = index[0]
        elif name in ("squeeze", "view", "reshape") and len(finals) == 1:
            pick = 0
        if layout.batch_first or pick is None or not -len(finals) <= pick < len(finals) or result.dim() != 2:
            raise CompileError(
                f"{where}: reads {layout} ({len(finals)} of them); only states as [B, H] rows are supported: h_n[i] "
                "(h_n[-1]: the last layer's, its backward direction's when bidirectional), h_n.squeeze(0) of a "
                "one-layer one, or all of them side by side, h_n.transpose(0, 1).reshape(b, -1)"
            )
        self._state_rows(where, finals[pick], result)

    def _state_rows(self, where: str, final: tuple[str, bool], result: torch.Tensor | None = None) -> str:
        """One final state (its gru or lstm node's output, and whether it ran in reverse) as [B, H] rows: the frame
        it ended at (slice_pixels), then rows (flatten_chw), held by result when given; the rows' IR tensor."""
        tensor, reverse = final
        b, _, steps, hidden = self.graph.tensors[tensor].shape
        attrs = {"start": (0, 0 if reverse else steps - 1), "step": (1, 1), "output_hw": (1, 1)}
        state = self.add_inner_node("slice_pixels", f"{where} (final state)", tensor, (b, 1, 1, hidden), attrs)
        if result is None:
            return self.add_inner_node("flatten_chw", f"{where} (rows)", state, (b, hidden), {})
        self.add_node("flatten_chw", f"{where} (rows)", [state], result, tuple(result.shape), layout=FLAT)
        return self.names[id(result)][0]

    def _slice(self, where: str, args, result) -> None:
        """x[:, a:b] of a map's channels (also written x[:, a:b, :, :] or x[:, a:b, ...]): slice_channels, or the map
        itself when it keeps every channel; slices of its rows and columns (a crop, or YOLOv5's Focus's
        x[..., ::2, ::2]): slice_pixels, after the channels' slice when there is one. A row or sample picked by
        index (a TCN's last step, y[:, :, -1]) is that one-pixel slice, then rows when no map axis is left. Frames
        [B, T, C] slice as the sequence [B, C, T] they transpose, and time-first frames [T, 1, C] as [1, T, C]."""
        rank = args[0].dim()
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index = (*index[:at], *(slice(None),) * (rank + 1 - len(index)), *index[at + 1 :])
        index = (*index, *(slice(None),) * (rank - len(index)))
        entry = self.names.get(id(args[0]), (None, None))
        time_first = entry[1] == FRAME_BYTES and rank == 3 and args[0].shape[1] == 1  # out[-1] of a time-first GRU
        if time_first:
            source, layout, index = entry[0], NHWC, (index[1], index[0], index[2])
        else:
            source, layout = self.lookup(args[0], where)
        frames = layout == NHWC and _frames(self, source, args[0])
        if frames and len(index) == 3:
            index, layout = (index[0], index[2], index[1]), NCHW
        if rank == 3 and len(index) == 3:  # a sequence's slice of L is one of columns of its one row
            index = (*index[:2], slice(None), index[2])
        picked = [k for k, part in enumerate(index) if isinstance(part, int)]
        ok = (
            layout == NCHW
            and len(index) == 4
            and all(isinstance(part, slice) for k, part in enumerate(index) if k not in picked)
            and index[0] == slice(None)
            and isinstance(index[1], slice)
            and index[1].step in (None, 1)
            and all((part.step or 1) > 0 for part in index[2:] if isinstance(part, slice))
            and picked in ([], [2], [3], [2, 3])
            and (picked != [3] or rank == 3)  # x[:, :, :, j] of a map would be [B, C, H], a sequence of its column
        )
        if not ok:
            raise CompileError(
                f"{where}: only slices of a map's channels (step 1), rows and columns (any step, or one by index) are "
                f"supported, got {args[1]!r}"
            )
        batch, h, w, channels = self.graph.tensors[source].shape
        index = [
            slice(p % size, p % size + 1) if k in picked else p
            for k, (p, size) in enumerate(zip(index, (0, 0, h, w), strict=True))
        ]
        start, stop, _ = index[1].indices(channels)
        rows, columns = index[2].indices(h), index[3].indices(w)
        out_hw = (len(range(*rows)), len(range(*columns)))
        crops = out_hw != (h, w) or rows[2] != 1 or columns[2] != 1
        to_rows = result.dim() == 2  # every map axis picked by index: [B, C] rows
        out_shape, out_layout = (batch, *out_hw, stop - start), FRAME_BYTES if time_first else NHWC if frames else NCHW
        if (start, stop) != (0, channels):
            attrs = {"start": start, "stop": stop}
            if not crops and not to_rows:
                self.add_node("slice_channels", where, [source], result, out_shape, attrs, layout=out_layout)
                return
            shape = (batch, h, w, stop - start)
            source = self.add_inner_node("slice_channels", f"{where} (channels)", source, shape, attrs)
        if crops:
            attrs = {"start": (rows[0], columns[0]), "step": (rows[2], columns[2]), "output_hw": out_hw}
            if not to_rows:
                self.add_node("slice_pixels", where, [source], result, out_shape, attrs, layout=out_layout)
                return
            shape = (batch, 1, 1, stop - start)
            source = self.add_inner_node("slice_pixels", where, source, shape, attrs)
        if to_rows:
            self.add_node("flatten_chw", f"{where} (rows)", [source], result, tuple(result.shape), layout=FLAT)
        else:
            self.alias(result, source, out_layout)

    def _permuted_rows(self, where: str, name: str, args, kwargs, result) -> bool:
        """SSD-style heads: an NHWC-permuted map viewed as [B, M] rows, such rows joined along M, and rows viewed as
        [B, N, k] (one concat_rows of the maps: it joins their bytes, so each map's channels need only make whole
        rows of k). Whether the operation was one of these."""
        tensors = list(args[0]) if name == "cat" else [args[0]]
        if not all(isinstance(t, torch.Tensor) and id(t) in self.names for t in tensors):
            return False
        layouts = [self.names[id(t)][1] for t in tensors]
        if name == "cat":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if not all(isinstance(layout, PermutedRows) for layout in layouts) or dim % 2 != 1:
                return False
            sources = tuple(s for layout in layouts for s in layout.sources)
            self.alias(result, sources[0], PermutedRows(sources))
            return True
        (layout,) = layouts
        if layout == NHWC and result.dim() == 2 and result.shape[0] == args[0].shape[0]:
            source = self.names[id(args[0])][0]
            self.alias(result, source, PermutedRows((source,)))
            return True
        if not isinstance(layout, PermutedRows):
            return False
        if result.dim() == 3 and result.shape[0] == args[0].shape[0]:
            attrs = {"columns": int(result.shape[2])}
            self.add_node("concat_rows", where, list(layout.sources), result, tuple(result.shape), attrs, layout=NHWC)
            return True
        raise CompileError(f"{where}: {layout} may be viewed only as [B, N, k], got {tuple(result.shape)}")

    def _stack(self, where: str, args, kwargs, result: torch.Tensor) -> None:
        """torch.stack of maps of one shape along a new axis after the batch: their channel concatenation, viewed
        as [B, n, C, H, W] with the new axis moved into place, a rearrangement that a view back to a map ends
        (ShuffleNet's channel interleave, torch.stack((a, b), 2).view(B, 2 * C, H, W), is one permute_channels)."""
        tensors = list(args[0])
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0) % result.dim()
        entries = [self.lookup(t, where) for t in tensors]
        maps = {layout for _, layout in entries} == {NCHW} and tensors[0].dim() == 4
        if not maps or len({tuple(t.shape) for t in tensors}) != 1 or dim == 0:
            raise CompileError(
                f"{where}: only torch.stack of maps of one shape along a new axis after the batch (dim 1 to 4) is "
                f"supported, got dim {dim} of {[tuple(t.shape) for t in tensors]}"
            )
        b, c, h, w = tensors[0].shape
        joined = self.add_inner_node("concat_channels", where, [n for n, _ in entries], (b, h, w, len(tensors) * c), {})
        steps = ((torch.reshape, ((b, len(tensors), c, h, w),), {}), (torch.movedim, (1, dim), {}))
        self.alias(result, joined, Rearranged((b, len(tensors) * c, h, w), steps))

    def _cat(self, where: str, args, kwargs, result) -> None:
        tensors = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        entries = [self.lookup(t, where) for t in tensors]
        layouts = {layout for _, layout in entries}
        if layouts == {NCHW} and dim == 1 and result.dim() in (3, 4):
            self.add_node("concat_channels", where, [n for n, _ in entries], result, self._nhwc(result))
        elif layouts == {NHWC} and dim == 1 and result.dim() == 3:
            self.add_node("concat_rows", where, [n for n, _ in entries], result, tuple(result.shape), layout=NHWC)
        elif layouts == {FLAT} and dim in (1, -1) and result.dim() == 2:  # [B, N] rows side by side: their channels
            self.add_node("concat_channels", where, [n for n, _ in entries], result, tuple(result.shape), layout=FLAT)
        else:
            raise CompileError(
                f"{where}: only channel concatenation of maps or row concatenation of flattened "
                f"heads is supported (dim {dim}, layouts {sorted(layouts)})"
            )


def capture(model: nn.Module, example: torch.Tensor) -> Graph:
    """The IR of model, from one run on example ([B, C, H, W], or [B, N] for a model of vectors)."""
    if example.dim() not in (2, 3, 4):
        raise CompileError(
            f"the example input must be [B, C, H, W], [B, C, L] or [B, N], got shape {tuple(example.shape)}"
        )
    known = _known_modules()
    recorder = _Capture()
    hooks = []

    def leaf_of(module: nn.Module):
        if isinstance(module, nn.LayerNorm) and type(module).forward is not nn.LayerNorm.forward:
            return None  # timm's LayerNorm2d: its own forward permutes the map around F.layer_norm
        return next((handler for kind, handler in known.items() if isinstance(module, kind)), None)

    for path, module in model.named_modules():
        handler = leaf_of(module)
        inside_leaf = any(path.startswith(p + ".") for p, m in model.named_modules() if p and leaf_of(m))
        if handler is None:
            torch_layer = type(module).__module__.startswith("torch.")  # a model's own module runs its forward
            if torch_layer and not inside_leaf and list(module.parameters(False)):
                raise CompileError(
                    f"module '{path}' of type {type(module).__name__} is not supported by the compiler; "
                    f"supported: {supported()}"
                )
            if path and not inside_leaf:

                def enter(mod, inputs, path=path) -> None:
                    recorder.scopes.append(path)

                def leave(mod, inputs, output) -> None:
                    recorder.scopes.pop()

                hooks += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
            continue
        if inside_leaf:
            continue

        def pre(mod, inputs, path=path):
            recorder.depth += 1

        def post(mod, inputs, output, path=path, handler=handler):
            try:
                op, attrs, params = handler(mod)
            except CompileError as e:
                raise CompileError(f"module '{path}' ({type(mod).__name__}): {e}") from e
            finally:
                recorder.depth -= 1
            if op in ("gru", "lstm"):
                _recurrent_layers(recorder, path, mod, inputs, output)
                return
            source, layout = recorder.lookup(inputs[0], f"module '{path}'", rows=op == "linear")
            if isinstance(layout, PermutedRows):
                source, params = _linear_of_permuted_rows(recorder, path, layout, params)
                layout = FLAT
            if op == "layer_norm" or (op == "linear" and layout == NHWC):
                what = f"module '{path}' ({type(mod).__name__})"
                _last_axis_layer(recorder, (path, what), op, (source, layout), output, attrs, params)
                return
            if op in ("relu", "relu6") and layout == NHWC:  # element-wise: a channels-last tensor stays one
                recorder.add_node(op, path, [source], output, recorder.graph.tensors[source].shape, layout=NHWC)
                return
            if layout == NHWC and op != "linear" and _frames(recorder, source, inputs[0]):
                source, layout = recorder.sequence_of_frames(f"module '{path}'", source, inputs[0]), NCHW
            stride_h, stride_w = attrs.pop("insert_zeros", (1, 1))
            if (stride_h, stride_w) != (1, 1):
                b, h, w, c = recorder.graph.tensors[source].shape
                shape = (b, (h - 1) * stride_h + 1, (w - 1) * stride_w + 1, c)
                zeros = {"factor": (stride_h, stride_w)}
                source = recorder.add_inner_node("insert_zeros", f"{path} (zeros inserted)", source, shape, zeros)
            if layout != (FLAT if op == "linear" else _layout(inputs[0])):
                expected = "[B, N] rows" if op == "linear" else "an NCHW map or [B, N] rows"
                raise CompileError(f"module '{path}' ({type(mod).__name__}) takes {expected}, got a {layout} tensor")
            block = attrs.pop("depth_to_space", None)
            if block is not None:
                b, h, w, _ = recorder.graph.tensors[source].shape
                shape = (b, h, w, len(params["weight"]))
                source = recorder.add_inner_node(op, path, source, shape, attrs, params)
                op, path, attrs, params = "depth_to_space", f"{path} (depth to space)", {"factor": block}, {}
            recorder.add_node(op, path, [source], output, _shape(output), attrs, params, layout=_layout(output))

        hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    model_input = example.clone()
    recorder.graph.inputs.append(recorder.new_tensor(model_input, _shape(model_input), _layout(model_input)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), recorder:
            outputs = model(model_input)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    recorder.graph.outputs = [_graph_output(recorder, o) for o in outputs]
    recorder.graph.validate()
    return recorder.graph


def _last_axis_layer(
    rec: _Capture, named: tuple[str, str], op: str, entry: tuple[str, str], output: torch.Tensor, attrs, params
) -> None:
    """A Linear or LayerNorm (named: its node's name, and what messages call it), which act on the last axis: of
    [B, N] rows, or of a channels-last tensor (NHWC: a map after permute(0, 2, 3, 1), a sequence's frames after
    transpose(1, 2), a map's tokens after flatten(2).transpose(1, 2)), whose last axis is the map's channels. On a
    channels-last tensor a Linear is a 1x1 convolution of the map."""
    (path, what), (source, layout) = named, entry
    shape = rec.graph.tensors[source].shape
    if layout not in (NHWC, FLAT):
        raise CompileError(
            f"{what} acts on the last axis: it takes [B, N] rows or a channels-last tensor "
            f"(x.permute(0, 2, 3, 1) of a map, x.transpose(1, 2) of a sequence), got a {layout} tensor"
        )
    if op == "layer_norm":
        rec.add_node(op, path, [source], output, shape, attrs, params, layout)
        return
    if len(shape) != 4:
        raise CompileError(f"{what} reads rows that concat_rows joined; apply it to each map")
    weight = params["weight"][:, :, None, None]
    attrs = {"stride": (1, 1), "padding": (0, 0), "groups": 1}
    rec.add_node("conv2d", path, [source], output, (*shape[:3], len(weight)), attrs, {**params, "weight": weight}, NHWC)


def _recurrent_layers(rec: _Capture, path: str, module: nn.GRU | nn.LSTM, inputs: tuple, output: tuple) -> None:
    """A GRU's or LSTM's layers on its input's frames: a gru or lstm node per layer and direction (a bidirectional
    layer's two joined along channels, forward first, as torch joins them). The output out [B, T, D * H] is the last
    layer's frames; h_n holds each layer's final state (RecurrentStates)."""
    op = type(module).__name__.lower()
    what = f"module '{path}' ({type(module).__name__})"
    if len(inputs) > 1 and inputs[1] is not None:
        raise CompileError(f"{what}: an initial state is not supported; the kernel starts from zeros")
    x = inputs[0]
    time_first = not module.batch_first and rec.names.get(id(x), (None, None))[1] == FRAME_BYTES
    if time_first and x.dim() == 3 and x.shape[1] == 1:  # one sequence, time first: its frames' bytes
        source, layout = rec.names[id(x)][0], NHWC
    else:
        source, layout = rec.lookup(x, what)
        if not module.batch_first:
            raise CompileError(
                f"{what}: batch_first=False takes one sequence time first, [T, 1, K] (x.permute(2, 0, 1) of a "
                f"[1, K, T] sequence); got {tuple(x.shape)} as a {layout} tensor; or construct it with batch_first=True"
            )
        if x.dim() != 3 or not _frames(rec, source, x):
            raise CompileError(
                f"{what} takes frames [B, T, K] (batch_first), got {tuple(x.shape)} as a {layout} tensor"
            )
    if layout == NCHW:  # torch's [B, T, K] that the IR holds as a sequence of T channels: its values transposed
        source = rec.frames_of_sequence(path, source, x)
    b, _, steps, _ = rec.graph.tensors[source].shape
    gates, finals = 3 if op == "gru" else 4, []
    for layer in range(module.num_layers):
        directions = []
        for reverse in (False, True)[: 2 if module.bidirectional else 1]:
            suffix = f"l{layer}{'_reverse' if reverse else ''}"
            params = {
                "weight_ih": _np(getattr(module, f"weight_ih_{suffix}")),
                "weight_hh": _np(getattr(module, f"weight_hh_{suffix}")),
            }
            for name in ("bias_ih", "bias_hh"):
                bias = getattr(module, f"{name}_{suffix}", None)
                params[name] = np.zeros(gates * module.hidden_size, np.float32) if bias is None else _np(bias)
            name = f"{path} (layer {layer}{', reverse' if reverse else ''})"
            attrs = {"reverse": reverse, "last_only": False}
            shape = (b, 1, steps, module.hidden_size)
            directions.append(rec.add_inner_node(op, name, source, shape, attrs, params))
            finals.append((directions[-1], reverse))
        source = directions[0]
        if len(directions) == 2:
            shape = (b, 1, steps, 2 * module.hidden_size)
            source = rec.add_inner_node(
                "concat_channels", f"{path} (layer {layer}, both directions)", directions, shape, {}
            )
    out, states = output
    rec.alias(out, source, NHWC if module.batch_first else FRAME_BYTES)
    if op == "lstm":
        states, cells = states
        rec.alias(cells, source, CELL_STATES)
    rec.alias(states, source, RecurrentStates(tuple(finals)))


def _graph_output(rec: _Capture, output: torch.Tensor) -> str:
    """The IR tensor of a model output, laid out as ir.to_graph_layout lays out torch's: a channels-last [B, N, C]
    (a sequence's frames, a map's tokens) whose IR is still the map becomes its rows (flatten)."""
    name, layout = rec.lookup(output, "model output")
    shape = rec.graph.tensors[name].shape
    if layout != NHWC or len(shape) == output.dim() == 3:
        return name
    if output.dim() == 4:
        raise CompileError(
            f"model output: a channels-last [B, H, W, C] map {tuple(output.shape)} is not supported as an output; "
            "permute it back (permute(0, 3, 1, 2)) or view it as [B, H*W, C]"
        )
    return rec.add_inner_node("flatten", "model output (rows)", name, tuple(output.shape), {})


def _linear_of_permuted_rows(recorder: _Capture, path: str, rows: PermutedRows, params: dict) -> tuple[str, dict]:
    """A Linear on one map's NHWC-ordered rows (a TensorFlow port's x.permute(0, 2, 3, 1).reshape(b, -1)): the map
    flattened in torch's channel-major order (flatten_chw), and the weight's columns put in that order."""
    if len(rows.sources) != 1:
        raise CompileError(f"module '{path}' (Linear) reads rows joined from several permuted maps; join the maps")
    source = rows.sources[0]
    b, h, w, c = recorder.graph.tensors[source].shape
    flat = recorder.add_inner_node("flatten_chw", f"{path} (flatten)", source, (b, h * w * c), {})
    weight = params["weight"]
    columns = weight.reshape(len(weight), h, w, c).transpose(0, 3, 1, 2).reshape(len(weight), -1)
    return flat, {**params, "weight": np.ascontiguousarray(columns)}


def _frames(rec: _Capture, source: str, t: torch.Tensor) -> bool:
    """Whether t is 3-d and its IR tensor (source) a sequence's map [B, 1, L, C]: a sequence, or its frames when t is
    channels-last."""
    shape = rec.graph.tensors[source].shape
    return t.dim() == 3 and len(shape) == 4 and shape[1] == 1


def _layout(t: torch.Tensor) -> str:
    """A 4-d map or a 3-d sequence (what Conv1d reads, a map of one row) is NCHW, anything else rows."""
    return NCHW if t.dim() in (3, 4) else FLAT


def _shape(t: torch.Tensor, layout: str = NCHW) -> tuple[int, ...]:
    """The IR shape: ir.graph_shape for a map or sequence, torch's for rows and anything already permuted."""
    return graph_shape(tuple(t.shape)) if layout == NCHW else tuple(t.shape)


def _arg(args, kwargs, index: int, name: str, default=None):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _map_input(rec: _Capture, where: str, t: torch.Tensor, what: str) -> str:
    source, layout = rec.lookup(t, where)
    if layout == NHWC and _frames(rec, source, t):
        return rec.sequence_of_frames(where, source, t)
    if layout != NCHW:
        raise CompileError(f"{where}: {what} takes an NCHW map, got a {layout} tensor")
    return source


def _activation_function(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """relu, relu6 and hardtanh(0, 6) stay fusable ops; the others become table activations."""
    name = name.rstrip("_")
    source, layout = rec.lookup(args[0], where, rearranged=True)  # element-wise: a pending rearrangement stays
    attrs: dict = {}
    if name in ("hardtanh", "clamp"):
        default = (-1.0, 1.0) if name == "hardtanh" else (None, None)
        low = _arg(args, kwargs, 1, "min_val" if name == "hardtanh" else "min", default[0])
        high = _arg(args, kwargs, 2, "max_val" if name == "hardtanh" else "max", default[1])
        low, high = (_number(v) for v in (low, high))
        if not all(v is None or isinstance(v, (int, float)) for v in (low, high)):
            raise CompileError(f"{where}: only {name} to constant numbers is supported, got {low!r}, {high!r}")
        low, high = float("-inf" if low is None else low), float("inf" if high is None else high)
        name = {(0.0, 6.0): "relu6", (0.0, float("inf")): "relu"}.get((low, high), "hardtanh")
        attrs = {"min_val": low, "max_val": high} if name == "hardtanh" else {}
    elif name == "leaky_relu":
        attrs = {"negative_slope": float(_arg(args, kwargs, 1, "negative_slope", 0.01))}
    elif name == "gelu":
        attrs = {"approximate": str(_arg(args, kwargs, 1, "approximate", "none"))}
    elif name in ("elu", "celu"):
        attrs = {"alpha": float(_arg(args, kwargs, 1, "alpha", 1.0))}
    elif name == "softplus":
        attrs = {
            "beta": float(_arg(args, kwargs, 1, "beta", 1.0)),
            "threshold": float(_arg(args, kwargs, 2, "threshold", 20.0)),
        }
    shape = rec.graph.tensors[source].shape  # element-wise: the source's IR shape, whatever its torch layout
    if name in ("relu", "relu6"):
        rec.add_node(name, where, [source], result, shape, layout=layout)
    else:
        rec.add_node("activation", where, [source], result, shape, {"function": name, **attrs}, layout=layout)


def _number(value):
    """A bound as a number: a one-value tensor that is a constant (torch.tensor(0.5)) is its value."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return value


def _extremum(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """torch.maximum or torch.minimum of a map (or rows) and a one-value constant: clamp to it."""
    tracked = [isinstance(a, torch.Tensor) and id(a) in rec.names for a in args[:2]]
    if tracked.count(True) != 1 or not isinstance(args[tracked.index(False)], torch.Tensor):
        raise CompileError(f"{where}: only torch.{name} of a tensor and a one-value constant is supported")
    x, bound = args[tracked.index(True)], _number(args[tracked.index(False)])
    if not isinstance(bound, float):
        raise CompileError(f"{where}: only torch.{name} of a tensor and a one-value constant is supported")
    low, high = (bound, None) if name == "maximum" else (None, bound)
    _activation_function(rec, where, "clamp", [x, low, high], {}, result)


def _power(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """x ** n and torch.square for a whole n >= 1: the table activation power; c ** x (torch.pow(c, x), 2 ** x)
    for a number c > 0: the table of exp(x ln c)."""
    if name == "__rpow__" or not (isinstance(args[0], torch.Tensor) and id(args[0]) in rec.names):
        x, base = (args[0], args[1]) if name == "__rpow__" else (args[1], args[0])
        base = _number(base)
        source, layout = rec.lookup(x, where)
        if layout not in (NCHW, FLAT) or not isinstance(base, (int, float)) or base <= 0:
            raise CompileError(f"{where}: only a number > 0 to the power of a map or rows is supported, got {base!r}")
        rec.add_table(
            where, source, [("affine", {"scale": math.log(base), "offset": 0.0}), ("exp", {})], result, layout
        )
        return
    exponent = 2 if name == "square" else _arg(args, kwargs, 1, "exponent")
    source, layout = rec.lookup(args[0], where)
    if layout not in (NCHW, FLAT) or isinstance(exponent, torch.Tensor) or exponent != int(exponent) or exponent < 1:
        shown = f"a tensor of shape {tuple(exponent.shape)}" if isinstance(exponent, torch.Tensor) else repr(exponent)
        raise CompileError(f"{where}: only a map or rows to a whole power >= 1 is supported, got {shown}")
    attrs = {"function": "power", "exponent": int(exponent)}
    rec.add_node("activation", where, [source], result, _shape(result, layout), attrs, layout=layout)


def _softmax(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """softmax or log_softmax over the channels: dim 1 of a map, the last dim of rows or of an NHWC tensor (an SSD
    head's conf.view(b, -1, classes))."""
    source, layout = rec.lookup(args[0], where)
    dim = _arg(args, kwargs, 1, "dim")
    rank = args[0].dim()
    channels = 1 if layout == NCHW else rank - 1
    if dim is None or dim % rank != channels:
        raise CompileError(
            f"{where}: only {name} over the channels (dim 1 of a map, the last dim of rows) is supported"
        )
    rec.add_node(name, where, [source], result, rec.graph.tensors[source].shape, layout=layout)


def _pool_node(rec: _Capture, where: str, op: str, source: str, result, kernel, stride, padding) -> None:
    output_hw = _shape(result)[1:3] if result.dim() in (3, 4) else (1, 1)
    attrs = {"kernel": _pair(kernel), "stride": _pair(stride), "padding": _pair(padding), "output_hw": output_hw}
    rec.add_node(op, where, [source], result, _shape(result), attrs, layout=_layout(result))


def _window(name: str, args, kwargs) -> tuple:
    """A pool's kernel, stride and padding as (rows, columns): a 1-d pool's (max_pool1d, avg_pool1d) window is one
    row of a map of one row."""
    kernel = _arg(args, kwargs, 1, "kernel_size")
    stride = _arg(args, kwargs, 2, "stride") or kernel
    padding = _arg(args, kwargs, 3, "padding", 0)
    if name.endswith("1d"):
        return tuple(
            (fill, int(v if isinstance(v, int) else v[0])) for v, fill in ((kernel, 1), (stride, 1), (padding, 0))
        )
    return kernel, stride, padding


def _max_pool(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    source = _map_input(rec, where, args[0], name)
    kernel, stride, padding = _window(name, args, kwargs)
    if _pair(_arg(args, kwargs, 4, "dilation", 1)) != (1, 1) or _arg(args, kwargs, 6, "return_indices", False):
        raise CompileError(f"{where}: {name} with dilation or return_indices is not supported")
    _pool_node(rec, where, "maxpool", source, result, kernel, stride, padding)


def _avg_pool(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    source = _map_input(rec, where, args[0], name)
    kernel, stride, padding = _window(name, args, kwargs)
    ceil_mode, include_pad = _arg(args, kwargs, 4, "ceil_mode", False), _arg(args, kwargs, 5, "count_include_pad", True)
    if (
        ceil_mode
        or _arg(args, kwargs, 6, "divisor_override") is not None
        or (_pair(padding) != (0, 0) and not include_pad)
    ):
        raise CompileError(f"{where}: {name} with ceil_mode, divisor_override or count_include_pad=False")
    _pool_node(rec, where, "avgpool", source, result, kernel, stride, padding)


# Global and adaptive pooling by name -> the pool it is; a sum over H and W is the average times H * W.
GLOBAL_POOLS = {
    "adaptive_avg_pool2d": "avgpool",
    "adaptive_avg_pool1d": "avgpool",
    "mean": "avgpool",
    "sum": "avgpool",
    "adaptive_max_pool2d": "maxpool",
    "adaptive_max_pool1d": "maxpool",
    "amax": "maxpool",
}


def _global_pool(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """adaptive_avg_pool2d or adaptive_max_pool2d (or their 1-d forms on a sequence) to a size dividing the map, or
    the mean, sum or amax over H and W (over L of a sequence; over the tokens or frames of a channels-last tensor, to
    [B, C] rows): average or max pooling (a sum, then scaled by H * W)."""
    source, layout = rec.lookup(args[0], where, rearranged=True)
    rank = args[0].dim()
    channels_last = layout == NHWC and len(rec.graph.tensors[source].shape) == 4 and name in ("mean", "sum", "amax")
    if channels_last:
        _, h, w, c = rec.graph.tensors[source].shape
        pixel_axes, channel_axis = set(range(1, rank - 1)), rank - 1
    elif isinstance(layout, Rearranged) and _pixels_in_a_row(layout, args[0]) and name in ("mean", "sum", "amax"):
        _, c, h, w = layout.shape  # the map's pixels viewed as one axis: over it is over H and W
        pixel_axes, channel_axis = {2}, None
    else:
        source = _map_input(rec, where, args[0], name)
        c, (_, h, w, _) = args[0].shape[1], _shape(args[0])
        pixel_axes, channel_axis = set(range(2, rank)), 1
    if name in ("mean", "sum", "amax"):
        dims = _arg(args, kwargs, 1, "dim")
        dims = {d % rank for d in (dims if isinstance(dims, (tuple, list)) else [dims]) if d is not None}
        keepdim = _arg(args, kwargs, 2, "keepdim", False)
        if dims == {channel_axis} and not channels_last:
            _channel_reduction(rec, where, name, source, c, keepdim, result)
            return
        if dims != pixel_axes or (channels_last and keepdim):
            raise CompileError(
                f"{where}: only the {name} over H and W (dims 2 and 3) or over the channels (dim 1) of a map, or over "
                f"the tokens of a channels-last tensor (dim 1, no keepdim), is supported, got {sorted(dims)}"
            )
        out_h, out_w = 1, 1
    else:
        if _arg(args, kwargs, 2, "return_indices", False):
            raise CompileError(f"{where}: {name} with return_indices is not supported")
        size = _arg(args, kwargs, 1, "output_size")
        size = (1, size) if name.endswith("1d") else size
        out_h, out_w = (h if s is None else s for s in ((size, size) if isinstance(size, int) else size))
        if h % out_h or w % out_w:
            raise CompileError(f"{where}: {name} to {out_h}x{out_w} does not divide the {h}x{w} map")
    kernel = (h // out_h, w // out_w)
    if name != "sum":
        _pool_node(rec, where, GLOBAL_POOLS[name], source, result, kernel, kernel, 0)
        return
    attrs = {"kernel": kernel, "stride": kernel, "padding": (0, 0), "output_hw": (1, 1)}
    mean = rec.add_inner_node("avgpool", f"{where} (mean)", source, _shape(result), attrs)
    scale = affine_params(np.full(c, float(h * w)), np.zeros(c))
    rec.add_node("batchnorm", where, [mean], result, _shape(result), {"eps": 0.0}, scale, layout=_layout(result))


def _pixels_in_a_row(rearranged: Rearranged, t: torch.Tensor) -> bool:
    """Whether t is the map's x.view(b, c, -1): its pixels as one axis, in order (Honk's mean over them)."""
    b, c, h, w = rearranged.shape
    return tuple(t.shape) == (b, c, h * w) and torch.equal(rearranged.replayed().reshape(-1), torch.arange(t.numel()))


def _channel_reduction(
    rec: _Capture, where: str, name: str, source: str, channels: int, keepdim: bool, result: torch.Tensor
) -> None:
    """The mean, sum or amax over the channels, one channel out (CBAM's spatial attention reads the mean and the
    max): the mean and sum are a 1x1 convolution of constant weights (1 / C, exact in int8 when C is a power of
    two), the amax is channel_max."""
    if not keepdim:
        raise CompileError(f"{where}: the {name} over the channels must keep the map's shape (keepdim=True)")
    if name == "amax":
        rec.add_node("channel_max", where, [source], result, rec._nhwc(result))
        return
    weight = np.full((1, channels, 1, 1), 1.0 / channels if name == "mean" else 1.0, dtype=np.float32)
    attrs = {"stride": (1, 1), "padding": (0, 0), "groups": 1}
    rec.add_node("conv2d", where, [source], result, _shape(result), attrs, {"weight": weight})


def _layer_norm_function(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """F.layer_norm over the last axis (timm's LayerNorm2d permutes a map to channels-last and calls it)."""
    normalized = tuple(_arg(args, kwargs, 1, "normalized_shape"))
    if len(normalized) != 1:
        raise CompileError(f"{where}: only layer_norm over the last axis is supported, got {normalized}")
    params = _layer_norm_params(_arg(args, kwargs, 2, "weight"), _arg(args, kwargs, 3, "bias"), normalized[0])
    attrs = {"eps": float(_arg(args, kwargs, 4, "eps", 1e-5))}
    _last_axis_layer(rec, (where, where), "layer_norm", rec.lookup(args[0], where), result, attrs, params)


def _normalize(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """F.normalize over the channels (p = 2): the l2norm op with a weight of 1 per channel."""
    source = _map_input(rec, where, args[0], name)
    if float(_arg(args, kwargs, 1, "p", 2.0)) != 2.0 or _arg(args, kwargs, 2, "dim", 1) % 4 != 1:
        raise CompileError(f"{where}: only F.normalize with p=2 over the channels (dim 1) is supported")
    attrs, params = {"eps": float(_arg(args, kwargs, 3, "eps", 1e-12))}, {"weight": np.ones(args[0].shape[1])}
    rec.add_node("l2norm", where, [source], result, _shape(result), attrs, params)


def _interpolate(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """Nearest upsampling by whole factors (an FPN's top-down path): a data move, every pixel copied into a block;
    bilinear resizing to any size (a segmentation decoder's, nn.Upsample(mode="bilinear")): resize_bilinear. A
    sequence's (mode "linear" for bilinear) is its one row's."""
    source = _map_input(rec, where, args[0], "interpolate")
    mode = _arg(args, kwargs, 3, "mode", "nearest")
    (h, w), (out_h, out_w) = _shape(args[0])[1:3], _shape(result)[1:3]
    factor = _arg(args, kwargs, 2, "scale_factor")
    if args[0].dim() == 3:
        mode = {"linear": "bilinear"}.get(mode, mode)
        factor = None if factor is None else (1, factor if isinstance(factor, (int, float)) else factor[0])
    if mode == "bilinear" and factor is not None and not _arg(args, kwargs, 5, "recompute_scale_factor", False):
        factors = factor if isinstance(factor, (tuple, list)) else (factor, factor)
        if (h * factors[0], w * factors[1]) != (out_h, out_w):  # torch then maps coordinates by 1 / scale_factor
            raise CompileError(f"{where}: bilinear scale_factor {factor} does not give a whole size from {h}x{w}")
    if mode == "bilinear" and not _arg(args, kwargs, 6, "antialias", False):
        attrs = {"output_hw": (out_h, out_w), "align_corners": bool(_arg(args, kwargs, 4, "align_corners", False))}
        rec.add_node("resize_bilinear", where, [source], result, rec._nhwc(result), attrs)
        return
    if mode not in ("nearest", "nearest-exact") or out_h % h or out_w % w:
        raise CompileError(
            f"{where}: only nearest upsampling by whole factors and bilinear resizing (no antialias) are supported, "
            f"got {mode} from {h}x{w} to {out_h}x{out_w}"
        )
    attrs = {"factor": (out_h // h, out_w // w)}
    rec.add_node("upsample_nearest", where, [source], result, rec._nhwc(result), attrs)


def _pixel_shuffle(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """pixel_shuffle (nn.PixelShuffle, a sub-pixel convolution's upsampling): the data move depth_to_space."""
    source = _map_input(rec, where, args[0], name)
    factor = _arg(args, kwargs, 1, "upscale_factor")
    rec.add_node("depth_to_space", where, [source], result, rec._nhwc(result), {"factor": (factor, factor)})


def _pixel_unshuffle(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """pixel_unshuffle (nn.PixelUnshuffle, a space-to-depth stem): the data move space_to_depth."""
    source = _map_input(rec, where, args[0], name)
    factor = _arg(args, kwargs, 1, "downscale_factor")
    rec.add_node("space_to_depth", where, [source], result, rec._nhwc(result), {"factor": (factor, factor)})


def _flatten(rec: _Capture, where: str, name: str, args, kwargs, result) -> None:
    """flatten / view / reshape of an NCHW map to [B, C*H*W] rows in torch's (channel-major) order."""
    source = _map_input(rec, where, args[0], "flatten")
    if result.dim() != 2 or result.shape[0] != args[0].shape[0]:
        raise CompileError(f"{where}: only a flatten of a map to [B, C*H*W] is supported, got {tuple(result.shape)}")
    rec.add_node("flatten_chw", where, [source], result, tuple(result.shape), layout=FLAT)


LAYER_FUNCTIONS: dict[str, Callable] = {
    **{name: _activation_function for name in ("relu", "relu6", "hardtanh", "clamp", *ACTIVATIONS)},
    **{f"{name}_": _activation_function for name in ("relu", "hardtanh", "clamp", *ACTIVATIONS)},
    "softmax": _softmax,
    "log_softmax": _softmax,
    "max_pool2d": _max_pool,
    "max_pool1d": _max_pool,
    "avg_pool2d": _avg_pool,
    "avg_pool1d": _avg_pool,
    **{name: _global_pool for name in GLOBAL_POOLS},
    "normalize": _normalize,
    "layer_norm": _layer_norm_function,
    "pow": _power,
    "__rpow__": _power,
    "maximum": _extremum,
    "minimum": _extremum,
    "square": _power,
    "flatten": _flatten,
    "interpolate": _interpolate,
    "pixel_shuffle": _pixel_shuffle,
    "pixel_unshuffle": _pixel_unshuffle,
}


# The tensor operations _record handles itself (besides LAYER_FUNCTIONS), as the error message lists them.
BUILT_IN = (
    "add",
    "cat",
    "pad (zeros, replicate, reflect)",
    "x[:, a:b] and slices of rows and columns",
    "max over channels",
    "chunk or split of channels",
    "stack viewed back to a map",
    "views and transposes that reorder channels (a channel shuffle) or are a space-to-depth or pixel shuffle",
    "permute to NHWC, and its rows joined and viewed as [B, N, k] (SSD heads, YOLO's anchor rows)",
    "transpose of a sequence to frames [B, L, C] and of a map to tokens [B, H*W, C] (Linear, LayerNorm on them)",
    "view",
    "x * sigmoid(x) and other gates of x",
    "x * y of one shape, map * [1, C, 1, 1] gate (squeeze-and-excitation) or [1, 1, H, W] gate (spatial attention)",
    "+ - * / with a constant",
)


def supported() -> str:
    """What capture takes, for the one-line error naming an unsupported module or operation."""
    modules = ", ".join(sorted(kind.__name__ for kind in _known_modules()))
    functions = ", ".join(sorted({name.rstrip("_") for name in LAYER_FUNCTIONS} | {*BUILT_IN, *IDENTITIES}))
    return (
        f"modules {modules} (Conv1d, Conv2d: any stride, padding incl. 'same', dilation, groups); functions {functions}"
    )

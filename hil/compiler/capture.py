"""Capture a PyTorch model into the IR by running it once on an example input.

Modules the compiler knows (convolution, batch norm, ReLU/ReLU6, RNNPool, L2Norm) are recorded whole;
the tensor operations a model's own forward applies between them (residual add, padding, channel
slices, max, concatenation, the NHWC flatten of the heads) are recorded through a TorchFunctionMode.
Running the model, rather than tracing it symbolically, lets its forward use ordinary Python (shape
checks, loops over blocks). Anything else fails here, naming the module and its type.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from hil.compiler.ir import Graph, Node, Tensor
from hil.errors import CompileError


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32).copy()


def _conv(module: nn.Conv2d) -> tuple[str, dict, dict]:
    if module.dilation != (1, 1) or module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise CompileError("only zero-padded, undilated convolutions with numeric padding are supported")
    attrs = {"stride": tuple(module.stride), "padding": tuple(module.padding), "groups": module.groups}
    params = {"weight": _np(module.weight)}
    if module.bias is not None:
        params["bias"] = _np(module.bias)
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


def _l2norm(module: nn.Module) -> tuple[str, dict, dict]:
    return "l2norm", {"eps": float(module.eps)}, {"weight": _np(module.weight)}


def _known_modules() -> dict[type, Callable[[nn.Module], tuple[str, dict, dict]]]:
    from models.blocks import L2Norm
    from models.rnnpool import RNNPoolLayer

    return {
        nn.Conv2d: _conv,
        nn.BatchNorm2d: _batchnorm,
        nn.ReLU: lambda m: ("relu", {}, {}),
        nn.ReLU6: lambda m: ("relu6", {}, {}),
        RNNPoolLayer: _rnnpool,
        L2Norm: _l2norm,
    }


NCHW, NHWC = "nchw", "nhwc"


class _Capture(TorchFunctionMode):
    """Maps every live torch tensor of the run to an IR tensor, and records the IR nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.graph = Graph({}, [], [], [])
        self.names: dict[int, tuple[str, str]] = {}  # id(tensor) -> (IR tensor, torch layout)
        self.alive: list[torch.Tensor] = []  # keeps ids unique while the run lasts
        self.depth = 0
        self.where = "forward"

    def new_tensor(self, torch_tensor: torch.Tensor, shape: tuple[int, ...], layout: str = NCHW) -> str:
        name = f"t{len(self.graph.tensors)}"
        self.graph.tensors[name] = Tensor(name, shape)
        self.names[id(torch_tensor)] = (name, layout)
        self.alive.append(torch_tensor)
        return name

    def lookup(self, t: torch.Tensor, what: str) -> tuple[str, str]:
        if id(t) not in self.names:
            raise CompileError(f"{what}: uses a tensor that does not come from the model input (a constant?)")
        return self.names[id(t)]

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

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self.depth == 0:
            self._record(func, args, kwargs, result)
        return result

    def _record(self, func, args, kwargs, result) -> None:
        tensor_args = [a for a in args if isinstance(a, torch.Tensor)]
        listed = [t for a in args if isinstance(a, (list, tuple)) for t in a if isinstance(t, torch.Tensor)]
        if not tensor_args and not listed:
            return
        name = getattr(func, "__name__", repr(func))
        if not isinstance(result, (torch.Tensor, tuple)) or name in ("dim", "size", "__get__"):
            return
        where = f"{self.where}: torch.{name} #{len(self.graph.nodes)}"
        if name in ("__add__", "add", "__radd__"):
            a, b = (self.lookup(t, where) for t in tensor_args[:2])
            if len(tensor_args) != 2 or a[1] != NCHW or b[1] != NCHW or tensor_args[0].shape != tensor_args[1].shape:
                raise CompileError(f"{where}: only the sum of two maps of one shape is supported")
            self.add_node("add", where, [a[0], b[0]], result, self._nhwc(result))
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
        elif name == "permute":
            source, layout = self.lookup(args[0], where)
            dims = tuple(args[1:]) if len(args) > 2 else tuple(args[1])
            if layout != NCHW or dims != (0, 2, 3, 1):
                raise CompileError(f"{where}: only permute(0, 2, 3, 1) (to NHWC) is supported, got {dims}")
            self.names[id(result)] = (source, NHWC)
            self.alive.append(result)
        elif name in ("reshape", "view"):
            source, layout = self.lookup(args[0], where)
            if layout != NHWC or result.dim() != 3:
                raise CompileError(f"{where}: only the [B, H*W, C] view of an NHWC-permuted map is supported")
            self.add_node("flatten", where, [source], result, tuple(result.shape), layout=NHWC)
        else:
            raise CompileError(f"{where}: operation '{name}' is not supported by the compiler")

    @staticmethod
    def _nhwc(t: torch.Tensor) -> tuple[int, ...]:
        b, c, h, w = t.shape
        return (b, h, w, c)

    def _pad(self, where: str, args, kwargs, result) -> None:
        source, layout = self.lookup(args[0], where)
        pads = tuple(args[1]) if len(args) > 1 else tuple(kwargs["pad"])
        mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
        if layout != NCHW or mode != "replicate" or len(pads) != 4:
            raise CompileError(f"{where}: only replicate padding of rows and columns is supported, got {mode} {pads}")
        left, right, top, bottom = pads
        attrs = {"left": left, "right": right, "top": top, "bottom": bottom}
        self.add_node("pad", where, [source], result, self._nhwc(result), attrs)

    def _slice(self, where: str, args, result) -> None:
        source, layout = self.lookup(args[0], where)
        index = args[1]
        ok = (
            layout == NCHW
            and isinstance(index, tuple)
            and len(index) == 2
            and index[0] == slice(None)
            and isinstance(index[1], slice)
            and index[1].step in (None, 1)
        )
        if not ok:
            raise CompileError(f"{where}: only channel slices x[:, a:b] are supported, got {index!r}")
        channels = args[0].shape[1]
        start, stop, _ = index[1].indices(channels)
        self.add_node("slice_channels", where, [source], result, self._nhwc(result), {"start": start, "stop": stop})

    def _cat(self, where: str, args, kwargs, result) -> None:
        tensors = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        entries = [self.lookup(t, where) for t in tensors]
        layouts = {layout for _, layout in entries}
        if layouts == {NCHW} and dim == 1 and result.dim() == 4:
            self.add_node("concat_channels", where, [n for n, _ in entries], result, self._nhwc(result))
        elif layouts == {NHWC} and dim == 1 and result.dim() == 3:
            self.add_node("concat_rows", where, [n for n, _ in entries], result, tuple(result.shape), layout=NHWC)
        else:
            raise CompileError(
                f"{where}: only channel concatenation of maps or row concatenation of flattened "
                f"heads is supported (dim {dim}, layouts {sorted(layouts)})"
            )


def capture(model: nn.Module, example: torch.Tensor) -> Graph:
    """The IR of model, from one run on example ([B, C, H, W])."""
    if example.dim() != 4:
        raise CompileError(f"the example input must be [B, C, H, W], got shape {tuple(example.shape)}")
    known = _known_modules()
    recorder = _Capture()
    hooks = []

    def leaf_of(module: nn.Module):
        return next((handler for kind, handler in known.items() if isinstance(module, kind)), None)

    for path, module in model.named_modules():
        handler = leaf_of(module)
        inside_leaf = any(path.startswith(p + ".") for p, m in model.named_modules() if p and leaf_of(m))
        if handler is None:
            if not inside_leaf and not list(module.children()) and list(module.parameters(recurse=False)):
                raise CompileError(f"module '{path}' of type {type(module).__name__} is not supported by the compiler")
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
            source, layout = recorder.lookup(inputs[0], f"module '{path}'")
            if layout != NCHW:
                raise CompileError(f"module '{path}' is applied to an NHWC-permuted tensor")
            recorder.add_node(op, path, [source], output, _Capture._nhwc(output), attrs, params)

        hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    model_input = example.clone()
    recorder.graph.inputs.append(recorder.new_tensor(model_input, _Capture._nhwc(model_input)))
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
    recorder.graph.outputs = [recorder.lookup(o, "model output")[0] for o in outputs]
    recorder.graph.validate()
    return recorder.graph

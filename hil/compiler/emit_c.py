"""Writes model.h and model.c for a scheduled, memory-planned quantised graph: const weights, shapes and shifts
as constants, one model_run(uint8_t *arena) with a `/* layer i: ... */` comment per step, every tensor at its
planned arena offset (firmware/include/hil_model.h)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.compiler import c_support
from hil.compiler.golden import LAYER_KERNELS
from hil.compiler.ir import RESAMPLES
from hil.compiler.memory_plan import MemoryPlan, in_place_members
from hil.compiler.qgraph import QGraph, QNode
from hil.compiler.schedule import Step, front_stage, pad_rows_below, real_rows
from hil.errors import CompileError
from hil.kernels_ref.conv_a16 import conv_a16_device_filter, conv_a16_w16_device_filter
from hil.kernels_ref.params import C_STRUCTS, ConvA16Params, ConvParams, add_a16_params, c_initializer
from hil.model_sources import ModelSources, TensorSpec, c_tensor_info, write_if_changed

C_TYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t", np.dtype(np.int32): "int32_t"}
VALUES_PER_LINE = 24
# Built with -DHIL_DEBUG_LAYERS, model_run hands every layer's output to hil_debug_layer, which the build provides
# (host_model.HostModel(debug_layers=True) collects them, so debug_layers.first_layer_divergence can name the first
# layer where C and the golden model differ). Otherwise the calls compile to nothing.
DEBUG_LAYERS = """#ifdef HIL_DEBUG_LAYERS
void hil_debug_layer(int32_t index, const char *name, const void *data, uint32_t bytes);
#define HIL_DEBUG_LAYER(index, name, data, bytes) hil_debug_layer((index), (name), (data), (bytes))
#else
#define HIL_DEBUG_LAYER(index, name, data, bytes) ((void)0)
#endif
/* Built with -DHIL_PROFILE_LAYERS, model_run calls hil_profile_layer(-1) on entry and (i) after layer i, so a
 * profiling build (hil.bench.profile) can time every layer. */
#ifdef HIL_PROFILE_LAYERS
void hil_profile_layer(int32_t index);
#define HIL_PROFILE_LAYER(index) hil_profile_layer(index)
#else
#define HIL_PROFILE_LAYER(index) ((void)0)
#endif

"""


@dataclass(frozen=True)
class EmittedModel:
    sources: ModelSources
    flash_bytes: int  # weights and constant tables the generated code adds


def c_array(name: str, values: np.ndarray) -> str:
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(flat[i : i + VALUES_PER_LINE]) for i in range(0, len(flat), VALUES_PER_LINE)]
    body = ",\n    ".join(lines)
    # int8/int16 arrays word-aligned, so kernels may read their weights a word (or two, LDRD) at a time
    aligned = " __attribute__((aligned(4)))" if np.dtype(values.dtype).itemsize < 4 else ""
    return f"static const {C_TYPES[np.dtype(values.dtype)]} {name}[{len(flat)}]{aligned} = {{\n    {body}\n}};\n"


def _dims(shape) -> str:
    return "{" + ", ".join(str(int(d)) for d in shape) + "}"


def _dims4(shape) -> str:
    """hil_dims of an IR shape: NHWC maps as they are, [B, N, C] rows (concat_rows') as {B, 1, N, C}, [B, N] rows as
    {B, 1, 1, N}; a kernel's channels are always the last axis."""
    shape = tuple(shape)
    return _dims(shape if len(shape) == 4 else (shape[0], *(1,) * (4 - len(shape)), *shape[1:]))


class _Emitter:
    def __init__(self, graph: QGraph, steps: list[Step], memory: MemoryPlan) -> None:
        self.graph = graph
        self.steps = steps
        self.memory = memory
        self.members = in_place_members(graph, steps)
        self.weights: list[str] = []
        self.functions: list[str] = []  # a streamed front's stage functions, before model_run
        self.helpers: set[str] = set()
        self.flash = 0

    def ptr(self, tensor: str, const: bool = False, ctype: str = "int8_t") -> str:
        qualifier = f"const {ctype}" if const else ctype
        return f"({qualifier} *)(arena + {self.memory.offsets[tensor]}u)"

    def array(self, name: str, values: np.ndarray) -> str:
        self.weights.append(c_array(name, values))
        self.flash += values.nbytes
        return name

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.graph.tensors[tensor].shape

    def element_bytes(self, tensor: str) -> int:
        """1 for an int8 tensor, 2 for an int16 one (the bit-width search's): the generated C moves bytes."""
        return np.dtype(self.graph.tensors[tensor].dtype).itemsize

    def filter_array(self, name: str, node: QNode) -> str:
        """node's filter as its kernel reads it (conv2d_a16's: conv_a16_device_filter; conv2d_a16_w16's:
        conv_a16_w16_device_filter), as the C array name."""
        f = node.arrays["filter"]
        layouts = {"conv2d_a16": conv_a16_device_filter, "conv2d_a16_w16": conv_a16_w16_device_filter}
        return self.array(name, layouts[node.kernel](f, node.params.in_bits) if node.kernel in layouts else f)

    # ---- one function per step kind --------------------------------------------------------------------

    def conv(self, i: int, node: QNode) -> str:
        f = self.filter_array(f"l{i}_filter", node)
        b = self.array(f"l{i}_bias", node.arrays["bias"])
        s = self.array(f"l{i}_shift", node.arrays["out_shift"])
        args = (
            f"&params, {s}, &in_dims, {self.ptr(node.inputs[0], True)}, &filter_dims, {f}, {b}, &out_dims, "
            f"{self.ptr(node.output)}"
        )
        return (
            f"        static const hil_conv_params params = {c_initializer(node.params)};\n"
            f"        static const hil_dims in_dims = {_dims(self.shape(node.inputs[0]))};\n"
            f"        static const hil_dims filter_dims = {_dims(node.arrays['filter'].shape)};\n"
            f"        static const hil_dims out_dims = {_dims(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, {node.kernel}({args}));\n"
        )

    def add(self, i: int, node: QNode) -> str:
        """add_s8, or add_a16 (its tensors behind void pointers) where the search widened one of them."""
        p = node.params
        wide = node.kernel == "add_a16"
        ctype = "void" if wide else "int8_t"
        a, b = (self.ptr(t, True, ctype) for t in node.inputs)
        out = self.ptr(node.output, ctype=ctype)
        return (
            f"        static const hil_{'add_a16' if wide else 'add'}_params params = {c_initializer(p)};\n"
            f"        static const hil_dims dims = {_dims(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, {node.kernel}(&params, &dims, {a}, {b}, {out}));\n"
        )

    def l2norm(self, i: int, node: QNode) -> str:
        p = node.params
        g = self.array(f"l{i}_gamma", node.arrays["gamma"])
        return (
            f"        static const hil_l2norm_params params = {c_initializer(p)};\n"
            f"        static const hil_dims dims = {_dims(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, l2norm_s8(&params, &dims, {self.ptr(node.inputs[0], True)}, {g}, "
            f"{self.ptr(node.output)}));\n"
        )

    def rnnpool_setup(self, prefix: str, node: QNode, scratch: str, scratch_size: int) -> tuple[str, str]:
        """The statics of an RNNPool call (params, rnn1, rnn2, ctx over scratch) and its offset array (or NULL)."""
        p = node.params
        names = {k: self.array(f"{prefix}_{k}", v) for k, v in node.arrays.items()}
        w1, w2 = node.attrs["rnn1"], node.attrs["rnn2"]
        offset = names["offset"] if node.kernel == "rnnpool_offset_s8" else "NULL"

        def weights(name: str, w) -> str:
            fields = ", ".join(names[f"{name}_{k}"] for k in ("w", "u", "bias_gate", "bias_update"))
            return f"{{{w.input_size}, {w.hidden_size}, {fields}}}"

        setup = (
            f"        static const hil_rnnpool_params params = {c_initializer(p)};\n"
            f"        static const hil_fastgrnn_weights rnn1 = {weights('rnn1', w1)};\n"
            f"        static const hil_fastgrnn_weights rnn2 = {weights('rnn2', w2)};\n"
            f"        const hil_context ctx = {{{scratch}, {scratch_size}}};\n"
        )
        return setup, offset

    def rnnpool(self, i: int, node: QNode, scratch: int, scratch_size: int, output: str | None = None) -> str:
        """rnnpool_layer_s8 over the map; with output (the pad after it, a wider layout) the same kernel once per
        patch row, on the band of input rows that row reads, each row written straight into output's layout."""
        p = node.params
        stride = node.attrs["stride"]
        setup, offset = self.rnnpool_setup(f"l{i}", node, f"arena + {scratch}u", scratch_size)
        if output is None:
            return setup + (
                f"        static const hil_dims in_dims = {_dims(self.shape(node.inputs[0]))};\n"
                f"        static const hil_dims out_dims = {_dims(self.shape(node.output))};\n"
                f"        HIL_CHECK({i}, rnnpool_layer_s8(&ctx, &params, {stride}, &in_dims, "
                f"{self.ptr(node.inputs[0], True)}, &rnn1, &rnn2, {offset},\n"
                f"                                        &out_dims, {self.ptr(node.output)}));\n"
            )
        _, _, in_w, in_c = self.shape(node.inputs[0])
        _, oh, ow, c = self.shape(node.output)
        row_bytes = self.shape(output)[2] * c * self.element_bytes(output)
        return setup + (
            f"        static const hil_dims band_dims = {_dims((1, p.patch_h, in_w, in_c))};\n"
            f"        static const hil_dims row_dims = {_dims((1, 1, ow, c))};\n"
            f"        const int8_t *in = {self.ptr(node.inputs[0], True)};\n"
            f"        int8_t *out = {self.ptr(output)};\n"
            f"        for (int32_t oy = 0; oy < {oh}; ++oy) {{\n"
            f"            HIL_CHECK({i}, rnnpool_layer_s8(&ctx, &params, {stride}, &band_dims, "
            f"in + oy * {stride * in_w * in_c}, &rnn1, &rnn2, {offset},\n"
            f"                                            &row_dims, out + oy * {row_bytes}));\n"
            f"        }}\n"
        )

    def recurrent(self, i: int, node: QNode, scratch: int, scratch_size: int) -> str:
        """gru_s8 or lstm_s8 over the frames, its scratch in the arena; the weights struct holds the sizes, then the
        arrays in the order they are declared (params.GRUWeights, LSTMWeights)."""
        w = node.attrs["weights"]
        names = ", ".join(self.array(f"l{i}_{k}", v) for k, v in node.arrays.items())
        struct = f"hil_{node.kernel.removesuffix('_s8')}_weights"
        return (
            self.params(node) + f"        static const {struct} weights = {{{w.input_size}, {w.hidden_size}, "
            f"{names}}};\n"
            f"        const hil_context ctx = {{arena + {scratch}u, {scratch_size}}};\n"
            f"        static const hil_dims in_dims = {_dims4(self.shape(node.inputs[0]))};\n"
            f"        HIL_CHECK({i}, {node.kernel}(&ctx, &params, &weights, &in_dims, "
            f"{self.ptr(node.inputs[0], True)}, {self.ptr(node.output)}));\n"
        )

    def l2norm_conv(self, i: int, step: Step) -> str:
        """An L2Norm streamed by rows into the convolution (a detection head) that reads it."""
        self.helpers.add("l2norm_conv")
        norm, conv = step.nodes
        p = norm.params
        g = self.array(f"l{i}_gamma", norm.arrays["gamma"])
        f = self.filter_array(f"l{i}_filter", conv)
        b = self.array(f"l{i}_bias", conv.arrays["bias"])
        s = self.array(f"l{i}_shift", conv.arrays["out_shift"])
        rows = self.memory.offsets[f"{i}:rows"]
        convs = "&params, NULL" if conv.kernel == "conv2d_s8" else "NULL, &params"
        return (
            f"        static const hil_l2norm_params norm = {c_initializer(p)};\n"
            + self.params(conv)
            + f"        static const hil_dims in_dims = {_dims(self.shape(norm.inputs[0]))};\n"
            f"        static const hil_dims filter_dims = {_dims(conv.arrays['filter'].shape)};\n"
            f"        static const hil_dims out_dims = {_dims(self.shape(conv.output))};\n"
            f"        HIL_CHECK({i}, gen_l2norm_conv_s8(&norm, {g}, {convs}, {s}, &in_dims, "
            f"{self.ptr(norm.inputs[0], True)}, &filter_dims, {f}, {b}, &out_dims,\n"
            f"                                          {self.ptr(conv.output)}, (int8_t *)(arena + {rows}u)));\n"
        )

    def rnnpool_pad(self, i: int, step: Step) -> str:
        """RNNPool writing its rows straight into the padded layout, then the pad's edges filled in place."""
        rnnpool, pad = step.nodes
        self.helpers.add("pad_edges")
        _, h, w, c = self.shape(rnnpool.output)
        _, out_h, out_w, _ = self.shape(pad.output)
        loop = self.rnnpool(i, rnnpool, self.memory.offsets[f"{i}:rnnpool"], step.scratch["rnnpool"], pad.output)
        return loop + f"        gen_pad_edges(out, {h}, {w}, {c * self.element_bytes(pad.output)}, {out_h}, {out_w});\n"

    # ---- the general layers' kernels (point 6 of issue 10) ------------------------------------------------

    def params(self, node: QNode) -> str:
        return f"        static const {C_STRUCTS[type(node.params)]} params = {c_initializer(node.params)};\n"

    def weighted_layer(self, i: int, node: QNode) -> str:
        """grouped_conv2d_s8, conv2d_a16(_w16) and fully_connected_s8/_a16: a convolution's argument list (the _a16
        kernels take void pointers, so the int8 pointer of an int16 tensor passes unchanged)."""
        f = self.filter_array(f"l{i}_filter", node)
        b = self.array(f"l{i}_bias", node.arrays["bias"])
        s = self.array(f"l{i}_shift", node.arrays["out_shift"])
        filter_shape = node.arrays["filter"].shape  # OHWI, or [M, N] as {M, 1, 1, N}
        filter_shape = filter_shape if len(filter_shape) == 4 else (filter_shape[0], 1, 1, filter_shape[1])
        return (
            self.params(node) + f"        static const hil_dims in_dims = {_dims4(self.shape(node.inputs[0]))};\n"
            f"        static const hil_dims filter_dims = {_dims(filter_shape)};\n"
            f"        static const hil_dims out_dims = {_dims4(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, {node.kernel}(&params, {s}, &in_dims, {self.ptr(node.inputs[0], True)}, "
            f"&filter_dims, {f}, {b}, &out_dims, {self.ptr(node.output)}));\n"
        )

    def pool(self, i: int, node: QNode) -> str:
        return (
            self.params(node) + f"        static const hil_dims in_dims = {_dims4(self.shape(node.inputs[0]))};\n"
            f"        static const hil_dims out_dims = {_dims4(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, {node.kernel}(&params, &in_dims, {self.ptr(node.inputs[0], True)}, &out_dims, "
            f"{self.ptr(node.output)}));\n"
        )

    def lut(self, i: int, node: QNode) -> str:
        table = self.array(f"l{i}_table", node.arrays["table"])
        count = int(np.prod(self.shape(node.output)))
        args = f"{count}, {self.ptr(node.inputs[0], True)}, {table}, {self.ptr(node.output)}"
        return f"        HIL_CHECK({i}, lut_s8({args}));\n"

    def prelu(self, i: int, node: QNode) -> str:
        slope = self.array(f"l{i}_slope", node.arrays["slope"])
        shape = self.shape(node.output)
        pixels, source, out = int(np.prod(shape[:-1])), self.ptr(node.inputs[0], True), self.ptr(node.output)
        args = f"&params, {pixels}, {shape[-1]}, {source}, {slope}, {out}"
        return self.params(node) + f"        HIL_CHECK({i}, prelu_s8({args}));\n"

    def layer_norm(self, i: int, node: QNode) -> str:
        gamma, beta = (self.array(f"l{i}_{name}", node.arrays[name]) for name in ("gamma", "beta"))
        return (
            self.params(node) + f"        static const hil_dims dims = {_dims4(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, layer_norm_s8(&params, &dims, {self.ptr(node.inputs[0], True)}, {gamma}, {beta}, "
            f"{self.ptr(node.output)}));\n"
        )

    def multiply(self, i: int, node: QNode) -> str:
        """scale_channels_s8 over the map as pixels of the other factor's size (its pixels for a gate per channel,
        one pixel of every value for a tensor of the map's shape); scale_pixels_s8 over the map's pixels and
        channels for a gate per pixel."""
        values = int(np.prod(self.shape(node.inputs[1])))
        pixels = int(np.prod(self.shape(node.output))) // values
        if node.kernel == "scale_pixels_s8":
            pixels, values = values, pixels
        source, other, out = self.ptr(node.inputs[0], True), self.ptr(node.inputs[1], True), self.ptr(node.output)
        args = f"&params, {pixels}, {values}, {source}, {other}, {out}"
        return self.params(node) + f"        HIL_CHECK({i}, {node.kernel}({args}));\n"

    def softmax(self, i: int, node: QNode) -> str:
        """softmax_s8 or log_softmax_s8: the params, the dims and the kernel's tables in the order it takes them."""
        tables = ", ".join(self.array(f"l{i}_{name.removesuffix('_table')}", v) for name, v in node.arrays.items())
        return (
            self.params(node) + f"        static const hil_dims dims = {_dims4(self.shape(node.output))};\n"
            f"        HIL_CHECK({i}, {node.kernel}(&params, &dims, {self.ptr(node.inputs[0], True)}, {tables}, "
            f"{self.ptr(node.output)}));\n"
        )

    def flatten_chw(self, i: int, node: QNode) -> str:
        """NHWC to PyTorch's channel-major rows: the map's [P, C] values transposed (int8)."""
        return self.transpose_rows(node, 1)

    def zero_pad(self, i: int, node: QNode) -> str:
        """Zeros everywhere, then each input row copied into place."""
        n, h, w, c = self.shape(node.inputs[0])
        _, out_h, out_w, _ = self.shape(node.output)
        a = node.attrs
        row0 = (a["top"] * out_w + a["left"]) * c
        return (
            f"        const int8_t *in = {self.ptr(node.inputs[0], True)};\n"
            f"        int8_t *out = {self.ptr(node.output)};\n"
            f"        memset(out, 0, {n * out_h * out_w * c}u);\n"
            f"        for (int32_t r = 0; r < {n * h}; ++r) {{\n"
            f"            memcpy(out + (r / {h}) * {out_h * out_w * c} + (r % {h}) * {out_w * c} + {row0}, "
            f"in + r * {w * c}, {w * c}u);\n        }}\n"
        )

    def layer(self, i: int, node: QNode) -> str:
        emitters = {
            "zero_pad": self.zero_pad,
            "grouped_conv2d_s8": self.weighted_layer,
            "fully_connected_s8": self.weighted_layer,
            "fully_connected_a16": self.weighted_layer,
            "conv2d_a16": self.weighted_layer,
            "conv2d_a16_w16": self.weighted_layer,
            "depthwise_conv2d_a16": self.weighted_layer,
            "maxpool_s8": self.pool,
            "avgpool_s8": self.pool,
            "resize_bilinear_s8": self.pool,
            "lut_s8": self.lut,
            "prelu_s8": self.prelu,
            "layer_norm_s8": self.layer_norm,
            "softmax_s8": self.softmax,
            "log_softmax_s8": self.softmax,
            "flatten_chw": self.flatten_chw,
        }
        return emitters[node.kernel](i, node)

    def data_move(self, node: QNode) -> str:
        out = self.ptr(node.output)
        shape = self.shape(node.output)
        pixels = int(np.prod(shape[:-1]))
        if node.kernel == "pad":
            self.helpers.add("pad")
            _, h, w, c = self.shape(node.inputs[0])
            a, pixel = node.attrs, c * self.element_bytes(node.output)
            return (
                f"        gen_pad_replicate({self.ptr(node.inputs[0], True)}, {h}, {w}, {pixel}, {a['top']}, "
                f"{a['left']}, {shape[1]}, {shape[2]}, {out});\n"
            )
        size = self.element_bytes(node.output)
        if node.kernel == "reflect_pad":
            return self.reflect_pad(node, size)
        if node.kernel == "slice_channels":
            self.helpers.add("copy")
            c_in, a = self.shape(node.inputs[0])[-1], node.attrs
            return (
                f"        gen_copy_channel_bytes({self.ptr(node.inputs[0], True)}, {pixels}, {c_in * size}, "
                f"{a['start'] * size}, {(a['stop'] - a['start']) * size}, {out}, {shape[-1] * size}, 0);\n"
            )
        if node.kernel in ("unflatten", "flatten"):
            size = self.graph.tensors[node.output].nbytes
            return f"        memcpy({out}, {self.ptr(node.inputs[0], True)}, {size}u);\n"
        if node.kernel == "transpose_rows":
            return self.transpose_rows(node, size)
        if node.kernel == "permute_channels":
            order = self.array(f"{node.output}_order", np.asarray(node.attrs["order"], np.int16))
            c = shape[-1]
            return (
                f"        const int8_t *in = {self.ptr(node.inputs[0], True)};\n"
                f"        int8_t *out = {out};\n"
                f"        for (int32_t p = 0; p < {pixels}; ++p) {{\n"
                f"            for (int32_t c = 0; c < {c}; ++c) {{\n"
                f"                memcpy(out + (p * {c} + c) * {size}, in + (p * {c} + {order}[c]) * {size}, "
                f"{size}u);\n            }}\n        }}\n"
            )
        if node.kernel == "slice_pixels":
            return self.slice_pixels(node, size)
        if node.kernel in RESAMPLES:
            self.helpers.add(node.kernel)
            n, h, w, c = self.shape(node.inputs[0])
            factor_h, factor_w = node.attrs["factor"]
            return (
                f"        gen_{node.kernel}({self.ptr(node.inputs[0], True)}, {n}, {h}, {w}, {c}, {size}, {factor_h}, "
                f"{factor_w}, {out});\n"
            )
        if node.kernel == "channel_max":
            bits, c_in = 8 * size, self.shape(node.inputs[0])[-1]
            self.helpers.add(f"max{bits}")
            source, target = self.ptr(node.inputs[0], True, f"int{bits}_t"), self.ptr(node.output, ctype=f"int{bits}_t")
            return f"        gen_channel_max_s{bits}({source}, {pixels}, {c_in}, {target});\n"
        if node.kernel == "concat_channels":
            self.helpers.add("copy")
            lines, start = [], 0
            for t in node.inputs:
                c = self.shape(t)[-1] * size
                lines.append(
                    f"        gen_copy_channel_bytes({self.ptr(t, True)}, {pixels}, {c}, 0, {c}, {out}, "
                    f"{shape[-1] * size}, {start});\n"
                )
                start += c
            return "".join(lines)
        if node.kernel == "concat_rows":
            lines, offset = [], 0
            for t in node.inputs:
                size = self.graph.tensors[t].nbytes
                if t not in self.members:
                    lines.append(f"        memcpy({out} + {offset}, {self.ptr(t, True)}, {size}u);\n")
                offset += size
            return "".join(lines) or "        /* every input was written in place */\n"
        raise CompileError(f"{node.name}: no C for '{node.kernel}'")

    def transpose_rows(self, node: QNode, size: int) -> str:
        """Each batch's [P, C] values (element size bytes) copied to [C, P] (flatten_chw's and transpose_rows'
        move): a copy when P or C is 1, else a transposing loop."""
        n, c = self.shape(node.inputs[0])[0], self.shape(node.inputs[0])[-1]
        pixels = int(np.prod(self.shape(node.inputs[0])[1:-1]))
        src, dst = self.ptr(node.inputs[0], True), self.ptr(node.output)
        if pixels == 1 or c == 1:
            return f"        memcpy({dst}, {src}, {n * pixels * c * size}u);\n"
        at_out, at_in = f"(b * {c} + c) * {pixels} + p", f"(b * {pixels} + p) * {c} + c"
        move = (
            f"out[{at_out}] = in[{at_in}];"
            if size == 1
            else f"memcpy(out + ({at_out}) * {size}, in + ({at_in}) * {size}, {size}u);"
        )
        return (
            f"        const int8_t *in = {src};\n        int8_t *out = {dst};\n"
            f"        for (int32_t b = 0; b < {n}; ++b) {{\n"
            f"            for (int32_t p = 0; p < {pixels}; ++p) {{\n"
            f"                for (int32_t c = 0; c < {c}; ++c) {{\n"
            f"                    {move}\n"
            f"                }}\n            }}\n        }}\n"
        )

    def slice_pixels(self, node: QNode, size: int) -> str:
        """Each output row's pixels copied from the input's rows and columns the slice picks: one run of bytes a row
        when the columns are consecutive, else one pixel at a time."""
        n, h, w, c = self.shape(node.inputs[0])
        (top, left), (step_h, step_w), (out_h, out_w) = (node.attrs[k] for k in ("start", "step", "output_hw"))
        pixel = c * size
        run, count = (out_w * pixel, 1) if step_w == 1 else (pixel, out_w)
        return (
            f"        const int8_t *in = {self.ptr(node.inputs[0], True)};\n"
            f"        int8_t *out = {self.ptr(node.output)};\n"
            f"        for (int32_t r = 0; r < {n * out_h}; ++r) {{\n"
            f"            const int8_t *row = in + ((r / {out_h}) * {h} + {top} + (r % {out_h}) * {step_h})"
            f" * {w * pixel} + {left * pixel};\n"
            f"            for (int32_t x = 0; x < {count}; ++x) {{\n"
            f"                memcpy(out + (r * {count} + x) * {run}, row + x * {step_w * pixel}, {run}u);\n"
            f"            }}\n        }}\n"
        )

    def reflect_pad(self, node: QNode, size: int) -> str:
        """Each output pixel copied from the input pixel mirrored about the edge rows and columns."""
        n, h, w, c = self.shape(node.inputs[0])
        _, out_h, out_w, _ = self.shape(node.output)
        a, pixel = node.attrs, c * size
        return (
            f"        const int8_t *in = {self.ptr(node.inputs[0], True)};\n"
            f"        int8_t *out = {self.ptr(node.output)};\n"
            f"        for (int32_t r = 0; r < {n * out_h}; ++r) {{\n"
            f"            int32_t y = r % {out_h} - {a['top']};\n"
            f"            y = y < 0 ? -y : (y >= {h} ? {2 * (h - 1)} - y : y);\n"
            f"            for (int32_t q = 0; q < {out_w}; ++q) {{\n"
            f"                int32_t x = q - {a['left']};\n"
            f"                x = x < 0 ? -x : (x >= {w} ? {2 * (w - 1)} - x : x);\n"
            f"                memcpy(out + (r * {out_w} + q) * {pixel}, in + ((r / {out_h} * {h} + y) * {w} + x) * "
            f"{pixel}, {pixel}u);\n            }}\n        }}\n"
        )

    def mbconv_block(self, prefix: str, step: Step) -> str:
        """The gen_mbconv initialiser of an MBConv step, its arrays named prefix_<role>_<array>."""
        self.helpers.add("mbconv_rows")
        stages = step.nodes[:3]
        expand = stages[0]
        arrays = {}
        for role, node in zip(("expand", "depthwise", "project"), stages, strict=True):
            arrays[role] = (
                self.filter_array(f"{prefix}_{role}_filter", node),
                self.array(f"{prefix}_{role}_bias", node.arrays["bias"]),
                self.array(f"{prefix}_{role}_shift", node.arrays["out_shift"]),
            )
        x = expand.inputs[0]
        residual, add = 0, "{0, 0, 0, 0, 0, 8, 8, 8}"
        if len(step.nodes) == 4:
            node = step.nodes[3]
            residual = 1 if node.inputs[0] == x else 2
            add = c_initializer(add_a16_params(node.params))  # gen_mbconv holds add_a16's params
        fields = [
            _dims(self.shape(x)),
            _dims(self.shape(step.output)),
            str(self.shape(expand.output)[-1]),
            *(c_initializer(_conv_params(n.params)) for n in stages),
            *(_dims(n.arrays["filter"].shape) for n in stages),
            *(name for names in arrays.values() for name in names),
            str(residual),
            add,
            "{" + ", ".join(str(8 * self.element_bytes(t)) for t in (x, *(n.output for n in stages))) + "}",
            "{" + ", ".join(str(8 * stages[k].arrays["filter"].itemsize) for k in (0, 2)) + "}",
        ]
        return ",\n            ".join(fields)

    def mbconv(self, i: int, step: Step) -> str:
        self.helpers.add("mbconv")
        body = self.mbconv_block(f"l{i}", step)
        x = step.nodes[0].inputs[0]
        residual = len(step.nodes) == 4
        scratch = {name: self.memory.offsets[f"{i}:{name}"] for name in step.scratch}
        project_row = f"(int8_t *)(arena + {scratch['project_row']}u)" if residual else "NULL"
        return (
            f"        static const gen_mbconv block = {{\n            {body}}};\n"
            f"        HIL_CHECK({i}, gen_mbconv_s8(&block, {self.ptr(x, True)}, {self.ptr(step.output)},\n"
            f"                                   (int8_t *)(arena + {scratch['rows']}u), "
            f"(int8_t *)(arena + {scratch['dw_row']}u), {project_row}));\n"
        )

    # ---- the streamed front (schedule.stream_front) ----------------------------------------------------------------

    def front(self, i: int, step: Step) -> str:
        """The row pipeline: a function per window (l{i}_rows_<k>: window k made to hold rows [lo, hi) of its map,
        window 0 the input's, read through hil_input_read), one that runs the last stage into its whole output
        (l{i}_run), and in model_run the windows in the arena. The stage functions return 0, 1 when a kernel refused
        its arguments, or a refused input read's ERR_ code negated; model_run returns layer + 1 or that code."""
        self.helpers.add("window")
        state = f"l{i}_front"
        parts, windows = step.parts, step.windows
        offsets = {name: self.memory.offsets[f"{i}:{name}"] for name in step.scratch}
        self.functions.append(
            f"/* The row windows of layer {i}'s streamed front (the input's, then each stage's but the last), the\n"
            " * buffer its stages use in turn (RNNPool's scratch, the depthwise row) and the last MBConv's expanded\n"
            " * rows. */\n"
            f"typedef struct {{\n    gen_window w[{len(windows)}];\n    int8_t *work;\n    int8_t *expanded;\n"
            f"    int32_t status; /* why a row source returned NULL */\n}} {state};\n"
        )
        rows, row_bytes = self.shape(step.inputs[0])[1], windows[0][1]
        index = self.graph.inputs.index(step.inputs[0])
        self.functions.append(
            f"/* Rows [lo, hi) of input {index} ({rows} rows of {row_bytes} B) in window 0, each byte read once. */\n"
            f"static int32_t l{i}_rows_0({state} *f, int32_t lo, int32_t hi)\n{{\n"
            f"    gen_window *w = &f->w[0];\n    gen_window_drop(w, lo);\n"
            f"    for (; w->next < hi; gen_window_made(w, lo)) {{\n"
            f"        const int32_t status = hil_input_read({index}u, (uint32_t)w->next * {row_bytes}u, {row_bytes}u,\n"
            f"                                              (uint8_t *)gen_window_row(w, w->next));\n"
            f"        if (status != 0) {{\n            return -status;\n        }}\n    }}\n    return 0;\n}}\n"
        )
        for k, part in enumerate(parts[:-1], start=1):
            self.functions.append(self.front_window(i, k, part, windows[k][0] > 1))
        self.functions.append(self.front_sink(i, len(parts), parts[-1]))
        names = ["input rows", *(f"{p.name} rows" for p in parts[:-1])]
        inits = ", ".join(
            f"{{(int8_t *)(arena + {offsets[name]}u), {b}, 0, 0}}" for name, (_, b) in zip(names, windows, strict=True)
        )
        pointer = lambda name: f"(int8_t *)(arena + {offsets[name]}u)" if name in offsets else "NULL"  # noqa: E731
        return (
            f"        {state} f = {{{{{inits}}},\n"
            f"                        {pointer('work')}, {pointer(f'{parts[-1].name} expanded rows')}, 0}};\n"
            f"        int32_t status = l{i}_run(&f, {self.ptr(step.output)});\n"
            f"        if (status == 0) {{\n"
            f"            status = l{i}_rows_0(&f, {rows}, {rows}); /* input rows no stage reads: read, dropped */\n"
            f"        }}\n"
            f"        if (status != 0) {{\n            return status < 0 ? status : {i + 1};\n        }}\n"
        )

    def front_row(self, i: int, k: int, part: Step, row: str, previous: str | None) -> str:
        """Statements (inside a loop over y) making output row y of stage k (parts[k - 1]) at row from window k - 1;
        previous: row y - 1, which a replicate pad's rows below the map copy (None: row holds it already)."""
        node, source, prefix = part.nodes[0], f"l{i}_rows_{k - 1}", f"l{i}_s{k}"
        _, h, w, c = self.shape(node.inputs[0])
        fail = "if (status != 0) {\n            return status;\n        }\n"
        if front_stage(part) == "conv":
            f = self.filter_array(f"{prefix}_filter", node)
            b = self.array(f"{prefix}_bias", node.arrays["bias"])
            sh = self.array(f"{prefix}_shift", node.arrays["out_shift"])
            k_h, stride, pad = node.arrays["filter"].shape[1], node.params.stride_h, node.params.pad_h
            _, _, ow, oc = self.shape(node.output)
            return (
                f"        static const hil_conv_params params = {c_initializer(node.params)};\n"
                f"        static const hil_dims filter_dims = {_dims(node.arrays['filter'].shape)};\n"
                f"        static const hil_dims row_dims = {_dims((1, 1, ow, oc))};\n"
                f"        const int32_t top = y * {stride} - {pad};\n"
                f"        const int32_t lo_in = top < 0 ? 0 : top;\n"
                f"        const int32_t hi_in = top + {k_h} < {h} ? top + {k_h} : {h};\n"
                f"        const int32_t status = {source}(f, lo_in, hi_in);\n"
                f"        {fail}"
                f"        hil_conv_params band = params; /* the band of rows, padded where the map is */\n"
                f"        band.pad_h = lo_in - top;\n"
                f"        const hil_dims band_dims = {{1, hi_in - lo_in, {w}, {c}}};\n"
                f"        if ({node.kernel}(&band, {sh}, &band_dims, gen_window_row(&f->w[{k - 1}], lo_in),\n"
                f"            &filter_dims, {f}, {b}, &row_dims, {row}) != HIL_KERNEL_OK) {{\n"
                "            return 1;\n        }\n"
            )
        stride, patch = node.attrs["stride"], node.params.patch_h
        setup, offset = self.rnnpool_setup(prefix, node, "f->work", part.scratch["rnnpool"])
        _, real, rw, rc = self.shape(node.output)
        out_w, pixel = self.shape(part.output)[2], rc * self.element_bytes(part.output)
        text = (
            setup + f"        static const hil_dims band_dims = {_dims((1, patch, w, c))};\n"
            f"        static const hil_dims row_dims = {_dims((1, 1, rw, rc))};\n"
            f"        if (y < {real}) {{\n"
            f"            const int32_t status = {source}(f, y * {stride}, y * {stride} + {patch});\n"
            f"            if (status != 0) {{\n                return status;\n            }}\n"
            f"            if (rnnpool_layer_s8(&ctx, &params, {stride}, &band_dims, gen_window_row(&f->w[{k - 1}], "
            f"y * {stride}), &rnn1,\n                                 &rnn2, {offset}, &row_dims, {row}) != "
            f"HIL_KERNEL_OK) {{\n                return 1;\n            }}\n"
        )
        if out_w > rw:  # the replicate pad's columns right of the map
            self.helpers.add("pad_edges")
            text += f"            gen_pad_edges({row}, 1, {rw}, {pixel}, 1, {out_w});\n"
        if pad_rows_below(self.graph, part):
            copy = f"memcpy({row}, {previous}, {out_w * pixel}u);" if previous else "/* the one-row window holds it */"
            text += "        } else { /* a row of the replicate pad below the map: the last row's copy */\n"
            text += f"            {copy}\n"
        return text + "        }\n"

    def front_window(self, i: int, k: int, part: Step, copy_pad_rows: bool) -> str:
        """l{i}_rows_<k>: rows [lo, hi) of stage k's output in window k."""
        keep = "lo"
        if pad_rows_below(self.graph, part) and copy_pad_rows:
            last = real_rows(self.graph, part) - 1
            keep = f"hi > {last + 1} && lo > {last} ? {last} : lo"  # the row the pad's rows below copy stays
        previous = "gen_window_row(w, y - 1)" if copy_pad_rows else None
        return (
            f"/* Rows [lo, hi) of {_c_comment(part.name)} ({self.shape(part.output)[1]} rows) in window {k}. */\n"
            f"static int32_t l{i}_rows_{k}(l{i}_front *f, int32_t lo, int32_t hi)\n{{\n"
            f"    gen_window *w = &f->w[{k}];\n    const int32_t keep = {keep};\n    gen_window_drop(w, keep);\n"
            f"    for (; w->next < hi; gen_window_made(w, keep)) {{\n        const int32_t y = w->next;\n"
            + self.front_row(i, k, part, "gen_window_row(w, y)", previous)
            + "    }\n    return 0;\n}\n"
        )

    def front_sink(self, i: int, k: int, part: Step) -> str:
        """l{i}_run: the last stage (k) over its whole output."""
        state = f"l{i}_front"
        if front_stage(part) == "mbconv":
            block = self.mbconv_block(f"l{i}_s{k}", part)
            return (
                f"/* Row `row` of {_c_comment(part.name)}'s input, from window {k - 1}. */\n"
                f"static const int8_t *l{i}_source(void *state, int32_t row)\n{{\n"
                f"    {state} *f = ({state} *)state;\n"
                f"    f->status = l{i}_rows_{k - 1}(f, row, row + 1);\n"
                f"    return f->status == 0 ? gen_window_row(&f->w[{k - 1}], row) : NULL;\n}}\n\n"
                f"static int32_t l{i}_run({state} *f, int8_t *out)\n{{\n"
                f"    static const gen_mbconv block = {{\n            {block}}};\n"
                f"    if (gen_mbconv_rows_s8(&block, l{i}_source, f, out, f->expanded, f->work, NULL) !=\n"
                "        HIL_KERNEL_OK) {\n"
                f"        return f->status != 0 ? f->status : 1;\n    }}\n    return 0;\n}}\n"
            )
        _, rows, ow, oc = self.shape(part.output)
        size = self.element_bytes(part.output)
        text = (
            f"static int32_t l{i}_run({state} *f, int8_t *out)\n{{\n"
            f"    for (int32_t y = 0; y < {real_rows(self.graph, part)}; ++y) {{\n"
            + self.front_row(i, k, part, f"out + y * {ow * oc * size}", None)
            + "    }\n"
        )
        if pad_rows_below(self.graph, part):
            node = part.nodes[0]
            _, rh, rw, rc = self.shape(node.output)
            self.helpers.add("pad_edges")
            text += f"    gen_pad_edges(out, {rh}, {rw}, {rc * size}, {rows}, {ow});\n"
        return text + "    return 0;\n}\n"

    def step(self, i: int, step: Step) -> str:
        out = step.output
        dump = (
            f'    HIL_DEBUG_LAYER({i}, "{_c_string(step.name)}", arena + {self.memory.offsets[out]}u, '
            f"{self.graph.tensors[out].nbytes}u);\n"
        )
        return self._step(i, step) + dump + f"    HIL_PROFILE_LAYER({i});\n"

    def _step(self, i: int, step: Step) -> str:
        if step.kind == "front":
            names = ", ".join(n.name for n in step.nodes)
            body = self.front(i, step)
            return f"    /* layer {i}: streamed front (the input read by rows) {names} */\n    {{\n{body}    }}\n"
        if step.kind == "mbconv":
            names = ", ".join(n.name for n in step.nodes)
            return f"    /* layer {i}: mbconv (streamed by rows) {names} */\n    {{\n{self.mbconv(i, step)}    }}\n"
        node = step.nodes[0]
        if step.kind == "l2norm_conv":
            names = ", ".join(n.name for n in step.nodes)
            body = self.l2norm_conv(i, step)
            return f"    /* layer {i}: l2norm_conv (streamed by rows) {names} */\n    {{\n{body}    }}\n"
        if step.kind == "rnnpool_pad":
            names = ", ".join(n.name for n in step.nodes)
            body = self.rnnpool_pad(i, step)
            return f"    /* layer {i}: {node.kernel} into the padded layout {names} */\n    {{\n{body}    }}\n"
        header = f"    /* layer {i}: {node.kernel} {node.name} */\n"
        if node.kernel in ("conv2d_s8", "conv2d_s8_w16", "depthwise_conv2d_s8", "pointwise_conv2d_s8"):
            body = self.conv(i, node)
        elif node.kernel in ("add_s8", "add_a16"):
            body = self.add(i, node)
        elif node.kernel == "l2norm_s8":
            body = self.l2norm(i, node)
        elif node.kernel in ("scale_channels_s8", "scale_pixels_s8"):
            body = self.multiply(i, node)
        elif node.kernel in ("rnnpool_s8", "rnnpool_offset_s8"):
            body = self.rnnpool(i, node, self.memory.offsets[f"{i}:rnnpool"], step.scratch["rnnpool"])
        elif node.kernel in ("gru_s8", "lstm_s8"):
            body = self.recurrent(i, node, self.memory.offsets[f"{i}:recurrent"], step.scratch["recurrent"])
        elif node.kernel in LAYER_KERNELS:
            body = self.layer(i, node)
        else:
            body = self.data_move(node)
        return f"{header}    {{\n{body}    }}\n"


def _conv_params(params: ConvParams | ConvA16Params) -> ConvParams:
    """A fused MBConv stage's strides, padding and clamp as gen_mbconv holds them (its widths are the block's bits;
    gen_mbconv_stage builds conv2d_a16's params from both)."""
    if isinstance(params, ConvParams):
        return params
    return ConvParams(params.stride_h, params.stride_w, params.pad_h, params.pad_w, params.act_min, params.act_max)


def _c_comment(text: str) -> str:
    return text.replace("*/", "* /")


def _c_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def tensor_specs(graph: QGraph, names: list[str], labels: list[str]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            label, graph.tensors[t].dtype, graph.tensors[t].shape, graph.tensors[t].scale, graph.tensors[t].zero_point
        )
        for t, label in zip(names, labels, strict=True)
    )


def emit(
    graph: QGraph,
    steps: list[Step],
    memory: MemoryPlan,
    directory: Path,
    name: str,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
) -> EmittedModel:
    """Writes model.h and model.c into directory (unchanged files are left untouched)."""
    emitter = _Emitter(graph, steps, memory)
    calls = "".join(emitter.step(i, s) for i, s in enumerate(steps))
    helpers = {
        "pad": c_support.PAD_REPLICATE,
        "pad_edges": c_support.PAD_EDGES,
        "l2norm_conv": c_support.L2NORM_CONV,
        "copy": c_support.COPY_CHANNELS,
        "upsample_nearest": c_support.UPSAMPLE_NEAREST,
        "insert_zeros": c_support.INSERT_ZEROS,
        "depth_to_space": c_support.DEPTH_TO_SPACE,
        "space_to_depth": c_support.SPACE_TO_DEPTH,
        "max8": c_support.channel_max(8),
        "max16": c_support.channel_max(16),
        "mbconv_rows": c_support.MBCONV_ROWS,
        "mbconv": c_support.MBCONV,
        "window": c_support.WINDOW,
    }
    support = "".join(text for key, text in helpers.items() if key in emitter.helpers)
    inputs = tensor_specs(graph, graph.inputs, input_names or [f"input{i}" for i in range(len(graph.inputs))])
    outputs = tensor_specs(graph, graph.outputs, output_names or [f"output{i}" for i in range(len(graph.outputs))])
    in_info = ", ".join(c_tensor_info(s, memory.offsets[t]) for s, t in zip(inputs, graph.inputs, strict=True))
    out_info = ", ".join(c_tensor_info(s, memory.offsets[t]) for s, t in zip(outputs, graph.outputs, strict=True))
    body = (
        '#include <stddef.h>\n#include <string.h>\n\n#include "hil_kernels.h"\n'
        '#include "model.h"\n\n'
        "/* A failing kernel makes model_run return its layer number plus one. */\n"
        "#define HIL_CHECK(layer, call)                \\\n"
        "    do {                                      \\\n"
        "        if ((call) != HIL_KERNEL_OK) {        \\\n"
        "            return (layer) + 1;               \\\n"
        "        }                                     \\\n"
        "    } while (0)\n\n"
        + DEBUG_LAYERS
        + "\n".join(emitter.weights)
        + support
        + "".join("\n" + text for text in emitter.functions)
        + f"\nstatic const hil_tensor_info model_inputs[{len(inputs)}] = {{{in_info}}};\n"
        + f"static const hil_tensor_info model_outputs[{len(outputs)}] = {{{out_info}}};\n\n"
        + "int32_t model_run(uint8_t *arena)\n{\n    HIL_PROFILE_LAYER(-1);\n"
        + calls
        + "    return 0;\n}\n"
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    info = (
        f'const hil_model_info model_info = {{"{name}", "{digest}", MODEL_ARENA_BYTES, {len(inputs)}, model_inputs, '
        f"{len(outputs)}, model_outputs}};\n"
    )
    banner = f"/* Generated by hil.compiler from {digest}; do not edit. */\n"
    marker = "\nint32_t model_run"
    source = banner + body.replace(marker, "\n" + info + marker, 1)
    guard = "MODEL_H"
    header = (
        f'{banner}#ifndef {guard}\n#define {guard}\n\n#include "hil_model.h"\n\n'
        f"#define MODEL_ARENA_BYTES {memory.arena_bytes}u\n#define MODEL_FLASH_BYTES {emitter.flash}u\n"
        f"#define MODEL_MACS {graph.macs}u\n\n#endif\n"
    )
    directory.mkdir(parents=True, exist_ok=True)
    write_if_changed(directory / "model.h", header)
    write_if_changed(directory / "model.c", source)
    sources = ModelSources(name, digest, directory, inputs, outputs, memory.arena_bytes)
    return EmittedModel(sources, emitter.flash)

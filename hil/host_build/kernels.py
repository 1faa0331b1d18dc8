"""ctypes binding of the kernels in a host-built shared library: each method takes the same arguments as its
numpy twin in hil.kernels_ref, calls the C, and returns the output array (or raises HostKernelError)."""

from __future__ import annotations

import ctypes
import functools
from ctypes import POINTER, c_int8, c_int16, c_int32, c_void_p
from pathlib import Path
from typing import ClassVar

import numpy as np

from hil.errors import HilError
from hil.host_build.compiler import HostLibrary, build_shared_library
from hil.kernels_ref.conv_a16 import conv_a16_device_filter, conv_a16_w16_device_filter
from hil.kernels_ref.nonlinear import TABLE_SIZE
from hil.kernels_ref.params import (
    C_STRUCTS,
    AddA16Params,
    AddParams,
    AvgPoolParams,
    ConvA16Params,
    ConvParams,
    FastGRNNParams,
    FastGRNNWeights,
    FullyConnectedA16Params,
    FullyConnectedParams,
    GroupedConvParams,
    GRUWeights,
    L2NormParams,
    LayerNormParams,
    LogSoftmaxParams,
    LSTMWeights,
    PoolParams,
    PReluParams,
    RecurrentParams,
    ResizeBilinearParams,
    RNNPoolParams,
    ScaleChannelsParams,
    SoftmaxParams,
    c_fields,
)

_C_TYPES = {np.dtype(np.int8): c_int8, np.dtype(np.int16): c_int16, np.dtype(np.int32): c_int32}


class HostKernelError(HilError):
    """A kernel returned HIL_KERNEL_ARG_ERROR (or another non-zero status)."""

    def __init__(self, kernel: str, status: int) -> None:
        self.kernel = kernel
        self.status = status
        super().__init__(f"{kernel} returned status {status} (HIL_KERNEL_ARG_ERROR is -1): invalid arguments")


class CDims(ctypes.Structure):
    _fields_ = [("n", c_int32), ("h", c_int32), ("w", c_int32), ("c", c_int32)]


class CContext(ctypes.Structure):
    _fields_ = [("buf", c_void_p), ("size", c_int32)]


@functools.cache
def ctypes_struct(record_type: type) -> type[ctypes.Structure]:
    """The ctypes structure of a params record, derived from its declaration (hil.kernels_ref.params.c_struct)."""
    fields = [(name, ctypes_struct(kind) if kind in C_STRUCTS else c_int32) for name, kind in c_fields(record_type)]
    return type(C_STRUCTS[record_type], (ctypes.Structure,), {"_fields_": fields})


def _struct(record: object) -> ctypes.Structure:
    """A params record as its ctypes structure (nested records included)."""
    values = [getattr(record, name) for name, _ in c_fields(type(record))]
    return ctypes_struct(type(record))(*(_struct(v) if type(v) in C_STRUCTS else v for v in values))


class CFastGRNNWeights(ctypes.Structure):
    _fields_ = [
        ("input_size", c_int32),
        ("hidden_size", c_int32),
        ("w", POINTER(c_int16)),
        ("u", POINTER(c_int16)),
        ("bias_gate", POINTER(c_int32)),
        ("bias_update", POINTER(c_int32)),
    ]


def _ptr(array: np.ndarray | None, dtype: type) -> ctypes._Pointer | None:
    """A pointer to a C-contiguous array of exactly dtype (no silent casts); None stays NULL."""
    if array is None:
        return None
    if array.dtype != dtype:
        raise TypeError(f"expected a {np.dtype(dtype)} array, got {array.dtype}")
    if not array.flags.c_contiguous:
        raise TypeError("expected a C-contiguous array")
    return array.ctypes.data_as(POINTER(_C_TYPES[np.dtype(dtype)]))


def _dims(shape: tuple[int, ...]) -> CDims:
    return CDims(*shape)


def _a16(params: FullyConnectedA16Params | ConvA16Params) -> tuple[type, type]:
    """The input's and output's numpy types of an _a16 kernel (int8 for a width the C will refuse)."""
    widths = {8: np.int8, 16: np.int16}
    return widths.get(params.in_bits, np.int8), widths.get(params.out_bits, np.int8)


def _four(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A [B, N] row shape as the kernels' dims {B, 1, 1, N}; 4-d shapes as they are."""
    return shape if len(shape) == 4 else (shape[0], *(1,) * (4 - len(shape)), *shape[1:])


class CGRUWeights(ctypes.Structure):
    _fields_ = [
        ("input_size", c_int32),
        ("hidden_size", c_int32),
        ("w", POINTER(c_int16)),
        ("u", POINTER(c_int16)),
        ("bias", POINTER(c_int32)),
        ("bias_hn", POINTER(c_int32)),
    ]


class CLSTMWeights(ctypes.Structure):
    _fields_ = [
        ("input_size", c_int32),
        ("hidden_size", c_int32),
        ("w", POINTER(c_int16)),
        ("u", POINTER(c_int16)),
        ("bias", POINTER(c_int32)),
    ]


class _RecurrentWeights:
    """A CGRUWeights or CLSTMWeights (as the record's type says) and the contiguous arrays it points into, kept
    alive together: each pointer field the struct declares, from the record's array of that name."""

    def __init__(self, weights: GRUWeights | LSTMWeights) -> None:
        struct = {GRUWeights: CGRUWeights, LSTMWeights: CLSTMWeights}[type(weights)]
        pointers = struct._fields_[2:]
        self.arrays = [np.ascontiguousarray(getattr(weights, name)) for name, _ in pointers]
        typed = [_ptr(a, np.dtype(kind._type_)) for a, (_, kind) in zip(self.arrays, pointers, strict=True)]
        self.struct = struct(weights.input_size, weights.hidden_size, *typed)


class _Weights:
    """A CFastGRNNWeights and the contiguous arrays it points into (kept alive together)."""

    def __init__(self, weights: FastGRNNWeights) -> None:
        self.arrays = [np.ascontiguousarray(a) for a in (weights.w, weights.u, weights.bias_gate, weights.bias_update)]
        w, u, bg, bh = self.arrays
        self.struct = CFastGRNNWeights(
            weights.input_size,
            weights.hidden_size,
            _ptr(w, np.int16),
            _ptr(u, np.int16),
            _ptr(bg, np.int32),
            _ptr(bh, np.int32),
        )


class HostKernels:
    """The kernels compiled for the host (built on first use, cached under build/host/)."""

    KERNELS: ClassVar[tuple[str, ...]] = (
        "conv2d_s8",
        "conv2d_s8_w16",
        "conv2d_a16",
        "conv2d_a16_w16",
        "depthwise_conv2d_a16",
        "depthwise_conv2d_s8",
        "pointwise_conv2d_s8",
        "add_s8",
        "add_a16",
        "l2norm_s8",
        "layer_norm_s8",
        "fastgrnn_step_s16",
        "gru_s8",
        "lstm_s8",
        "rnnpool_s8",
        "rnnpool_wide_s8",
        "grouped_conv2d_s8",
        "fully_connected_s8",
        "fully_connected_a16",
        "maxpool_s8",
        "avgpool_s8",
        "lut_s8",
        "prelu_s8",
        "scale_channels_s8",
        "scale_pixels_s8",
        "resize_bilinear_s8",
        "softmax_s8",
        "log_softmax_s8",
    )

    def __init__(self, library: HostLibrary | Path | None = None) -> None:
        if library is None:
            library = build_shared_library()
        self.path = library.path if isinstance(library, HostLibrary) else Path(library)
        self.lib = ctypes.CDLL(str(self.path))
        for name in self.KERNELS:
            getattr(self.lib, name).restype = c_int32
        self.lib.rnnpool_s8_get_buffer_size.restype = c_int32
        self.lib.gru_s8_get_buffer_size.restype = c_int32
        self.lib.lstm_s8_get_buffer_size.restype = c_int32

    def _call(self, name: str, *args: object) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise HostKernelError(name, status)

    def tanh_table(self) -> np.ndarray:
        """The C's hil_tanh_table."""
        return np.ctypeslib.as_array((c_int16 * TABLE_SIZE).in_dll(self.lib, "hil_tanh_table")).copy()

    def _conv(
        self,
        name: str,
        filter_dtype: type,
        params: ConvParams | GroupedConvParams | FullyConnectedParams | FullyConnectedA16Params | ConvA16Params,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        out_shape: tuple[int, int, int, int],
        in_dtype: type = np.int8,
        out_dtype: type = np.int8,
    ) -> np.ndarray:
        out_shift, input, filter = (np.ascontiguousarray(a) for a in (out_shift, input, filter))
        if out_shift.shape != out_shape[-1:]:
            raise TypeError(f"{name}: out_shift {out_shift.shape} does not match {out_shape[-1]} output channels")
        bias = None if bias is None else np.ascontiguousarray(bias)
        output = np.zeros(out_shape, dtype=out_dtype)
        self._call(
            name,
            ctypes.byref(_struct(params)),
            _ptr(out_shift, np.int8),
            ctypes.byref(_dims(_four(input.shape))),
            _ptr(input, in_dtype),
            ctypes.byref(_dims(_four(filter.shape))),
            _ptr(filter, filter_dtype),
            _ptr(bias, np.int32),
            ctypes.byref(_dims(_four(out_shape))),
            _ptr(output, out_dtype),
        )
        return output

    def conv2d_s8(
        self,
        params: ConvParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """conv2d_s8 (see hil.kernels_ref.conv2d_s8)."""
        shape = (input.shape[0], *output_hw, filter.shape[0])
        return self._conv("conv2d_s8", np.int8, params, out_shift, input, filter, bias, shape)

    def conv2d_s8_w16(
        self,
        params: ConvParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """conv2d_s8_w16: conv2d_s8 with an int16 filter."""
        shape = (input.shape[0], *output_hw, filter.shape[0])
        return self._conv("conv2d_s8_w16", np.int16, params, out_shift, input, filter, bias, shape)

    def depthwise_conv2d_s8(
        self,
        params: ConvParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """depthwise_conv2d_s8."""
        shape = (input.shape[0], *output_hw, filter.shape[3])
        return self._conv("depthwise_conv2d_s8", np.int8, params, out_shift, input, filter, bias, shape)

    def pointwise_conv2d_s8(
        self,
        params: ConvParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
    ) -> np.ndarray:
        """pointwise_conv2d_s8."""
        shape = (*input.shape[:3], filter.shape[0])
        return self._conv("pointwise_conv2d_s8", np.int8, params, out_shift, input, filter, bias, shape)

    def add_s8(self, params: AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """add_s8 over arrays of one shape (up to 4 dims)."""
        return self._add("add_s8", params, a, b, np.int8, np.int8, np.int8)

    def add_a16(self, params: AddA16Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """add_a16 over arrays of one shape (up to 4 dims), of params' widths."""
        a_type, b_type, out_type = (
            np.dtype(f"int{bits}").type for bits in (params.a_bits, params.b_bits, params.out_bits)
        )
        return self._add("add_a16", params, a, b, a_type, b_type, out_type)

    def _add(
        self,
        name: str,
        params: AddParams | AddA16Params,
        a: np.ndarray,
        b: np.ndarray,
        a_type: type,
        b_type: type,
        out_type: type,
    ) -> np.ndarray:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        if a.shape != b.shape:
            raise TypeError(f"{name}: shapes differ, {a.shape} and {b.shape}")
        output = np.zeros(a.shape, dtype=out_type)
        dims = _dims((1,) * (4 - a.ndim) + a.shape)
        self._call(
            name,
            ctypes.byref(_struct(params)),
            ctypes.byref(dims),
            _ptr(a, a_type),
            _ptr(b, b_type),
            _ptr(output, out_type),
        )
        return output

    def l2norm_s8(self, params: L2NormParams, input: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """l2norm_s8 over the last axis of input (up to 4 dims)."""
        return self._per_channel_norm("l2norm_s8", params, input, (gamma, np.int16))

    def layer_norm_s8(
        self, params: LayerNormParams, input: np.ndarray, gamma: np.ndarray, beta: np.ndarray
    ) -> np.ndarray:
        """layer_norm_s8 over the last axis of input (up to 4 dims)."""
        return self._per_channel_norm("layer_norm_s8", params, input, (gamma, np.int16), (beta, np.int32))

    def _per_channel_norm(self, kernel: str, params, input: np.ndarray, *arrays: tuple[np.ndarray, type]) -> np.ndarray:
        """A normalisation over the last axis of input (up to 4 dims) that takes one array per channel of each of
        arrays' types, in order: (params, dims, input, arrays..., output)."""
        input = np.ascontiguousarray(input)
        arrays = tuple((np.ascontiguousarray(a), dtype) for a, dtype in arrays)
        if any(a.shape != input.shape[-1:] for a, _ in arrays):
            shapes = [a.shape for a, _ in arrays]
            raise TypeError(f"{kernel}: per-channel arrays {shapes} do not match {input.shape[-1:]} channels")
        output = np.zeros(input.shape, dtype=np.int8)
        dims = _dims((1,) * (4 - input.ndim) + input.shape)
        pointers = [_ptr(a, dtype) for a, dtype in arrays]
        self._call(
            kernel,
            ctypes.byref(_struct(params)),
            ctypes.byref(dims),
            _ptr(input, np.int8),
            *pointers,
            _ptr(output, np.int8),
        )
        return output

    def fastgrnn_step_s16(
        self, params: FastGRNNParams, weights: FastGRNNWeights, x: np.ndarray, h: np.ndarray
    ) -> np.ndarray:
        """fastgrnn_step_s16 on one x [input] and h [hidden]."""
        x, h = np.ascontiguousarray(x), np.ascontiguousarray(h)
        held = _Weights(weights)
        output = np.zeros(weights.hidden_size, dtype=np.int16)
        self._call(
            "fastgrnn_step_s16",
            ctypes.byref(_struct(params)),
            ctypes.byref(held.struct),
            _ptr(x, np.int16),
            _ptr(h, np.int16),
            _ptr(output, np.int16),
        )
        return output

    def gru_get_buffer_size(self, weights: GRUWeights) -> int:
        """gru_s8_get_buffer_size: the scratch bytes gru_s8 needs (hil.kernels_ref.gru_buffer_size)."""
        return int(self.lib.gru_s8_get_buffer_size(ctypes.byref(_RecurrentWeights(weights).struct)))

    def gru_s8(
        self,
        params: RecurrentParams,
        weights: GRUWeights,
        x: np.ndarray,
        scratch_bytes: int | None = None,
        input_dims: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """gru_s8 over x [batch, steps, input] int8: [batch, steps, hidden] int8, or [batch, 1, hidden] with
        params.last_only (as hil.kernels_ref.gru_s8). The scratch is gru_get_buffer_size bytes, 4-byte aligned;
        scratch_bytes overrides the size the context declares and input_dims the dims passed (to test the checks).

        Raises:
            TypeError: x is not [batch, steps, input].
            HostKernelError: the kernel refused its arguments (HIL_KERNEL_ARG_ERROR).
        """
        size = self.gru_get_buffer_size(weights) if scratch_bytes is None else scratch_bytes
        return self._recurrent("gru_s8", params, weights, _RecurrentWeights(weights), x, size, input_dims)

    def lstm_get_buffer_size(self, weights: LSTMWeights) -> int:
        """lstm_s8_get_buffer_size: the scratch bytes lstm_s8 needs (hil.kernels_ref.lstm_buffer_size)."""
        return int(self.lib.lstm_s8_get_buffer_size(ctypes.byref(_RecurrentWeights(weights).struct)))

    def lstm_s8(
        self,
        params: RecurrentParams,
        weights: LSTMWeights,
        x: np.ndarray,
        scratch_bytes: int | None = None,
        input_dims: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """lstm_s8 over x [batch, steps, input] int8: [batch, steps, hidden] int8, or [batch, 1, hidden] with
        params.last_only (as hil.kernels_ref.lstm_s8). The scratch is lstm_get_buffer_size bytes, 4-byte aligned;
        scratch_bytes overrides the size the context declares and input_dims the dims passed (to test the checks).

        Raises:
            TypeError: x is not [batch, steps, input].
            HostKernelError: the kernel refused its arguments (HIL_KERNEL_ARG_ERROR).
        """
        size = self.lstm_get_buffer_size(weights) if scratch_bytes is None else scratch_bytes
        return self._recurrent("lstm_s8", params, weights, _RecurrentWeights(weights), x, size, input_dims)

    def _recurrent(
        self,
        name: str,
        params: RecurrentParams,
        weights: GRUWeights | LSTMWeights,
        held: _RecurrentWeights,
        x: np.ndarray,
        size: int,
        input_dims: tuple[int, int, int, int] | None,
    ) -> np.ndarray:
        """gru_s8 or lstm_s8 (name) over x with a scratch of size bytes: the call both bindings share."""
        x = np.ascontiguousarray(x)
        if x.ndim != 3 or x.shape[2] != weights.input_size:
            raise TypeError(f"{name}: x of shape {x.shape}, expected [batch, steps, {weights.input_size}]")
        scratch = np.zeros(max(size, 0) // 4 + 1, dtype=np.int32)  # 4-byte aligned, at least size bytes
        context = CContext(scratch.ctypes.data, size)
        batch, steps = x.shape[:2]
        output = np.zeros((batch, 1 if params.last_only else steps, weights.hidden_size), dtype=np.int8)
        dims = (batch, 1, steps, weights.input_size) if input_dims is None else input_dims
        self._call(
            name,
            ctypes.byref(context),
            ctypes.byref(_struct(params)),
            ctypes.byref(held.struct),
            ctypes.byref(_dims(dims)),
            _ptr(x, np.int8),
            _ptr(output, np.int8),
        )
        return output

    def _rnnpool_params(self, params: RNNPoolParams) -> ctypes.Structure:
        return _struct(params)

    def rnnpool_get_buffer_size(self, params: RNNPoolParams, rnn1: FastGRNNWeights, rnn2: FastGRNNWeights) -> int:
        """rnnpool_s8_get_buffer_size."""
        w1, w2 = _Weights(rnn1), _Weights(rnn2)
        return int(
            self.lib.rnnpool_s8_get_buffer_size(
                ctypes.byref(self._rnnpool_params(params)), ctypes.byref(w1.struct), ctypes.byref(w2.struct)
            )
        )

    def _rnnpool(
        self,
        name: str,
        dtype: type,
        params: RNNPoolParams,
        input: np.ndarray,
        y0: int,
        x0: int,
        rnn1: FastGRNNWeights,
        rnn2: FastGRNNWeights,
        scratch_bytes: int | None,
    ) -> np.ndarray:
        input = np.ascontiguousarray(input)
        w1, w2 = _Weights(rnn1), _Weights(rnn2)
        c_params = self._rnnpool_params(params)
        size = self.rnnpool_get_buffer_size(params, rnn1, rnn2) if scratch_bytes is None else scratch_bytes
        scratch = np.zeros(max(size, 1) // 4 + 1, dtype=np.int32)  # 4-byte aligned
        context = CContext(scratch.ctypes.data, size)
        output = np.zeros(4 * rnn2.hidden_size, dtype=dtype)
        self._call(
            name,
            ctypes.byref(context),
            ctypes.byref(c_params),
            ctypes.byref(_dims(input.shape)),
            _ptr(input, np.int8),
            c_int32(y0),
            c_int32(x0),
            ctypes.byref(w1.struct),
            ctypes.byref(w2.struct),
            _ptr(output, dtype),
        )
        return output

    def rnnpool_s8(
        self,
        params: RNNPoolParams,
        input: np.ndarray,
        y0: int,
        x0: int,
        rnn1: FastGRNNWeights,
        rnn2: FastGRNNWeights,
        scratch_bytes: int | None = None,
    ) -> np.ndarray:
        """rnnpool_s8 on the patch at (y0, x0); scratch_bytes overrides the context size (to test the check)."""
        return self._rnnpool("rnnpool_s8", np.int8, params, input, y0, x0, rnn1, rnn2, scratch_bytes)

    def rnnpool_wide_s8(
        self,
        params: RNNPoolParams,
        input: np.ndarray,
        y0: int,
        x0: int,
        rnn1: FastGRNNWeights,
        rnn2: FastGRNNWeights,
        scratch_bytes: int | None = None,
    ) -> np.ndarray:
        """rnnpool_wide_s8 on the patch at (y0, x0)."""
        return self._rnnpool("rnnpool_wide_s8", np.int16, params, input, y0, x0, rnn1, rnn2, scratch_bytes)

    def grouped_conv2d_s8(
        self,
        params: GroupedConvParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """grouped_conv2d_s8."""
        shape = (input.shape[0], *output_hw, filter.shape[0])
        return self._conv("grouped_conv2d_s8", np.int8, params, out_shift, input, filter, bias, shape)

    def fully_connected_s8(
        self,
        params: FullyConnectedParams,
        out_shift: np.ndarray,
        input: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
    ) -> np.ndarray:
        """fully_connected_s8 on input [B, N] and weight [M, N]."""
        weight = np.ascontiguousarray(weight).reshape(weight.shape[0], 1, 1, weight.shape[1])
        shape = (*input.shape[:-1], weight.shape[0])
        return self._conv("fully_connected_s8", np.int8, params, out_shift, input, weight, bias, shape)

    def fully_connected_a16(
        self,
        params: FullyConnectedA16Params,
        out_shift: np.ndarray,
        input: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
    ) -> np.ndarray:
        """fully_connected_a16 on input [B, N] (int8 or int16 as params.in_bits says) and weight [M, N]; a width
        other than 8 or 16 reaches the C as int8 arrays, for the C to refuse."""
        weight = np.ascontiguousarray(weight).reshape(weight.shape[0], 1, 1, weight.shape[1])
        shape = (*input.shape[:-1], weight.shape[0])
        return self._conv("fully_connected_a16", np.int8, params, out_shift, input, weight, bias, shape, *_a16(params))

    def conv2d_a16(
        self,
        params: ConvA16Params,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """conv2d_a16 (input and output int8 or int16 as params says; other widths reach the C as int8, for the
        C to refuse); the OHWI filter goes to the C as conv_a16_device_filter lays it out."""
        shape = (input.shape[0], *output_hw, filter.shape[0])
        filter = conv_a16_device_filter(np.asarray(filter), params.in_bits) if np.ndim(filter) == 4 else filter
        return self._conv("conv2d_a16", np.int8, params, out_shift, input, filter, bias, shape, *_a16(params))

    def conv2d_a16_w16(
        self,
        params: ConvA16Params,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """conv2d_a16_w16: conv2d_a16 (widths as there) with an int16 OHWI filter, which goes to the C as
        conv_a16_w16_device_filter lays it out."""
        shape = (input.shape[0], *output_hw, filter.shape[0])
        filter = conv_a16_w16_device_filter(np.asarray(filter), params.in_bits) if np.ndim(filter) == 4 else filter
        return self._conv("conv2d_a16_w16", np.int16, params, out_shift, input, filter, bias, shape, *_a16(params))

    def depthwise_conv2d_a16(
        self,
        params: ConvA16Params,
        out_shift: np.ndarray,
        input: np.ndarray,
        filter: np.ndarray,
        bias: np.ndarray | None,
        output_hw: tuple[int, int],
    ) -> np.ndarray:
        """depthwise_conv2d_a16 (widths as for conv2d_a16)."""
        shape = (input.shape[0], *output_hw, filter.shape[3])
        return self._conv("depthwise_conv2d_a16", np.int8, params, out_shift, input, filter, bias, shape, *_a16(params))

    def _pool(
        self, name: str, params: PoolParams | AvgPoolParams | ResizeBilinearParams, input: np.ndarray, output_hw
    ) -> np.ndarray:
        """A kernel of (params, input dims, input, output dims, output) on NHWC int8 maps: the pools, resizing."""
        input = np.ascontiguousarray(input)
        output = np.zeros((input.shape[0], *output_hw, input.shape[3]), dtype=np.int8)
        self._call(
            name,
            ctypes.byref(_struct(params)),
            ctypes.byref(_dims(input.shape)),
            _ptr(input, np.int8),
            ctypes.byref(_dims(output.shape)),
            _ptr(output, np.int8),
        )
        return output

    def maxpool_s8(self, params: PoolParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
        """maxpool_s8."""
        return self._pool("maxpool_s8", params, input, output_hw)

    def avgpool_s8(self, params: AvgPoolParams, input: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
        """avgpool_s8."""
        return self._pool("avgpool_s8", params, input, output_hw)

    def lut_s8(self, input: np.ndarray, table: np.ndarray) -> np.ndarray:
        """lut_s8 over every value of input."""
        input, table = np.ascontiguousarray(input), np.ascontiguousarray(table)
        output = np.zeros(input.shape, dtype=np.int8)
        self._call("lut_s8", c_int32(input.size), _ptr(input, np.int8), _ptr(table, np.int8), _ptr(output, np.int8))
        return output

    def prelu_s8(self, params: PReluParams, input: np.ndarray, slope: np.ndarray) -> np.ndarray:
        """prelu_s8 over input, channels its last axis."""
        input, slope = np.ascontiguousarray(input), np.ascontiguousarray(slope)
        output = np.zeros(input.shape, dtype=np.int8)
        pixels, channels = c_int32(input.size // max(slope.size, 1)), c_int32(slope.size)
        args = (_ptr(input, np.int8), _ptr(slope, np.int16), _ptr(output, np.int8))
        self._call("prelu_s8", ctypes.byref(_struct(params)), pixels, channels, *args)
        return output

    def scale_channels_s8(self, params: ScaleChannelsParams, input: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """scale_channels_s8 over input, channels its last axis, one int8 scale a channel."""
        input, scale = np.ascontiguousarray(input), np.ascontiguousarray(scale)
        if input.shape[-1:] != scale.shape:
            raise TypeError(f"scale_channels_s8: scale {scale.shape} does not match input {input.shape}'s channels")
        output = np.zeros(input.shape, dtype=np.int8)
        pixels, channels = c_int32(input.size // max(scale.size, 1)), c_int32(scale.size)
        args = (_ptr(input, np.int8), _ptr(scale, np.int8), _ptr(output, np.int8))
        self._call("scale_channels_s8", ctypes.byref(_struct(params)), pixels, channels, *args)
        return output

    def scale_pixels_s8(self, params: ScaleChannelsParams, input: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """scale_pixels_s8 over input, channels its last axis, one int8 scale a pixel: scale of shape
        input.shape[:-1] + (1,)."""
        input, scale = np.ascontiguousarray(input), np.ascontiguousarray(scale)
        if input.ndim < 1 or scale.shape != (*input.shape[:-1], 1):
            raise TypeError(f"scale_pixels_s8: scale {scale.shape} does not match input {input.shape}'s pixels")
        output = np.zeros(input.shape, dtype=np.int8)
        pixels, channels = c_int32(scale.size), c_int32(input.shape[-1])
        args = (_ptr(input, np.int8), _ptr(scale, np.int8), _ptr(output, np.int8))
        self._call("scale_pixels_s8", ctypes.byref(_struct(params)), pixels, channels, *args)
        return output

    def resize_bilinear_s8(
        self, params: ResizeBilinearParams, input: np.ndarray, output_hw: tuple[int, int]
    ) -> np.ndarray:
        """resize_bilinear_s8 of an NHWC map to output_hw."""
        return self._pool("resize_bilinear_s8", params, input, output_hw)

    def softmax_s8(self, params: SoftmaxParams, input: np.ndarray, exp_table: np.ndarray) -> np.ndarray:
        """softmax_s8 over the last axis of input (up to 4 dims)."""
        input, exp_table = np.ascontiguousarray(input), np.ascontiguousarray(exp_table)
        output = np.zeros(input.shape, dtype=np.int8)
        self._call(
            "softmax_s8",
            ctypes.byref(_struct(params)),
            ctypes.byref(_dims(_four(input.shape))),
            _ptr(input, np.int8),
            _ptr(exp_table, np.int32),
            _ptr(output, np.int8),
        )
        return output

    def log_softmax_s8(
        self, params: LogSoftmaxParams, input: np.ndarray, exp_table: np.ndarray, log_table: np.ndarray
    ) -> np.ndarray:
        """log_softmax_s8 over the last axis of input: a 4-d input as NHWC, any other rank as rows x its last axis."""
        input, exp_table, log_table = (np.ascontiguousarray(a) for a in (input, exp_table, log_table))
        output = np.zeros(input.shape, dtype=np.int8)
        shape = input.shape if input.ndim == 4 else (int(np.prod(input.shape[:-1])), 1, 1, input.shape[-1])
        self._call(
            "log_softmax_s8",
            ctypes.byref(_struct(params)),
            ctypes.byref(_dims(shape)),
            _ptr(input, np.int8),
            _ptr(exp_table, np.int32),
            _ptr(log_table, np.int32),
            _ptr(output, np.int8),
        )
        return output

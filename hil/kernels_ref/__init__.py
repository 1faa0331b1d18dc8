"""Bit-exact numpy twins of the C kernels in firmware/kernels (the golden model's building blocks).

One function per kernel, same argument meaning as the C; params are the dataclasses of `params`.
"""

from hil.kernels_ref.conv import conv2d_s8, depthwise_conv2d_s8, pointwise_conv2d_s8
from hil.kernels_ref.conv_a16 import conv2d_a16, conv2d_a16_w16, depthwise_conv2d_a16
from hil.kernels_ref.conv_w16 import conv2d_s8_w16
from hil.kernels_ref.eltwise import add_a16, add_s8, l2norm_s8, layer_norm_s8
from hil.kernels_ref.fastgrnn import (
    check_fastgrnn,
    fastgrnn_accumulator_bound,
    fastgrnn_step_s16,
    quantize_fastgrnn,
)
from hil.kernels_ref.fc_a16 import fully_connected_a16
from hil.kernels_ref.fixed import KernelRangeError, round_shift
from hil.kernels_ref.layers import (
    avgpool_s8,
    fully_connected_s8,
    grouped_conv2d_s8,
    log_softmax_s8,
    log_softmax_tables,
    lut_s8,
    maxpool_s8,
    prelu_s8,
    resize_bilinear_s8,
    scale_channels_s8,
    scale_pixels_s8,
    softmax_s8,
)
from hil.kernels_ref.nonlinear import sigmoid_q15, tanh_q15, tanh_table
from hil.kernels_ref.params import (
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
    L2NormParams,
    LayerNormParams,
    LogSoftmaxParams,
    PoolParams,
    PReluParams,
    ResizeBilinearParams,
    RNNPoolParams,
    ScaleChannelsParams,
    SoftmaxParams,
)
from hil.kernels_ref.rnnpool import (
    rnnpool_get_buffer_size,
    rnnpool_layer_s8,
    rnnpool_patches_wide,
    rnnpool_s8,
    rnnpool_wide_s8,
)
from hil.kernels_ref.rnnpool_offset import rnnpool_offset_layer_s8, rnnpool_offset_s8

__all__ = [
    "AddA16Params",
    "AddParams",
    "AvgPoolParams",
    "ConvA16Params",
    "ConvParams",
    "FastGRNNParams",
    "FastGRNNWeights",
    "FullyConnectedA16Params",
    "FullyConnectedParams",
    "GroupedConvParams",
    "KernelRangeError",
    "L2NormParams",
    "LayerNormParams",
    "LogSoftmaxParams",
    "PReluParams",
    "PoolParams",
    "RNNPoolParams",
    "ResizeBilinearParams",
    "ScaleChannelsParams",
    "SoftmaxParams",
    "add_a16",
    "add_s8",
    "avgpool_s8",
    "check_fastgrnn",
    "conv2d_a16",
    "conv2d_a16_w16",
    "conv2d_s8",
    "conv2d_s8_w16",
    "depthwise_conv2d_a16",
    "depthwise_conv2d_s8",
    "fastgrnn_accumulator_bound",
    "fastgrnn_step_s16",
    "fully_connected_a16",
    "fully_connected_s8",
    "grouped_conv2d_s8",
    "l2norm_s8",
    "layer_norm_s8",
    "log_softmax_s8",
    "log_softmax_tables",
    "lut_s8",
    "maxpool_s8",
    "pointwise_conv2d_s8",
    "prelu_s8",
    "quantize_fastgrnn",
    "resize_bilinear_s8",
    "rnnpool_get_buffer_size",
    "rnnpool_layer_s8",
    "rnnpool_offset_layer_s8",
    "rnnpool_offset_s8",
    "rnnpool_patches_wide",
    "rnnpool_s8",
    "rnnpool_wide_s8",
    "round_shift",
    "scale_channels_s8",
    "scale_pixels_s8",
    "sigmoid_q15",
    "softmax_s8",
    "tanh_q15",
    "tanh_table",
]

/*
 * A map times a runtime int8 vector with one value per channel (the squeeze-and-excitation gate of MobileNetV3 /
 * EfficientNet: the excitation's hardsigmoid/sigmoid output, one value a channel, scales every pixel of the map):
 *   acc = in * scale[c];  out = clamp(round_shift(acc, out_shift), act_min, act_max)      out_shift in 0..31
 * prelu_s8's twin, with the slope an activation computed at run time rather than a constant. |acc| <= 128 * 128 =
 * 2^14. The output's exponent is never finer than the product's grid, so out_shift is never negative.
 * No DSP path: the per-value rounding and runtime clamp are scalar either way; SXTB16 would only save loads.
 */
#include "hil_kernels.h"

hil_kernel_status scale_channels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
                                    const int8_t *input, const int8_t *scale, int8_t *output)
{
    if (!params || !input || !scale || !output || pixels < 0 || channels < 1 || params->out_shift < 0 ||
        params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t c = 0; c < channels; ++c) {
            const int32_t acc = (int32_t)input[c] * scale[c];
            output[c] = hil_nn_requantize_s8(acc, shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

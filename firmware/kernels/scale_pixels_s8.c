/*
 * A map times a runtime int8 gate with one value per pixel, broadcast over the channels (CBAM's spatial attention:
 * a sigmoid of a convolution of the channels' mean and max, one value a pixel, scales every channel of that pixel):
 *   acc = in * scale[p];  out = clamp(round_shift(acc, out_shift), act_min, act_max)      out_shift in 0..31
 * scale_channels_s8 with the gate indexed by pixel rather than by channel (same params and requantisation).
 * |acc| <= 128 * 128 = 2^14. No DSP path, for the reason scale_channels_s8 has none: the per-value rounding and
 * runtime clamp are scalar either way.
 */
#include "hil_kernels.h"

hil_kernel_status scale_pixels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
                                  const int8_t *input, const int8_t *scale, int8_t *output)
{
    if (!params || !input || !scale || !output || pixels < 0 || channels < 1 || params->out_shift < 0 ||
        params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    for (int32_t p = 0; p < pixels; ++p) {
        const int32_t gate = scale[p];
        for (int32_t c = 0; c < channels; ++c) {
            output[c] = hil_nn_requantize_s8((int32_t)input[c] * gate, shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

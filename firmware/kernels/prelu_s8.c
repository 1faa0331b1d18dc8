/*
 * PReLU with a slope per channel (MobileFaceNet's, MTCNN's), on an NHWC map or [rows, channels]:
 *   acc = in >= 0 ? in << pos_shift : in * slope[c];  out = clamp(round_shift(acc, out_shift), act_min, act_max)
 * Both sides are brought to one grid, 2^(e_in + e_slope), so one rounding serves both: the positive side's exact
 * left shift is 2^-e_slope. |acc| < 2^7 * 2^23 < 2^31 for pos_shift <= 23 and int16 slopes, so int32 holds it.
 */
#include "hil_kernels.h"

hil_kernel_status prelu_s8(const hil_prelu_params *params, int32_t pixels, int32_t channels, const int8_t *input,
                           const int16_t *slope, int8_t *output)
{
    if (!params || !input || !slope || !output || pixels < 0 || channels < 1 || params->pos_shift < 0 ||
        params->pos_shift > 23 || params->out_shift < 0 || params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t positive = (int32_t)1 << params->pos_shift;
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    for (int32_t p = 0; p < pixels; ++p) {
        for (int32_t c = 0; c < channels; ++c) {
            const int32_t x = input[c];
            output[c] = hil_nn_requantize_s8(x >= 0 ? x * positive : x * slope[c], shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

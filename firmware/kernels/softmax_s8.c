/*
 * Softmax over the last axis in integers. Subtracting the row's maximum first (as every float softmax does) keeps
 * every exponent argument in -255 * 2^e_in..0, so exp is a 256-entry table the compiler fills for the input's
 * exponent: t = exp(x - max) in Q16, the largest exactly 65536. s = sum t < 2^31 for <= 32767 channels, and
 * t << (out_frac_bits + 1) < 2^32 needs int64; the division rounds halves up.
 */
#include "hil_kernels.h"

hil_kernel_status softmax_s8(const hil_softmax_params *params, const hil_dims *dims, const int8_t *input,
                             const int32_t *exp_table, int8_t *output)
{
    if (!params || !dims || !input || !exp_table || !output || dims->c < 1 || dims->c > 32767 ||
        params->out_frac_bits < 0 || params->out_frac_bits > 14 || dims->n < 0 || dims->h < 0 || dims->w < 0) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t chans = dims->c, rows = dims->n * dims->h * dims->w;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *x = input + r * chans;
        int8_t *out = output + r * chans;
        int32_t top;
        const int32_t sum = hil_exp_sum_s8(x, chans, exp_table, &top);
        const int64_t twice = 2 * (int64_t)sum;
        for (int32_t c = 0; c < chans; ++c) {
            const int64_t p = (((int64_t)exp_table[top - x[c]] << (params->out_frac_bits + 1)) + sum) / twice;
            out[c] = (int8_t)(p > params->act_max ? params->act_max : (p < params->act_min ? params->act_min : p));
        }
    }
    return HIL_KERNEL_OK;
}

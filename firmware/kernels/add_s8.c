/*
 * Residual add of two int8 tensors at power-of-two scales (MBConv's skip connection).
 *
 * Both inputs are brought to a common exponent by exact left shifts, added, and the sum requantised
 * once (one rounding, not two): out = clamp(round_shift((a << a_shift) + (b << b_shift), out_shift)).
 * Shifts are at most 22, so each term is below 2^29 in magnitude and the int32 sum below 2^30.
 * The left shift is written as a multiplication so negative values stay defined C. The rounding shift is the
 * convolutions' exact 32-bit one (hil_nn_round_shift_exact32): 17.5 instructions per element where the 64-bit
 * one took 24.5 (python -m hil.kernels_ref.bench_ipm --only add).
 */
#include "hil_kernels.h"

hil_kernel_status add_s8(const hil_add_params *params, const hil_dims *dims, const int8_t *a, const int8_t *b,
                         int8_t *output)
{
    if (!params || !dims || !a || !b || !output || dims->n < 0 || dims->h < 0 || dims->w < 0 || dims->c < 0 ||
        params->a_shift < 0 || params->a_shift > 22 || params->b_shift < 0 || params->b_shift > 22 ||
        params->out_shift < 0 || params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t count = dims->n * dims->h * dims->w * dims->c;
    const int32_t ma = (int32_t)1 << params->a_shift, mb = (int32_t)1 << params->b_shift;
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    if (shift == 0) { /* the sum is on the output's grid: nothing to round (about 10 instructions an element less) */
        for (int32_t i = 0; i < count; ++i) {
            output[i] = (int8_t)hil_clamp(a[i] * ma + b[i] * mb, lo, hi);
        }
        return HIL_KERNEL_OK;
    }
    for (int32_t i = 0; i < count; ++i) {
        output[i] = hil_nn_requantize_s8(a[i] * ma + b[i] * mb, shift, lo, hi);
    }
    return HIL_KERNEL_OK;
}

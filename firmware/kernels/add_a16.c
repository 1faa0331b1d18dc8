/*
 * Residual add with int8 or int16 tensors on each side (add_s8's formula): the bit-width search may widen an MBConv
 * block's projection, its sum, or the stream it adds to (hil/compiler/bit_widths.py). The compiler keeps add_s8
 * where all three are int8.
 *
 * A shift of at most 30 - bits keeps each term within 2^29 in magnitude, so the int32 sum stays within 2^30.
 */
#include "hil_kernels.h"

static int add_a16_shift_valid(int32_t shift, int32_t bits)
{
    return shift >= 0 && shift <= 30 - bits;
}

hil_kernel_status add_a16(const hil_add_a16_params *params, const hil_dims *dims, const void *a, const void *b,
                          void *output)
{
    if (!params || !dims || !a || !b || !output || dims->n < 0 || dims->h < 0 || dims->w < 0 || dims->c < 0 ||
        !hil_a16_width_valid(params->a_bits) || !hil_a16_width_valid(params->b_bits) ||
        !add_a16_shift_valid(params->a_shift, params->a_bits) ||
        !add_a16_shift_valid(params->b_shift, params->b_bits) || params->out_shift < 0 || params->out_shift > 31 ||
        !hil_a16_clamp_valid(params->act_min, params->act_max, params->out_bits)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t count = dims->n * dims->h * dims->w * dims->c;
    const int32_t ma = (int32_t)1 << params->a_shift, mb = (int32_t)1 << params->b_shift;
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    const int32_t a_bits = params->a_bits, b_bits = params->b_bits, out_bits = params->out_bits;
    for (int32_t i = 0; i < count; ++i) {
        const int32_t sum = hil_a16_load(a, i, a_bits) * ma + hil_a16_load(b, i, b_bits) * mb;
        hil_a16_store(output, i, hil_clamp(hil_round_shift(sum, shift), lo, hi), out_bits);
    }
    return HIL_KERNEL_OK;
}

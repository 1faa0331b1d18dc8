/*
 * Residual add with int8 or int16 tensors on each side (add_s8's formula): the bit-width search may widen an MBConv
 * block's projection, its sum, or the stream it adds to (hil/compiler/bit_widths.py). All three int8 is add_s8.
 *
 * A shift of at most 30 - bits keeps each term within 2^29 in magnitude, so the int32 sum stays within 2^30.
 */
#include "hil_kernels.h"

static int add_a16_shift_valid(int32_t shift, int32_t bits)
{
    return shift >= 0 && shift <= 30 - bits;
}

/* The element loop at constant widths: each call below passes literals, so GCC drops the width tests from the loop.
 * The rounding shift is the exact 32-bit one, as add_s8's. An element takes 18 instructions at any widths, add_s8's
 * 17.5; with the widths tested per element and the 64-bit shift, 40 (python -m hil.kernels_ref.bench_ipm). */
static inline __attribute__((always_inline)) void add_a16_run(const hil_add_a16_params *p, int32_t count,
                                                                const void *a, const void *b, void *output,
                                                                int32_t a_bits, int32_t b_bits, int32_t out_bits)
{
    const int32_t ma = (int32_t)1 << p->a_shift, mb = (int32_t)1 << p->b_shift;
    const int32_t shift = p->out_shift, lo = p->act_min, hi = p->act_max;
    if (shift == 0) { /* the sum is on the output's grid, as add_s8 */
        for (int32_t i = 0; i < count; ++i) {
            const int32_t sum = hil_a16_load(a, i, a_bits) * ma + hil_a16_load(b, i, b_bits) * mb;
            hil_a16_store(output, i, hil_clamp(sum, lo, hi), out_bits);
        }
        return;
    }
    for (int32_t i = 0; i < count; ++i) {
        const int32_t sum = hil_a16_load(a, i, a_bits) * ma + hil_a16_load(b, i, b_bits) * mb;
        hil_a16_store(output, i, hil_clamp(hil_nn_round_shift_exact32(sum, shift), lo, hi), out_bits);
    }
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
    const int32_t n = dims->n * dims->h * dims->w * dims->c;
    switch ((params->a_bits == 16) << 2 | (params->b_bits == 16) << 1 | (params->out_bits == 16)) {
    case 0: { /* add_s8's loop: the same shift bound (22) and formula */
        const hil_add_params narrow = {params->a_shift, params->b_shift, params->out_shift, params->act_min,
                                       params->act_max};
        return add_s8(&narrow, dims, a, b, output);
    }
    case 1: add_a16_run(params, n, a, b, output, 8, 8, 16); break;
    case 2: add_a16_run(params, n, a, b, output, 8, 16, 8); break;
    case 3: add_a16_run(params, n, a, b, output, 8, 16, 16); break;
    case 4: add_a16_run(params, n, a, b, output, 16, 8, 8); break;
    case 5: add_a16_run(params, n, a, b, output, 16, 8, 16); break;
    case 6: add_a16_run(params, n, a, b, output, 16, 16, 8); break;
    default: add_a16_run(params, n, a, b, output, 16, 16, 16); break;
    }
    return HIL_KERNEL_OK;
}

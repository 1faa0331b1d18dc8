/*
 * SSD's L2Norm over the channels of each pixel, in integers: out_c = x_c / ||x||_2 * gamma_c.
 * The exact algorithm is in hil_kernels.h; here is why it is safe:
 *   - ss = sum x_c^2 <= 65535 * 2^14 < 2^30: exact in int32 (C <= 65535 is checked).
 *   - ss is normalised by an even shift e into [2^28, 2^30) so its square root n lands in [2^14, 2^15):
 *     15 significant bits whatever the input's magnitude; sqrt(ss << e) = sqrt(ss) * 2^(e/2) exactly.
 *   - r = floor(2^30 / n) in (2^15, 2^16]: 1/||x|| = r * 2^(e/2 - 30) to within 2^-14 relative.
 *   - |x_c * gamma_c| <= 2^7 * 2^15 = 2^22; times r <= 2^16 is below 2^38: int64, then one rounding
 *     shift by sh = 30 - e/2 + out_shift, in 0..62 because e/2 <= 14 and out_shift is in -16..32.
 * The bitwise square root is floor(sqrt(v)) exactly, so numpy reproduces it with math.isqrt.
 * Speed: the sum of squares is hil_nn_dot_s8 (SMLAD); the per-channel 64-bit rounding shift is one SMLAL onto the
 * rounding constant and a 32-bit shift of its words: for sh >= 8 the result |v| < 2^39 / 2^8 fits an int32, so
 * the low word of the 64-bit shift is the value (sh < 8 keeps the plain int64 form).
 */
#include "hil_kernels.h"

/* floor(sqrt(v)) by the binary digit-by-digit method: 16 iterations, no multiply, no division. */
static uint32_t isqrt32(uint32_t v)
{
    uint32_t root = 0, bit = (uint32_t)1 << 30;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

hil_kernel_status l2norm_s8(const hil_l2norm_params *params, const hil_dims *dims, const int8_t *input,
                            const int16_t *gamma, int8_t *output)
{
    if (!params || !dims || !input || !gamma || !output || dims->c < 1 || dims->c > 65535 || dims->n < 0 ||
        dims->h < 0 || dims->w < 0 || params->out_shift < -16 || params->out_shift > 32) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t chans = dims->c, pixels = dims->n * dims->h * dims->w;
    const int32_t lo = params->act_min, hi = params->act_max;
    for (int32_t p = 0; p < pixels; ++p) {
        const int8_t *x = input + p * chans;
        int8_t *out = output + p * chans;
        const int32_t ss = hil_nn_dot_s8(x, x, chans, 0);
        if (ss == 0) {
            const int8_t zero = (int8_t)hil_clamp(0, lo, hi);
            for (int32_t c = 0; c < chans; ++c) {
                out[c] = zero;
            }
            continue;
        }
        uint32_t norm_sq = (uint32_t)ss;
        int32_t e = 0;
        while (norm_sq < ((uint32_t)1 << 28)) {
            norm_sq <<= 2;
            e += 2;
        }
        const uint32_t n = isqrt32(norm_sq);
        const int32_t r = (int32_t)(((uint32_t)1 << 30) / n);
        const int32_t sh = 30 - e / 2 + params->out_shift;
        if (sh < 8) {
            for (int32_t c = 0; c < chans; ++c) {
                const int64_t v = hil_round_shift64((int64_t)((int32_t)x[c] * gamma[c]) * r, sh);
                out[c] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
            }
            continue;
        }
        const int64_t round = (int64_t)1 << (sh - 1);
        for (int32_t c = 0; c < chans; ++c) {
            const uint64_t v = (uint64_t)(round + (int64_t)((int32_t)x[c] * gamma[c]) * r);
            const uint32_t low = (uint32_t)v, high = (uint32_t)(v >> 32);
            /* the low word of the arithmetic 64-bit shift by sh (|result| < 2^31, see above) */
            const int32_t q = sh >= 32 ? (int32_t)high >> (sh - 32) : (int32_t)((low >> sh) | (high << (32 - sh)));
            out[c] = (int8_t)hil_clamp(q, lo, hi);
        }
    }
    return HIL_KERNEL_OK;
}

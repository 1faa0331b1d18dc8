/*
 * LayerNorm over the channels of each pixel, in integers: out_c = (x_c - mean) / sqrt(var + eps) * w_c + b_c.
 * The exact algorithm is in hil_kernels.h; here is why it is safe (C <= 4096 channels, |x_c| <= 2^7):
 *   - s = sum x_c: |s| <= 2^12 * 2^7 = 2^19; q = sum x_c^2 <= 2^12 * 2^14 = 2^26: both exact in int32.
 *   - C * q - s * s = C * sum (x_c - mean)^2 >= 0, below 2^38; ss = C * (C * q - s * s) + eps
 *     = sum (C * x_c - s)^2 + eps: at most C^3 * 127.5^2 (half the channels -128, half 127) plus eps < 2^31,
 *     which at C = 4096 is 1.1172e15 + 2^31 < 2^50 = 1.1259e15: ss < 2^50, exact in int64.
 *   - d_c = C * x_c - s: |d_c| <= C * 255 < 2^20.
 *   - ss is normalised by an even shift e (in -20..28) into [2^28, 2^30) so that its square root n lands in
 *     [2^14, 2^15): 15 significant bits whatever the pixel's spread; r = floor(2^30 / n) is in (2^15, 2^16], and
 *     1/sqrt(ss) = r * 2^(e/2 - 30) to within 2^-14 relative.
 *   - g_c = gamma_c * r: |gamma_c| <= 2^15 and r <= 2^16, so |g_c| <= 2^31, and it is -2^31 only as -2^15 * 2^16:
 *     exact in int32. |d_c * g_c| < 2^20 * 2^31 = 2^51: int64.
 *   - sh = 30 - e/2 + out_shift: e/2 in -10..14 and out_shift in -8..29 give sh in 8..69, so the first rounding
 *     shift k = sh - 8 is in 0..61 (hil_round_shift64 takes up to 62).
 * An all-equal pixel with eps == 0 has ss == 0 (and every d_c == 0): its outputs are round_shift(beta_c, 8).
 * The square root is floor(sqrt(.)) exactly (isqrt_normalised), so numpy reproduces it (hil.kernels_ref.fixed.isqrt).
 *
 * Speed: the sums are one pass each, 4 values a word with the DSP extension (USADA8 on the values biased to
 * unsigned; hil_nn_dot_s8's SMLAD); e is found by a binary search on the bit length, n by 2 or 3 Newton steps (not
 * l2norm_s8's 15 rounds of the digit-by-digit root). The per-channel work avoids 64-bit shifts and adds by these
 * bounds:
 *   - |d_c| <= sqrt((C - 1) / C) * sqrt(ss - eps) (d sums to zero) and sqrt(ss) < (n + 1 + 2^-15) * 2^(-e/2), so
 *     |d_c| < 2^(15 - e/2) and |d_c * g_c| / 2^k < 2^(23 - out_shift) * (1 - 2^-14): v = round_shift(.., k) has
 *     |v| < 2^31 - 2^17 for every out_shift >= -8.
 *   - k in 2..32 and out_shift >= -6: d_c * 2^(32 - k) has |.| < 2^(25 - out_shift) <= 2^31, an exact int32
 *     (computed as x_c * (C << (32 - k)) - (s << (32 - k)) modulo 2^32); then the rounded high word of its product
 *     with g_c (SMMLAR) is round_shift(d_c * g_c, k) exactly.
 *   - k in 33..55: the high word of d_c * g_c is floor(d_c * g_c / 2^32) (SMMLA), |.| < 2^19, and
 *     round_shift(d_c * g_c, k) = (that + 2^(k - 33)) >> (k - 32) (2^(k-1) is a whole number of 2^32).
 *   - the 128 of the second rounding rides in the first's constant (v + 128 as one sum, |v + 128| < 2^31), and
 *     beta_c = bh * 256 + bl (bl in 0..255): (v + 128 + beta_c) >> 8 = ((v + 128 + bl) >> 8) + bh, with no sum
 *     past int32.
 *   - anything else (k 0..1 or out_shift -8..-7 below k 33, k 56..61) takes the plain 64-bit formula.
 */
#include "hil_kernels.h"

/* sum_c x_c over n int8 values (|sum| <= n * 2^7). With the DSP extension 4 values a word: USADA8 sums the bytes
 * as unsigned, x_c + 128 (x_c ^ 0x80), below 255 * 4096 < 2^20. */
static inline int32_t sum_s8(const int8_t *x, int32_t n)
{
    int32_t i = 0, acc = 0;
#if defined(__ARM_FEATURE_DSP)
    uint32_t biased = 0;
    for (; i + 4 <= n; i += 4) {
        biased = __usada8((uint32_t)hil_nn_read32(x + i) ^ 0x80808080u, 0u, biased);
    }
    acc = (int32_t)biased - 128 * i;
#endif
    for (; i < n; ++i) {
        acc += x[i];
    }
    return acc;
}

/* The number of significant bits of v >= 1 (below 2^64): a binary search, no loop. */
static inline int32_t bit_length64(uint64_t v)
{
    uint32_t w = (uint32_t)(v >> 32);
    int32_t bits = 33;
    if (w == 0u) {
        w = (uint32_t)v;
        bits = 1;
    }
    if (w >> 16) {
        w >>= 16;
        bits += 16;
    }
    if (w >> 8) {
        w >>= 8;
        bits += 8;
    }
    if (w >> 4) {
        w >>= 4;
        bits += 4;
    }
    if (w >> 2) {
        w >>= 2;
        bits += 2;
    }
    return w >> 1 ? bits + 1 : bits;
}

/* floor(sqrt(m)) for m in [2^28, 2^30) by integer Newton steps n <- (n + m / n) / 2 from above: from any n above
 * floor(sqrt(m)) a step gives a smaller n that is still at or above it (the mean of n and m / n is at least
 * sqrt(m)), so the first n with n * n <= m is floor(sqrt(m)) exactly. The start, m * 3/2^17 + 11585, lies above
 * the tangent of sqrt at 2^29 (m / 46341 + 11585), hence above sqrt(m), by at most 11%: 2 or 3 steps (UDIV), for
 * every m in the range (checked exhaustively on the host). */
static inline uint32_t isqrt_normalised(uint32_t m)
{
    uint32_t n = (m >> 16) + (m >> 17) + 11585u;
    do {
        n = (n + m / n) >> 1;
    } while (n * n > m);
    return n;
}

/* acc + (a * b + 2^31) >> 32: the rounded high word of a product (SMMLAR). */
static inline int32_t mul_high_round(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return acc + (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* acc + (a * b) >> 32: the high word of a product, floored (SMMLA). */
static inline int32_t mul_high(int32_t a, int32_t b, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return acc + (int32_t)(((int64_t)a * b) >> 32);
#endif
}

/* clamp(round_shift(v + beta, 8)) from v1 = v + 128 (|v1| < 2^31 - 2^8): beta's low byte added before the shift,
 * its high bits (beta >> 8) after, so that no sum leaves int32. */
static inline int8_t finish(int32_t v1, int32_t beta, int32_t lo, int32_t hi)
{
    return (int8_t)hil_clamp(((v1 + (beta & 255)) >> 8) + (beta >> 8), lo, hi);
}

hil_kernel_status layer_norm_s8(const hil_layer_norm_params *params, const hil_dims *dims, const int8_t *input,
                                const int16_t *gamma, const int32_t *beta, int8_t *output)
{
    if (!params || !dims || !input || !gamma || !beta || !output || dims->c < 1 || dims->c > 4096 || dims->n < 0 ||
        dims->h < 0 || dims->w < 0 || params->out_shift < -8 || params->out_shift > 29 || params->eps < 0) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t chans = dims->c, pixels = dims->n * dims->h * dims->w, out_shift = params->out_shift;
    const int32_t lo = params->act_min, hi = params->act_max;
    for (int32_t p = 0; p < pixels; ++p) {
        const int8_t *x = input + p * chans;
        int8_t *out = output + p * chans;
        const int32_t s = sum_s8(x, chans);
        const int32_t q = hil_nn_dot_s8(x, x, chans, 0);
        const int64_t ss = (int64_t)chans * ((int64_t)chans * q - (int64_t)s * s) + params->eps;
        if (ss == 0) {
            for (int32_t c = 0; c < chans; ++c) {
                out[c] = (int8_t)hil_clamp(hil_round_shift(beta[c], 8), lo, hi);
            }
            continue;
        }
        int32_t e = 30 - bit_length64((uint64_t)ss);
        e -= e & 1; /* the even number at or below: ss * 2^e in [2^28, 2^30) */
        const uint32_t norm_sq = e >= 0 ? (uint32_t)ss << e : (uint32_t)((uint64_t)ss >> -e);
        const uint32_t n = isqrt_normalised(norm_sq);
        const int32_t r = (int32_t)(((uint32_t)1 << 30) / n);
        const int32_t k = 22 - e / 2 + out_shift; /* sh - 8 */
        if (k >= 2 && k <= 32 && out_shift >= -6) {
            const uint32_t scale_c = (uint32_t)chans << (32 - k), scale_s = (uint32_t)-s << (32 - k);
            const int8_t *end = x + chans;
            const int16_t *g = gamma;
            const int32_t *b = beta;
            while (x < end) {
                const int32_t d = (int32_t)((uint32_t)*x++ * scale_c + scale_s); /* d_c * 2^(32 - k) */
                *out++ = finish(mul_high_round(d, *g++ * r, 128), *b++, lo, hi);
            }
        } else if (k >= 33 && k <= 55) {
            const int32_t round = ((int32_t)1 << (k - 33)) + ((int32_t)128 << (k - 32)), shift = k - 32;
            const int8_t *end = x + chans;
            const int16_t *g = gamma;
            const int32_t *b = beta;
            while (x < end) {
                *out++ = finish(mul_high(chans * *x++ - s, *g++ * r, round) >> shift, *b++, lo, hi);
            }
        } else {
            for (int32_t c = 0; c < chans; ++c) {
                const int64_t v = hil_round_shift64((int64_t)(chans * x[c] - s) * (gamma[c] * r), k);
                const int64_t t = hil_round_shift64(v + beta[c], 8);
                out[c] = (int8_t)(t < lo ? lo : (t > hi ? hi : t));
            }
        }
    }
    return HIL_KERNEL_OK;
}

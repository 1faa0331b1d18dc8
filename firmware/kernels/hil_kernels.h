/*
 * Integer kernels the generated model code calls: one operator per file, plain C99, shapes and
 * shifts passed explicitly, no state, no allocation. Layout NHWC; filters OHWI (out channel, kernel
 * row, kernel column, in channel), as CMSIS-NN; depthwise filters [1, kh, kw, channels].
 *
 * Fixed point: real = q * 2^exponent per tensor (SeeDot); convolution weights have one exponent per output
 * channel, so a convolution's accumulator does too and its kernel takes one shift per output channel (the
 * out_shift array, as CMSIS-NN's per-channel quantisation parameters). Every requantisation is a rounding
 * arithmetic right shift, halves rounded up (hil_round_shift; the convolutions compute the same integers with
 * hil_nn_round_shift_exact32), then a clamp (hil_clamp).
 * Every kernel has a bit-exact numpy twin in hil/kernels_ref/ with the same argument meaning.
 *
 * DSP instructions (SXTB16, SMLAD, USAT, SSUB8, SEL, USADA8, SMMLA and SMMLAR) are used only when __ARM_FEATURE_DSP
 * is defined; the portable C path computes the same integers (all sums are exact in int32 by the bounds documented
 * per kernel), so both give the same bits.
 */
#ifndef HIL_KERNELS_H
#define HIL_KERNELS_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} hil_dims;

typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;       /* zeros added above (and, as far as the output needs, below) */
    int32_t pad_w;       /* zeros added left (and, as far as the output needs, right) */
    int32_t act_min;     /* clamp after the shift: ReLU, ReLU6 and the int8 range in one */
    int32_t act_max;
    int32_t pad_value;   /* what a padded tap reads: 0, or (conv2d_s8_w16 only) minus an input offset, so that
                          * an input stored as x - offset is padded with the real zero (-128..127) */
} hil_conv_params;

/* Scratch memory the caller owns (an arena slice), as cmsis_nn_context. 4-byte aligned. */
typedef struct {
    void *buf;
    int32_t size;        /* bytes */
} hil_context;

typedef enum {
    HIL_KERNEL_OK = 0,
    HIL_KERNEL_ARG_ERROR = -1
} hil_kernel_status;

/* Rounding arithmetic right shift: the one requantisation every kernel shares. */
static inline int32_t hil_round_shift(int32_t acc, int32_t shift)
{
    return shift > 0 ? (int32_t)(((int64_t)acc + ((int64_t)1 << (shift - 1))) >> shift) : acc;
}

/* The same rounding for 64-bit values: (acc + 2^(shift-1)) >> shift, shift in 1..62; shift <= 0 returns acc. */
static inline int64_t hil_round_shift64(int64_t acc, int32_t shift)
{
    return shift > 0 ? (acc + ((int64_t)1 << (shift - 1))) >> shift : acc;
}

/* hil_round_shift without the 64-bit widening, for values the caller has proved cannot overflow
 * (|acc| + 2^(shift-1) < 2^31); shift in 1..31. Same result as hil_round_shift then. */
static inline int32_t hil_nn_round_shift32(int32_t acc, int32_t shift)
{
    return (acc + (int32_t)(1u << (shift - 1))) >> shift;
}

/* hil_round_shift for shift in 0..31 in 32-bit arithmetic, exact for every int32 acc (no precondition): with
 * acc = q * 2^shift + r, 0 <= r < 2^shift, (acc + 2^(shift-1)) >> shift = q + (r >= 2^(shift-1)), and that last term
 * is bit shift-1 of acc, i.e. bit shift of (uint32) acc << 1 (0 for shift 0). A per-channel shift changes from one
 * output to the next, so the compiler cannot hoist the 64-bit form's constant: this is 5 Cortex-M4 instructions
 * where that is about 20 and a branch. */
static inline int32_t hil_nn_round_shift_exact32(int32_t acc, int32_t shift)
{
    return (acc >> shift) + (int32_t)((((uint32_t)acc << 1) >> shift) & 1u);
}

static inline int32_t hil_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The convolutions' requantisation of one output: round right by the output channel's shift (0..31), clamp. */
static inline int8_t hil_nn_requantize_s8(int32_t acc, int32_t shift, int32_t lo, int32_t hi)
{
    return (int8_t)hil_clamp(hil_nn_round_shift_exact32(acc, shift), lo, hi);
}

/* 1 when every one of the n per-channel shifts is in 0..31 (the range the convolutions accept), else 0. */
static inline int hil_nn_shifts_valid(const int8_t *shift, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        if (shift[i] < 0 || shift[i] > 31) {
            return 0;
        }
    }
    return 1;
}

/* 4 bytes from any address (Cortex-M4 LDR handles unaligned words; memcpy keeps it defined C). */
static inline int32_t hil_nn_read32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if defined(__ARM_FEATURE_DSP)
/* SXTB16 of the word rotated by 8: bytes 1 and 3 sign-extended into the two halfwords. */
static inline int32_t hil_nn_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* (x << 8) & mask in one AND (GCC shifts first). */
static inline int32_t hil_nn_and_lsl8(int32_t x, int32_t mask)
{
    int32_t r;
    __asm__("and %0, %1, %2, lsl #8" : "=r"(r) : "r"(mask), "r"(x));
    return r;
}

/* PKHBT: [the low halfword of hi : the low halfword of lo]. */
static inline int32_t hil_nn_pack_halves(uint32_t lo, uint32_t hi)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* PKHTB: [the high halfword of hi : the high halfword of lo] (GCC does not form it from the C). */
static inline int32_t hil_nn_high_halves(int32_t hi, int32_t lo)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#endif

/* The element-wise kernels' clamp of four int8 values in one word (scale_channels_s8, scale_pixels_s8, prelu_s8's
 * DSP paths), for -128 <= lo <= hi <= 127 (hil_nn_clamp4_fits): a rounded value r is carried as the byte
 * u = r + bias saturated to 0..255, bias = 255 - hi, so that USAT's saturation is the upper bound; then
 * max(u, floor) - floor + lo, floor = lo + bias, taken modulo 256 (UQSUB8, UADD8), is the int8 clamp(r, lo, hi). */
typedef struct {
    int32_t bias;
    uint32_t floor4; /* floor in every byte */
    uint32_t lo4;    /* lo in every byte */
} hil_nn_clamp4;

static inline int hil_nn_clamp4_fits(int32_t lo, int32_t hi)
{
    return -128 <= lo && lo <= hi && hi <= 127;
}

/* 1 for the whole int8 range (hil_nn_clamp4_apply's full). */
static inline int hil_nn_clamp4_full(int32_t lo, int32_t hi)
{
    return lo == -128 && hi == 127;
}

static inline hil_nn_clamp4 hil_nn_clamp4_make(int32_t lo, int32_t hi)
{
    const hil_nn_clamp4 k = {255 - hi, (uint32_t)(lo + 255 - hi) * 0x01010101u, (uint32_t)(uint8_t)lo * 0x01010101u};
    return k;
}

#if defined(__ARM_FEATURE_DSP)
/* The int8 bytes of four biased values u (hil_nn_clamp4). full: the clamp is -128..127 (bias 128, floor 0), so the
 * bytes are u - 128, each byte's top bit flipped (one EOR). */
static inline __attribute__((always_inline)) uint32_t hil_nn_clamp4_apply(uint32_t u, const hil_nn_clamp4 *k, int full)
{
    return full ? u ^ 0x80808080u : __uadd8(__uqsub8(u, k->floor4), k->lo4);
}

/* Four int8 values (the bytes of w) times 16-bit factors, rounded at bit 16, as hil_nn_clamp4's biased bytes:
 * byte i = USAT8((X_i * F_i + round) >> 16) with X_i = x_i (shifted 0: SXTB16) or x_i * 256 (shifted 1: the bytes
 * masked in place, mask 0xFF00FF00), round = hil_nn_scale4_round, and F_0, F_2 the low and high halfwords of fe,
 * F_1, F_3 those of fo (one 1: every F_i the low halfword of fe). The products are exact (|X * F| <= 2^30 for
 * 16-bit factors); PKHTB takes their high halfwords two at a time. scale_channels_s8 and scale_pixels_s8 use it
 * for round_shift(x * g, s) = (x * g * 2^(16 - s) + 2^15) >> 16: the 2^(16 - s) is 2^8 on x and 2^(8 - s) on the
 * gate below out_shift 8 (shifted), all on the gate from 8 to 16 (F = g << hil_nn_scale4_up); from 16 up every
 * rounded product of two int8 values is 0, as at 16. */
static inline __attribute__((always_inline)) uint32_t hil_nn_scale4_s8(int32_t w, int32_t fe, int32_t fo, int32_t round,
                                                                        int shifted, int one, int32_t mask)
{
    const int32_t xe = shifted ? hil_nn_and_lsl8(w, mask) : __sxtb16(w);
    const int32_t xo = shifted ? w & mask : hil_nn_sxtb16_ror8(w);
    const int32_t e2 = one ? __smlatb(xe, fe, round) : __smlatt(xe, fe, round);
    const int32_t o3 = one ? __smlatb(xo, fe, round) : __smlatt(xo, fo, round);
    const uint32_t even = __usat16(hil_nn_high_halves(e2, __smlabb(xe, fe, round)), 8);
    const uint32_t odd = __usat16(hil_nn_high_halves(o3, __smlabb(xo, one ? fe : fo, round)), 8);
    return even | (odd << 8);
}

/* The gate's left shift for hil_nn_scale4_s8 (shifted: out_shift < 8). */
static inline int32_t hil_nn_scale4_up(int32_t out_shift)
{
    return out_shift < 8 ? 8 - out_shift : 16 - (out_shift < 16 ? out_shift : 16);
}

/* hil_nn_scale4_s8's addend: 2^15 rounds, bias * 2^16 biases (hil_nn_clamp4). */
static inline int32_t hil_nn_scale4_round(const hil_nn_clamp4 *k)
{
    return (int32_t)((uint32_t)k->bias << 16) + 32768;
}

/* v through an empty asm: a loop constant GCC then keeps in a register rather than rebuilding it in the loop. */
static inline int32_t hil_nn_in_register(int32_t v)
{
    __asm__("" : "+r"(v));
    return v;
}
#endif

/* A softmax row's largest value (*top) and the sum of exp_table[*top - x[c]] over its chans values: where
 * softmax_s8 and log_softmax_s8 both start (the sum stays below 2^31 for chans <= 32767). */
static inline int32_t hil_exp_sum_s8(const int8_t *x, int32_t chans, const int32_t *exp_table, int32_t *top)
{
    int32_t largest = x[0];
    for (int32_t c = 1; c < chans; ++c) {
        largest = x[c] > largest ? x[c] : largest;
    }
    int32_t sum = 0;
    for (int32_t c = 0; c < chans; ++c) {
        sum += exp_table[largest - x[c]];
    }
    *top = largest;
    return sum;
}

/* acc + dot(x, f) over n int8 values. With the DSP extension 4 values per word, sign-extended in pairs (SXTB16,
 * and SXTB16 with ROR #8 for the odd bytes) and multiplied-accumulated two at a time (SMLAD). The caller keeps
 * every partial sum within int32 (each product is at most 2^14); then both paths give the same integer. */
static inline int32_t hil_nn_dot_s8(const int8_t *x, const int8_t *f, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t wx = hil_nn_read32(x + i), wf = hil_nn_read32(f + i);
        acc = __smlad(__sxtb16(wx), __sxtb16(wf), acc);
        acc = __smlad(hil_nn_sxtb16_ror8(wx), hil_nn_sxtb16_ror8(wf), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * f[i];
    }
    return acc;
}

/* acc + dot(x, f) over n int16 values x and int8 weights f. With the DSP extension 4 products per weight word: its
 * bytes sign-extended in pairs (SXTB16: weights 0 and 2; with ROR #8: 1 and 3) and each multiplied with the matching
 * halfword of the two input words (SMLAxy). The caller keeps every partial sum within int32 (each product is at
 * most 2^22: n < 512 suffices); then both paths give the same integer. */
static inline int32_t hil_nn_dot_s16_s8(const int16_t *x, const int8_t *f, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t wf = hil_nn_read32(f + i);
        const int32_t even = __sxtb16(wf), odd = hil_nn_sxtb16_ror8(wf);
        const int32_t x01 = hil_nn_read32(x + i), x23 = hil_nn_read32(x + i + 2);
        acc = __smlatt(x23, odd, __smlabt(x23, even, __smlatb(x01, odd, __smlabb(x01, even, acc))));
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * f[i];
    }
    return acc;
}

/* Accumulates 4 channels of one depthwise output pixel over rows x cols taps of an int8 input into acc (the
 * depthwise kernels' inner loop); in and f point at the first tap of those channels, in_row and f_row are the
 * strides between tap rows, chans between taps. With the DSP extension bytes 0,2 and 1,3 are sign-extended into
 * halfword pairs and SMLABB/SMLATT take one product each: the same sums as the scalar path. */
#if defined(__ARM_FEATURE_DSP)
/* One tap of 4 channels of an int8 input (px) against their filter bytes (fw), each into its own sum. */
static inline void hil_nn_depthwise_tap4_s8(const int8_t *px, const int8_t *fw, int32_t *a0, int32_t *a1, int32_t *a2,
                                            int32_t *a3)
{
    const int32_t x = hil_nn_read32(px), w = hil_nn_read32(fw);
    const int32_t xe = __sxtb16(x), we = __sxtb16(w);
    const int32_t xo = hil_nn_sxtb16_ror8(x), wo = hil_nn_sxtb16_ror8(w);
    *a0 = __smlabb(xe, we, *a0);
    *a2 = __smlatt(xe, we, *a2);
    *a1 = __smlabb(xo, wo, *a1);
    *a3 = __smlatt(xo, wo, *a3);
}
#endif

static inline void hil_nn_depthwise_taps4_s8(const int8_t *in, const int8_t *f, int32_t in_row, int32_t f_row,
                                             int32_t chans, int32_t rows, int32_t cols, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t ky = 0; ky < rows; ++ky) {
        const int8_t *px = in + ky * in_row;
        const int8_t *fw = f + ky * f_row;
        for (int32_t kx = 0; kx < cols; ++kx) {
#if defined(__ARM_FEATURE_DSP)
            hil_nn_depthwise_tap4_s8(px, fw, &a0, &a1, &a2, &a3);
#else
            a0 += (int32_t)px[0] * fw[0];
            a1 += (int32_t)px[1] * fw[1];
            a2 += (int32_t)px[2] * fw[2];
            a3 += (int32_t)px[3] * fw[3];
#endif
            px += chans;
            fw += chans;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The outputs [*run_lo, *run_hi) of an output row of a 3x3 depthwise layer whose windows lie wholly inside the input
 * (ky0 == 0 and ky1 == 3: the row's window is not cut by padding); an empty run otherwise, or when the channels do
 * not come in blocks of 4. The depthwise kernels take those outputs with the taps unrolled (their _3x3_run). */
static inline void hil_nn_depthwise_3x3_run(int32_t k_h, int32_t k_w, int32_t chans, int32_t ky0, int32_t ky1,
                                            int32_t in_w, int32_t out_w, int32_t sw, int32_t pw, int32_t *run_lo,
                                            int32_t *run_hi)
{
    *run_lo = *run_hi = out_w;
    if (k_h == 3 && k_w == 3 && chans % 4 == 0 && ky0 == 0 && ky1 == 3) {
        const int32_t hi = in_w - 3 + pw >= 0 ? (in_w - 3 + pw) / sw + 1 : 0;
        *run_hi = hi < out_w ? hi : out_w;
        *run_lo = (pw + sw - 1) / sw;
        *run_lo = *run_lo < *run_hi ? *run_lo : *run_hi;
    }
}

/* acc[2p + q] += dot(x_p, f_q) over n int8 values, pixels x0/x1, filters f0/f1 (products at most 2^14 each): two
 * pixels by two output channels, each input and filter word loaded and sign-extended once for two products (as
 * CMSIS-NN blocks its im2col columns). Same products, same int32 sums as hil_nn_dot_s8. */
static inline void hil_nn_dot_2x2_s8(const int8_t *x0, const int8_t *x1, const int8_t *f0, const int8_t *f1,
                                     int32_t n, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t wf0 = hil_nn_read32(f0 + i), wf1 = hil_nn_read32(f1 + i);
        const int32_t f0e = __sxtb16(wf0), f0o = hil_nn_sxtb16_ror8(wf0);
        const int32_t f1e = __sxtb16(wf1), f1o = hil_nn_sxtb16_ror8(wf1);
        const int32_t wx0 = hil_nn_read32(x0 + i);
        const int32_t x0e = __sxtb16(wx0), x0o = hil_nn_sxtb16_ror8(wx0);
        a00 = __smlad(x0o, f0o, __smlad(x0e, f0e, a00));
        a01 = __smlad(x0o, f1o, __smlad(x0e, f1e, a01));
        const int32_t wx1 = hil_nn_read32(x1 + i);
        const int32_t x1e = __sxtb16(wx1), x1o = hil_nn_sxtb16_ror8(wx1);
        a10 = __smlad(x1o, f0o, __smlad(x1e, f0e, a10));
        a11 = __smlad(x1o, f1o, __smlad(x1e, f1e, a11));
    }
#endif
    for (; i < n; ++i) {
        a00 += (int32_t)x0[i] * f0[i];
        a01 += (int32_t)x0[i] * f1[i];
        a10 += (int32_t)x1[i] * f0[i];
        a11 += (int32_t)x1[i] * f1[i];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* hil_nn_dot_2x2_s8 for int16 inputs x0/x1 and int8 filters f0/f1 (products at most 2^22: the caller keeps every
 * partial sum within int32), each weight word loaded and sign-extended once for two pixels (SMLAxy, as
 * hil_nn_dot_s16_s8). */
static inline void hil_nn_dot_2x2_s16_s8(const int16_t *x0, const int16_t *x1, const int8_t *f0, const int8_t *f1,
                                         int32_t n, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t wf0 = hil_nn_read32(f0 + i), wf1 = hil_nn_read32(f1 + i);
        const int32_t f0e = __sxtb16(wf0), f0o = hil_nn_sxtb16_ror8(wf0);
        const int32_t f1e = __sxtb16(wf1), f1o = hil_nn_sxtb16_ror8(wf1);
        const int32_t p01 = hil_nn_read32(x0 + i), p23 = hil_nn_read32(x0 + i + 2);
        a00 = __smlatt(p23, f0o, __smlabt(p23, f0e, __smlatb(p01, f0o, __smlabb(p01, f0e, a00))));
        a01 = __smlatt(p23, f1o, __smlabt(p23, f1e, __smlatb(p01, f1o, __smlabb(p01, f1e, a01))));
        const int32_t q01 = hil_nn_read32(x1 + i), q23 = hil_nn_read32(x1 + i + 2);
        a10 = __smlatt(q23, f0o, __smlabt(q23, f0e, __smlatb(q01, f0o, __smlabb(q01, f0e, a10))));
        a11 = __smlatt(q23, f1o, __smlabt(q23, f1e, __smlatb(q01, f1o, __smlabb(q01, f1e, a11))));
    }
#endif
    for (; i < n; ++i) {
        a00 += (int32_t)x0[i] * f0[i];
        a01 += (int32_t)x0[i] * f1[i];
        a10 += (int32_t)x1[i] * f0[i];
        a11 += (int32_t)x1[i] * f1[i];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* ---- convolutions ------------------------------------------------------------------------- */

/* Every convolution takes out_shift: one rounding right shift per output channel, each in 0..31 (the kernel
 * refuses others), out_shift[o] = e_out - e_in - e_w[o] for output exponent e_out, input exponent e_in and
 * channel o's weight exponent e_w[o]. The kernels read it once per output value, never in a MAC loop. */

/* Standard convolution, int8 in/out, int32 bias and accumulator (any kernel, stride, zero padding).
 * out[b,y,x,o] = clamp(round_shift(bias[o] + sum_{ky,kx,i} in[b, y*sh-ph+ky, x*sw-pw+kx, i] * f[o,ky,kx,i],
 *                                  out_shift[o]), act_min, act_max); taps outside the input are zeros.
 * A 1-input-channel 3x3 fast path (the face models' stem) gives the same bits. */
hil_kernel_status conv2d_s8(const hil_conv_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                            const int8_t *input, const hil_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const hil_dims *output_dims, int8_t *output);

/* Depthwise convolution, channel multiplier 1: filter_dims {1, kh, kw, C}, filter[(ky*kw + kx)*C + c].
 * out[b,y,x,c] = clamp(round_shift(bias[c] + sum_{ky,kx} in[b, y*sh-ph+ky, x*sw-pw+kx, c] * f[ky,kx,c],
 *                                  out_shift[c]), act_min, act_max). bias may be NULL (zeros).
 * input_dims.c == output_dims.c == filter_dims.c; any kernel size, stride >= 1, pad >= 0. */
hil_kernel_status depthwise_conv2d_s8(const hil_conv_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                      int8_t *output);

/* 1x1 convolution (MBConv expand and project): filter_dims {C_out, 1, 1, C_in}, filter[o*C_in + i].
 * out[p,o] = clamp(round_shift(bias[o] + sum_i in[p,i] * f[o,i], out_shift[o]), act_min, act_max) for every
 * pixel p. Requires stride 1, pad 0, equal n/h/w in and out, C_in <= 65536 and |bias| < 2^30 (so the
 * int32 accumulator cannot overflow: 65536 * 128 * 128 = 2^30). bias may be NULL. */
hil_kernel_status pointwise_conv2d_s8(const hil_conv_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                      int8_t *output);

/* ---- element-wise ------------------------------------------------------------------------- */

typedef struct {
    int32_t a_shift;     /* left shift of a to the common scale, 0..22 */
    int32_t b_shift;     /* left shift of b to the common scale, 0..22 */
    int32_t out_shift;   /* rounding right shift from the common scale to the output, 0..31 */
    int32_t act_min;
    int32_t act_max;
} hil_add_params;

/* Residual add. With a = qa * 2^ea, b = qb * 2^eb, out = qo * 2^eo, pick a common exponent
 * ec <= min(ea, eb, eo) and a_shift = ea - ec, b_shift = eb - ec, out_shift = eo - ec:
 *   out[i] = clamp(round_shift((a[i] << a_shift) + (b[i] << b_shift), out_shift), act_min, act_max)
 * |a << 22| + |b << 22| <= 2^30, so the int32 sum never overflows. dims: any n*h*w*c elements. */
hil_kernel_status add_s8(const hil_add_params *params, const hil_dims *dims, const int8_t *a, const int8_t *b,
                         int8_t *output);

typedef struct {
    int32_t out_shift;   /* eo - eg (output exponent minus gamma exponent), -16..32 */
    int32_t act_min;
    int32_t act_max;
} hil_l2norm_params;

/* SSD's L2Norm over channels: out = x / ||x||_2 * gamma (the input's scale cancels). Per pixel:
 *   ss = sum_c x_c^2                        (int32 exact: C <= 65535 channels, ss < 2^30)
 *   ss == 0 -> every out_c = clamp(0)
 *   e  = the even number with (ss << e) in [2^28, 2^30)
 *   n  = floor(sqrt(ss << e))               (bitwise integer sqrt, n in [2^14, 2^15))
 *   r  = floor(2^30 / n)                    (r in (2^15, 2^16]; 1/||x|| ~= r * 2^(e/2 - 30))
 *   sh = 30 - e/2 + out_shift               (0..62)
 *   out_c = clamp(round_shift64((int64) x_c * gamma_c * r, sh), act_min, act_max)
 * gamma is int16 per channel at exponent eg; dims.c channels per pixel. */
hil_kernel_status l2norm_s8(const hil_l2norm_params *params, const hil_dims *dims, const int8_t *input,
                            const int16_t *gamma, int8_t *output);

typedef struct {
    int32_t out_shift; /* output exponent - gamma exponent, in -8..29 */
    int32_t eps;       /* LayerNorm's eps in units of ss below (>= 0) */
    int32_t act_min;
    int32_t act_max;
} hil_layer_norm_params;

/* LayerNorm over the channels of each pixel (PyTorch's nn.LayerNorm(C) on an NHWC map, or on rows [.., C]), with a
 * per-channel affine: out_c = (x_c - mean) / sqrt(var + eps_f) * w_c + b_c. Per pixel of C = dims.c channels:
 *   s   = sum_c x_c,  q = sum_c x_c^2           (int32 exact: C <= 4096, |s| <= 2^19, q <= 2^26)
 *   ss  = C * (C * q - s * s) + eps             (int64: = sum_c (C * x_c - s)^2 + eps, below 2^50)
 *   d_c = C * x_c - s                           (|d_c| < 2^20)
 *   ss == 0 -> every out_c = clamp(round_shift(beta_c, 8), act_min, act_max)
 *   e   = the even number (-20..28; negative for ss >= 2^30) with ss * 2^e in [2^28, 2^30) (a negative e shifts
 *         right: floor(ss / 2^-e))
 *   n   = floor(sqrt(ss * 2^e))                 (exact integer sqrt, n in [2^14, 2^15))
 *   r   = floor(2^30 / n)                       (r in (2^15, 2^16]; 1/sqrt(ss) ~= r * 2^(e/2 - 30))
 *   sh  = 30 - e/2 + out_shift                  (8..69)
 *   v   = round_shift64((int64) d_c * gamma_c * r, sh - 8)
 *   out_c = clamp(round_shift64(v + beta_c, 8), act_min, act_max)
 * With x = x_q * 2^ex, (x_c - mean) / sqrt(var + eps_f) = d_c * sqrt(C) / sqrt(ss) when eps = round(eps_f * C^3 *
 * 2^(-2 ex)) (the input's scale cancels; eps must fit int32). So with gamma_c = round(w_c * sqrt(C) * 2^-eg) (int16),
 * beta_c = round(b_c * 2^(8 - eo)) (int32: 8 more fraction bits than the output) and out_shift = eo - eg, out_c is
 * LayerNorm(x)_c * 2^-eo rounded (within about half a step). C in 1..4096, out_shift in -8..29 and eps >= 0, else
 * HIL_KERNEL_ARG_ERROR. Not in place: input, gamma and beta must not overlap output (a pixel's channels are read in
 * passes, which a faster version may reorder around its writes). */
hil_kernel_status layer_norm_s8(const hil_layer_norm_params *params, const hil_dims *dims, const int8_t *input,
                                const int16_t *gamma, const int32_t *beta, int8_t *output);

/* ---- FastGRNN and RNNPool ------------------------------------------------------------------- */

/* tanh in Q15 at 8192 points on [-4, 4): T[i] = clamp(round(32768 * tanh((i - 4096) / 1024)), -32767, 32767);
 * sigmoid at x = (i - 4096) / 512 from it: S[i] = min((T[i] + 32769) >> 1, 32767). Read directly, no interpolation:
 * the error is half a bin, <= 2^-11 for tanh and 2^-12 for sigmoid, plus tanh's tail beyond 4 (6.7e-4). */
#define HIL_TANH_TABLE_SIZE 8192
#define HIL_TANH_INDEX_SHIFT 2 /* Q12 -> bins of 1/1024 */
/* The Q12 offsets of the tables' indices (hil_nn_tanh_q15, hil_nn_sigmoid_q15): 4096 bins below zero, and half a bin
 * so that the shift finds the nearest. */
#define HIL_TANH_INDEX_OFFSET 16386
#define HIL_SIGMOID_INDEX_OFFSET 32772
extern const int16_t hil_tanh_table[HIL_TANH_TABLE_SIZE];
extern const int16_t hil_sigmoid_table[HIL_TANH_TABLE_SIZE];

/* clamp(v, 0, 8191): a table index (USAT with the DSP extension). */
static inline int32_t hil_nn_table_index(int32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    return (int32_t)__usat(v, 13);
#else
    return hil_clamp(v, 0, HIL_TANH_TABLE_SIZE - 1);
#endif
}

/* tanh of a Q12 input, Q15 output in [-32746, 32746]: the bin nearest v, T[clamp((v + 16386) >> 2, 0, 8191)].
 * Callers keep |v| <= 2^30. */
static inline int32_t hil_nn_tanh_q15(int32_t v)
{
    return hil_tanh_table[hil_nn_table_index((v + HIL_TANH_INDEX_OFFSET) >> HIL_TANH_INDEX_SHIFT)];
}

/* sigmoid of a Q12 input, Q15 output in [11, 32757], as (1 + tanh(x / 2)) / 2: S[clamp((v + 32772) >> 3, 0, 8191)] */
static inline int32_t hil_nn_sigmoid_q15(int32_t v)
{
    return hil_sigmoid_table[hil_nn_table_index((v + HIL_SIGMOID_INDEX_OFFSET) >> (HIL_TANH_INDEX_SHIFT + 1))];
}

typedef struct {
    int32_t input_size;
    int32_t hidden_size;
    const int16_t *w;            /* [hidden][input]: w[i*input_size + j] = EdgeML W[j][i] (x @ W) */
    const int16_t *u;            /* [hidden][hidden]: u[i*hidden_size + j] = EdgeML U[j][i] (h @ U) */
    const int32_t *bias_gate;    /* b_g at the pre-activation accumulator's exponent */
    const int32_t *bias_update;  /* b_h, likewise */
} hil_fastgrnn_weights;

typedef struct {
    int32_t wx_shift;     /* left shift of sum_j w[i,j] x[j] to the accumulator exponent, 0..30 */
    int32_t uh_shift;     /* left shift of sum_j u[i,j] h[j] to the accumulator exponent, 0..30 */
    int32_t pre_shift;    /* rounding right shift from the accumulator to Q12 (the nonlinearities' input), 0..14 */
    int32_t h_frac_bits;  /* the hidden state is Q(h_frac_bits) int16, 0..14 */
    int32_t zeta_q15;     /* sigmoid(zeta) in Q15, 0..32768 */
    int32_t nu_q15;       /* sigmoid(nu) in Q15, 0..32768 */
} hil_fastgrnn_params;

/* One FastGRNN step, int16 input x (Q of the caller's choice) and hidden state (Q(h_frac_bits)):
 *   acc_i = (sum_j w[i,j] x[j]) << wx_shift + (sum_j u[i,j] h[j]) << uh_shift      (int32)
 *   z_i   = sigmoid_q15(round_shift(acc_i + bias_gate[i], pre_shift))            (Q15, 11..32757)
 *   c_i   = tanh_q15(round_shift(acc_i + bias_update[i], pre_shift))             (Q15)
 *   k_i   = ((zeta_q15 * (32768 - z_i) + 16384) >> 15) + nu_q15                  (Q15, 0..65536)
 *   h'_i  = sat16(round_shift(z_i * h_i + round_shift(k_i * c_i, 15 - h_frac_bits), 15))
 * Precondition (the compiler checks it with hil.kernels_ref.fastgrnn_accumulator_bound): for every unit,
 * (sum_j |w[i,j]| * max|x|) << wx_shift + (sum_j |u[i,j]| * 32768) << uh_shift + max(|b_g|, |b_h|) <= 2^30,
 * so every int32 sum is exact; the gate arithmetic is bounded by its Q15 ranges (see the .c file).
 * h_out must not alias h. */
hil_kernel_status fastgrnn_step_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                                    const int16_t *x, const int16_t *h, int16_t *h_out);

/* ---- the step's parts, for the rnnpool kernels (arguments validated once by the caller) ---- */

/* A cell's biases with the rounding and the table offsets of the nonlinearities folded in, 2 * hidden values in
 * pairs (one LDRD per unit):
 *   folded[2i]     = bias_gate[i]   + 2^(pre_shift-1) + 32772 * 2^pre_shift   (no 2^(pre_shift-1) when 0)
 *   folded[2i + 1] = bias_update[i] + 2^(pre_shift-1) + 16386 * 2^pre_shift
 * so that z_i = S[clamp((acc_i + folded[2i]) >> (pre_shift + 3), 0, 8191)] and
 * c_i = T[clamp((acc_i + folded[2i + 1]) >> (pre_shift + 2), 0, 8191)]: the same integers as the Q12 route, since
 * floor(floor(a / 2^p) / 2^q) = floor(a / 2^(p+q)). With |acc + b| <= 2^30 and pre_shift <= 14 every sum stays
 * below 2^30 + 2^29.01 < 2^31. */
void hil_nn_fastgrnn_fold(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights, int32_t *folded);

/* The input term of every unit, acc's first half: wx[i] = (sum_j w[i,j] x[j]) * 2^wx_shift, x int16 or int8. */
void hil_nn_fastgrnn_input_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                               const int16_t *x, int32_t *wx);
void hil_nn_fastgrnn_input_s8(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                              const int8_t *x, int16_t *x16, int32_t *wx);

/* One step from the input terms wx and the folded biases: acc[i] = wx[i] + (sum_j u[i,j] h[j]) * 2^uh_shift (acc:
 * hidden int32 of scratch), then the gates and the update. h == NULL is the zero state (the first step: U h is
 * skipped, exactly 0). h_out must not alias h. */
void hil_nn_fastgrnn_step_folded(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                                 const int32_t *folded, const int32_t *wx, const int16_t *h, int32_t *acc,
                                 int16_t *h_out);

/* ---- Recurrent layers (GRU, LSTM: PyTorch's nn.GRU and nn.LSTM gate equations; twins: hil/kernels_ref/gru.py and
 * lstm.py, what they share: hil/kernels_ref/recurrent.py) ---- */

/* The params of one recurrent layer (gru_s8, lstm_s8): int8 frames x, hidden state h in Q15 int16. Every gate row r
 * has the int32 pre-activation (sum_j w[r,j] x[j]) << wx_shift + (sum_j u[r,j] h[j]) << uh_shift + its biases, which
 * the nonlinearities (hil_nn_sigmoid_q15, hil_nn_tanh_q15) read as round_shift(., pre_shift) in Q12; every step's
 * state (or only the last, last_only) is written as out = clamp(round_shift(h, out_shift), act_min, act_max). */
typedef struct {
    int32_t wx_shift;    /* left shift of sum_j w[i,j] x[j] to the accumulator exponent, 0..30 */
    int32_t uh_shift;    /* left shift of sum_j u[i,j] h[j] to the accumulator exponent, 0..30 */
    int32_t pre_shift;   /* rounding right shift from the accumulator to Q12 (the nonlinearities' input), 0..14 */
    int32_t out_shift;   /* out = clamp(round_shift(h, out_shift)): the output's exponent is out_shift - 15, 0..15 */
    int32_t reverse;     /* 1: the steps run from the last frame to the first (a bidirectional layer's backward half) */
    int32_t last_only;   /* 1: only the final state is written (one frame per batch), not every step's */
    int32_t act_min;     /* the output clamp, within -128..127 */
    int32_t act_max;
} hil_recurrent_params;

typedef struct {
    int32_t input_size;
    int32_t hidden_size;
    const int16_t *w;        /* [3 * hidden][input], rows reset, update, new (PyTorch's weight_ih_l0) */
    const int16_t *u;        /* [3 * hidden][hidden] (weight_hh_l0) */
    const int32_t *bias;     /* [3 * hidden] */
    const int32_t *bias_hn;  /* [hidden] */
} hil_gru_weights;

/* A GRU layer over int8 frames from the zero state, hidden state h in Q15 int16 (|h| <= 32767: a convex mix of
 * tanh values). Per step t and unit i, with rows i (reset), H + i (update), 2H + i (new) of w, u and bias:
 *   a_r = (sum_j w[i,j] x[j]) << wx_shift + (sum_j u[i,j] h[j]) << uh_shift + bias[i]
 *   a_z = likewise with rows H + i
 *   a_x = (sum_j w[2H+i,j] x[j]) << wx_shift + bias[2H+i]
 *   a_h = (sum_j u[2H+i,j] h[j]) << uh_shift + bias_hn[i]
 *   r   = sigmoid_q15(round_shift(a_r, pre_shift)),  z = sigmoid_q15(round_shift(a_z, pre_shift))
 *   n   = tanh_q15(round_shift(a_x + round_shift(r * a_h, 15), pre_shift))        (r * a_h in 64 bits)
 *   h'  = round_shift(z * h + (32768 - z) * n, 15)                                  (no saturation needed)
 *   out = clamp(round_shift(h', out_shift), act_min, act_max)
 * (PyTorch: h' = (1 - z) * n + z * h, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).)
 * Precondition (the compiler checks it with hil.kernels_ref.gru_accumulator_bound(params, weights, 128)): for every
 * gate row, (sum_j |w| * 128) << wx_shift + (sum_j |u| * 32768) << uh_shift + |bias| (+ |bias_hn| on the new gate's
 * rows) <= 2^30, so every int32 sum is exact (see gru_s8.c).
 * Layout: input NHWC frames, input_dims {n = batch, h = 1, w = steps, c = input_size}: input[(b * steps + t) * c + j].
 * Output [n][steps][hidden] int8, every step's output at its own frame index (also when reverse = 1), or
 * [n][1][hidden] (the final state) when last_only = 1. Not in place.
 * Scratch: ctx->buf (4-byte aligned) of ctx->size >= gru_s8_get_buffer_size bytes: 3 * hidden int32, then
 * 2 * hidden + input int16. HIL_KERNEL_ARG_ERROR on a NULL pointer, a size below 1, a shift, reverse or last_only
 * outside its range above, act_min > act_max or a clamp outside int8, input_dims->c != input_size,
 * input_dims->h != 1, or a scratch too small or not 4-byte aligned. */
int32_t gru_s8_get_buffer_size(const hil_gru_weights *weights);
hil_kernel_status gru_s8(const hil_context *ctx, const hil_recurrent_params *params, const hil_gru_weights *weights,
                         const hil_dims *input_dims, const int8_t *input, int8_t *output);

typedef struct {
    int32_t input_size;
    int32_t hidden_size;
    const int16_t *w;     /* [4 * hidden][input], rows input, forget, cell, output (PyTorch's weight_ih_l0) */
    const int16_t *u;     /* [4 * hidden][hidden] (weight_hh_l0) */
    const int32_t *bias;  /* [4 * hidden]: b_ih + b_hh */
} hil_lstm_weights;

/* An LSTM layer over int8 frames from the zero states, hidden state h in Q15 int16 and cell state c in Q15 int32
 * (|c| may pass 1). Per step t and unit i, with the gate rows k = i (input), H + i (forget), 2H + i (cell),
 * 3H + i (output) of w, u and bias:
 *   a_k = (sum_j w[k,j] x[j]) << wx_shift + (sum_j u[k,j] h[j]) << uh_shift + bias[k]
 *   i_g, f_g, o_g = sigmoid_q15(round_shift(a_k, pre_shift)) of the input, forget and output rows
 *   g_g = tanh_q15(round_shift(a_k, pre_shift)) of the cell row
 *   c'  = round_shift(f_g * c + i_g * g_g, 15)                     (the sum in 64 bits; |c'| < 2^27 always)
 *   h'  = round_shift(o_g * tanh_q15(round_shift(c', 3)), 15)     (c' read in Q12; |h'| <= 32735)
 *   out = clamp(round_shift(h', out_shift), act_min, act_max)
 * (PyTorch: c' = f * c + i * g, h' = o * tanh(c').)
 * Precondition (the compiler checks it with hil.kernels_ref.lstm_accumulator_bound(params, weights, 128)): for every
 * gate row, (sum_j |w| * 128) << wx_shift + (sum_j |u| * 32768) << uh_shift + |bias| <= 2^30, so every int32 sum is
 * exact (see lstm_s8.c).
 * Layout as gru_s8's: input NHWC frames, input_dims {n = batch, h = 1, w = steps, c = input_size}; output
 * [n][steps][hidden] int8 (every step's at its own frame index, also when reverse = 1), or [n][1][hidden] (the final
 * state) when last_only = 1. Not in place.
 * Scratch: ctx->buf (4-byte aligned) of ctx->size >= lstm_s8_get_buffer_size bytes: 4 * hidden int32, then hidden
 * int32 (the cell states), then 2 * hidden + input int16. HIL_KERNEL_ARG_ERROR in gru_s8's cases. */
int32_t lstm_s8_get_buffer_size(const hil_lstm_weights *weights);
hil_kernel_status lstm_s8(const hil_context *ctx, const hil_recurrent_params *params, const hil_lstm_weights *weights,
                          const hil_dims *input_dims, const int8_t *input, int8_t *output);

/* ---- the recurrent kernels' shared parts (arguments validated where said) ---- */

/* A bias with pre_shift's rounding and a nonlinearity's index offset folded in, as hil_nn_fastgrnn_fold's:
 * bias + 2^(pre_shift-1) (nothing when pre_shift is 0) + index_offset * 2^pre_shift, so that the table index of
 * round_shift(s + bias, pre_shift) is (s + folded) >> (pre_shift + HIL_TANH_INDEX_SHIFT) for tanh (one more for
 * sigmoid), clamped, since floor(floor(a / 2^p) / 2^q) = floor(a / 2^(p+q)). pre_shift <= 14 adds at most
 * 2^13 + 32772 * 2^14 < 2^29.01, so with |s + bias| <= 2^30 the sum stays below 2^31. */
static inline int32_t hil_nn_fold_bias(int32_t bias, int32_t pre_shift, int32_t index_offset)
{
    const int32_t round = pre_shift > 0 ? (int32_t)1 << (pre_shift - 1) : 0;
    return bias + round + index_offset * ((int32_t)1 << pre_shift);
}

#if defined(__ARM_FEATURE_DSP)
/* *lo, *hi = the two words at *p (any address: two LDRs), then *p += 4 values. */
static inline __attribute__((always_inline)) void hil_nn_ldr2_next(const int16_t **p, int32_t *lo, int32_t *hi)
{
    *lo = hil_nn_read32(*p);
    *hi = hil_nn_read32(*p + 2);
    *p += 4;
}

/* The same for a 4-byte aligned *p: one LDRD with write-back in Thumb-2 (the compiler splits paired loads into LDRs
 * when registers are short, and does not post-increment them; A32's LDRD would need an even register pair). */
static inline __attribute__((always_inline)) void hil_nn_ldrd_next(const int16_t **p, int32_t *lo, int32_t *hi)
{
#if defined(__thumb2__)
    const int16_t(*block)[4] = (const int16_t(*)[4])(*p);
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(*lo), "=r"(*hi), "+r"(*p) : "m"(*block));
#else
    hil_nn_ldr2_next(p, lo, hi);
#endif
}
#endif

/* The scratch bytes of a recurrent layer: int32_per_unit * hidden int32 (3 for gru_s8, 5 for lstm_s8), then
 * 2 * hidden + input int16, rounded up to 4 bytes; in 64 bits, so that no sizes overflow. */
static inline int64_t hil_recurrent_scratch_bytes(int32_t int32_per_unit, int32_t input_size, int32_t hidden_size)
{
    const int64_t halves = 2 * (int64_t)hidden_size + input_size;
    return 4 * (int64_t)int32_per_unit * hidden_size + (2 * halves + 3) / 4 * 4;
}

/* 1 when the arguments of a recurrent kernel are valid (gru_s8's HIL_KERNEL_ARG_ERROR cases, the weights' pointers
 * aside: the caller checks them before reading the sizes), else 0. */
static inline int hil_recurrent_args_valid(const hil_context *ctx, const hil_recurrent_params *p, int32_t input_size,
                                           int32_t hidden_size, int32_t int32_per_unit, const hil_dims *dims,
                                           const int8_t *input, const int8_t *output)
{
    if (!ctx || !ctx->buf || !p || !dims || !input || !output) {
        return 0;
    }
    if (input_size < 1 || hidden_size < 1 || dims->n < 1 || dims->h != 1 || dims->w < 1 || dims->c != input_size ||
        p->wx_shift < 0 || p->wx_shift > 30 || p->uh_shift < 0 || p->uh_shift > 30 || p->pre_shift < 0 ||
        p->pre_shift > 14 || p->out_shift < 0 || p->out_shift > 15 || p->reverse < 0 || p->reverse > 1 ||
        p->last_only < 0 || p->last_only > 1 || p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max) {
        return 0;
    }
    return ((uintptr_t)ctx->buf & 3u) == 0u &&
           ctx->size >= hil_recurrent_scratch_bytes(int32_per_unit, input_size, hidden_size);
}

/* out[i] = clamp(round_shift(h[i], out_shift), lo, hi) over n Q15 states: |h| < 2^15, so the rounding constant is
 * added in 32 bits with no overflow (out_shift 0: no rounding, the state itself). */
static inline void hil_recurrent_requantize(const int16_t *h, int32_t n, int32_t out_shift, int32_t lo, int32_t hi,
                                            int8_t *out)
{
    const int32_t round = out_shift > 0 ? (int32_t)1 << (out_shift - 1) : 0;
    for (int32_t i = 0; i < n; ++i) {
        out[i] = (int8_t)hil_clamp((h[i] + round) >> out_shift, lo, hi);
    }
}

/* One step of a recurrent kernel: x16 the widened frame, h the state, n_u its length in the sums (0 on a sequence's
 * first step: the zero state, U h is exactly 0 and h holds zeros), h_out the next state (not h); plan is the
 * kernel's own (its weights and folded biases, an LSTM's cell states). */
typedef void (*hil_recurrent_step_fn)(const void *plan, const int16_t *x16, const int16_t *h, int32_t n_u,
                                      int16_t *h_out);

/* The run over frames (arguments validated): per sequence b the zero state (state_b, and cell's hidden values unless
 * cell is NULL, set to 0), then per step (frames first to last, or last to first when reverse) the frame widened into
 * x16, step from the state into the other of state_a and state_b, and the step's output at its frame's index (or, when
 * last_only, the final state's at index 0). */
static inline void hil_recurrent_run(const hil_recurrent_params *params, const hil_dims *dims, int32_t hidden_size,
                                     const int8_t *input, int8_t *output, int16_t *state_a, int16_t *state_b,
                                     int16_t *x16, int32_t *cell, hil_recurrent_step_fn step, const void *plan)
{
    const int32_t n_in = dims->c, n_h = hidden_size, batch = dims->n, steps = dims->w;
    const int32_t out_shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    for (int32_t b = 0; b < batch; ++b) {
        memset(state_b, 0, (size_t)n_h * sizeof *state_b);
        if (cell) {
            memset(cell, 0, (size_t)n_h * sizeof *cell);
        }
        int16_t *h = state_b, *next = state_a;
        for (int32_t s = 0; s < steps; ++s) {
            const int32_t t = params->reverse ? steps - 1 - s : s;
            const int8_t *frame = input + (b * steps + t) * n_in;
            for (int32_t j = 0; j < n_in; ++j) {
                x16[j] = frame[j];
            }
            step(plan, x16, h, s == 0 ? 0 : n_h, next);
            if (!params->last_only) {
                hil_recurrent_requantize(next, n_h, out_shift, lo, hi, output + (b * steps + t) * n_h);
            }
            int16_t *const previous = h;
            h = next;
            next = previous;
        }
        if (params->last_only) {
            hil_recurrent_requantize(h, n_h, out_shift, lo, hi, output + b * n_h);
        }
    }
}

/* ---- RNNPool (on the FastGRNN step's parts above) ---- */

typedef struct {
    int32_t patch_h;              /* r: rows of the patch */
    int32_t patch_w;              /* c: columns of the patch */
    hil_fastgrnn_params rnn1;     /* RNN1 (k -> h1) on the int8 pixels, widened to int16 */
    hil_fastgrnn_params rnn2;     /* RNN2 (h1 -> h2) on RNN1's int16 summaries, both directions */
    int32_t out_shift;            /* rnnpool_s8 only: out = clamp(round_shift(h2_state, out_shift)), 0..31 */
    int32_t act_min;
    int32_t act_max;
    int32_t out_bits;             /* the output's width: 8, or 16 in rnnpool_layer_s8 (a map the search widened) */
} hil_rnnpool_params;

/* RNNPool on ONE r x c x k patch whose top-left pixel is (y0, x0) of batch 0 of an NHWC int8 map
 * (input_dims; k = input_dims.c; the patch must lie inside the map). Hidden states start at zero.
 *   rows:    RNN1 along each row i (c steps, left to right) -> r summaries; RNN2 over them forward (i = 0..r-1)
 *            and backward (i = r-1..0)
 *   columns: RNN1 down each column j (r steps, top to bottom) -> c summaries; RNN2 forward and backward
 * Output 4*h2 values: [rows forward, rows backward, columns forward, columns backward] final RNN2 states.
 * rnnpool_s8 requantises them (out_shift, act clamp) to int8; rnnpool_wide_s8 writes the int16 states
 * as they are (Q(rnn2.h_frac_bits)). Scratch: ctx->size >= rnnpool_s8_get_buffer_size(...) bytes. */
int32_t rnnpool_s8_get_buffer_size(const hil_rnnpool_params *params, const hil_fastgrnn_weights *rnn1,
                                   const hil_fastgrnn_weights *rnn2);

hil_kernel_status rnnpool_s8(const hil_context *ctx, const hil_rnnpool_params *params, const hil_dims *input_dims,
                             const int8_t *input, int32_t y0, int32_t x0, const hil_fastgrnn_weights *rnn1,
                             const hil_fastgrnn_weights *rnn2, int8_t *output);

hil_kernel_status rnnpool_wide_s8(const hil_context *ctx, const hil_rnnpool_params *params,
                                  const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                  const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2,
                                  int16_t *output);

/* The rnnpool kernels' scratch, carved from ctx->buf by hil_nn_rnnpool_prepare, int32 parts first:
 *   projection  patch_w x patch_h x h1 int32: RNN1's input term (W x) * 2^wx_shift of every pixel of the current
 *               patch, a ring over columns (slot x mod patch_w), so a patch that slides right by less than its width
 *               projects only its new columns;
 *   folded1/2   2*h1 / 2*h2 int32: hil_nn_fastgrnn_fold of each cell, once per call;
 *   input2      max(r, c) x h2 int32: RNN2's input term of each RNN1 summary, shared by the forward and backward run;
 *   acc         max(h1, h2) int32: a step's accumulators;
 *   summaries   max(r, c) x h1, state1 2*h1, state2 2*h2, final 4*h2, widened k int16. */
typedef struct {
    int32_t *projection;
    int32_t *folded1;
    int32_t *folded2;
    int32_t *input2;
    int32_t *acc;
    int16_t *summaries;
    int16_t *state1;
    int16_t *state2;
    int16_t *final;
    int16_t *widened;
} hil_rnnpool_scratch;

/* The scratch pointers in a buffer of rnnpool_s8_get_buffer_size bytes (4-byte aligned), biases folded. */
hil_rnnpool_scratch hil_nn_rnnpool_prepare(void *buf, const hil_rnnpool_params *params,
                                           const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2);

/* Projects columns [x_from, x_to) of rows y0 .. y0 + patch_h - 1 of an int8 NHWC map (one batch: input points at
 * its first pixel) into the projection ring. */
void hil_nn_rnnpool_project(const hil_rnnpool_scratch *s, const hil_rnnpool_params *params,
                            const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x_from,
                            int32_t x_to, const hil_fastgrnn_weights *rnn1);

/* The patch whose columns x0 .. x0 + patch_w - 1 are in the projection ring: its 4*h2 final states to s->final. */
void hil_nn_rnnpool_patch(const hil_rnnpool_scratch *s, const hil_rnnpool_params *params, int32_t x0,
                          const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2);

/* The per-patch kernels' whole computation (arguments already validated): the patch at (y0, x0) of batch 0,
 * final states to the returned scratch's final. */
hil_rnnpool_scratch hil_nn_rnnpool_one_patch(const hil_context *ctx, const hil_rnnpool_params *params,
                                             const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                             const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2);

/* n int16 states to int8 or int16 (out_bits): clamp(round_shift(state - offset, out_shift), act_min, act_max);
 * offset NULL is zeros. */
void hil_nn_rnnpool_requantize(const hil_rnnpool_params *params, const int16_t *states, const int16_t *offset,
                               int32_t n, void *output);

/* Argument checks shared by the rnnpool entry points (the patch at (y0, x0) must lie inside the map). */
hil_kernel_status hil_nn_rnnpool_check(const hil_context *ctx, const hil_rnnpool_params *params,
                                       const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                       const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2);

/* Whether params' requantisation is one the entry points can run: out_shift 0..31 and an act clamp the output's
 * width (out_bits) can hold. */
int hil_nn_rnnpool_output_valid(const hil_rnnpool_params *params);

/* RNNPool strided over a whole map, as a model runs it: every patch at (oy * stride, ox * stride) of every batch,
 * in nn.Unfold order, output [n, oh, ow, 4*h2] int8, or int16 with params->out_bits 16 (the act clamp then in int16's
 * range), with oh = (H - patch_h) / stride + 1 (likewise ow), each patch's states requantised as
 * rnnpool_offset_s8 does (offset == NULL: as rnnpool_s8 does). At int8, the same integers as
 * those kernels called once per patch; each pixel's RNN1 input term is computed once per patch row, not once per
 * patch and direction (a 4 KB ring of patch_w columns; a band of patch_h whole rows would also share it between
 * patch rows, ~1 % fewer instructions for ~80 KB more RAM). Scratch: rnnpool_s8_get_buffer_size bytes. */
hil_kernel_status rnnpool_layer_s8(const hil_context *ctx, const hil_rnnpool_params *params, int32_t stride,
                                   const hil_dims *input_dims, const int8_t *input, const hil_fastgrnn_weights *rnn1,
                                   const hil_fastgrnn_weights *rnn2, const int16_t *offset,
                                   const hil_dims *output_dims, void *output);

/* Argument checks of one FastGRNN cell's parameters and weights. */
hil_kernel_status hil_nn_fastgrnn_check(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights);

/* As conv2d_s8 (NHWC, OHWI filter, any kernel, stride and zero padding, same params, out_shift and formula), with
 * int16 filter values: for a layer whose int8 weights are too coarse, e.g. the face models' stem, a 3x3 high-pass
 * filter on the raw image whose large values cancel, so an int8 weight's rounding error becomes a large output
 * error. Exact int32 sums: fan-in kh * kw * C_in <= 256 and |bias| < 2^30 (256 * 128 * 32768 = 2^30). */
hil_kernel_status conv2d_s8_w16(const hil_conv_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                                const int8_t *input, const hil_dims *filter_dims, const int16_t *filter,
                                const int32_t *bias, const hil_dims *output_dims, int8_t *output);

/* As rnnpool_s8 (same params, scratch size and checks), but every output channel i first has offset[i]
 * subtracted, offset in Q(rnn2.h_frac_bits) like the states:
 *   out[i] = clamp(round_shift((int32) state[i] - offset[i], out_shift), act_min, act_max)
 * For maps whose channels have large means and small spreads (the face models' RNNPool output): the int8
 * output then spends its 256 levels on the spread around the mean, at a finer exponent. The compiler folds
 * the offset into the consumers' biases, so the model computes the same function. state - offset fits int32
 * (both int16). */
hil_kernel_status rnnpool_offset_s8(const hil_context *ctx, const hil_rnnpool_params *params,
                                    const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                    const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2,
                                    const int16_t *offset, int8_t *output);

/* ---- the layers of general models (grouped/dilated convolution, fully connected, pooling, activations,
 * softmax, log-softmax). Each params struct is declared once in hil/kernels_ref/params.py (@c_struct); a test
 * checks these typedefs against it. ------------------------------------------------------------------------ */

typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;       /* zeros above (below: as far as the output needs) */
    int32_t pad_w;       /* zeros left (right: as far as the output needs) */
    int32_t dilation_h;  /* >= 1: tap ky reads row y*stride_h - pad_h + ky*dilation_h */
    int32_t dilation_w;
    int32_t groups;      /* >= 1, divides C_in and C_out; filter_dims.c = C_in / groups */
    int32_t act_min;
    int32_t act_max;
} hil_grouped_conv_params;

/* Convolution with groups and dilation (what conv2d_s8 and depthwise_conv2d_s8 do not cover: 1 < groups < C_in,
 * a channel multiplier, dilation > 1). Filter OHWI with I = C_in / groups; output channel o reads the input
 * channels of its group g = o / (C_out / groups):
 *   out[b,y,x,o] = clamp(round_shift(bias[o] + sum_{ky,kx,i} in[b, y*sh-ph+ky*dh, x*sw-pw+kx*dw, g*I+i]
 *                                    * f[o,ky,kx,i], out_shift[o]), act_min, act_max)
 * taps outside the input are zeros; out_shift[o] in 0..31; bias may be NULL. Exact int32 sums: fan-in
 * kh * kw * I <= 65536 and |bias| < 2^30. Each tap's I channels are one hil_nn_dot_s8 (SMLAD). */
hil_kernel_status grouped_conv2d_s8(const hil_grouped_conv_params *params, const int8_t *out_shift,
                                    const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                    const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                    int8_t *output);

typedef struct {
    int32_t act_min;
    int32_t act_max;
} hil_fc_params;

/* Fully connected (PyTorch's Linear after flatten): input_dims {B, 1, 1, N}, weight [M][N] (filter_dims
 * {M, 1, 1, N}), output_dims {B, 1, 1, M}:
 *   out[b,m] = clamp(round_shift(bias[m] + sum_n in[b,n] * w[m,n], out_shift[m]), act_min, act_max)
 * out_shift[m] in 0..31, N <= 65536, |bias| < 2^30 (exact int32 sums), bias may be NULL. */
hil_kernel_status fully_connected_s8(const hil_fc_params *params, const int8_t *out_shift,
                                     const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                     const int8_t *weight, const int32_t *bias, const hil_dims *output_dims,
                                     int8_t *output);

typedef struct {
    int32_t act_min;
    int32_t act_max;
    int32_t in_bits;
    int32_t out_bits;
} hil_fc_a16_params;

/* fully_connected_s8 with int8 or int16 activations on either side (in_bits, out_bits: 8 or 16; input and output
 * point to int8_t or int16_t values accordingly), int8 weights; act_min..act_max within the output's range.
 * N <= 65536, |bias| < 2^30; an int16 input's sums are 64-bit (products up to 2^22), an int8 input's int32. */
hil_kernel_status fully_connected_a16(const hil_fc_a16_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                      const int8_t *weight, const int32_t *bias, const hil_dims *output_dims,
                                      void *output);

/* The activation-width helpers of the _a16 kernels (int8 or int16 tensors behind a void pointer). */
static inline int hil_a16_width_valid(int32_t bits)
{
    return bits == 8 || bits == 16;
}

/* An activation clamp [lo, hi] in order and within a tensor of bits (8 or 16): a wider one the store truncates. */
static inline int hil_a16_clamp_valid(int32_t lo, int32_t hi, int32_t bits)
{
    const int32_t top = (1 << (bits - 1)) - 1;
    return hil_a16_width_valid(bits) && lo >= -top - 1 && hi <= top && lo <= hi;
}

static inline int32_t hil_a16_load(const void *data, int32_t i, int32_t bits)
{
    return bits == 16 ? ((const int16_t *)data)[i] : ((const int8_t *)data)[i];
}

/* v already clamped to the output's range. */
static inline void hil_a16_store(void *data, int32_t i, int32_t v, int32_t bits)
{
    if (bits == 16) {
        ((int16_t *)data)[i] = (int16_t)v;
    } else {
        ((int8_t *)data)[i] = (int8_t)v;
    }
}

typedef struct {
    int32_t a_shift;     /* left shift of a to the common scale, 0..30 - a_bits */
    int32_t b_shift;     /* left shift of b to the common scale, 0..30 - b_bits */
    int32_t out_shift;   /* rounding right shift from the common scale to the output, 0..31 */
    int32_t act_min;     /* the clamp, within the output's range */
    int32_t act_max;
    int32_t a_bits;      /* 8 or 16, each */
    int32_t b_bits;
    int32_t out_bits;
} hil_add_a16_params;

/* add_s8 (same formula) with a, b and the output each int8 or int16; all three int8 runs add_s8. */
hil_kernel_status add_a16(const hil_add_a16_params *params, const hil_dims *dims, const void *a, const void *b,
                          void *output);

/* An int16 window of at most this many values sums within -2^30..2^30 (products of at most 2^22 in magnitude; 2^30
 * itself only when every value is -32768 and every weight -128). */
#define HIL_A16_NARROW_S16_MAX_N 256

/* 1 when every one of the n biases (NULL: none) is below 2^30 in magnitude: then a bias plus a sum within
 * -2^30..2^30 fits int32 (at most 2^31 - 1), and the _a16 kernels requantise it in 32 bits
 * (hil_nn_round_shift_exact32, 5 instructions where the 64-bit shift takes about 20) with the same result as in 64. */
static inline int hil_a16_biases_narrow(const int32_t *bias, int32_t n)
{
    for (int32_t i = 0; bias && i < n; ++i) {
        if (bias[i] <= -(1 << 30) || bias[i] >= (1 << 30)) {
            return 0;
        }
    }
    return 1;
}

/* The _a16 kernels' requantisation of an int32 sum: rounded right by shift (0..31), clamped to [lo, hi] (within the
 * output's width), stored as element i of data (bits 8 or 16). */
static inline void hil_a16_requantize32(void *data, int32_t i, int32_t acc, int32_t shift, int32_t lo, int32_t hi,
                                        int32_t bits)
{
    hil_a16_store(data, i, hil_clamp(hil_nn_round_shift_exact32(acc, shift), lo, hi), bits);
}

/* The same for a 64-bit sum (a bias or a sum that may pass 2^30). */
static inline void hil_a16_requantize64(void *data, int32_t i, int64_t acc, int32_t shift, int32_t lo, int32_t hi,
                                        int32_t bits)
{
    const int64_t shifted = hil_round_shift64(acc, shift);
    hil_a16_store(data, i, (int32_t)(shifted < lo ? lo : (shifted > hi ? hi : shifted)), bits);
}

typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t act_min;
    int32_t act_max;
    int32_t in_bits;
    int32_t out_bits;
} hil_conv_a16_params;

/* 1 when conv2d_a16's or conv2d_a16_w16's arguments are whole and agree: every pointer set, widths of 8 or 16, the
 * filter's channels and count matching the maps', strides of at least 1, a fan-in (kh * kw * I) of at most 65536
 * (their 64-bit sums' bound), the clamp within the output's range and each output channel's shift in 0..31. */
static inline int hil_conv_a16_args_valid(const hil_conv_a16_params *params, const int8_t *out_shift,
                                          const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                          const void *filter, const hil_dims *output_dims, const void *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        !hil_a16_width_valid(params->in_bits) || !hil_a16_width_valid(params->out_bits)) {
        return 0;
    }
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    return filter_dims->c == input_dims->c && filter_dims->n == output_dims->c && params->stride_h >= 1 &&
           params->stride_w >= 1 && input_dims->n == output_dims->n && k_h >= 1 && k_w >= 1 &&
           k_h * k_w * input_dims->c <= 65536 &&
           hil_a16_clamp_valid(params->act_min, params->act_max, params->out_bits) &&
           hil_nn_shifts_valid(out_shift, output_dims->c);
}

/* conv2d_s8 (same formula and layouts) with int8 or int16 activations on either side, int8 weights; the clamp
 * within the output's range. Sums are 64-bit (an int16 input's products reach 2^22), exact for
 * kh * kw * I <= 65536 and any bias. The filter is OHWI, except that for an int16 input with I a multiple of 4 each
 * tap's channels are paired: stored 0, 2, 1, 3 in every 4 (hil/kernels_ref/conv_a16.py, conv_a16_device_filter). */
hil_kernel_status conv2d_a16(const hil_conv_a16_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                             const void *input, const hil_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const hil_dims *output_dims, void *output);

/* conv2d_a16 (same formula, params and widths) with int16 weights. Products reach 2^30: sums are 64-bit, exact for
 * kh * kw * I <= 65536 and any bias. The filter is OHWI, except that for an int8 input with I a multiple of 4 each
 * tap's channels are paired: stored 0, 2, 1, 3 in every 4 (hil/kernels_ref/conv_a16.py, conv_a16_w16_device_filter). */
hil_kernel_status conv2d_a16_w16(const hil_conv_a16_params *params, const int8_t *out_shift,
                                 const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                 const int16_t *filter, const int32_t *bias, const hil_dims *output_dims, void *output);

/* depthwise_conv2d_s8 (same formula and layouts, zero padding) with int8 or int16 activations on either side, int8
 * weights; the clamp within the output's range. Exact for kh * kw <= 511 and any bias. */
hil_kernel_status depthwise_conv2d_a16(const hil_conv_a16_params *params, const int8_t *out_shift,
                                       const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                       const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                       void *output);

typedef struct {
    int32_t kernel_h;
    int32_t kernel_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t act_min;
    int32_t act_max;
} hil_pool_params;

/* Max pooling, input and output at one exponent: out[b,y,x,c] = clamp(max over the window's taps inside the
 * input of in[b, y*sh-ph+ky, x*sw-pw+kx, c]) (padding never wins, as PyTorch's -inf; a window must hold at
 * least one input tap). */
hil_kernel_status maxpool_s8(const hil_pool_params *params, const hil_dims *input_dims, const int8_t *input,
                             const hil_dims *output_dims, int8_t *output);

typedef struct {
    int32_t kernel_h;
    int32_t kernel_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t multiplier;  /* 0..2^16: 2^(shift + e_in - e_out) / (kernel_h * kernel_w), rounded */
    int32_t shift;       /* 0..62 */
    int32_t act_min;
    int32_t act_max;
} hil_avgpool_params;

/* Average pooling (padded taps count as zeros: count_include_pad), global average as a window of the whole map:
 *   out[b,y,x,c] = clamp(round_shift64((int64) sum_window in * multiplier, shift), act_min, act_max)
 * the window sum is exact in int32 (kernel_h * kernel_w <= 2^23). */
hil_kernel_status avgpool_s8(const hil_avgpool_params *params, const hil_dims *input_dims, const int8_t *input,
                             const hil_dims *output_dims, int8_t *output);

typedef struct {
    int32_t align_corners;  /* 0 (PyTorch's default: half-pixel centres) or 1 */
} hil_resize_bilinear_params;

/* Bilinear resize of an NHWC int8 map to output_dims' h x w, input and output at one exponent, with the sample
 * points of PyTorch's F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=...) in integers. Per
 * axis (in, out its sizes; d the output row or column):
 *   align_corners 0: num = max(0, (2*d + 1)*in - out), den = 2*out
 *   align_corners 1: num = d*(in - 1), den = out - 1          (out == 1: num = 0, den = 1)
 *   i0 = num / den, frac = num % den, i1 = min(i0 + 1, in - 1); weight den - frac on i0, frac on i1
 * acc = sum over the 4 taps of wy * wx * in[b, iy, ix, c], D = den_y * den_x:
 *   out[b,y,x,c] = clamp((acc >= 0 ? acc + D/2 : acc - D/2) / D, -128, 127)    (C's truncating division:
 * one rounding, halves away from zero). h and w 1..1024 in and out (D <= 2^22, |acc| <= 2^29), n and c >= 1 and the
 * same in and out. Not in place. */
hil_kernel_status resize_bilinear_s8(const hil_resize_bilinear_params *params, const hil_dims *input_dims,
                                     const int8_t *input, const hil_dims *output_dims, int8_t *output);

/* An element-wise int8 -> int8 function as a 256-entry table: out[i] = table[in[i] + 128]. The compiler fills
 * the table from the float function at the input's and output's exponents (ReLU, ReLU6, LeakyReLU, hardswish,
 * hardsigmoid, sigmoid, tanh, SiLU), so each output is the correctly rounded value of its input. count values. */
hil_kernel_status lut_s8(int32_t count, const int8_t *input, const int8_t *table, int8_t *output);

typedef struct {
    int32_t pos_shift;  /* 0..23: -e_slope, the positive side's exact left shift onto the slopes' grid */
    int32_t out_shift;  /* 0..31: e_out - e_in - e_slope */
    int32_t act_min;
    int32_t act_max;
} hil_prelu_params;

/* PReLU with a slope per channel (int16 at exponent e_slope), pixels x channels values (NHWC, or rows):
 *   out[p,c] = clamp(round_shift(in >= 0 ? in << pos_shift : in * slope[c], out_shift), act_min, act_max)
 * In place is allowed (each value is read before it is written). */
hil_kernel_status prelu_s8(const hil_prelu_params *params, int32_t pixels, int32_t channels, const int8_t *input,
                           const int16_t *slope, int8_t *output);

/* The params of scale_channels_s8 and scale_pixels_s8: a map times a runtime int8 gate. */
typedef struct {
    int32_t out_shift;  /* 0..31: e_out - e_in - e_scale */
    int32_t act_min;
    int32_t act_max;
} hil_scale_channels_params;

/* A map times a runtime vector with one int8 value per channel (the squeeze-and-excitation gate of MobileNetV3 /
 * EfficientNet), pixels x channels values (NHWC, or rows), scale at exponent e_scale:
 *   out[p,c] = clamp(round_shift(in[p,c] * scale[c], out_shift), act_min, act_max)
 * In place (output == input) is allowed (each value is read before it is written); scale must not overlap
 * output. */
hil_kernel_status scale_channels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
                                    const int8_t *input, const int8_t *scale, int8_t *output);

/* A map times a runtime gate with one int8 value per pixel, broadcast over its channels (CBAM's spatial attention,
 * x * sigmoid(conv(...)) with the gate [N, H, W, 1]), pixels x channels values (NHWC), scale at exponent e_scale:
 *   out[p,c] = clamp(round_shift(in[p,c] * scale[p], out_shift), act_min, act_max)
 * In place (output == input) is allowed (each value is read before it is written); scale must not overlap
 * output. */
hil_kernel_status scale_pixels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
                                  const int8_t *input, const int8_t *scale, int8_t *output);

typedef struct {
    int32_t out_frac_bits;  /* 0..14: the output is probability * 2^out_frac_bits */
    int32_t act_min;
    int32_t act_max;
} hil_softmax_params;

/* Softmax over the channels (last axis) of every pixel or row (dims.c values each, dims.c <= 32767).
 * exp_table[d] = round(2^16 * exp(-d * 2^e_in)) for d = 0..255 (exp_table[0] = 65536), filled by the compiler:
 *   m = max_c in[c];  t_c = exp_table[m - in[c]];  s = sum_c t_c                  (s < 2^31)
 *   out[c] = clamp(((int64) t_c << (out_frac_bits + 1)) + s) / (2 s), act_min, act_max)   (rounded, halves up) */
hil_kernel_status softmax_s8(const hil_softmax_params *params, const hil_dims *dims, const int8_t *input,
                             const int32_t *exp_table, int8_t *output);

typedef struct {
    int32_t ln2_steps;  /* round(2^16 * ln 2 / 2^e_in): ln 2 in input steps, Q16 */
    int32_t out_shift;  /* 0..15: e_out - e_in */
    int32_t act_min;
    int32_t act_max;
} hil_log_softmax_params;

/* Log-softmax over the channels (last axis) of every pixel or row (dims.c values each, dims.c 1..32767), input at
 * exponent e_in, output at e_in + out_shift. exp_table as softmax_s8's (exp_table[0] must be 65536, every entry
 * 0..65536); log_table[i] = round(2^16 * ln(1 + i/256) / 2^e_in) for i = 0..256; both filled by the compiler:
 *   m = max_c in[c];  S = sum_c exp_table[m - in[c]]                        (65536 <= S < 2^31)
 *   k = floor(log2 S) - 16 (0..14);  f16 = (S >> k) - 65536 (0..65535);  i = f16 >> 8;  j = f16 & 255
 *   L = k * ln2_steps + log_table[i] + (((log_table[i+1] - log_table[i]) * j) >> 8)   (int64: ln(S / 2^16) / 2^e_in
 *                                                                                        in Q16)
 *   out[c] = clamp(round_shift((in[c] - m) * 2^16 - L, 16 + out_shift), act_min, act_max)   (int64)
 * Not in place. */
hil_kernel_status log_softmax_s8(const hil_log_softmax_params *params, const hil_dims *dims, const int8_t *input,
                                 const int32_t *exp_table, const int32_t *log_table, int8_t *output);

#endif

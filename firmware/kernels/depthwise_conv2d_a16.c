/*
 * Depthwise convolution (channel multiplier 1) whose input and output activations are each int8 or int16 (an
 * MBConv's expanded and depthwise rows the bit-width search widened, hil/compiler/bit_widths.py); the weights stay
 * int8. Same formula and layouts as depthwise_conv2d_s8, zero padding. An output's taps sum in int32 (at most
 * 511 taps of products of at most 2^22: below 2^31), then join the bias in 64 bits, so any bias is exact; where every
 * bias is below 2^30 and the sums within 2^30 (at most 256 taps: the 3x3 layers of real models) in 32 bits
 * (hil_a16_requantize32).
 * Channels go in blocks of 4 (hil_nn_depthwise_taps4_s8 for an int8 input); with the DSP extension an int16 input
 * takes two word loads per tap, and SMLABB/SMLATB/SMLABT/SMLATT multiply each halfword by its channel's
 * sign-extended filter byte (SXTB16 of bytes 0,2 and 1,3). Where the outputs requantise in 32 bits and the channels
 * come in blocks of 4, a row's outputs go as spans (dw_a16_run_span), each pair of widths its own loop: as in
 * depthwise_conv2d_s8, a 3x3 layer's run of windows wholly inside the input with the taps unrolled, and each window
 * that padding cuts on its own; every other layer takes the general loop.
 */
#include "hil_kernels.h"

#define DEPTHWISE_A16_MAX_TAPS 511

#if defined(__ARM_FEATURE_DSP)
/* One tap of 4 channels of an int16 input: two word loads, each halfword times its channel's sign-extended filter
 * byte. */
static inline void tap4_s16(const int16_t *px, const int8_t *fw, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    const int32_t w = hil_nn_read32(fw), we = __sxtb16(w), wo = hil_nn_sxtb16_ror8(w);
    const int32_t x01 = hil_nn_read32(px), x23 = hil_nn_read32(px + 2);
    *a0 = __smlabb(x01, we, *a0);
    *a1 = __smlatb(x01, wo, *a1);
    *a2 = __smlabt(x23, we, *a2);
    *a3 = __smlatt(x23, wo, *a3);
}
#endif

/* hil_nn_depthwise_taps4_s8 over an int16 input (the strides in elements). */
static void taps4_s16(const int16_t *in, const int8_t *f, int32_t in_row, int32_t f_row, int32_t chans, int32_t rows,
                      int32_t cols, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t ky = 0; ky < rows; ++ky) {
        const int16_t *px = in + ky * in_row;
        const int8_t *fw = f + ky * f_row;
        for (int32_t kx = 0; kx < cols; ++kx) {
#if defined(__ARM_FEATURE_DSP)
            tap4_s16(px, fw, &a0, &a1, &a2, &a3);
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

#if defined(__ARM_FEATURE_DSP)
/* Outputs of one row of a layer whose channels come in blocks of 4 and whose biases and sums fit int32 (the caller's
 * narrow): count windows, the first's top left tap at input element first, step elements apart, written from output
 * element out on. whole: each a whole 3x3 window; else one window that padding cuts to rows x cols taps, from filter
 * element f_tap on. */
typedef struct {
    const void *input;
    void *output;
    const int8_t *filter;
    const int32_t *bias;
    const int8_t *shift;
    int32_t in_row, f_row, chans, lo, hi;
    int32_t first, step, count, out, whole, rows, cols, f_tap;
} dw_a16_span;

/* A span at constant widths and wholeness, inlined so each combination gets its own loop without their tests: in a
 * loop that tests them, and in the tap loops of a whole window, the tests and spilled registers cost more than the
 * multiplies. */
static inline __attribute__((always_inline)) void dw_a16_span_at(const dw_a16_span *s, int32_t in_bits,
                                                                  int32_t out_bits, int32_t whole)
{
    /* locals, not s's fields: an int8 store may alias s, which would reload every field after each one */
    const void *input = s->input;
    void *output = s->output;
    const int8_t *filter = s->filter, *shift = s->shift;
    const int32_t *bias = s->bias;
    const int32_t chans = s->chans, in_row = s->in_row, f_row = s->f_row, lo = s->lo, hi = s->hi;
    const int32_t step = s->step, count = s->count, rows = s->rows, cols = s->cols, f_tap = s->f_tap;
    int32_t first = s->first, out = s->out;
    for (int32_t n = 0; n < count; ++n, first += step, out += chans) {
        for (int32_t c = 0; c < chans; c += 4) {
            int32_t a0 = bias ? bias[c] : 0, a1 = bias ? bias[c + 1] : 0;
            int32_t a2 = bias ? bias[c + 2] : 0, a3 = bias ? bias[c + 3] : 0;
            const int8_t *f = filter + c;
            if (whole && in_bits == 16) {
                const int16_t *px = (const int16_t *)input + first + c;
                for (int32_t ky = 0; ky < 3; ++ky, px += in_row, f += 3 * chans) {
                    tap4_s16(px, f, &a0, &a1, &a2, &a3);
                    tap4_s16(px + chans, f + chans, &a0, &a1, &a2, &a3);
                    tap4_s16(px + 2 * chans, f + 2 * chans, &a0, &a1, &a2, &a3);
                }
            } else if (whole) {
                const int8_t *px = (const int8_t *)input + first + c;
                for (int32_t ky = 0; ky < 3; ++ky, px += in_row, f += 3 * chans) {
                    hil_nn_depthwise_tap4_s8(px, f, &a0, &a1, &a2, &a3);
                    hil_nn_depthwise_tap4_s8(px + chans, f + chans, &a0, &a1, &a2, &a3);
                    hil_nn_depthwise_tap4_s8(px + 2 * chans, f + 2 * chans, &a0, &a1, &a2, &a3);
                }
            } else {
                int32_t acc[4] = {a0, a1, a2, a3};
                if (in_bits == 16) {
                    taps4_s16((const int16_t *)input + first + c, f + f_tap, in_row, f_row, chans, rows,
                              cols, acc);
                } else {
                    hil_nn_depthwise_taps4_s8((const int8_t *)input + first + c, f + f_tap, in_row, f_row,
                                              chans, rows, cols, acc);
                }
                a0 = acc[0];
                a1 = acc[1];
                a2 = acc[2];
                a3 = acc[3];
            }
            hil_a16_requantize32(output, out + c, a0, shift[c], lo, hi, out_bits);
            hil_a16_requantize32(output, out + c + 1, a1, shift[c + 1], lo, hi, out_bits);
            hil_a16_requantize32(output, out + c + 2, a2, shift[c + 2], lo, hi, out_bits);
            hil_a16_requantize32(output, out + c + 3, a3, shift[c + 3], lo, hi, out_bits);
        }
    }
}

static inline __attribute__((always_inline)) void dw_a16_span_whole_at(const dw_a16_span *s, int32_t in_bits,
                                                                        int32_t out_bits)
{
    if (s->whole) {
        dw_a16_span_at(s, in_bits, out_bits, 1);
    } else {
        dw_a16_span_at(s, in_bits, out_bits, 0);
    }
}

static void __attribute__((noinline)) dw_a16_run_span(const dw_a16_span *s, int32_t in_bits, int32_t out_bits)
{
    if (in_bits == 16 && out_bits == 16) {
        dw_a16_span_whole_at(s, 16, 16);
    } else if (in_bits == 16) {
        dw_a16_span_whole_at(s, 16, 8);
    } else if (out_bits == 16) {
        dw_a16_span_whole_at(s, 8, 16);
    } else {
        dw_a16_span_whole_at(s, 8, 8);
    }
}
#endif

/* One channel's taps, either input width. */
static int32_t taps1(const void *input, int32_t in_bits, int32_t first, const int8_t *f, int32_t in_row, int32_t f_row,
                     int32_t chans, int32_t rows, int32_t cols)
{
    int32_t acc = 0;
    for (int32_t ky = 0; ky < rows; ++ky) {
        for (int32_t kx = 0; kx < cols; ++kx) {
            acc += hil_a16_load(input, first + ky * in_row + kx * chans, in_bits) * (int32_t)f[ky * f_row + kx * chans];
        }
    }
    return acc;
}

/* sum plus the channel's bias, requantised and stored as element i; narrow: the caller has proved that fits int32. */
static void store(const hil_conv_a16_params *params, const int32_t *bias, int32_t c, int32_t sum, int8_t shift,
                  void *output, int32_t i, int32_t narrow)
{
    const int32_t lo = params->act_min, hi = params->act_max, bits = params->out_bits;
    if (narrow) {
        hil_a16_requantize32(output, i, (bias ? bias[c] : 0) + sum, shift, lo, hi, bits);
    } else {
        hil_a16_requantize64(output, i, (bias ? (int64_t)bias[c] : 0) + sum, shift, lo, hi, bits);
    }
}

hil_kernel_status depthwise_conv2d_a16(const hil_conv_a16_params *params, const int8_t *out_shift,
                                       const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                       const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                       void *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        !hil_a16_width_valid(params->in_bits) || !hil_a16_width_valid(params->out_bits)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, chans = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w, ph = params->pad_h, pw = params->pad_w;
    if (filter_dims->n != 1 || filter_dims->c != chans || output_dims->c != chans || input_dims->n != output_dims->n ||
        chans < 1 || k_h < 1 || k_w < 1 || k_h * k_w > DEPTHWISE_A16_MAX_TAPS || sh < 1 || sw < 1 || ph < 0 ||
        pw < 0 || in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 ||
        !hil_a16_clamp_valid(params->act_min, params->act_max, params->out_bits) ||
        !hil_nn_shifts_valid(out_shift, chans)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_row = in_w * chans, f_row = k_w * chans;
    const int32_t narrow =
        (params->in_bits == 8 || k_h * k_w <= HIL_A16_NARROW_S16_MAX_N) && hil_a16_biases_narrow(bias, chans);
#if defined(__ARM_FEATURE_DSP)
    /* every output of a narrow layer whose channels come in blocks of 4 goes as a span (dw_a16_run_span) */
    const int32_t spans = narrow && chans % 4 == 0;
    dw_a16_span span = {input, output, filter, bias, out_shift, in_row, f_row, chans, params->act_min, params->act_max,
                        0, sw * chans, 0, 0, 0, 0, 0, 0};
#endif
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int32_t in_image = b * in_h * in_row;
        int32_t out = b * out_h * out_w * chans;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * sh - ph;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
#if defined(__ARM_FEATURE_DSP)
            int32_t run_lo, run_hi;
            hil_nn_depthwise_3x3_run(k_h, k_w, chans, ky0, ky1, in_w, out_w, sw, pw, &run_lo, &run_hi);
#endif
            for (int32_t ox = 0; ox < out_w; ++ox, out += chans) {
#if defined(__ARM_FEATURE_DSP)
                if (spans && ox == run_lo && run_lo < run_hi) {
                    span.first = in_image + (iy0 * in_w + ox * sw - pw) * chans;
                    span.count = run_hi - run_lo;
                    span.out = out;
                    span.whole = 1;
                    dw_a16_run_span(&span, params->in_bits, params->out_bits);
                    out += (span.count - 1) * chans;
                    ox = run_hi - 1;
                    continue;
                }
#endif
                const int32_t ix0 = ox * sw - pw;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
                /* an output entirely over padding has no taps: rows or cols <= 0, bias only */
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
                const int32_t taps = rows > 0 && cols > 0;
                const int32_t first = taps ? in_image + (iy0 + ky0) * in_row + (ix0 + kx0) * chans : 0;
                const int8_t *first_f = filter + (taps ? ky0 * f_row + kx0 * chans : 0);
#if defined(__ARM_FEATURE_DSP)
                if (spans) {
                    span.first = first;
                    span.count = 1;
                    span.out = out;
                    span.whole = 0;
                    span.rows = rows; /* no taps where rows or cols <= 0 */
                    span.cols = cols;
                    span.f_tap = (int32_t)(first_f - filter);
                    dw_a16_run_span(&span, params->in_bits, params->out_bits);
                    continue;
                }
#endif
                int32_t c = 0;
                for (; taps && c + 4 <= chans; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (params->in_bits == 16) {
                        taps4_s16((const int16_t *)input + first + c, first_f + c, in_row, f_row, chans, rows, cols,
                                  acc);
                    } else {
                        hil_nn_depthwise_taps4_s8((const int8_t *)input + first + c, first_f + c, in_row, f_row, chans,
                                                  rows, cols, acc);
                    }
                    for (int32_t j = 0; j < 4; ++j) {
                        store(params, bias, c + j, acc[j], out_shift[c + j], output, out + c + j, narrow);
                    }
                }
                for (; c < chans; ++c) {
                    const int32_t sum =
                        taps ? taps1(input, params->in_bits, first + c, first_f + c, in_row, f_row, chans, rows, cols)
                             : 0;
                    store(params, bias, c, sum, out_shift[c], output, out + c, narrow);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/* Convolution, int8 input and output, int16 weights (formula and bounds in hil_kernels.h). It serves stems: the face
 * models' (3x3, 1 input channel, 4 output channels) and RGB ones (3 input channels).
 *
 * One input channel: as in conv2d_s8, a 3x3 output pixel whose taps all lie inside the input loads its 9 values once
 * for every output channel, without per-tap bounds checks; other pixels take the generic loop (about 30
 * instructions per MAC there).
 *
 * More than one input channel: the generic loop's bounds checks and loads per tap and output channel cost ~14
 * instructions per MAC, so each output pixel first gathers its k_h * k_w * in_c taps into an int16 column (SXTB16
 * and two packs widen 4 bytes; pad_value for a tap outside the input, as the generic loop adds it), then meets every
 * output channel's filter row with SMLAD (two products an instruction), 4 output channels at a time so that each
 * column word is loaded once for four, then 2, then 1. An odd fan-in's last tap is one product. Same products, and
 * the int32 sums are exact (hil_kernels.h's bounds), so their order does not matter: the same bits as the twin.
 * RGB stem 3x3 s2 64x64x3->16: 13.96 instructions per MAC with the generic loop, 2.73 with columns (python -m
 * hil.kernels_ref.bench_ipm --only stem_rgb_w16). Wider unrolling, a noinline dot and an odd fan-in padded with a
 * neighbouring row's weight all measured slower: GCC spills the four filter pointers.
 *
 * The column path is a function of its own, not inlined, so its 512-byte column (784-byte frame, on top of this
 * function's 208) is on the stack only when in_c > 1: the 1-channel stem's stack stays what it was. */
#include "hil_kernels.h"

#define CONV2D_S8_W16_MAX_FAN_IN 256

/* One output pixel of a 1-channel 3x3 convolution, all taps inside the input (p: the top-left tap). */
static inline void conv3x3_c1_pixel(const int8_t *p, int32_t in_w, const int16_t *filter, const int32_t *bias,
                                    int32_t out_c, const hil_conv_params *params, const int8_t *out_shift,
                                    int8_t *out)
{
    const int32_t x0 = p[0], x1 = p[1], x2 = p[2];
    const int32_t x3 = p[in_w], x4 = p[in_w + 1], x5 = p[in_w + 2];
    const int32_t x6 = p[2 * in_w], x7 = p[2 * in_w + 1], x8 = p[2 * in_w + 2];
    for (int32_t oc = 0; oc < out_c; ++oc) {
        const int16_t *f = filter + oc * 9;
        int32_t acc = bias ? bias[oc] : 0;
        acc += x0 * f[0] + x1 * f[1] + x2 * f[2];
        acc += x3 * f[3] + x4 * f[4] + x5 * f[5];
        acc += x6 * f[6] + x7 * f[7] + x8 * f[8];
        out[oc] = hil_nn_requantize_s8(acc, out_shift[oc], params->act_min, params->act_max);
    }
}

/* 4 output channels of one pixel: their dot products with the n-value column col (filter rows f on, n values
 * apart), bias first (bias NULL: none), requantised into out[0..3]. */
static inline void quad_column(const int16_t *col, const int16_t *f, int32_t n, const int32_t *bias,
                               const int8_t *out_shift, const hil_conv_params *params, int8_t *out)
{
    const int16_t *f0 = f, *f1 = f + n, *f2 = f + 2 * n, *f3 = f + 3 * n;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, j = 0;
    if (bias) {
        a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    }
#if defined(__ARM_FEATURE_DSP)
    for (; j + 2 <= n; j += 2) {
        const int32_t c = hil_nn_read32(col + j);
        a0 = __smlad(hil_nn_read32(f0 + j), c, a0);
        a1 = __smlad(hil_nn_read32(f1 + j), c, a1);
        a2 = __smlad(hil_nn_read32(f2 + j), c, a2);
        a3 = __smlad(hil_nn_read32(f3 + j), c, a3);
    }
    if (j < n) {
        /* an odd fan-in's last tap: a word read would pass the filter's end on its last row */
        const int32_t c = col[j];
        a0 += c * f0[j];
        a1 += c * f1[j];
        a2 += c * f2[j];
        a3 += c * f3[j];
    }
#else
    for (; j < n; ++j) {
        a0 += (int32_t)col[j] * f0[j];
        a1 += (int32_t)col[j] * f1[j];
        a2 += (int32_t)col[j] * f2[j];
        a3 += (int32_t)col[j] * f3[j];
    }
#endif
    const int32_t lo = params->act_min, hi = params->act_max;
    out[0] = hil_nn_requantize_s8(a0, out_shift[0], lo, hi);
    out[1] = hil_nn_requantize_s8(a1, out_shift[1], lo, hi);
    out[2] = hil_nn_requantize_s8(a2, out_shift[2], lo, hi);
    out[3] = hil_nn_requantize_s8(a3, out_shift[3], lo, hi);
}

/* The same for the 2 output channels of rows f and f + n (out_c % 4 >= 2). */
static inline void pair_column(const int16_t *col, const int16_t *f, int32_t n, const int32_t *bias,
                               const int8_t *out_shift, const hil_conv_params *params, int8_t *out)
{
    const int16_t *f0 = f, *f1 = f + n;
    int32_t a0 = bias ? bias[0] : 0, a1 = bias ? bias[1] : 0, j = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; j + 2 <= n; j += 2) {
        const int32_t c = hil_nn_read32(col + j);
        a0 = __smlad(hil_nn_read32(f0 + j), c, a0);
        a1 = __smlad(hil_nn_read32(f1 + j), c, a1);
    }
#endif
    for (; j < n; ++j) {
        a0 += (int32_t)col[j] * f0[j];
        a1 += (int32_t)col[j] * f1[j];
    }
    out[0] = hil_nn_requantize_s8(a0, out_shift[0], params->act_min, params->act_max);
    out[1] = hil_nn_requantize_s8(a1, out_shift[1], params->act_min, params->act_max);
}

/* acc plus the dot product of the column with one filter row (an odd out_c's last channel). */
static inline int32_t dot1_column(const int16_t *col, const int16_t *f, int32_t n, int32_t acc)
{
    int32_t j = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; j + 2 <= n; j += 2) {
        acc = __smlad(hil_nn_read32(f + j), hil_nn_read32(col + j), acc);
    }
#endif
    for (; j < n; ++j) {
        acc += (int32_t)col[j] * f[j];
    }
    return acc;
}

static inline void fill_pad(int16_t *c, int32_t count, int16_t pad)
{
    for (int32_t i = 0; i < count; ++i) {
        c[i] = pad;
    }
}


/* dst[0..count) = src[0..count), widened to int16. */
static inline void widen_s8(const int8_t *src, int16_t *dst, int32_t count)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    /* a word at a time: SXTB16 gives bytes 0, 2 and (ROR #8) 1, 3 as halfword pairs; two packs put them in order */
    for (; i + 4 <= count; i += 4) {
        const int32_t w = hil_nn_read32(src + i);
        const int32_t even = __sxtb16(w), odd = hil_nn_sxtb16_ror8(w);
        const int32_t v01 = hil_nn_pack_halves((uint32_t)even, (uint32_t)odd), v23 = hil_nn_high_halves(odd, even);
        memcpy(dst + i, &v01, sizeof v01);
        memcpy(dst + i + 2, &v23, sizeof v23);
    }
    /* at most 3 left: no loop to set up */
    if (i + 2 <= count) {
        dst[i] = src[i];
        dst[i + 1] = src[i + 1];
        i += 2;
    }
    if (i < count) {
        dst[i] = src[i];
    }
#else
    for (; i < count; ++i) {
        dst[i] = src[i];
    }
#endif
}

/* The k_h * k_w * in_c taps of the output pixel whose top-left tap is (iy0, ix0), in the filter's order, as int16;
 * pad for taps outside the input. A row of taps wholly inside the input is k_w * in_c contiguous bytes. */
static inline void gather_column(const int8_t *in_image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t iy0,
                                 int32_t ix0, int32_t k_h, int32_t k_w, int16_t pad, int16_t *col)
{
    const int32_t row = k_w * in_c;
    const int whole_rows = ix0 >= 0 && ix0 + k_w <= in_w;
    if (whole_rows && iy0 >= 0 && iy0 + k_h <= in_h) {
        /* most pixels: k_h rows of k_w * in_c bytes, no tap outside the input */
        const int8_t *src = in_image + (iy0 * in_w + ix0) * in_c;
        for (int32_t ky = 0; ky < k_h; ++ky, src += in_w * in_c, col += row) {
            widen_s8(src, col, row);
        }
        return;
    }
    for (int32_t ky = 0; ky < k_h; ++ky, col += row) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= in_h) {
            fill_pad(col, row, pad);
        } else if (whole_rows) {
            widen_s8(in_image + (iy * in_w + ix0) * in_c, col, row);
        } else {
            for (int32_t kx = 0; kx < k_w; ++kx) {
                const int32_t ix = ix0 + kx;
                if (ix < 0 || ix >= in_w) {
                    fill_pad(col + kx * in_c, in_c, pad);
                } else {
                    widen_s8(in_image + (iy * in_w + ix) * in_c, col + kx * in_c, in_c);
                }
            }
        }
    }
}

/* The convolution for in_c > 1 (a column per output pixel, see the top of the file). */
static hil_kernel_status __attribute__((noinline))
conv_columns(const hil_conv_params *params, const int8_t *out_shift, const hil_dims *input_dims, const int8_t *input,
             const hil_dims *filter_dims, const int16_t *filter, const int32_t *bias, const hil_dims *output_dims,
             int8_t *output)
{
    int16_t col[CONV2D_S8_W16_MAX_FAN_IN] __attribute__((aligned(4)));
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, n = k_h * k_w * in_c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int16_t pad = (int16_t)params->pad_value;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox, out += out_c) {
                gather_column(in_image, in_h, in_w, in_c, iy0, ox * params->stride_w - params->pad_w, k_h, k_w, pad,
                              col);
                int32_t oc = 0;
                for (; oc + 4 <= out_c; oc += 4) {
                    quad_column(col, filter + oc * n, n, bias ? bias + oc : NULL, out_shift + oc, params, out + oc);
                }
                if (oc + 2 <= out_c) {
                    pair_column(col, filter + oc * n, n, bias ? bias + oc : NULL, out_shift + oc, params, out + oc);
                    oc += 2;
                }
                if (oc < out_c) {
                    const int32_t a = dot1_column(col, filter + oc * n, n, bias ? bias[oc] : 0);
                    out[oc] = hil_nn_requantize_s8(a, out_shift[oc], params->act_min, params->act_max);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

hil_kernel_status conv2d_s8_w16(const hil_conv_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                                const int8_t *input, const hil_dims *filter_dims, const int16_t *filter,
                                const int32_t *bias, const hil_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (!out_shift || filter_dims->c != in_c || filter_dims->n != out_c || params->stride_h < 1 ||
        params->stride_w < 1 || input_dims->n != output_dims->n || k_h < 1 || k_w < 1 ||
        k_h * k_w * in_c > CONV2D_S8_W16_MAX_FAN_IN || !hil_nn_shifts_valid(out_shift, out_c) ||
        params->pad_value < -128 || params->pad_value > 127) {
        return HIL_KERNEL_ARG_ERROR;
    }
    if (in_c > 1) {
        return conv_columns(params, out_shift, input_dims, input, filter_dims, filter, bias, output_dims, output);
    }
    const int stem = in_c == 1 && k_h == 3 && k_w == 3;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_image = input + b * in_h * in_w * in_c;
        int8_t *out_image = output + b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                if (stem && iy0 >= 0 && iy0 + 3 <= in_h && ix0 >= 0 && ix0 + 3 <= in_w) {
                    conv3x3_c1_pixel(in_image + iy0 * in_w + ix0, in_w, filter, bias, out_c, params, out_shift,
                                     out_image + (oy * out_w + ox) * out_c);
                    continue;
                }
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int16_t *f = filter + oc * k_h * k_w * in_c;
                    int32_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = iy0 + ky;
                        for (int32_t kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = ix0 + kx;
                            const int16_t *fw = f + (ky * k_w + kx) * in_c;
                            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                                for (int32_t ic = 0; ic < in_c; ++ic) {
                                    acc += params->pad_value * (int32_t)fw[ic];
                                }
                                continue;
                            }
                            const int8_t *px = in_image + (iy * in_w + ix) * in_c;
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                acc += (int32_t)px[ic] * (int32_t)fw[ic];
                            }
                        }
                    }
                    out_image[(oy * out_w + ox) * out_c + oc] =
                        hil_nn_requantize_s8(acc, out_shift[oc], params->act_min, params->act_max);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

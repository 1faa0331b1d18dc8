/*
 * Convolution whose input and output activations are each int8 or int16 (the bit-width search's wide tensors,
 * hil/compiler/bit_widths.py); the weights stay int8. Same formula as conv2d_s8. The sums are 64-bit for either
 * input width (SMLAL on the M4 costs as MLA): one loop, exact for any fan-in up to 65536. An int8 input (a head
 * whose scores are int16) sums each tap's channels as one hil_nn_dot_s8 (SMLAD): at most 65536 products of 2^14,
 * so the tap's int32 sum is exact before it joins the 64-bit one; an int16 input with fewer than 512 channels sums
 * each tap as one hil_nn_dot_s16_s8 (SMLAxy, products of at most 2^22). Where two neighbouring output pixels have
 * all their taps inside the input (int8, or int16 with fewer than 512 values in the window: an MBConv's expansion of
 * a widened map), they are computed together for two output channels at a time, as conv2d_s8 does
 * (hil_nn_dot_2x2_s8, hil_nn_dot_2x2_s16_s8): the whole window's int32 sum (at most 2^30, or 2^31 - 1) then joins
 * the 64-bit bias, or, where every bias is below 2^30 and that sum within 2^30 (int8, or int16 of at most 256 values a
 * window), is requantised in 32 bits with the same result (hil_a16_requantize32: a quarter of the 64-bit shift's
 * instructions). An int16 input whose channels come in 4s reads a paired filter (paired_index) with SMLAD.
 */
#include "hil_kernels.h"

#define DOT_S16_MAX_N 512 /* a tap of fewer int16 channels sums exactly in int32 (hil_nn_dot_s16_s8) */

static void store_a16(const hil_conv_a16_params *params, int64_t acc, int8_t shift, void *output, int32_t i)
{
    hil_a16_requantize64(output, i, acc, shift, params->act_min, params->act_max, params->out_bits);
}

/* Where a tap's filter bytes of input channel i lie when an int16 input's channels come in 4s (paired): each 4 are
 * stored 0, 2, 1, 3 (hil/kernels_ref/conv_a16.py, conv_a16_device_filter), so SXTB16 of a filter word gives the
 * halfword pairs 0,1 and 2,3, the pairs two words of int16 input hold, and SMLAD takes two products at once where
 * the filter's own order needs four SMLAxy. */
static inline int32_t paired_index(int32_t i)
{
    return (i & ~3) | ((i & 1) << 1) | ((i >> 1) & 1);
}

/* 1 when the layer's filter is paired: an int16 input of in_c channels, a multiple of 4 (conv_a16_filter_paired in
 * hil/kernels_ref/conv_a16.py, which lays the filter out). */
static inline int32_t filter_paired(const hil_conv_a16_params *params, int32_t in_c)
{
    return params->in_bits == 16 && in_c % 4 == 0;
}

/* hil_nn_dot_2x2_s16_s8 over a paired filter (n a multiple of 4). Not inlined: inlined, its registers cost
 * pixel_pair's other widths' loops more than the call. */
static void __attribute__((noinline)) dot_2x2_s16_paired(const int16_t *x0, const int16_t *x1, const int8_t *f0,
                                                         const int8_t *f1, int32_t n, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (int32_t i = 0; i < n; i += 4) {
#if defined(__ARM_FEATURE_DSP)
        const int32_t wf0 = hil_nn_read32(f0 + i), wf1 = hil_nn_read32(f1 + i);
        const int32_t f0lo = __sxtb16(wf0), f0hi = hil_nn_sxtb16_ror8(wf0);
        const int32_t f1lo = __sxtb16(wf1), f1hi = hil_nn_sxtb16_ror8(wf1);
        const int32_t p01 = hil_nn_read32(x0 + i), p23 = hil_nn_read32(x0 + i + 2);
        a00 = __smlad(p23, f0hi, __smlad(p01, f0lo, a00));
        a01 = __smlad(p23, f1hi, __smlad(p01, f1lo, a01));
        const int32_t q01 = hil_nn_read32(x1 + i), q23 = hil_nn_read32(x1 + i + 2);
        a10 = __smlad(q23, f0hi, __smlad(q01, f0lo, a10));
        a11 = __smlad(q23, f1hi, __smlad(q01, f1lo, a11));
#else
        for (int32_t j = i; j < i + 4; ++j) {
            const int32_t k = paired_index(j);
            a00 += (int32_t)x0[j] * f0[k];
            a01 += (int32_t)x0[j] * f1[k];
            a10 += (int32_t)x1[j] * f0[k];
            a11 += (int32_t)x1[j] * f1[k];
        }
#endif
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* hil_nn_dot_s16_s8 over a paired filter (n a multiple of 4). */
static inline int32_t dot_s16_paired(const int16_t *x, const int8_t *f, int32_t n, int32_t acc)
{
    for (int32_t i = 0; i < n; i += 4) {
#if defined(__ARM_FEATURE_DSP)
        const int32_t wf = hil_nn_read32(f + i);
        acc = __smlad(hil_nn_read32(x + i), __sxtb16(wf), acc);
        acc = __smlad(hil_nn_read32(x + i + 2), hil_nn_sxtb16_ror8(wf), acc);
#else
        for (int32_t j = i; j < i + 4; ++j) {
            acc += (int32_t)x[j] * f[paired_index(j)];
        }
#endif
    }
    return acc;
}

/* acc += the 2x2 dot products of n channels at elements i0 and i1 of x (int8 or int16: in_bits) with f0 and f1
 * (paired: an int16 input's paired filter). Inlined, as it was before the paired loop made it too large for GCC
 * to inline by itself: a call per tap row cost the int8 layers about 0.25 instructions per MAC. */
static inline __attribute__((always_inline)) void dot_2x2(int32_t in_bits, int32_t paired, const void *x, int32_t i0,
                                                          int32_t i1, const int8_t *f0, const int8_t *f1, int32_t n,
                                                          int32_t *acc)
{
    if (in_bits == 8) {
        hil_nn_dot_2x2_s8((const int8_t *)x + i0, (const int8_t *)x + i1, f0, f1, n, acc);
    } else if (paired) {
        dot_2x2_s16_paired((const int16_t *)x + i0, (const int16_t *)x + i1, f0, f1, n, acc);
    } else {
        hil_nn_dot_2x2_s16_s8((const int16_t *)x + i0, (const int16_t *)x + i1, f0, f1, n, acc);
    }
}

/* Output pixels (oy, ox) and (oy, ox + 1), every tap of both inside the input x (first: the element index of the
 * first pixel's top-left tap), output channels in pairs; an odd last channel goes through dot_2x2 with its filter
 * twice. The window's sums are int32: exact for an int8 input (at most 2^30), and for an int16 one when the caller
 * keeps the fan-in below DOT_S16_MAX_N. narrow: the caller has proved bias plus sum fits int32 (every bias below 2^30,
 * the window's sum within 2^30), so they are requantised in 32 bits. out: the first pixel's index in the output. */
static void pixel_pair(const hil_conv_a16_params *params, const int8_t *out_shift, const void *x, int32_t first,
                       int32_t in_w, int32_t in_c, const int8_t *filter, int32_t k_h, int32_t k_w,
                       const int32_t *bias, int32_t out_c, void *output, int32_t out, int32_t narrow)
{
    const int32_t dx = params->stride_w * in_c, taps = k_h * k_w * in_c;
    const int32_t paired = filter_paired(params, in_c);
    for (int32_t oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
        const int8_t *f0 = filter + oc * taps, *f1 = filter + oc1 * taps;
        int32_t acc[4] = {0, 0, 0, 0};
        for (int32_t ky = 0; ky < k_h; ++ky) {
            const int32_t row = first + ky * in_w * in_c;
            if (params->stride_w == 1) { /* a tap row is k_w * in_c contiguous elements for both pixels */
                dot_2x2(params->in_bits, paired, x, row, row + dx, f0 + ky * k_w * in_c, f1 + ky * k_w * in_c,
                        k_w * in_c, acc);
                continue;
            }
            for (int32_t kx = 0; kx < k_w; ++kx) {
                const int32_t tap = (ky * k_w + kx) * in_c;
                dot_2x2(params->in_bits, paired, x, row + kx * in_c, row + kx * in_c + dx, f0 + tap, f1 + tap, in_c,
                        acc);
            }
        }
        /* Two copies of the four stores, not one store testing narrow per value: that test cost the M4 0.9 M and the
         * QVGA 1.7 M instructions (python -m hil.bench.profile), which pass the QVGA's latency budget over UART. */
        if (narrow) {
            const int32_t b0 = bias ? bias[oc] : 0, b1 = bias ? bias[oc1] : 0;
            const int32_t lo = params->act_min, hi = params->act_max, bits = params->out_bits;
            hil_a16_requantize32(output, out + oc, b0 + acc[0], out_shift[oc], lo, hi, bits);
            hil_a16_requantize32(output, out + out_c + oc, b0 + acc[2], out_shift[oc], lo, hi, bits);
            if (oc1 != oc) {
                hil_a16_requantize32(output, out + oc1, b1 + acc[1], out_shift[oc1], lo, hi, bits);
                hil_a16_requantize32(output, out + out_c + oc1, b1 + acc[3], out_shift[oc1], lo, hi, bits);
            }
            continue;
        }
        const int64_t b0 = bias ? bias[oc] : 0, b1 = bias ? bias[oc1] : 0;
        store_a16(params, b0 + acc[0], out_shift[oc], output, out + oc);
        store_a16(params, b0 + acc[2], out_shift[oc], output, out + out_c + oc);
        if (oc1 != oc) {
            store_a16(params, b1 + acc[1], out_shift[oc1], output, out + oc1);
            store_a16(params, b1 + acc[3], out_shift[oc1], output, out + out_c + oc1);
        }
    }
}

hil_kernel_status conv2d_a16(const hil_conv_a16_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                             const void *input, const hil_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const hil_dims *output_dims, void *output)
{
    if (!hil_conv_a16_args_valid(params, out_shift, input_dims, input, filter_dims, filter, output_dims, output)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t narrow = (params->in_bits == 8 || k_h * k_w * in_c <= HIL_A16_NARROW_S16_MAX_N) &&
                           hil_a16_biases_narrow(bias, out_c);
    const int32_t paired = filter_paired(params, in_c);
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int32_t in_base = b * in_h * in_w * in_c;
        const int32_t out_base = b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                if ((params->in_bits == 8 || k_h * k_w * in_c < DOT_S16_MAX_N) && ox + 1 < out_w && iy0 >= 0 &&
                    iy0 + k_h <= in_h && ix0 >= 0 && ix0 + params->stride_w + k_w <= in_w) {
                    pixel_pair(params, out_shift, input, in_base + (iy0 * in_w + ix0) * in_c, in_w, in_c, filter,
                               k_h, k_w, bias, out_c, output, out_base + (oy * out_w + ox) * out_c, narrow);
                    ++ox;
                    continue;
                }
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + oc * k_h * k_w * in_c;
                    int64_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = iy0 + ky;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = ix0 + kx;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            const int32_t px = in_base + (iy * in_w + ix) * in_c;
                            const int8_t *fw = f + (ky * k_w + kx) * in_c;
                            if (params->in_bits == 8) {
                                acc += hil_nn_dot_s8((const int8_t *)input + px, fw, in_c, 0);
                                continue;
                            }
                            if (in_c < DOT_S16_MAX_N) {
                                acc += paired ? dot_s16_paired((const int16_t *)input + px, fw, in_c, 0)
                                              : hil_nn_dot_s16_s8((const int16_t *)input + px, fw, in_c, 0);
                                continue;
                            }
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                const int32_t at = paired ? paired_index(ic) : ic;
                                acc += hil_a16_load(input, px + ic, params->in_bits) * (int32_t)fw[at];
                            }
                        }
                    }
                    store_a16(params, acc, out_shift[oc], output, out_base + (oy * out_w + ox) * out_c + oc);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * conv2d_a16 with int16 weights: a convolution whose input and output activations are each int8 or int16 and whose
 * weights are int16, for a layer whose int8 weights cap the model's output SNR (the face models' first MBConv
 * expansion multiplies RNNPool's centred output by BatchNorm gains of ~100: hil/compiler/bit_widths.py may choose its
 * weights' width). Products reach 2^30, so the sums are 64-bit, exact for any fan-in up to 65536 and any bias. An
 * int16 input sums each tap's channels in pairs with SMLALD (two 16x16 products into 64 bits); an int8 input whose
 * channels come in 4s reads a paired filter (dot_1x2_s8) with SMLAD. Both go two output channels at a time, so each
 * input word is loaded once for both, and a 1x1 convolution (an expansion or a projection) skips the tap loops. On
 * the first MBConv expansion's shape: 2.89 instructions per MAC reading int16, 2.76 reading int8 (python -m
 * hil.kernels_ref.bench_ipm --only expand_w16 expand_w16_8; pointwise_conv2d_s8 takes 1.91, --only pointwise). Two
 * pixels at a time would load each filter word once for both, but their eight accumulator registers spill.
 */
#include "hil_kernels.h"

#define DOT_S8_MAX_N 512 /* an int8 tap of fewer channels sums exactly in int32 (products of at most 2^22) */

/* Where channel i's weight lies in a paired filter (each 4 stored 0, 2, 1, 3). */
static inline int32_t paired_index(int32_t i)
{
    return (i & ~3) | ((i & 1) << 1) | ((i >> 1) & 1);
}

/* acc0 and acc1 plus the dot products of n int16 values x with the int16 filters f0 and f1. Not inlined: inside the
 * kernel's loops its four accumulator registers spill to the stack (4 instructions per pair of MACs where alone it
 * takes 3). */
static void __attribute__((noinline)) dot_1x2_s16(const int16_t *x, const int16_t *f0, const int16_t *f1, int32_t n,
                                                  int64_t *acc0, int64_t *acc1)
{
    int64_t a0 = *acc0, a1 = *acc1;
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 2 <= n; i += 2) {
        const int32_t xi = hil_nn_read32(x + i);
        a0 = __smlald(xi, hil_nn_read32(f0 + i), a0);
        a1 = __smlald(xi, hil_nn_read32(f1 + i), a1);
    }
#endif
    for (; i < n; ++i) {
        a0 += (int32_t)x[i] * f0[i];
        a1 += (int32_t)x[i] * f1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* The same for n int8 values; paired: the filters' channels are stored 0, 2, 1, 3 in every 4 (n a multiple of 4,
 * conv_a16_w16_device_filter in hil/kernels_ref/conv_a16.py), so SXTB16 of a word of input (channels 0,2 and 1,3)
 * meets two filter words in its own order and SMLAD takes two products at once. Products of an int8 value and an
 * int16 weight are at most 2^22, so fewer than 512 of them sum exactly in int32 before joining the 64-bit sums. Not
 * inlined, for the same reason. */
static void __attribute__((noinline)) dot_1x2_s8(const int8_t *x, const int16_t *f0, const int16_t *f1, int32_t n,
                                                 int32_t paired, int64_t *acc0, int64_t *acc1)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    if (paired && n < DOT_S8_MAX_N) {
        int32_t s0 = 0, s1 = 0;
        for (; i < n; i += 4) {
            const int32_t w = hil_nn_read32(x + i);
            const int32_t x02 = __sxtb16(w), x13 = hil_nn_sxtb16_ror8(w);
            s0 = __smlad(x13, hil_nn_read32(f0 + i + 2), __smlad(x02, hil_nn_read32(f0 + i), s0));
            s1 = __smlad(x13, hil_nn_read32(f1 + i + 2), __smlad(x02, hil_nn_read32(f1 + i), s1));
        }
        *acc0 += s0;
        *acc1 += s1;
        return;
    }
#endif
    int64_t a0 = *acc0, a1 = *acc1;
    for (; i < n; ++i) {
        const int32_t k = paired ? paired_index(i) : i;
        a0 += (int32_t)x[i] * f0[k];
        a1 += (int32_t)x[i] * f1[k];
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* acc0 and acc1 plus the dot products of n input values at element i of x (int8 or int16: in_bits) with f0 and f1
 * (paired: an int8 input's paired filter). */
static inline void dot_1x2(int32_t in_bits, const void *x, int32_t i, const int16_t *f0, const int16_t *f1,
                           int32_t n, int32_t paired, int64_t *acc0, int64_t *acc1)
{
    if (in_bits == 16) {
        dot_1x2_s16((const int16_t *)x + i, f0, f1, n, acc0, acc1);
    } else {
        dot_1x2_s8((const int8_t *)x + i, f0, f1, n, paired, acc0, acc1);
    }
}

/* Output channels oc and oc1 (oc itself for an odd last channel, stored once) of the pixel at element out, clamped to
 * [lo, hi] at bits. */
static inline void store_1x2(const int8_t *out_shift, int64_t acc0, int64_t acc1, int32_t oc, int32_t oc1, int32_t lo,
                             int32_t hi, int32_t bits, void *output, int32_t out)
{
    hil_a16_requantize64(output, out + oc, acc0, out_shift[oc], lo, hi, bits);
    if (oc1 != oc) {
        hil_a16_requantize64(output, out + oc1, acc1, out_shift[oc1], lo, hi, bits);
    }
}

/* A 1x1, stride-1, unpadded convolution (an MBConv's expansion or projection) of n pixels. */
static void pointwise(const hil_conv_a16_params *params, const int8_t *out_shift, const void *x, int32_t n,
                      int32_t in_c, const int16_t *filter, const int32_t *bias, int32_t out_c, void *output)
{
    const int32_t lo = params->act_min, hi = params->act_max, bits = params->out_bits;
    for (int32_t p = 0; p < n; ++p) {
        for (int32_t oc = 0; oc < out_c; oc += 2) {
            const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
            int64_t acc0 = bias ? bias[oc] : 0, acc1 = bias ? bias[oc1] : 0;
            dot_1x2(params->in_bits, x, p * in_c, filter + oc * in_c, filter + oc1 * in_c, in_c, in_c % 4 == 0, &acc0,
                    &acc1);
            store_1x2(out_shift, acc0, acc1, oc, oc1, lo, hi, bits, output, p * out_c);
        }
    }
}

hil_kernel_status conv2d_a16_w16(const hil_conv_a16_params *params, const int8_t *out_shift,
                                 const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                 const int16_t *filter, const int32_t *bias, const hil_dims *output_dims, void *output)
{
    if (!hil_conv_a16_args_valid(params, out_shift, input_dims, input, filter_dims, filter, output_dims, output)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (k_h == 1 && k_w == 1 && params->stride_h == 1 && params->stride_w == 1 && params->pad_h == 0 &&
        params->pad_w == 0 && in_h == out_h && in_w == out_w) {
        pointwise(params, out_shift, input, input_dims->n * in_h * in_w, in_c, filter, bias, out_c, output);
        return HIL_KERNEL_OK;
    }
    const int32_t taps = k_h * k_w * in_c, paired = in_c % 4 == 0;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int32_t in_base = b * in_h * in_w * in_c;
        const int32_t out_base = b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                const int32_t out = out_base + (oy * out_w + ox) * out_c;
                for (int32_t oc = 0; oc < out_c; oc += 2) {
                    const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
                    const int16_t *f0 = filter + oc * taps, *f1 = filter + oc1 * taps;
                    int64_t acc0 = bias ? bias[oc] : 0, acc1 = bias ? bias[oc1] : 0;
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
                            const int32_t px = in_base + (iy * in_w + ix) * in_c, tap = (ky * k_w + kx) * in_c;
                            dot_1x2(params->in_bits, input, px, f0 + tap, f1 + tap, in_c, paired, &acc0, &acc1);
                        }
                    }
                    store_1x2(out_shift, acc0, acc1, oc, oc1, params->act_min, params->act_max, params->out_bits,
                              output, out);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * Reference int8 convolution: any kernel size, stride and zero padding.
 * Fast path for the face models' stem (one input channel, 3x3): for an output pixel whose taps all lie inside
 * the input, the 9 input values are loaded once and reused for every output channel, with no per-tap bounds
 * checks. It adds the same products into the same int32 accumulator, so the result is the same bits.
 * Each tap's input channels are one hil_nn_dot_s8 (SMLAD with the DSP extension): the face models' heads read
 * 32-128 channels per tap. Where two neighbouring output pixels have all their taps inside the input, they are
 * computed together for two output channels at a time (as CMSIS-NN blocks its im2col columns): each input and
 * filter word is loaded and sign-extended once for two products, so the heads' few outputs per pixel no longer
 * pay the unpacking once per output. Same products, same int32 sums: the same bits.
 */
#include "hil_kernels.h"

/* One output pixel of a 1-channel 3x3 convolution, all taps inside the input (p: the top-left tap). */
static inline void conv3x3_c1_pixel(const int8_t *p, int32_t in_w, const int8_t *filter, const int32_t *bias,
                                    int32_t out_c, const hil_conv_params *params, const int8_t *out_shift,
                                    int8_t *out)
{
    const int32_t x0 = p[0], x1 = p[1], x2 = p[2];
    const int32_t x3 = p[in_w], x4 = p[in_w + 1], x5 = p[in_w + 2];
    const int32_t x6 = p[2 * in_w], x7 = p[2 * in_w + 1], x8 = p[2 * in_w + 2];
    for (int32_t oc = 0; oc < out_c; ++oc) {
        const int8_t *f = filter + oc * 9;
        int32_t acc = bias ? bias[oc] : 0;
        acc += x0 * f[0] + x1 * f[1] + x2 * f[2];
        acc += x3 * f[3] + x4 * f[4] + x5 * f[5];
        acc += x6 * f[6] + x7 * f[7] + x8 * f[8];
        out[oc] = hil_nn_requantize_s8(acc, out_shift[oc], params->act_min, params->act_max);
    }
}

/* Output pixels (oy, ox) and (oy, ox + 1), every tap of both inside the input, output channels in pairs; an odd
 * last channel goes through hil_nn_dot_2x2_s8 with its filter twice. */
static void conv_pixel_pair(const hil_conv_params *params, const int8_t *out_shift, const int8_t *in_image,
                            int32_t in_w, int32_t in_c, int32_t iy0, int32_t ix0, const int8_t *filter, int32_t k_h,
                            int32_t k_w, const int32_t *bias, int32_t out_c, int8_t *out)
{
    const int32_t dx = params->stride_w * in_c, taps = k_h * k_w * in_c;
    for (int32_t oc = 0; oc < out_c; oc += 2) {
        const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
        const int8_t *f0 = filter + oc * taps, *f1 = filter + oc1 * taps;
        int32_t acc[4] = {bias ? bias[oc] : 0, bias ? bias[oc1] : 0, 0, 0};
        acc[2] = acc[0];
        acc[3] = acc[1];
        for (int32_t ky = 0; ky < k_h; ++ky) {
            const int8_t *x = in_image + ((iy0 + ky) * in_w + ix0) * in_c;
            const int32_t row = ky * k_w * in_c;
            if (params->stride_w == 1) {
                /* stride 1: a tap row is k_w * in_c contiguous bytes for both pixels */
                hil_nn_dot_2x2_s8(x, x + dx, f0 + row, f1 + row, k_w * in_c, acc);
                continue;
            }
            for (int32_t kx = 0; kx < k_w; ++kx) {
                const int32_t tap = row + kx * in_c;
                hil_nn_dot_2x2_s8(x + kx * in_c, x + kx * in_c + dx, f0 + tap, f1 + tap, in_c, acc);
            }
        }
        const int32_t lo = params->act_min, hi = params->act_max;
        out[oc] = hil_nn_requantize_s8(acc[0], out_shift[oc], lo, hi);
        out[out_c + oc] = hil_nn_requantize_s8(acc[2], out_shift[oc], lo, hi);
        if (oc1 != oc) {
            out[oc1] = hil_nn_requantize_s8(acc[1], out_shift[oc1], lo, hi);
            out[out_c + oc1] = hil_nn_requantize_s8(acc[3], out_shift[oc1], lo, hi);
        }
    }
}

hil_kernel_status conv2d_s8(const hil_conv_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                            const int8_t *input, const hil_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias, const hil_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (!out_shift || filter_dims->c != in_c || filter_dims->n != out_c || params->stride_h < 1 ||
        params->stride_w < 1 || input_dims->n != output_dims->n || !hil_nn_shifts_valid(out_shift, out_c) ||
        params->pad_value != 0) {
        return HIL_KERNEL_ARG_ERROR;
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
                if (!stem && ox + 1 < out_w && iy0 >= 0 && iy0 + k_h <= in_h && ix0 >= 0 &&
                    ix0 + params->stride_w + k_w <= in_w) {
                    conv_pixel_pair(params, out_shift, in_image, in_w, in_c, iy0, ix0, filter, k_h, k_w, bias, out_c,
                                    out_image + (oy * out_w + ox) * out_c);
                    ++ox;
                    continue;
                }
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + oc * k_h * k_w * in_c;
                    int32_t acc = bias ? bias[oc] : 0;
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
                            acc = hil_nn_dot_s8(in_image + (iy * in_w + ix) * in_c, f + (ky * k_w + kx) * in_c,
                                                in_c, acc);
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

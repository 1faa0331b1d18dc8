/* Convolution, int8 input and output, int16 weights (formula and bounds in hil_kernels.h). It serves small
 * layers (the face models' stem: 9 taps, 4 channels). As in conv2d_s8, a 1-input-channel 3x3 output pixel whose
 * taps all lie inside the input loads its 9 values once for every output channel, without per-tap bounds checks
 * (the generic loop costs about 30 instructions per MAC there); same products, same int32 sum, same bits. */
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

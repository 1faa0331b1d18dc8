/* Reference int8 convolution: any kernel size, stride and zero padding. */
#include "hil_kernels.h"

hil_kernel_status conv2d_s8(const hil_conv_params *params, const hil_dims *input_dims, const int8_t *input,
                            const hil_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const hil_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (filter_dims->c != in_c || filter_dims->n != out_c || params->stride_h < 1 || params->stride_w < 1 ||
        input_dims->n != output_dims->n) {
        return HIL_KERNEL_ARG_ERROR;
    }

    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_image = input + b * in_h * in_w * in_c;
        int8_t *out_image = output + b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
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
                            const int8_t *px = in_image + (iy * in_w + ix) * in_c;
                            const int8_t *fw = f + (ky * k_w + kx) * in_c;
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                acc += (int32_t)px[ic] * (int32_t)fw[ic];
                            }
                        }
                    }
                    int32_t v = hil_clamp(hil_round_shift(acc, params->out_shift), params->act_min, params->act_max);
                    out_image[(oy * out_w + ox) * out_c + oc] = (int8_t)v;
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * Convolution with groups and dilation: the convolutions conv2d_s8 (groups 1, no dilation) and
 * depthwise_conv2d_s8 (one filter per channel) do not cover, e.g. ResNeXt-style grouped 3x3s, depthwise with a
 * channel multiplier, atrous (dilated) convolutions. Each tap's group channels are contiguous in both the NHWC
 * input and the OHWI filter, so a tap is one hil_nn_dot_s8 (SMLAD with the DSP extension when a group has 4 or
 * more channels). Exact int32 sums by the bounds in hil_kernels.h, so both paths give the same bits.
 */
#include "hil_kernels.h"

static int valid(const hil_grouped_conv_params *p, const hil_dims *in, const hil_dims *f, const hil_dims *out,
                 const int8_t *out_shift)
{
    if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 || p->groups < 1 ||
        p->pad_h < 0 || p->pad_w < 0 || in->n != out->n || in->c % p->groups != 0 || out->c % p->groups != 0 ||
        f->n != out->c || f->c * p->groups != in->c || f->h < 1 || f->w < 1 ||
        (int64_t)f->h * f->w * f->c > 65536) {
        return 0;
    }
    return hil_nn_shifts_valid(out_shift, out->c);
}

hil_kernel_status grouped_conv2d_s8(const hil_grouped_conv_params *params, const int8_t *out_shift,
                                    const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                    const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                    int8_t *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        !valid(params, input_dims, filter_dims, output_dims, out_shift)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, group_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t per_group = out_c / params->groups;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out_image = output + b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                int8_t *out = out_image + (oy * out_w + ox) * out_c;
                /* every tap inside the input: no per-tap bounds checks (most pixels of a map) */
                const int inside = iy0 >= 0 && iy0 + (k_h - 1) * params->dilation_h < in_h && ix0 >= 0 &&
                                   ix0 + (k_w - 1) * params->dilation_w < in_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + oc * k_h * k_w * group_c;
                    const int8_t *base = image + (oc / per_group) * group_c;
                    int32_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = iy0 + ky * params->dilation_h;
                        if (!inside && (iy < 0 || iy >= in_h)) {
                            continue;
                        }
                        const int8_t *row = base + iy * in_w * in_c;
                        const int8_t *taps = f + ky * k_w * group_c;
                        for (int32_t kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = ix0 + kx * params->dilation_w;
                            if (!inside && (ix < 0 || ix >= in_w)) {
                                continue;
                            }
                            acc = hil_nn_dot_s8(row + ix * in_c, taps + kx * group_c, group_c, acc);
                        }
                    }
                    out[oc] = hil_nn_requantize_s8(acc, out_shift[oc], params->act_min, params->act_max);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

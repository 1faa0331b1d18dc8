/*
 * Convolution whose input and output activations are each int8 or int16 (the bit-width search's wide tensors,
 * hil/compiler/bit_widths.py); the weights stay int8. Same formula as conv2d_s8. The sums are 64-bit for either
 * input width (SMLAL on the M4 costs as MLA): one loop, exact for any fan-in up to 65536. An int8 input (a head
 * whose scores are int16) sums each tap's channels as one hil_nn_dot_s8 (SMLAD): at most 65536 products of 2^14,
 * so the tap's int32 sum is exact before it joins the 64-bit one.
 */
#include "hil_kernels.h"

#define CONV2D_A16_MAX_FAN_IN 65536

hil_kernel_status conv2d_a16(const hil_conv_a16_params *params, const int8_t *out_shift, const hil_dims *input_dims,
                             const void *input, const hil_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const hil_dims *output_dims, void *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        !hil_a16_width_valid(params->in_bits) || !hil_a16_width_valid(params->out_bits)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t top = (1 << (params->out_bits - 1)) - 1;
    const int32_t lo = params->act_min, hi = params->act_max;
    if (filter_dims->c != in_c || filter_dims->n != out_c || params->stride_h < 1 || params->stride_w < 1 ||
        input_dims->n != output_dims->n || k_h < 1 || k_w < 1 || k_h * k_w * in_c > CONV2D_A16_MAX_FAN_IN ||
        lo < -top - 1 || hi > top || lo > hi || !hil_nn_shifts_valid(out_shift, out_c)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int32_t in_base = b * in_h * in_w * in_c;
        const int32_t out_base = b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
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
                            for (int32_t ic = 0; ic < in_c; ++ic) {
                                acc += hil_a16_load(input, px + ic, params->in_bits) * (int32_t)fw[ic];
                            }
                        }
                    }
                    const int64_t shifted = hil_round_shift64(acc, out_shift[oc]);
                    const int32_t v = (int32_t)(shifted < lo ? lo : (shifted > hi ? hi : shifted));
                    hil_a16_store(output, out_base + (oy * out_w + ox) * out_c + oc, v, params->out_bits);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

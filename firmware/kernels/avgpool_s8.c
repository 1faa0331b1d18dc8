/*
 * Average pooling over NHWC int8 (global average pooling is the window of the whole map). The window sum is
 * exact in int32; the division by the window size and the move to the output's exponent are one int64 multiply
 * and one rounding shift, so the output exponent may be finer than the input's (an average's range shrinks).
 */
#include "hil_kernels.h"

hil_kernel_status avgpool_s8(const hil_avgpool_params *params, const hil_dims *input_dims, const int8_t *input,
                             const hil_dims *output_dims, int8_t *output)
{
    if (!params || !input_dims || !input || !output_dims || !output || params->kernel_h < 1 ||
        params->kernel_w < 1 || (int64_t)params->kernel_h * params->kernel_w > ((int64_t)1 << 23) ||
        params->stride_h < 1 || params->stride_w < 1 || params->pad_h < 0 || params->pad_w < 0 ||
        params->multiplier < 0 || params->multiplier > 65536 || params->shift < 0 || params->shift > 62 ||
        input_dims->n != output_dims->n || input_dims->c != output_dims->c) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, chans = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *image = input + b * in_h * in_w * chans;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_h;
            const int32_t ya = y0 < 0 ? 0 : y0, yb = hil_clamp(y0 + params->kernel_h, 0, in_h);
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_w;
                const int32_t xa = x0 < 0 ? 0 : x0, xb = hil_clamp(x0 + params->kernel_w, 0, in_w);
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * chans;
                for (int32_t c = 0; c < chans; ++c) {
                    int32_t sum = 0;
                    for (int32_t y = ya; y < yb; ++y) {
                        const int8_t *row = image + y * in_w * chans + c;
                        for (int32_t x = xa; x < xb; ++x) {
                            sum += row[x * chans];
                        }
                    }
                    const int64_t v = hil_round_shift64((int64_t)sum * params->multiplier, params->shift);
                    out[c] = (int8_t)(v < params->act_min ? params->act_min : (v > params->act_max ? params->act_max : v));
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * Max pooling over NHWC int8: input and output share one exponent, so no requantisation, only the clamp
 * (a fused ReLU). Padded taps are skipped (PyTorch pads max pooling with -inf). With the DSP extension four
 * channels go through the whole window in one register: SSUB8 sets the GE flags per byte where the running
 * maximum is >= the tap, SEL keeps those bytes and takes the tap's others.
 */
#include "hil_kernels.h"

/* out[c] = max over the window rows ya..yb-1, columns xa..xb-1 (all inside the map) of channel c. */
static void window_max(const int8_t *image, int32_t in_w, int32_t chans, int32_t ya, int32_t yb, int32_t xa,
                       int32_t xb, int8_t *out)
{
    const int8_t *first = image + (ya * in_w + xa) * chans;
    int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; c + 4 <= chans; c += 4) {
        uint32_t m = (uint32_t)hil_nn_read32(first + c);
        for (int32_t y = ya; y < yb; ++y) {
            for (int32_t x = xa; x < xb; ++x) {
                const uint32_t tap = (uint32_t)hil_nn_read32(image + (y * in_w + x) * chans + c);
                (void)__ssub8(m, tap);
                m = __sel(m, tap);
            }
        }
        memcpy(out + c, &m, sizeof m);
    }
#endif
    for (; c < chans; ++c) {
        int8_t m = first[c];
        for (int32_t y = ya; y < yb; ++y) {
            for (int32_t x = xa; x < xb; ++x) {
                const int8_t tap = image[(y * in_w + x) * chans + c];
                m = tap > m ? tap : m;
            }
        }
        out[c] = m;
    }
}

hil_kernel_status maxpool_s8(const hil_pool_params *params, const hil_dims *input_dims, const int8_t *input,
                             const hil_dims *output_dims, int8_t *output)
{
    if (!params || !input_dims || !input || !output_dims || !output || params->kernel_h < 1 ||
        params->kernel_w < 1 || params->stride_h < 1 || params->stride_w < 1 || params->pad_h < 0 ||
        params->pad_w < 0 || input_dims->n != output_dims->n || input_dims->c != output_dims->c) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, chans = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int clamps = params->act_min > -128 || params->act_max < 127; /* else a max of int8s needs none */
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *image = input + b * in_h * in_w * chans;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride_h - params->pad_h;
            const int32_t ya = y0 < 0 ? 0 : y0, yb = hil_clamp(y0 + params->kernel_h, 0, in_h);
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride_w - params->pad_w;
                const int32_t xa = x0 < 0 ? 0 : x0, xb = hil_clamp(x0 + params->kernel_w, 0, in_w);
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * chans;
                if (ya >= yb || xa >= xb) {
                    return HIL_KERNEL_ARG_ERROR;
                }
                window_max(image, in_w, chans, ya, yb, xa, xb, out);
                for (int32_t c = 0; clamps && c < chans; ++c) {
                    out[c] = (int8_t)hil_clamp(out[c], params->act_min, params->act_max);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * Bilinear resize of an NHWC int8 map, PyTorch's F.interpolate(mode="bilinear") sample points in integers: each
 * output row (column) reads input rows i0 and i1 with weights den - frac and frac, where i0 + frac / den is
 * PyTorch's source coordinate exactly (a rational with denominator 2 * out, or out - 1 with align_corners). The
 * four taps' products sum in int32 (|acc| <= 128 * D, D = den_y * den_x <= 2048^2) and are divided by D once,
 * halves away from zero. Input and output share one exponent, so there is no other requantisation.
 * No DSP path: every output reads four pixels with its own weights, one multiply-accumulate per tap either way.
 */
#include "hil_kernels.h"

#define HIL_RESIZE_MAX_SIZE 1024

/* The sample point of output index d on one axis: rows (columns) *i0 and *i1, *frac of *den on *i1. */
static void resize_source(int32_t align_corners, int32_t d, int32_t in, int32_t out, int32_t *i0, int32_t *i1,
                          int32_t *frac, int32_t *den)
{
    int32_t num;
    if (align_corners) {
        *den = out > 1 ? out - 1 : 1;
        num = out > 1 ? d * (in - 1) : 0;
    } else {
        *den = 2 * out;
        num = (2 * d + 1) * in - out;
        num = num < 0 ? 0 : num;
    }
    *i0 = num / *den;
    *frac = num % *den;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
}

static int resize_size_ok(int32_t size)
{
    return size >= 1 && size <= HIL_RESIZE_MAX_SIZE;
}

hil_kernel_status resize_bilinear_s8(const hil_resize_bilinear_params *params, const hil_dims *input_dims,
                                     const int8_t *input, const hil_dims *output_dims, int8_t *output)
{
    if (!params || !input_dims || !input || !output_dims || !output ||
        (params->align_corners != 0 && params->align_corners != 1) || input_dims->n < 1 || input_dims->c < 1 ||
        input_dims->n != output_dims->n || input_dims->c != output_dims->c || !resize_size_ok(input_dims->h) ||
        !resize_size_ok(input_dims->w) || !resize_size_ok(output_dims->h) || !resize_size_ok(output_dims->w)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, chans = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, align = params->align_corners;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *image = input + b * in_h * in_w * chans;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            int32_t y0, y1, fy, den_y;
            resize_source(align, oy, in_h, out_h, &y0, &y1, &fy, &den_y);
            const int8_t *row0 = image + y0 * in_w * chans, *row1 = image + y1 * in_w * chans;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                int32_t x0, x1, fx, den_x;
                resize_source(align, ox, in_w, out_w, &x0, &x1, &fx, &den_x);
                const int32_t w00 = (den_y - fy) * (den_x - fx), w01 = (den_y - fy) * fx;
                const int32_t w10 = fy * (den_x - fx), w11 = fy * fx;
                const int32_t total = den_y * den_x, half = total / 2;
                const int8_t *p00 = row0 + x0 * chans, *p01 = row0 + x1 * chans;
                const int8_t *p10 = row1 + x0 * chans, *p11 = row1 + x1 * chans;
                int8_t *out = output + ((b * out_h + oy) * out_w + ox) * chans;
                for (int32_t c = 0; c < chans; ++c) {
                    const int32_t acc = w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c];
                    const int32_t q = (acc >= 0 ? acc + half : acc - half) / total;
                    out[c] = (int8_t)hil_clamp(q, -128, 127);
                }
            }
        }
    }
    return HIL_KERNEL_OK;
}

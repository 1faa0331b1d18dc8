/*
 * Depthwise int8 convolution, channel multiplier 1 (MBConv's 3x3 stride 1/2): any kernel size,
 * stride and zero padding. Filter [1, kh, kw, C], so one tap of all channels is contiguous, as are
 * the NHWC input pixels: the inner loop walks 4 channels at a time over the valid taps.
 *
 * Overflow: |acc| <= |bias| + kh*kw*128*128; for 3x3 that is 147456 + |bias|, far inside int32.
 * The caller keeps |bias| + kh*kw*2^14 < 2^31 (any real layer does by a factor of thousands).
 * Padding: taps outside the input are skipped, which equals adding zeros (no input offset).
 * With the DSP extension, the outputs of a 3x3 layer whose window lies wholly inside the input (all but the
 * border) take dw_3x3_run, a separate function over a row's run of them with the taps unrolled: in the
 * general loop the tap loops and the spilled registers of its many variables cost more than the multiplies.
 */
#include "hil_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* count outputs of one row, each a whole 3x3 window (chans a multiple of 4): in is the first window's top
 * left, step the input bytes between windows, in_row between input rows. The same sums as hil_nn_depthwise_taps4_s8. */
static void __attribute__((noinline))
dw_3x3_run(const int8_t *in, int32_t in_row, int32_t step, int32_t chans, int32_t count, const int8_t *filter,
           const int32_t *bias, const int8_t *shift, int32_t lo, int32_t hi, int8_t *out)
{
    for (int32_t i = 0; i < count; ++i, in += step) {
        for (int32_t c = 0; c < chans; c += 4) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            if (bias) {
                a0 = bias[c];
                a1 = bias[c + 1];
                a2 = bias[c + 2];
                a3 = bias[c + 3];
            }
            const int8_t *f = filter + c;
            for (int32_t ky = 0; ky < 3; ++ky) {
                const int8_t *px = in + ky * in_row + c;
                hil_nn_depthwise_tap4_s8(px, f, &a0, &a1, &a2, &a3);
                hil_nn_depthwise_tap4_s8(px + chans, f + chans, &a0, &a1, &a2, &a3);
                hil_nn_depthwise_tap4_s8(px + 2 * chans, f + 2 * chans, &a0, &a1, &a2, &a3);
                f += 3 * chans;
            }
            out[c] = hil_nn_requantize_s8(a0, shift[c], lo, hi);
            out[c + 1] = hil_nn_requantize_s8(a1, shift[c + 1], lo, hi);
            out[c + 2] = hil_nn_requantize_s8(a2, shift[c + 2], lo, hi);
            out[c + 3] = hil_nn_requantize_s8(a3, shift[c + 3], lo, hi);
        }
        out += chans;
    }
}
#endif

hil_kernel_status depthwise_conv2d_s8(const hil_conv_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                      int8_t *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, chans = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w, ph = params->pad_h, pw = params->pad_w;
    if (filter_dims->n != 1 || filter_dims->c != chans || output_dims->c != chans || input_dims->n != output_dims->n ||
        chans < 1 || k_h < 1 || k_w < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || in_h < 1 || in_w < 1 ||
        out_h < 1 || out_w < 1 || !hil_nn_shifts_valid(out_shift, chans) || params->pad_value != 0) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t lo = params->act_min, hi = params->act_max;

    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_image = input + b * in_h * in_w * chans;
        int8_t *out_px = output + b * out_h * out_w * chans;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * sh - ph;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
#if defined(__ARM_FEATURE_DSP)
            int32_t run_lo, run_hi;
            hil_nn_depthwise_3x3_run(k_h, k_w, chans, ky0, ky1, in_w, out_w, sw, pw, &run_lo, &run_hi);
#endif
            for (int32_t ox = 0; ox < out_w; ++ox) {
#if defined(__ARM_FEATURE_DSP)
                if (ox == run_lo && run_lo < run_hi) {
                    const int32_t count = run_hi - run_lo;
                    dw_3x3_run(in_image + (iy0 * in_w + ox * sw - pw) * chans, in_w * chans, sw * chans, chans, count,
                               filter, bias, out_shift, lo, hi, out_px);
                    out_px += count * chans;
                    ox = run_hi - 1;
                    continue;
                }
#endif
                const int32_t ix0 = ox * sw - pw;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
                /* an output entirely over padding has no valid taps: rows or cols <= 0, bias only */
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
                const int8_t *first = in_image + ((iy0 + ky0) * in_w + ix0 + kx0) * chans;
                const int8_t *first_f = filter + (ky0 * k_w + kx0) * chans;
                int32_t c = 0;
                for (; c + 4 <= chans; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (bias) {
                        acc[0] = bias[c];
                        acc[1] = bias[c + 1];
                        acc[2] = bias[c + 2];
                        acc[3] = bias[c + 3];
                    }
                    if (rows > 0 && cols > 0) {
                        hil_nn_depthwise_taps4_s8(first + c, first_f + c, in_w * chans, k_w * chans, chans, rows, cols, acc);
                    }
                    for (int32_t j = 0; j < 4; ++j) {
                        out_px[c + j] = hil_nn_requantize_s8(acc[j], out_shift[c + j], lo, hi);
                    }
                }
                for (; c < chans; ++c) {
                    int32_t acc = bias ? bias[c] : 0;
                    for (int32_t ky = 0; ky < rows; ++ky) {
                        for (int32_t kx = 0; kx < cols; ++kx) {
                            acc += (int32_t)first[(ky * in_w + kx) * chans + c] * first_f[(ky * k_w + kx) * chans + c];
                        }
                    }
                    out_px[c] = hil_nn_requantize_s8(acc, out_shift[c], lo, hi);
                }
                out_px += chans;
            }
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * 1x1 int8 convolution: the MBConv expand and project, most of the face models' MACs.
 *
 * A pixel's NHWC input vector and an output channel's OHWI filter row are both contiguous, so each
 * output is one dot product of length C_in. The inner loop computes a 2 pixel x 2 output channel
 * block (hil_nn_dot_2x2_s8): every input word and filter word loaded is used twice. With the DSP extension, 4 int8 values
 * per word are sign-extended in pairs (SXTB16, and SXTB16 with ROR #8 for the odd bytes) and
 * multiplied-accumulated two at a time (SMLAD): 4 loads, 8 extends and 8 SMLAD per 16 MACs.
 *
 * Exactness: every product is at most 2^14 in magnitude, C_in <= 65536 and |bias| < 2^30, so the
 * int32 accumulator (and every partial sum SMLAD forms) stays below 2^31: the DSP and the portable
 * paths compute the same integers, in any order.
 */
#include "hil_kernels.h"

hil_kernel_status pointwise_conv2d_s8(const hil_conv_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias, const hil_dims *output_dims,
                                      int8_t *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c, out_c = output_dims->c;
    if (filter_dims->h != 1 || filter_dims->w != 1 || filter_dims->c != in_c || filter_dims->n != out_c ||
        output_dims->n != input_dims->n || output_dims->h != input_dims->h || output_dims->w != input_dims->w ||
        in_c < 1 || in_c > 65536 || out_c < 1 || input_dims->n < 1 || input_dims->h < 1 || input_dims->w < 1 ||
        params->stride_h != 1 || params->stride_w != 1 || params->pad_h != 0 || params->pad_w != 0 ||
        params->pad_value != 0 || !hil_nn_shifts_valid(out_shift, out_c)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
    const int32_t lo = params->act_min, hi = params->act_max;

    int32_t p = 0;
    for (; p + 2 <= pixels; p += 2) {
        const int8_t *x0 = input + p * in_c, *x1 = x0 + in_c;
        int8_t *o0 = output + p * out_c, *o1 = o0 + out_c;
        int32_t o = 0;
        for (; o + 2 <= out_c; o += 2) {
            const int8_t *f0 = filter + o * in_c;
            const int32_t b0 = bias ? bias[o] : 0, b1 = bias ? bias[o + 1] : 0;
            int32_t acc[4] = {b0, b1, b0, b1};
            hil_nn_dot_2x2_s8(x0, x1, f0, f0 + in_c, in_c, acc);
            const int32_t s0 = out_shift[o], s1 = out_shift[o + 1];
            o0[o] = hil_nn_requantize_s8(acc[0], s0, lo, hi);
            o0[o + 1] = hil_nn_requantize_s8(acc[1], s1, lo, hi);
            o1[o] = hil_nn_requantize_s8(acc[2], s0, lo, hi);
            o1[o + 1] = hil_nn_requantize_s8(acc[3], s1, lo, hi);
        }
        if (o < out_c) {
            const int8_t *f = filter + o * in_c;
            const int32_t b = bias ? bias[o] : 0;
            o0[o] = hil_nn_requantize_s8(hil_nn_dot_s8(x0, f, in_c, b), out_shift[o], lo, hi);
            o1[o] = hil_nn_requantize_s8(hil_nn_dot_s8(x1, f, in_c, b), out_shift[o], lo, hi);
        }
    }
    if (p < pixels) {
        const int8_t *x = input + p * in_c;
        int8_t *out = output + p * out_c;
        for (int32_t o = 0; o < out_c; ++o) {
            const int32_t acc = hil_nn_dot_s8(x, filter + o * in_c, in_c, bias ? bias[o] : 0);
            out[o] = hil_nn_requantize_s8(acc, out_shift[o], lo, hi);
        }
    }
    return HIL_KERNEL_OK;
}

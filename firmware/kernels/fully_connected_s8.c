/*
 * Fully connected layer (Linear after flatten): one dot product of the input row with each weight row.
 * Two output rows per pass share every input word the DSP path loads (hil_nn_dot_s8 per row would load it
 * twice). Exact int32 sums: |product| <= 2^14, N <= 65536, |bias| < 2^30, so every order gives the same bits.
 */
#include "hil_kernels.h"

/* (acc0, acc1) += (dot(x, w0), dot(x, w1)) over n values. */
static inline void dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0,
                           int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1, i = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; i + 4 <= n; i += 4) {
        const int32_t wx = hil_nn_read32(x + i), a = hil_nn_read32(w0 + i), b = hil_nn_read32(w1 + i);
        const int32_t xe = __sxtb16(wx), xo = hil_nn_sxtb16_ror8(wx);
        s0 = __smlad(xe, __sxtb16(a), s0);
        s0 = __smlad(xo, hil_nn_sxtb16_ror8(a), s0);
        s1 = __smlad(xe, __sxtb16(b), s1);
        s1 = __smlad(xo, hil_nn_sxtb16_ror8(b), s1);
    }
#endif
    for (; i < n; ++i) {
        s0 += (int32_t)x[i] * w0[i];
        s1 += (int32_t)x[i] * w1[i];
    }
    *acc0 = s0;
    *acc1 = s1;
}

hil_kernel_status fully_connected_s8(const hil_fc_params *params, const int8_t *out_shift,
                                     const hil_dims *input_dims, const int8_t *input, const hil_dims *filter_dims,
                                     const int8_t *weight, const int32_t *bias, const hil_dims *output_dims,
                                     int8_t *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !weight || !output_dims || !output) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
    const int32_t n = input_dims->c, m = output_dims->c;
    if (n < 1 || n > 65536 || m < 1 || filter_dims->n != m || filter_dims->h != 1 || filter_dims->w != 1 ||
        filter_dims->c != n || output_dims->n * output_dims->h * output_dims->w != rows ||
        !hil_nn_shifts_valid(out_shift, m)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t lo = params->act_min, hi = params->act_max;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *x = input + r * n;
        int8_t *out = output + r * m;
        int32_t o = 0;
        for (; o + 2 <= m; o += 2) {
            int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o + 1] : 0;
            dot_1x2(x, weight + o * n, weight + (o + 1) * n, n, &a0, &a1);
            out[o] = hil_nn_requantize_s8(a0, out_shift[o], lo, hi);
            out[o + 1] = hil_nn_requantize_s8(a1, out_shift[o + 1], lo, hi);
        }
        if (o < m) {
            const int32_t acc = hil_nn_dot_s8(x, weight + o * n, n, bias ? bias[o] : 0);
            out[o] = hil_nn_requantize_s8(acc, out_shift[o], lo, hi);
        }
    }
    return HIL_KERNEL_OK;
}

/*
 * Fully connected layer whose input and output activations are each int8 or int16 (the bit-width search's wide
 * tensors, hil/compiler/bit_widths.py); the weights stay int8. Same formula as fully_connected_s8. An int8 input
 * sums exactly in int32 (products up to 2^14); an int16 input's products reach 2^22, so its sums are 64-bit
 * (SMLAL on the M4, as cheap as MLA) and exact for N <= 65536.
 */
#include "hil_kernels.h"

/* acc + dot(x, w) over n int16 inputs and int8 weights. */
static int64_t dot_s16_s8(const int16_t *x, const int8_t *w, int32_t n, int64_t acc)
{
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * w[i];
    }
    return acc;
}

hil_kernel_status fully_connected_a16(const hil_fc_a16_params *params, const int8_t *out_shift,
                                      const hil_dims *input_dims, const void *input, const hil_dims *filter_dims,
                                      const int8_t *weight, const int32_t *bias, const hil_dims *output_dims,
                                      void *output)
{
    if (!params || !out_shift || !input_dims || !input || !filter_dims || !weight || !output_dims || !output ||
        !hil_a16_width_valid(params->in_bits) || !hil_a16_width_valid(params->out_bits)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
    const int32_t n = input_dims->c, m = output_dims->c;
    const int wide_in = params->in_bits == 16;
    if (n < 1 || n > 65536 || m < 1 || filter_dims->n != m || filter_dims->h != 1 ||
        filter_dims->w != 1 || filter_dims->c != n || output_dims->n * output_dims->h * output_dims->w != rows ||
        !hil_a16_clamp_valid(params->act_min, params->act_max, params->out_bits) ||
        !hil_nn_shifts_valid(out_shift, m)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t lo = params->act_min, hi = params->act_max;
    for (int32_t r = 0; r < rows; ++r) {
        for (int32_t o = 0; o < m; ++o) {
            const int32_t start = bias ? bias[o] : 0;
            int64_t shifted;
            if (wide_in) {
                const int64_t acc = dot_s16_s8((const int16_t *)input + r * n, weight + o * n, n, start);
                shifted = hil_round_shift64(acc, out_shift[o]);
            } else {
                const int32_t acc = hil_nn_dot_s8((const int8_t *)input + r * n, weight + o * n, n, start);
                shifted = hil_nn_round_shift_exact32(acc, out_shift[o]);
            }
            const int32_t v = (int32_t)(shifted < lo ? lo : (shifted > hi ? hi : shifted));
            hil_a16_store(output, r * m + o, v, params->out_bits);
        }
    }
    return HIL_KERNEL_OK;
}

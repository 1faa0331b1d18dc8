/*
 * RNNPool strided over a whole map (formula in hil_kernels.h): the patches of one patch row share the projection
 * ring, so each one projects only the columns its left neighbour did not (stride of them, of patch_w).
 */
#include "hil_kernels.h"

hil_kernel_status rnnpool_layer_s8(const hil_context *ctx, const hil_rnnpool_params *params, int32_t stride,
                                   const hil_dims *input_dims, const int8_t *input, const hil_fastgrnn_weights *rnn1,
                                   const hil_fastgrnn_weights *rnn2, const int16_t *offset,
                                   const hil_dims *output_dims, void *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, 0, 0, rnn1, rnn2) != HIL_KERNEL_OK || !output ||
        !output_dims || stride < 1 || !hil_nn_rnnpool_output_valid(params)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t r = params->patch_h, c = params->patch_w, k = input_dims->c, n_out = 4 * rnn2->hidden_size;
    const int32_t oh = (input_dims->h - r) / stride + 1, ow = (input_dims->w - c) / stride + 1;
    if (output_dims->n != input_dims->n || output_dims->h != oh || output_dims->w != ow || output_dims->c != n_out) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const hil_rnnpool_scratch s = hil_nn_rnnpool_prepare(ctx->buf, params, rnn1, rnn2);
    const int32_t out_bytes = params->out_bits / 8;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *map = input + b * input_dims->h * input_dims->w * k;
        for (int32_t oy = 0; oy < oh; ++oy) {
            int32_t projected_to = 0; /* columns [.., projected_to) of this patch row are in the ring */
            for (int32_t ox = 0; ox < ow; ++ox) {
                const int32_t x0 = ox * stride;
                hil_nn_rnnpool_project(&s, params, input_dims, map, oy * stride, x0 > projected_to ? x0 : projected_to,
                                       x0 + c, rnn1);
                projected_to = x0 + c;
                hil_nn_rnnpool_patch(&s, params, x0, rnn1, rnn2);
                hil_nn_rnnpool_requantize(params, s.final, offset, n_out,
                                          (int8_t *)output + ((b * oh + oy) * ow + ox) * n_out * out_bytes);
            }
        }
    }
    return HIL_KERNEL_OK;
}

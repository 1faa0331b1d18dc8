/* RNNPool on one patch, per-channel offset removed, int8 output (formula in hil_kernels.h). */
#include "hil_kernels.h"

hil_kernel_status rnnpool_offset_s8(const hil_context *ctx, const hil_rnnpool_params *params,
                                    const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                    const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2,
                                    const int16_t *offset, int8_t *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, y0, x0, rnn1, rnn2) != HIL_KERNEL_OK || !output ||
        !offset || params->out_bits != 8 || !hil_nn_rnnpool_output_valid(params)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const hil_rnnpool_scratch s = hil_nn_rnnpool_one_patch(ctx, params, input_dims, input, y0, x0, rnn1, rnn2);
    hil_nn_rnnpool_requantize(params, s.final, offset, 4 * rnn2->hidden_size, output);
    return HIL_KERNEL_OK;
}

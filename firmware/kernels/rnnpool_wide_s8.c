/* RNNPool on one patch, int16 output: the four final RNN2 states as they are (Q(rnn2.h_frac_bits)),
 * for a consumer that keeps 16 bits. Same scratch and checks as rnnpool_s8. */
#include "hil_kernels.h"

hil_kernel_status rnnpool_wide_s8(const hil_context *ctx, const hil_rnnpool_params *params,
                                  const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                  const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2,
                                  int16_t *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, y0, x0, rnn1, rnn2) != HIL_KERNEL_OK || !output) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const hil_rnnpool_scratch s = hil_nn_rnnpool_one_patch(ctx, params, input_dims, input, y0, x0, rnn1, rnn2);
    memcpy(output, s.final, (size_t)(4 * rnn2->hidden_size) * sizeof *output);
    return HIL_KERNEL_OK;
}

/* RNNPool on one patch, per-channel offset removed, int8 output (formula in hil_kernels.h). The int16
 * final states go to the same scratch slot rnnpool_s8 uses, after the core's working vectors. */
#include "hil_kernels.h"

hil_kernel_status rnnpool_offset_s8(const hil_context *ctx, const hil_rnnpool_params *params,
                                    const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                    const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2,
                                    const int16_t *offset, int8_t *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, y0, x0, rnn1, rnn2) != HIL_KERNEL_OK || !output ||
        !offset || params->out_shift < 0 || params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t longest = params->patch_h > params->patch_w ? params->patch_h : params->patch_w;
    int16_t *scratch = (int16_t *)ctx->buf;
    int16_t *out16 = scratch + longest * h1 + 2 * h1 + 2 * h2 + rnn1->input_size;
    hil_nn_rnnpool_core_s8(scratch, params, input_dims, input, y0, x0, rnn1, rnn2, out16);
    for (int32_t i = 0; i < 4 * h2; ++i) {
        const int32_t centred = (int32_t)out16[i] - offset[i];
        output[i] = (int8_t)hil_clamp(hil_round_shift(centred, params->out_shift), params->act_min, params->act_max);
    }
    return HIL_KERNEL_OK;
}

/*
 * RNNPool on one patch of an int8 NHWC map (formulas and output order in hil_kernels.h).
 *
 * The patch is read in place (row stride = the map's width), so the caller copies nothing. RNN1's
 * int8 pixels are widened to int16 one step at a time (k values); its final states go straight into
 * the summary buffer, and RNN2 runs over that buffer forwards and backwards. Hidden states ping-pong
 * between two scratch vectors; each run's last step writes to its destination, so nothing is copied.
 * Scratch (int16 elements): max(r, c) * h1 summaries, 2 * h1 and 2 * h2 states, k widened inputs,
 * 4 * h2 final states (used by rnnpool_s8 only; kept so both entry points share one size).
 */
#include "hil_kernels.h"

static int32_t max32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

int32_t rnnpool_s8_get_buffer_size(const hil_rnnpool_params *params, const hil_fastgrnn_weights *rnn1,
                                   const hil_fastgrnn_weights *rnn2)
{
    const int32_t h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t elements = max32(params->patch_h, params->patch_w) * h1 + 2 * h1 + 2 * h2 + rnn1->input_size + 4 * h2;
    return 2 * elements;
}

/* Runs a FastGRNN from a zero state over `steps` int16 inputs `stride` elements apart; the final state
 * goes to dest. ha and hb are the ping-pong states. */
static void run_s16(const hil_fastgrnn_params *p, const hil_fastgrnn_weights *w, const int16_t *seq, int32_t stride,
                    int32_t steps, int16_t *ha, int16_t *hb, int16_t *dest)
{
    int16_t *cur = ha;
    memset(cur, 0, (size_t)w->hidden_size * sizeof *cur);
    for (int32_t t = 0; t < steps; ++t) {
        int16_t *next = t == steps - 1 ? dest : (cur == ha ? hb : ha);
        hil_nn_fastgrnn_step_s16(p, w, seq + t * stride, cur, next);
        cur = next;
    }
}

/* The same over int8 pixels `stride` bytes apart, each widened into x16 first. */
static void run_s8(const hil_fastgrnn_params *p, const hil_fastgrnn_weights *w, const int8_t *seq, int32_t stride,
                   int32_t steps, int16_t *x16, int16_t *ha, int16_t *hb, int16_t *dest)
{
    const int32_t k = w->input_size;
    int16_t *cur = ha;
    memset(cur, 0, (size_t)w->hidden_size * sizeof *cur);
    for (int32_t t = 0; t < steps; ++t) {
        const int8_t *px = seq + t * stride;
        for (int32_t i = 0; i < k; ++i) {
            x16[i] = px[i];
        }
        int16_t *next = t == steps - 1 ? dest : (cur == ha ? hb : ha);
        hil_nn_fastgrnn_step_s16(p, w, x16, cur, next);
        cur = next;
    }
}

void hil_nn_rnnpool_core_s8(int16_t *scratch, const hil_rnnpool_params *params, const hil_dims *input_dims,
                            const int8_t *input, int32_t y0, int32_t x0, const hil_fastgrnn_weights *rnn1,
                            const hil_fastgrnn_weights *rnn2, int16_t *out16)
{
    const int32_t r = params->patch_h, c = params->patch_w, k = input_dims->c;
    const int32_t h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t row_bytes = input_dims->w * k;
    int16_t *sums = scratch;
    int16_t *h1a = sums + max32(r, c) * h1, *h1b = h1a + h1;
    int16_t *h2a = h1b + h1, *h2b = h2a + h2;
    int16_t *x16 = h2b + h2;
    const int8_t *patch = input + (y0 * input_dims->w + x0) * k;

    /* rows: RNN1 along each row (left to right), RNN2 over the r summaries both ways */
    for (int32_t i = 0; i < r; ++i) {
        run_s8(&params->rnn1, rnn1, patch + i * row_bytes, k, c, x16, h1a, h1b, sums + i * h1);
    }
    run_s16(&params->rnn2, rnn2, sums, h1, r, h2a, h2b, out16);
    run_s16(&params->rnn2, rnn2, sums + (r - 1) * h1, -h1, r, h2a, h2b, out16 + h2);

    /* columns: RNN1 down each column (top to bottom), RNN2 over the c summaries both ways */
    for (int32_t j = 0; j < c; ++j) {
        run_s8(&params->rnn1, rnn1, patch + j * k, row_bytes, r, x16, h1a, h1b, sums + j * h1);
    }
    run_s16(&params->rnn2, rnn2, sums, h1, c, h2a, h2b, out16 + 2 * h2);
    run_s16(&params->rnn2, rnn2, sums + (c - 1) * h1, -h1, c, h2a, h2b, out16 + 3 * h2);
}

hil_kernel_status hil_nn_rnnpool_check(const hil_context *ctx, const hil_rnnpool_params *params,
                                       const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                       const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2)
{
    if (!ctx || !ctx->buf || !params || !input_dims || !input ||
        hil_nn_fastgrnn_check(&params->rnn1, rnn1) != HIL_KERNEL_OK ||
        hil_nn_fastgrnn_check(&params->rnn2, rnn2) != HIL_KERNEL_OK) {
        return HIL_KERNEL_ARG_ERROR;
    }
    if (rnn1->input_size != input_dims->c || rnn2->input_size != rnn1->hidden_size || input_dims->n < 1 ||
        params->patch_h < 1 || params->patch_w < 1 || y0 < 0 || x0 < 0 || y0 + params->patch_h > input_dims->h ||
        x0 + params->patch_w > input_dims->w || ((uintptr_t)ctx->buf & 3u) != 0u ||
        ctx->size < rnnpool_s8_get_buffer_size(params, rnn1, rnn2)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    return HIL_KERNEL_OK;
}

hil_kernel_status rnnpool_s8(const hil_context *ctx, const hil_rnnpool_params *params, const hil_dims *input_dims,
                             const int8_t *input, int32_t y0, int32_t x0, const hil_fastgrnn_weights *rnn1,
                             const hil_fastgrnn_weights *rnn2, int8_t *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, y0, x0, rnn1, rnn2) != HIL_KERNEL_OK || !output ||
        params->out_shift < 0 || params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    int16_t *scratch = (int16_t *)ctx->buf;
    int16_t *out16 = scratch + max32(params->patch_h, params->patch_w) * h1 + 2 * h1 + 2 * h2 + rnn1->input_size;
    hil_nn_rnnpool_core_s8(scratch, params, input_dims, input, y0, x0, rnn1, rnn2, out16);
    for (int32_t i = 0; i < 4 * h2; ++i) {
        output[i] = (int8_t)hil_clamp(hil_round_shift(out16[i], params->out_shift), params->act_min, params->act_max);
    }
    return HIL_KERNEL_OK;
}

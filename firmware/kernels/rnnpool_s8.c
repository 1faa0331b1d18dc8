/*
 * RNNPool on one patch of an int8 NHWC map (formulas and output order in hil_kernels.h), and the parts the
 * per-patch and the layer kernels share.
 *
 * The patch is read in place (row stride = the map's width), so the caller copies nothing. RNN1's input term
 * W x of each pixel is computed once into the projection ring and read by both the row and the column runs
 * (and, in rnnpool_layer_s8, by the next patch of the row); RNN2's input term of each summary is computed once
 * and read by the forward and the backward run. Hidden states ping-pong between two scratch vectors; each run's
 * first step starts from the zero state without a U h product, and its last step writes to its destination.
 */
#include "hil_kernels.h"

static int32_t max32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

int32_t rnnpool_s8_get_buffer_size(const hil_rnnpool_params *params, const hil_fastgrnn_weights *rnn1,
                                   const hil_fastgrnn_weights *rnn2)
{
    const int32_t r = params->patch_h, c = params->patch_w, h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t longest = max32(r, c);
    const int32_t words = c * r * h1 + 2 * h1 + 2 * h2 + longest * h2 + max32(h1, h2);
    const int32_t halves = longest * h1 + 2 * h1 + 2 * h2 + 4 * h2 + rnn1->input_size;
    return 4 * words + 2 * halves;
}

hil_rnnpool_scratch hil_nn_rnnpool_prepare(void *buf, const hil_rnnpool_params *params,
                                           const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2)
{
    const int32_t r = params->patch_h, c = params->patch_w, h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t longest = max32(r, c);
    hil_rnnpool_scratch s;
    s.projection = (int32_t *)buf;
    s.folded1 = s.projection + c * r * h1;
    s.folded2 = s.folded1 + 2 * h1;
    s.input2 = s.folded2 + 2 * h2;
    s.acc = s.input2 + longest * h2;
    s.summaries = (int16_t *)(s.acc + max32(h1, h2));
    s.state1 = s.summaries + longest * h1;
    s.state2 = s.state1 + 2 * h1;
    s.final = s.state2 + 2 * h2;
    s.widened = s.final + 4 * h2;
    hil_nn_fastgrnn_fold(&params->rnn1, rnn1, s.folded1);
    hil_nn_fastgrnn_fold(&params->rnn2, rnn2, s.folded2);
    return s;
}

void hil_nn_rnnpool_project(const hil_rnnpool_scratch *s, const hil_rnnpool_params *params,
                            const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x_from,
                            int32_t x_to, const hil_fastgrnn_weights *rnn1)
{
    const int32_t r = params->patch_h, c = params->patch_w, k = input_dims->c, h1 = rnn1->hidden_size;
    for (int32_t x = x_from; x < x_to; ++x) {
        int32_t *column = s->projection + (x % c) * r * h1;
        const int8_t *pixel = input + (y0 * input_dims->w + x) * k;
        for (int32_t i = 0; i < r; ++i) {
            hil_nn_fastgrnn_input_s8(&params->rnn1, rnn1, pixel + i * input_dims->w * k, s->widened, column + i * h1);
        }
    }
}

/* A cell run from the zero state over `steps` input terms `stride` int32 apart; the final state goes to dest. */
static void run(const hil_fastgrnn_params *p, const hil_fastgrnn_weights *w, const int32_t *folded,
                const int32_t *inputs, int32_t stride, int32_t steps, int16_t *states, int32_t *acc, int16_t *dest)
{
    int16_t *a = states, *b = states + w->hidden_size;
    const int16_t *cur = NULL;
    for (int32_t t = 0; t < steps; ++t) {
        int16_t *next = t == steps - 1 ? dest : (cur == a ? b : a);
        hil_nn_fastgrnn_step_folded(p, w, folded, inputs + t * stride, cur, acc, next);
        cur = next;
    }
}

/* RNN1 along one line of the patch: `steps` pixels whose input terms are the ring slots first, first + step, ...
 * (mod the ring's size in slots). */
static void run_line(const hil_rnnpool_scratch *s, const hil_fastgrnn_params *p, const hil_fastgrnn_weights *w,
                     int32_t first, int32_t step, int32_t slots, int32_t steps, int16_t *dest)
{
    const int32_t h1 = w->hidden_size;
    int16_t *a = s->state1, *b = s->state1 + h1;
    const int16_t *cur = NULL;
    int32_t slot = first;
    for (int32_t t = 0; t < steps; ++t) {
        int16_t *next = t == steps - 1 ? dest : (cur == a ? b : a);
        hil_nn_fastgrnn_step_folded(p, w, s->folded1, s->projection + slot * h1, cur, s->acc, next);
        cur = next;
        slot += step;
        if (slot >= slots) {
            slot -= slots;
        }
    }
}

/* RNN2 forward and backward over n summaries: final states to out[0..h2) and out[h2..2*h2). */
static void run_both_ways(const hil_rnnpool_scratch *s, const hil_fastgrnn_params *p, const hil_fastgrnn_weights *w,
                          int32_t n, int16_t *out)
{
    const int32_t h1 = w->input_size, h2 = w->hidden_size;
    for (int32_t j = 0; j < n; ++j) {
        hil_nn_fastgrnn_input_s16(p, w, s->summaries + j * h1, s->input2 + j * h2);
    }
    run(p, w, s->folded2, s->input2, h2, n, s->state2, s->acc, out);
    run(p, w, s->folded2, s->input2 + (n - 1) * h2, -h2, n, s->state2, s->acc, out + h2);
}

void hil_nn_rnnpool_patch(const hil_rnnpool_scratch *s, const hil_rnnpool_params *params, int32_t x0,
                          const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2)
{
    const int32_t r = params->patch_h, c = params->patch_w, h1 = rnn1->hidden_size, h2 = rnn2->hidden_size;
    const int32_t slots = r * c, first_column = x0 % c;
    /* the ring holds column x at slots (x mod c) * r + row: along a row the slot steps by r, down a column by 1 */
    for (int32_t i = 0; i < r; ++i) {
        run_line(s, &params->rnn1, rnn1, first_column * r + i, r, slots, c, s->summaries + i * h1);
    }
    run_both_ways(s, &params->rnn2, rnn2, r, s->final);
    for (int32_t j = 0; j < c; ++j) {
        const int32_t column = first_column + j < c ? first_column + j : first_column + j - c;
        run_line(s, &params->rnn1, rnn1, column * r, 1, slots, r, s->summaries + j * h1);
    }
    run_both_ways(s, &params->rnn2, rnn2, c, s->final + 2 * h2);
}

hil_rnnpool_scratch hil_nn_rnnpool_one_patch(const hil_context *ctx, const hil_rnnpool_params *params,
                                             const hil_dims *input_dims, const int8_t *input, int32_t y0, int32_t x0,
                                             const hil_fastgrnn_weights *rnn1, const hil_fastgrnn_weights *rnn2)
{
    const hil_rnnpool_scratch s = hil_nn_rnnpool_prepare(ctx->buf, params, rnn1, rnn2);
    hil_nn_rnnpool_project(&s, params, input_dims, input, y0, x0, x0 + params->patch_w, rnn1);
    hil_nn_rnnpool_patch(&s, params, x0, rnn1, rnn2);
    return s;
}

void hil_nn_rnnpool_requantize(const hil_rnnpool_params *params, const int16_t *states, const int16_t *offset,
                               int32_t n, void *output)
{
    /* |state - offset| < 2^16, so the 32-bit rounding shift cannot overflow */
    const int32_t shift = params->out_shift;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t centred = (int32_t)states[i] - (offset ? offset[i] : 0);
        const int32_t v = shift > 0 ? hil_nn_round_shift32(centred, shift) : centred;
        hil_a16_store(output, i, hil_clamp(v, params->act_min, params->act_max), params->out_bits);
    }
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

int hil_nn_rnnpool_output_valid(const hil_rnnpool_params *params)
{
    return params->out_shift >= 0 && params->out_shift <= 31 &&
           hil_a16_clamp_valid(params->act_min, params->act_max, params->out_bits);
}

hil_kernel_status rnnpool_s8(const hil_context *ctx, const hil_rnnpool_params *params, const hil_dims *input_dims,
                             const int8_t *input, int32_t y0, int32_t x0, const hil_fastgrnn_weights *rnn1,
                             const hil_fastgrnn_weights *rnn2, int8_t *output)
{
    if (hil_nn_rnnpool_check(ctx, params, input_dims, input, y0, x0, rnn1, rnn2) != HIL_KERNEL_OK || !output ||
        params->out_bits != 8 || !hil_nn_rnnpool_output_valid(params)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const hil_rnnpool_scratch s = hil_nn_rnnpool_one_patch(ctx, params, input_dims, input, y0, x0, rnn1, rnn2);
    hil_nn_rnnpool_requantize(params, s.final, NULL, 4 * rnn2->hidden_size, output);
    return HIL_KERNEL_OK;
}

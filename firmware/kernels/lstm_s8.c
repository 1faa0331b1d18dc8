/*
 * An LSTM layer over int8 frames (PyTorch's gate equations, hidden state Q15 int16, cell state Q15 int32). Formulas
 * and layout in hil_kernels.h; the bit-exact twin is hil/kernels_ref/lstm.py.
 *
 * As gru_s8.c, unit by unit: the four gate rows (input, forget, cell, output) of one matrix run together over its
 * vector, so each vector word loaded feeds four SMLADs (two int16 products each, with the DSP extension), first the
 * matrix whose shift is the larger (W over the widened frame when wx_shift >= uh_shift), then the other; the first's
 * four sums are scaled by 2^|wx_shift - uh_shift| and the second's products added to them, so a unit carries four
 * sums, and its gates, cell state and new state follow at once: no accumulator is stored. When the rows and vectors
 * are 4-byte aligned (even sizes) the words come in pairs (one LDRD with write-back, 16 columns a round); a function
 * per layout and order keeps the loops free of run-time tests. The frame is widened to int16 once per step and the
 * biases take pre_shift's rounding and the tables' index offsets once per call (hil_nn_fold_bias), so each gate reads
 * its table index with one shift and one saturation; tanh(c') reads its index as (c' + 131092) >> 5, round_shift(c',
 * 3) and tanh's offset in one (floor(floor((c' + 4) / 8) + 16386) / 4) = floor((c' + 4 + 8 * 16386) / 32)). The first
 * step starts from the zero states and skips U h (exactly 0). The hidden states ping-pong between two scratch vectors
 * (hil_recurrent_run, shared with gru_s8); the scratch's 4 * hidden int32 hold the folded biases (4 per unit,
 * adjacent), the next hidden int32 the cell states, each updated in place by its own unit.
 *
 * Overflow reasoning (the compiler guarantees lstm_accumulator_bound(params, weights, 128) <= 2^30):
 *   - W x and U h: every term |w[i,j] x[j]| << wx_shift with |x| <= 128, |u[i,j] h[j]| << uh_shift with
 *     |h| <= 32735 < 32768 (below), so every partial sum of a row (SMLAD's pairs included), shifted (as a multiply
 *     by 2^shift: a left shift of a negative int is undefined in C99), and with the row's bias, is within 2^30:
 *     exact in int32. The combined sums are such partial sums divided by 2^min(wx_shift, uh_shift) (the first
 *     matrix's sum times 2^|wx_shift - uh_shift|, then the second's terms one by one): within 2^30 too, and exact.
 *   - the folded biases add 2^(pre_shift-1) + 32772 * 2^pre_shift <= 2^13 + 32772 * 2^14 < 2^29.01 (sigmoid's
 *     offset; tanh's 16386 is half) with pre_shift <= 14, so every a_k + folded stays below 2^30 + 2^29.01 < 2^31.
 *   - the cell state: i, f in [11, 32757] and |g| <= 32746, so |i * g| < 2^30 (int32) and, from c = 0,
 *     |c'| <= (32757 |c| + 32757 * 32746 + 2^15) / 2^15 keeps |c| below the fixed point
 *     (32757 * 32746 + 2^15) / 11 < 97.6e6 < 2^27 at every step, however many: f * c is up to 2^42, so
 *     f * c + i * g + 2^14 is formed in 64 bits (SMULL, SMLAL on the M4), and c' = that >> 15 fits int32.
 *     c' + 131092 < 2^28 for the tanh index.
 *   - the state: o <= 32757 and |tanh(c')| <= 32746: |o * t| < 2^30 and (o * t + 2^14) >> 15 is within
 *     [-32735, 32735]: int16 with no saturation, within the 32768 of the precondition at every step.
 */
#include "hil_kernels.h"

/* The scratch's int32 per unit: the folded biases of its four gate rows, and its cell state. */
#define LSTM_INT32_PER_UNIT 5

/* tanh_q15(round_shift(c, 3)) = T[clamp((c + CELL_INDEX_OFFSET) >> CELL_INDEX_SHIFT, 0, 8191)] (see above). */
#define CELL_INDEX_OFFSET (4 + 8 * HIL_TANH_INDEX_OFFSET)
#define CELL_INDEX_SHIFT (3 + HIL_TANH_INDEX_SHIFT)

/* The four gate rows' sums of one unit. */
typedef struct {
    int32_t i;
    int32_t f;
    int32_t g;
    int32_t o;
} gate_sums;

/* How the rows and vectors of a step lie in memory (the DSP path's loads; see dot4_s16). */
#define LAYOUT_ANY 0
#define LAYOUT_EVEN 1
#define LAYOUT_BLOCKS 2

#if defined(__ARM_FEATURE_DSP)
/* One vector word pair onto one row: *a += dot(r[0..3], (v0, v1)), *r then 4 values on. */
static inline __attribute__((always_inline)) void row_pair(const int16_t **r, int32_t v0, int32_t v1, int32_t *a,
                                                           int aligned)
{
    int32_t w0, w1;
    if (aligned) {
        hil_nn_ldrd_next(r, &w0, &w1);
    } else {
        hil_nn_ldr2_next(r, &w0, &w1);
    }
    *a = __smlad(w1, v1, __smlad(w0, v0, *a));
}

/* Four columns of four rows: *a_k += dot(r_k[0..3], v[0..3]), every pointer then 4 values on; aligned (a constant
 * after inlining): every pointer 4-byte aligned, so the words come in pairs (LDRD). */
static inline __attribute__((always_inline)) void quad4(const int16_t **r0, const int16_t **r1, const int16_t **r2,
                                                        const int16_t **r3, const int16_t **v, gate_sums *a,
                                                        int aligned)
{
    int32_t v0, v1;
    if (aligned) {
        hil_nn_ldrd_next(v, &v0, &v1);
    } else {
        hil_nn_ldr2_next(v, &v0, &v1);
    }
    row_pair(r0, v0, v1, &a->i, aligned);
    row_pair(r1, v0, v1, &a->f, aligned);
    row_pair(r2, v0, v1, &a->g, aligned);
    row_pair(r3, v0, v1, &a->o, aligned);
}

/* acc + the dots of the four rows r0..r3 with v over n int16 values: each v word feeds four SMLADs. Constants after
 * inlining: layout LAYOUT_ANY (LDR: any address), LAYOUT_EVEN (the rows and v 4-byte aligned and n even: LDRD) or
 * LAYOUT_BLOCKS (LAYOUT_EVEN with n a multiple of 8). The columns past a multiple of 8 come first (one value, then
 * one word, then two: even counts keep aligned pointers aligned), then 8, then 16 a round. */
static inline __attribute__((always_inline)) gate_sums dot4_s16(const int16_t *r0, const int16_t *r1,
                                                                const int16_t *r2, const int16_t *r3,
                                                                const int16_t *v, int32_t n, gate_sums acc,
                                                                int layout)
{
    const int aligned = layout != LAYOUT_ANY;
    gate_sums a = acc;
    if (layout == LAYOUT_ANY && (n & 1)) {
        const int32_t x = *v++;
        a.i += (int32_t)*r0++ * x;
        a.f += (int32_t)*r1++ * x;
        a.g += (int32_t)*r2++ * x;
        a.o += (int32_t)*r3++ * x;
    }
    if (layout != LAYOUT_BLOCKS && (n & 2)) {
        const int32_t v01 = hil_nn_read32(v);
        a.i = __smlad(hil_nn_read32(r0), v01, a.i);
        a.f = __smlad(hil_nn_read32(r1), v01, a.f);
        a.g = __smlad(hil_nn_read32(r2), v01, a.g);
        a.o = __smlad(hil_nn_read32(r3), v01, a.o);
        r0 += 2;
        r1 += 2;
        r2 += 2;
        r3 += 2;
        v += 2;
    }
    if (layout != LAYOUT_BLOCKS && (n & 4)) {
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
    }
    if (n & 8) {
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
    }
    for (int32_t k = n >> 4; k > 0; --k) {
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
        quad4(&r0, &r1, &r2, &r3, &v, &a, aligned);
    }
    return a;
}
#else
/* The same sums, one product at a time (layout is only the DSP path's hint). */
static inline gate_sums dot4_s16(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int16_t *r3,
                                 const int16_t *v, int32_t n, gate_sums acc, int layout)
{
    (void)layout;
    gate_sums a = acc;
    for (int32_t j = 0; j < n; ++j) {
        a.i += (int32_t)r0[j] * v[j];
        a.f += (int32_t)r1[j] * v[j];
        a.g += (int32_t)r2[j] * v[j];
        a.o += (int32_t)r3[j] * v[j];
    }
    return a;
}
#endif

/* What one step needs besides the vectors, fixed for the call. */
typedef struct {
    const int16_t *w;
    const int16_t *u;
    const int32_t *folded;   /* 4 per unit: the folded biases of its input, forget, cell and output rows */
    int32_t *cell;           /* hidden: the cell states, read and written by their own unit */
    int32_t n_in;
    int32_t n_h;
    int32_t scale;           /* 2^|wx_shift - uh_shift|: the first product's sums onto the second's */
    int32_t m;               /* 2^min(wx_shift, uh_shift): the combined sums onto the accumulator */
    int32_t shift;           /* pre_shift + HIL_TANH_INDEX_SHIFT: tanh's index shift; sigmoid's is one more */
} step_plan;

/* One step (a hil_recurrent_step_fn of a step_plan): x16 the widened frame, h the state, n_u its length in the sums
 * (0: the zero states, U h is exactly 0 and h and the cell states hold zeros), h_out the next state (not h).
 * Constants after inlining: layout (dot4_s16's, for w and x16 and for u and the states alike) and w_first
 * (wx_shift >= uh_shift: W x is summed first, its sums scaled by 2^(wx_shift - uh_shift) and U h's added to them;
 * else the other way round). */
static inline __attribute__((always_inline)) void step_units(const step_plan *p, const int16_t *x16,
                                                             const int16_t *h, int32_t n_u, int16_t *h_out,
                                                             int layout, int w_first)
{
    const int32_t n_in = p->n_in, n_h = p->n_h;
    const int16_t *m1 = w_first ? p->w : p->u, *m2 = w_first ? p->u : p->w;
    const int16_t *v1 = w_first ? x16 : h, *v2 = w_first ? h : x16;
    const int32_t n1 = w_first ? n_in : n_u, n2 = w_first ? n_u : n_in;     /* the sums' lengths */
    const int32_t row1 = w_first ? n_in : n_h, row2 = w_first ? n_h : n_in; /* the matrices' row lengths */
    const int32_t gate1 = n_h * row1, gate2 = n_h * row2;
    const int32_t *f = p->folded;
    int32_t *cell = p->cell;
    const int32_t scale = p->scale, m = p->m, shift = p->shift;
    const gate_sums zero = {0, 0, 0, 0};
    for (int32_t i = 0; i < n_h; ++i, m1 += row1, m2 += row2, f += 4) {
        gate_sums s = dot4_s16(m1, m1 + gate1, m1 + 2 * gate1, m1 + 3 * gate1, v1, n1, zero, layout);
        s.i *= scale;
        s.f *= scale;
        s.g *= scale;
        s.o *= scale;
        s = dot4_s16(m2, m2 + gate2, m2 + 2 * gate2, m2 + 3 * gate2, v2, n2, s, layout);
        const int32_t in_g = hil_sigmoid_table[hil_nn_table_index((s.i * m + f[0]) >> (shift + 1))];
        const int32_t forget_g = hil_sigmoid_table[hil_nn_table_index((s.f * m + f[1]) >> (shift + 1))];
        const int32_t cell_g = hil_tanh_table[hil_nn_table_index((s.g * m + f[2]) >> shift)];
        const int32_t out_g = hil_sigmoid_table[hil_nn_table_index((s.o * m + f[3]) >> (shift + 1))];
        const int32_t c = (int32_t)hil_round_shift64((int64_t)forget_g * cell[i] + in_g * cell_g, 15);
        cell[i] = c;
        const int32_t tc = hil_tanh_table[hil_nn_table_index((c + CELL_INDEX_OFFSET) >> CELL_INDEX_SHIFT)];
        h_out[i] = (int16_t)((out_g * tc + 16384) >> 15);
    }
}

/* The instantiations, each a function of its own (so that its registers serve the unit loop alone). */
#define STEP_FN(name, layout, w_first)                                                                             \
    static __attribute__((noinline)) void name(const void *plan, const int16_t *x16, const int16_t *h,           \
                                               int32_t n_u, int16_t *h_out)                                      \
    {                                                                                                            \
        step_units((const step_plan *)plan, x16, h, n_u, h_out, layout, w_first);                                \
    }

STEP_FN(step_any_w, LAYOUT_ANY, 1)
STEP_FN(step_any_u, LAYOUT_ANY, 0)
#if defined(__ARM_FEATURE_DSP)
STEP_FN(step_even_w, LAYOUT_EVEN, 1)
STEP_FN(step_even_u, LAYOUT_EVEN, 0)
STEP_FN(step_blocks_w, LAYOUT_BLOCKS, 1)
STEP_FN(step_blocks_u, LAYOUT_BLOCKS, 0)
#endif

int32_t lstm_s8_get_buffer_size(const hil_lstm_weights *weights)
{
    return (int32_t)hil_recurrent_scratch_bytes(LSTM_INT32_PER_UNIT, weights->input_size, weights->hidden_size);
}

hil_kernel_status lstm_s8(const hil_context *ctx, const hil_recurrent_params *params, const hil_lstm_weights *weights,
                          const hil_dims *input_dims, const int8_t *input, int8_t *output)
{
    if (!weights || !weights->w || !weights->u || !weights->bias ||
        !hil_recurrent_args_valid(ctx, params, weights->input_size, weights->hidden_size, LSTM_INT32_PER_UNIT,
                                  input_dims, input, output)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t n_in = weights->input_size, n_h = weights->hidden_size, ps = params->pre_shift;
    int32_t *folded = (int32_t *)ctx->buf;
    int32_t *cell = folded + 4 * n_h;
    int16_t *state_a = (int16_t *)(cell + n_h);
    int16_t *state_b = state_a + n_h;
    int16_t *x16 = state_b + n_h;
    for (int32_t i = 0; i < n_h; ++i) {
        folded[4 * i] = hil_nn_fold_bias(weights->bias[i], ps, HIL_SIGMOID_INDEX_OFFSET);
        folded[4 * i + 1] = hil_nn_fold_bias(weights->bias[n_h + i], ps, HIL_SIGMOID_INDEX_OFFSET);
        folded[4 * i + 2] = hil_nn_fold_bias(weights->bias[2 * n_h + i], ps, HIL_TANH_INDEX_OFFSET);
        folded[4 * i + 3] = hil_nn_fold_bias(weights->bias[3 * n_h + i], ps, HIL_SIGMOID_INDEX_OFFSET);
    }
    const int32_t wx = params->wx_shift, uh = params->uh_shift, w_first = wx >= uh;
    const step_plan plan = {
        weights->w,
        weights->u,
        folded,
        cell,
        n_in,
        n_h,
        (int32_t)1 << (w_first ? wx - uh : uh - wx),
        (int32_t)1 << (w_first ? uh : wx),
        ps + HIL_TANH_INDEX_SHIFT,
    };
    hil_recurrent_step_fn step = w_first ? step_any_w : step_any_u;
#if defined(__ARM_FEATURE_DSP)
    /* x16 and the states are 4-byte aligned when the sizes are even (ctx->buf is) */
    if (n_in % 2 == 0 && n_h % 2 == 0 && ((uintptr_t)weights->w & 3u) == 0u && ((uintptr_t)weights->u & 3u) == 0u) {
        if (n_in % 8 == 0 && n_h % 8 == 0) {
            step = w_first ? step_blocks_w : step_blocks_u;
        } else {
            step = w_first ? step_even_w : step_even_u;
        }
    }
#endif
    /* the zero states: state_b and the cell states hold zeros, and the first step's sums skip U h */
    hil_recurrent_run(params, input_dims, n_h, input, output, state_a, state_b, x16, cell, step, &plan);
    return HIL_KERNEL_OK;
}

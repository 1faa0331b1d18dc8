/*
 * A GRU layer over int8 frames (PyTorch's gate equations, hidden state Q15). Formulas and layout in hil_kernels.h;
 * the bit-exact twin is hil/kernels_ref/gru.py.
 *
 * Unit by unit: the three gate rows (reset, update, new) of one matrix run together over its vector, so each vector
 * word loaded feeds three SMLADs (two int16 products each, with the DSP extension), first the matrix whose shift is
 * the larger (W over the widened frame when wx_shift >= uh_shift), then the other; the reset and update sums of the
 * first are scaled by 2^|wx_shift - uh_shift| and the second's products added to them, so a unit carries four sums
 * (the new gate's two stay apart: r scales only U_n h). The unit's gates and new state follow at once: no
 * accumulator is stored. When the rows and vectors are 4-byte aligned (even sizes) the words come in pairs (one LDRD
 * with write-back, 16 columns a round); a function per layout and order keeps the loops free of run-time tests.
 * The frame is widened to int16 once per step; the biases take pre_shift's rounding and the tables' index offsets
 * once per call (hil_nn_fold_bias, as hil_nn_fastgrnn_fold), so each nonlinearity reads its table index with one
 * shift and one saturation. The first step starts from the zero state and skips U h (exactly 0). The states
 * ping-pong between two scratch vectors (the run over frames, shared with lstm_s8: hil_recurrent_run); the scratch's
 * 3 * hidden int32 hold the folded biases (3 per unit, adjacent).
 *
 * Overflow reasoning (the compiler guarantees gru_accumulator_bound(params, weights, 128) <= 2^30):
 *   - W x and U h: every term |w[i,j] x[j]| << wx_shift with |x| <= 128, |u[i,j] h[j]| << uh_shift with
 *     |h| <= 32767 < 32768, so every partial sum of a row (SMLAD's pairs included), shifted (as a multiply by
 *     2^shift: a left shift of a negative int is undefined in C99), and with the row's bias, is within 2^30:
 *     exact in int32. The combined reset and update sums are such partial sums divided by 2^min(wx_shift,
 *     uh_shift) (the first matrix's sum times 2^|wx_shift - uh_shift|, then the second's terms one by one): within
 *     2^30 too, and exact.
 *   - the folded biases add 2^(pre_shift-1) + 32772 * 2^pre_shift <= 2^13 + 32772 * 2^14 < 2^29.01 (sigmoid's
 *     offset; tanh's 16386 is half) with pre_shift <= 14, so a_r + folded and a_z + folded stay below
 *     2^30 + 2^29.01 < 2^31.
 *   - r * a_h: r <= 32757 < 2^15 and |a_h| <= 2^30 make it up to 2^45, so it is formed in 64 bits (SMULL on the M4;
 *     the rounding (p + 2^14) >> 15 of the 64-bit product then fits int32). |round_shift(r * a_h, 15)| <= |a_h|
 *     since r < 2^15, and the new gate's row bound holds |W_n x| << wx_shift + |b_n| + |a_h| <= 2^30, so
 *     a_x + round_shift(r * a_h, 15) + the folded 2^(pre_shift-1) + 16386 * 2^pre_shift stays below
 *     2^30 + 2^28.01 < 2^31.
 *   - the state: z in [11, 32757], n in [-32746, 32746], |h| <= 32767: |z * (h - n)| <= 32757 * 65513 < 2^31, and
 *     n * 32768 + z * (h - n) = z * h + (32768 - z) * n is a convex mix scaled by 2^15, |.| <= 32767 * 2^15, so
 *     (. + 2^14) >> 15 is within [-32767, 32767]: int16 with no saturation, and |h| <= 32767 holds at every step.
 */
#include "hil_kernels.h"

/* The three gate rows' sums of one unit. */
typedef struct {
    int32_t r;
    int32_t z;
    int32_t n;
} gate_sums;

/* How the rows and vectors of a step lie in memory (the DSP path's loads; see dot3_s16). */
#define LAYOUT_ANY 0
#define LAYOUT_EVEN 1
#define LAYOUT_BLOCKS 2

#if defined(__ARM_FEATURE_DSP)
/* Four columns of three rows: *a_k += dot(r_k[0..3], v[0..3]), every pointer then 4 values on; aligned (a constant
 * after inlining): every pointer 4-byte aligned, so the words come in pairs (LDRD, hil_nn_ldrd_next). */
static inline __attribute__((always_inline)) void quad3(const int16_t **r0, const int16_t **r1, const int16_t **r2,
                                                        const int16_t **v, int32_t *a0, int32_t *a1, int32_t *a2,
                                                        int aligned)
{
    int32_t v0, v1, w0, w1;
    if (aligned) {
        hil_nn_ldrd_next(v, &v0, &v1);
        hil_nn_ldrd_next(r0, &w0, &w1);
        *a0 = __smlad(w1, v1, __smlad(w0, v0, *a0));
        hil_nn_ldrd_next(r1, &w0, &w1);
        *a1 = __smlad(w1, v1, __smlad(w0, v0, *a1));
        hil_nn_ldrd_next(r2, &w0, &w1);
        *a2 = __smlad(w1, v1, __smlad(w0, v0, *a2));
    } else {
        hil_nn_ldr2_next(v, &v0, &v1);
        hil_nn_ldr2_next(r0, &w0, &w1);
        *a0 = __smlad(w1, v1, __smlad(w0, v0, *a0));
        hil_nn_ldr2_next(r1, &w0, &w1);
        *a1 = __smlad(w1, v1, __smlad(w0, v0, *a1));
        hil_nn_ldr2_next(r2, &w0, &w1);
        *a2 = __smlad(w1, v1, __smlad(w0, v0, *a2));
    }
}

/* acc + (dot(r0, v), dot(r1, v), dot(r2, v)) over n int16 values: each v word feeds three SMLADs. Constants after
 * inlining: layout LAYOUT_ANY (LDR: any address), LAYOUT_EVEN (the rows and v 4-byte aligned and n even: LDRD) or
 * LAYOUT_BLOCKS (LAYOUT_EVEN with n a multiple of 8). The columns past a multiple of 8 come first (one value, then
 * one word, then two: even counts keep aligned pointers aligned), then 8, then 16 a round. */
static inline __attribute__((always_inline)) gate_sums dot3_s16(const int16_t *r0, const int16_t *r1,
                                                                const int16_t *r2, const int16_t *v, int32_t n,
                                                                gate_sums acc, int layout)
{
    const int aligned = layout != LAYOUT_ANY;
    int32_t a0 = acc.r, a1 = acc.z, a2 = acc.n;
    if (layout == LAYOUT_ANY && (n & 1)) {
        a0 += (int32_t)*r0++ * *v;
        a1 += (int32_t)*r1++ * *v;
        a2 += (int32_t)*r2++ * *v++;
    }
    if (layout != LAYOUT_BLOCKS && (n & 2)) {
        const int32_t v01 = hil_nn_read32(v);
        a0 = __smlad(hil_nn_read32(r0), v01, a0);
        a1 = __smlad(hil_nn_read32(r1), v01, a1);
        a2 = __smlad(hil_nn_read32(r2), v01, a2);
        r0 += 2;
        r1 += 2;
        r2 += 2;
        v += 2;
    }
    if (layout != LAYOUT_BLOCKS && (n & 4)) {
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
    }
    if (n & 8) {
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
    }
    for (int32_t k = n >> 4; k > 0; --k) {
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
        quad3(&r0, &r1, &r2, &v, &a0, &a1, &a2, aligned);
    }
    const gate_sums s = {a0, a1, a2};
    return s;
}
#else
/* The same sums, one product at a time (layout is only the DSP path's hint). */
static inline gate_sums dot3_s16(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int16_t *v,
                                 int32_t n, gate_sums acc, int layout)
{
    (void)layout;
    int32_t a0 = acc.r, a1 = acc.z, a2 = acc.n;
    for (int32_t j = 0; j < n; ++j) {
        a0 += (int32_t)r0[j] * v[j];
        a1 += (int32_t)r1[j] * v[j];
        a2 += (int32_t)r2[j] * v[j];
    }
    const gate_sums s = {a0, a1, a2};
    return s;
}
#endif

/* What one step needs besides the vectors, fixed for the call. */
typedef struct {
    const int16_t *w;
    const int16_t *u;
    const int32_t *folded;   /* 3 per unit: the folded biases of its reset, update and new rows */
    const int32_t *bias_hn;
    int32_t n_in;
    int32_t n_h;
    int32_t mw;              /* 2^wx_shift */
    int32_t mu;              /* 2^uh_shift */
    int32_t scale;           /* 2^|wx_shift - uh_shift|: the first product's reset and update sums onto the second's */
    int32_t shift;           /* pre_shift + HIL_TANH_INDEX_SHIFT: tanh's index shift; sigmoid's is one more */
} step_plan;

/* One step: x16 the widened frame, h the state, n_u its length in the sums (0: the zero state, U h is exactly 0 and
 * h must hold zeros), h_out the next state (not h). Constants after inlining: layout (dot3_s16's, for w and x16 and
 * for u and the states alike) and w_first (wx_shift >= uh_shift: W x is summed first, its
 * reset and update sums scaled by 2^(wx_shift - uh_shift) and U h's added to them; else the other way round), so a
 * unit carries four sums instead of six from one product to the next. */
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
    const int32_t *f = p->folded, *bias_hn = p->bias_hn;
    const int32_t mw = p->mw, mu = p->mu, scale = p->scale, shift = p->shift;
    const int32_t m_rz = w_first ? mu : mw; /* 2^min(wx_shift, uh_shift): the combined sums onto the accumulator */
    const gate_sums zero = {0, 0, 0};
    for (int32_t i = 0; i < n_h; ++i, m1 += row1, m2 += row2, f += 3) {
        gate_sums s = dot3_s16(m1, m1 + gate1, m1 + 2 * gate1, v1, n1, zero, layout);
        const int32_t new1 = s.n;
        s.r *= scale;
        s.z *= scale;
        s.n = 0;
        s = dot3_s16(m2, m2 + gate2, m2 + 2 * gate2, v2, n2, s, layout);
        const int32_t a_x = (w_first ? new1 : s.n) * mw + f[2];
        const int32_t a_h = (w_first ? s.n : new1) * mu + bias_hn[i];
        const int32_t r = hil_sigmoid_table[hil_nn_table_index((s.r * m_rz + f[0]) >> (shift + 1))];
        const int32_t z = hil_sigmoid_table[hil_nn_table_index((s.z * m_rz + f[1]) >> (shift + 1))];
        const int32_t rh = (int32_t)hil_round_shift64((int64_t)r * a_h, 15);
        const int32_t n = hil_tanh_table[hil_nn_table_index((a_x + rh) >> shift)];
        h_out[i] = (int16_t)((n * 32768 + z * (h[i] - n) + 16384) >> 15);
    }
}

/* The instantiations, each a function of its own (so that its registers serve the unit loop alone), each a
 * hil_recurrent_step_fn of a step_plan. */
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

/* The scratch's int32 per unit: the folded biases of its three gate rows. */
#define GRU_INT32_PER_UNIT 3

int32_t gru_s8_get_buffer_size(const hil_gru_weights *weights)
{
    return (int32_t)hil_recurrent_scratch_bytes(GRU_INT32_PER_UNIT, weights->input_size, weights->hidden_size);
}

static int gru_args_valid(const hil_context *ctx, const hil_recurrent_params *p, const hil_gru_weights *wt,
                          const hil_dims *dims, const int8_t *input, const int8_t *output)
{
    if (!wt || !wt->w || !wt->u || !wt->bias || !wt->bias_hn) {
        return 0;
    }
    return hil_recurrent_args_valid(ctx, p, wt->input_size, wt->hidden_size, GRU_INT32_PER_UNIT, dims, input, output);
}

hil_kernel_status gru_s8(const hil_context *ctx, const hil_recurrent_params *params, const hil_gru_weights *weights,
                         const hil_dims *input_dims, const int8_t *input, int8_t *output)
{
    if (!gru_args_valid(ctx, params, weights, input_dims, input, output)) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t n_in = weights->input_size, n_h = weights->hidden_size, ps = params->pre_shift;
    int32_t *folded = (int32_t *)ctx->buf;
    int16_t *state_a = (int16_t *)(folded + 3 * n_h);
    int16_t *state_b = state_a + n_h;
    int16_t *x16 = state_b + n_h;
    for (int32_t i = 0; i < n_h; ++i) {
        folded[3 * i] = hil_nn_fold_bias(weights->bias[i], ps, HIL_SIGMOID_INDEX_OFFSET);
        folded[3 * i + 1] = hil_nn_fold_bias(weights->bias[n_h + i], ps, HIL_SIGMOID_INDEX_OFFSET);
        folded[3 * i + 2] = hil_nn_fold_bias(weights->bias[2 * n_h + i], ps, HIL_TANH_INDEX_OFFSET);
    }
    const int32_t wx = params->wx_shift, uh = params->uh_shift, w_first = wx >= uh;
    const step_plan plan = {
        weights->w,
        weights->u,
        folded,
        weights->bias_hn,
        n_in,
        n_h,
        (int32_t)1 << wx,
        (int32_t)1 << uh,
        (int32_t)1 << (w_first ? wx - uh : uh - wx),
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
    /* the zero state: state_b holds zeros and the first step's sums skip it */
    hil_recurrent_run(params, input_dims, n_h, input, output, state_a, state_b, x16, NULL, step, &plan);
    return HIL_KERNEL_OK;
}

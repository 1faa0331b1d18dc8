/*
 * One FastGRNN step in 16-bit fixed point (the cell inside RNNPool). Formulas in hil_kernels.h.
 *
 * W and U are shared by the gate and the update (FastGRNN's trick), so one pre-activation per unit
 * serves both. The step is split so RNNPool can compute W x once per pixel (hil_nn_fastgrnn_input_*) and
 * fold the biases once per call (hil_nn_fastgrnn_fold); U h runs two units at a time so each h word
 * loaded feeds two rows; with the DSP extension SMLAD takes two int16 products per instruction. The
 * nonlinearities read the table index straight from the accumulator (one shift, one saturation).
 *
 * Overflow reasoning:
 *   - the pre-activation: the compiler guarantees (fastgrnn_accumulator_bound) that the sum of the
 *     magnitudes of every term, bias included, is <= 2^30; so every partial sum, SMLAD's included,
 *     is exact in int32; the folded biases (hil_nn_fastgrnn_fold) add at most 2^13 + 32772 * 2^14 < 2^29.01
 *     with pre_shift <= 14, so acc + folded stays inside int32.
 *   - z in [11, 32757], c in [-32746, 32746], zeta_q15, nu_q15 in [0, 32768]:
 *     zeta_q15 * (32768 - z) <= 2^15 * 32767 < 2^30;  k = that >> 15 rounded, + nu_q15 <= 65536;
 *     |k * c| <= 65536 * 32767 = 2^31 - 2^16;  |z * h| <= 2^15 * 2^15 = 2^30;
 *     with h_frac_bits <= 14, |round_shift(k * c, 15 - h_frac_bits)| <= 2^30 - 2^15, so the final sum
 *     plus 2^14 stays inside int32. The result is saturated to int16 (|h'| can exceed the Q range
 *     when sigmoid(zeta) + sigmoid(nu) > 1).
 */
#include "hil_kernels.h"

/* s0 = dot(r0, v), s1 = dot(r1, v) over n int16 values. */
static inline void dot2_s16(const int16_t *r0, const int16_t *r1, const int16_t *v, int32_t n, int32_t *s0,
                            int32_t *s1)
{
    int32_t a0 = 0, a1 = 0, j = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; j + 4 <= n; j += 4) {
        const int32_t v01 = hil_nn_read32(v + j), v23 = hil_nn_read32(v + j + 2);
        a0 = __smlad(hil_nn_read32(r0 + j), v01, a0);
        a1 = __smlad(hil_nn_read32(r1 + j), v01, a1);
        a0 = __smlad(hil_nn_read32(r0 + j + 2), v23, a0);
        a1 = __smlad(hil_nn_read32(r1 + j + 2), v23, a1);
    }
#endif
    for (; j < n; ++j) {
        a0 += (int32_t)r0[j] * v[j];
        a1 += (int32_t)r1[j] * v[j];
    }
    *s0 = a0;
    *s1 = a1;
}

static inline int32_t dot1_s16(const int16_t *r, const int16_t *v, int32_t n)
{
    int32_t a = 0, j = 0;
#if defined(__ARM_FEATURE_DSP)
    for (; j + 2 <= n; j += 2) {
        a = __smlad(hil_nn_read32(r + j), hil_nn_read32(v + j), a);
    }
#endif
    for (; j < n; ++j) {
        a += (int32_t)r[j] * v[j];
    }
    return a;
}

/* The constants of the gates and the update, read once per step into locals (so they live in registers). */
typedef struct {
    int32_t shift;     /* pre_shift + HIL_TANH_INDEX_SHIFT: tanh's index shift; sigmoid's is one more */
    int32_t zeta_q15;
    int32_t nu_q15;
    int32_t kc_shift;  /* 15 - h_frac_bits, 1..15 */
} gate_constants;

static inline gate_constants gate_constants_of(const hil_fastgrnn_params *p)
{
    const gate_constants g = {p->pre_shift + HIL_TANH_INDEX_SHIFT, p->zeta_q15, p->nu_q15, 15 - p->h_frac_bits};
    return g;
}

/* z and c of one unit from its accumulator and folded biases (hil_kernels.h). */
static inline int32_t gate_z(int32_t acc, int32_t gate, int32_t shift)
{
    return hil_sigmoid_table[hil_nn_table_index((acc + gate) >> (shift + 1))];
}

static inline int32_t gate_c(int32_t acc, int32_t update, int32_t shift)
{
    return hil_tanh_table[hil_nn_table_index((acc + update) >> shift)];
}

/* h' = sat16(round_shift(z * h + round_shift(k * c, kc_shift), 15)). */
static inline int16_t new_state(int32_t z, int32_t k, int32_t c, int32_t h, int32_t kc_shift)
{
    const int32_t v = hil_nn_round_shift32(z * h + hil_nn_round_shift32(k * c, kc_shift), 15);
#if defined(__ARM_FEATURE_DSP)
    return (int16_t)__ssat(v, 16);
#else
    return (int16_t)hil_clamp(v, -32768, 32767);
#endif
}

static inline int16_t unit_update(const gate_constants *g, int32_t acc, int32_t gate, int32_t update, int32_t h)
{
    const int32_t z = gate_z(acc, gate, g->shift);
    const int32_t k = ((g->zeta_q15 * (32768 - z) + 16384) >> 15) + g->nu_q15;
    return new_state(z, k, gate_c(acc, update, g->shift), h, g->kc_shift);
}

/* The gates and updates of n units. With zeta_q15 = 32768 and nu_q15 = 0 (EdgeML's zeta = 100, nu = -100, and the
 * paper's fixed 1 and 0) k is exactly 32768 - z: (2^15 (2^15 - z) + 2^14) >> 15 = 2^15 - z; that path skips the
 * multiply and gives the same bits. h == NULL is the zero state. */
static void update_units(const hil_fastgrnn_params *p, int32_t n, const int32_t *acc, const int32_t *folded,
                         const int16_t *h, int16_t *h_out)
{
    const gate_constants g = gate_constants_of(p);
    if (g.zeta_q15 == 32768 && g.nu_q15 == 0) {
        if (!h) {
            for (int32_t i = 0; i < n; ++i, folded += 2) {
                const int32_t z = gate_z(acc[i], folded[0], g.shift);
                h_out[i] = new_state(z, 32768 - z, gate_c(acc[i], folded[1], g.shift), 0, g.kc_shift);
            }
            return;
        }
        for (int32_t i = 0; i < n; ++i, folded += 2) {
            const int32_t z = gate_z(acc[i], folded[0], g.shift);
            h_out[i] = new_state(z, 32768 - z, gate_c(acc[i], folded[1], g.shift), h[i], g.kc_shift);
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i, folded += 2) {
        h_out[i] = unit_update(&g, acc[i], folded[0], folded[1], h ? h[i] : 0);
    }
}

#if defined(__ARM_FEATURE_DSP)
/* out[i] = base[i] + (sum_j m[i, j] v[j]) * scale over 16 columns, m 4-byte aligned: v sits in eight registers
 * and a row is four LDRDs and eight SMLADs. Inlined with constant base (NULL: zeros) or scale 1, so the compiler
 * drops what they make unnecessary and keeps the loop in registers. */
static inline __attribute__((always_inline)) void matvec16_s16(const int16_t *m, int32_t rows, const int16_t *v,
                                                               const int32_t *base, int32_t scale, int32_t *out)
{
    const int32_t *w = (const int32_t *)__builtin_assume_aligned(m, 4);
    const int32_t v0 = hil_nn_read32(v), v1 = hil_nn_read32(v + 2), v2 = hil_nn_read32(v + 4);
    const int32_t v3 = hil_nn_read32(v + 6), v4 = hil_nn_read32(v + 8), v5 = hil_nn_read32(v + 10);
    const int32_t v6 = hil_nn_read32(v + 12), v7 = hil_nn_read32(v + 14);
    for (const int32_t *end = w + 8 * rows; w < end; w += 8) {
        int32_t sum = __smuad(hil_nn_read32(w), v0);
        sum = __smlad(hil_nn_read32(w + 1), v1, sum);
        sum = __smlad(hil_nn_read32(w + 2), v2, sum);
        sum = __smlad(hil_nn_read32(w + 3), v3, sum);
        sum = __smlad(hil_nn_read32(w + 4), v4, sum);
        sum = __smlad(hil_nn_read32(w + 5), v5, sum);
        sum = __smlad(hil_nn_read32(w + 6), v6, sum);
        sum = __smlad(hil_nn_read32(w + 7), v7, sum);
        *out++ = (base ? *base++ : 0) + sum * scale;
    }
}
#endif

/* out[i] = base[i] + (sum_j m[i, j] v[j]) * scale over a rows x cols int16 matrix (base NULL: zeros). */
static void matvec_s16(const int16_t *m, int32_t rows, int32_t cols, const int16_t *v, const int32_t *base,
                       int32_t scale, int32_t *out)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    if (cols == 16 && ((uintptr_t)m & 3u) == 0u) {
        if (!base) {
            matvec16_s16(m, rows, v, NULL, scale, out);
        } else if (scale == 1) {
            matvec16_s16(m, rows, v, base, 1, out);
        } else {
            matvec16_s16(m, rows, v, base, scale, out);
        }
        return;
    }
    if (cols == 4 && !base) { /* RNN1's input term on a 4-channel pixel: two SMLADs a unit */
        const int32_t v0 = hil_nn_read32(v), v1 = hil_nn_read32(v + 2);
        for (; i < rows; ++i, m += 4) {
            out[i] = __smlad(hil_nn_read32(m + 2), v1, __smuad(hil_nn_read32(m), v0)) * scale;
        }
        return;
    }
#endif
    for (; i + 2 <= rows; i += 2) {
        int32_t s0, s1;
        dot2_s16(m + i * cols, m + (i + 1) * cols, v, cols, &s0, &s1);
        out[i] = (base ? base[i] : 0) + s0 * scale;
        out[i + 1] = (base ? base[i + 1] : 0) + s1 * scale;
    }
    if (i < rows) {
        out[i] = (base ? base[i] : 0) + dot1_s16(m + i * cols, v, cols) * scale;
    }
}

void hil_nn_fastgrnn_fold(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights, int32_t *folded)
{
    for (int32_t i = 0; i < weights->hidden_size; ++i) {
        folded[2 * i] = hil_nn_fold_bias(weights->bias_gate[i], params->pre_shift, HIL_SIGMOID_INDEX_OFFSET);
        folded[2 * i + 1] = hil_nn_fold_bias(weights->bias_update[i], params->pre_shift, HIL_TANH_INDEX_OFFSET);
    }
}

void hil_nn_fastgrnn_input_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                               const int16_t *x, int32_t *wx)
{
    /* multiply by 2^shift: a left shift of a negative int is undefined in C99 */
    matvec_s16(weights->w, weights->hidden_size, weights->input_size, x, NULL, (int32_t)1 << params->wx_shift, wx);
}

void hil_nn_fastgrnn_input_s8(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                              const int8_t *x, int16_t *x16, int32_t *wx)
{
    for (int32_t j = 0; j < weights->input_size; ++j) {
        x16[j] = x[j];
    }
    hil_nn_fastgrnn_input_s16(params, weights, x16, wx);
}

void hil_nn_fastgrnn_step_folded(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                                 const int32_t *folded, const int32_t *wx, const int16_t *h, int32_t *acc,
                                 int16_t *h_out)
{
    const int32_t n_h = weights->hidden_size;
    if (h) {
        matvec_s16(weights->u, n_h, n_h, h, wx, (int32_t)1 << params->uh_shift, acc);
        wx = acc;
    }
    update_units(params, n_h, wx, folded, h, h_out);
}

hil_kernel_status hil_nn_fastgrnn_check(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights)
{
    if (!params || !weights || !weights->w || !weights->u || !weights->bias_gate || !weights->bias_update ||
        weights->input_size < 1 || weights->hidden_size < 1 || params->wx_shift < 0 || params->wx_shift > 30 ||
        params->uh_shift < 0 || params->uh_shift > 30 || params->pre_shift < 0 || params->pre_shift > 14 ||
        params->h_frac_bits < 0 || params->h_frac_bits > 14 || params->zeta_q15 < 0 || params->zeta_q15 > 32768 ||
        params->nu_q15 < 0 || params->nu_q15 > 32768) {
        return HIL_KERNEL_ARG_ERROR;
    }
    return HIL_KERNEL_OK;
}

/* The single step, unit by unit with no scratch: the input term and the folded biases as the parts compute them. */
hil_kernel_status fastgrnn_step_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                                    const int16_t *x, const int16_t *h, int16_t *h_out)
{
    if (hil_nn_fastgrnn_check(params, weights) != HIL_KERNEL_OK || !x || !h || !h_out || h_out == h) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t n_in = weights->input_size, n_h = weights->hidden_size, ps = params->pre_shift;
    const int32_t mw = (int32_t)1 << params->wx_shift, mu = (int32_t)1 << params->uh_shift;
    const gate_constants g = gate_constants_of(params);
    for (int32_t i = 0; i < n_h; ++i) {
        const int32_t acc = dot1_s16(weights->w + i * n_in, x, n_in) * mw + dot1_s16(weights->u + i * n_h, h, n_h) * mu;
        h_out[i] = unit_update(&g, acc, hil_nn_fold_bias(weights->bias_gate[i], ps, HIL_SIGMOID_INDEX_OFFSET),
                               hil_nn_fold_bias(weights->bias_update[i], ps, HIL_TANH_INDEX_OFFSET), h[i]);
    }
    return HIL_KERNEL_OK;
}

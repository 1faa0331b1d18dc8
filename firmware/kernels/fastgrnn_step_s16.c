/*
 * One FastGRNN step in 16-bit fixed point (the cell inside RNNPool). Formulas in hil_kernels.h.
 *
 * W and U are shared by the gate and the update (FastGRNN's trick), so one pre-activation per unit
 * serves both: a matrix-vector product over [W | U], two units at a time so each x/h word loaded
 * feeds two rows; with the DSP extension SMLAD takes two int16 products per instruction.
 *
 * Overflow reasoning:
 *   - the pre-activation: the compiler guarantees (fastgrnn_accumulator_bound) that the sum of the
 *     magnitudes of every term, bias included, is <= 2^30; so every partial sum, SMLAD's included,
 *     is exact in int32, the rounding constant 2^(pre_shift-1) <= 2^30 cannot overflow either, and the
 *     Q12 value v satisfies |v| <= 2^30, so v + 65536 in the nonlinearities is safe.
 *   - z in [1, 32768], c in [-32767, 32767], zeta_q15, nu_q15 in [0, 32768]:
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

/* The gates and the state update of one unit, from its pre-activation accumulator. */
static inline int16_t unit_update(const hil_fastgrnn_params *p, int32_t acc, int32_t bias_gate, int32_t bias_update,
                                  int32_t h)
{
    const int32_t ps = p->pre_shift;
    const int32_t vg = ps > 0 ? hil_nn_round_shift32(acc + bias_gate, ps) : acc + bias_gate;
    const int32_t vh = ps > 0 ? hil_nn_round_shift32(acc + bias_update, ps) : acc + bias_update;
    const int32_t z = hil_nn_sigmoid_q15(vg);
    const int32_t c = hil_nn_tanh_q15(vh);
    const int32_t k = ((p->zeta_q15 * (32768 - z) + 16384) >> 15) + p->nu_q15;
    const int32_t kc_shift = 15 - p->h_frac_bits; /* 1..15 */
    const int32_t v = hil_nn_round_shift32(z * h + hil_nn_round_shift32(k * c, kc_shift), 15);
    return (int16_t)hil_clamp(v, -32768, 32767);
}

void hil_nn_fastgrnn_step_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                              const int16_t *x, const int16_t *h, int16_t *h_out)
{
    const int32_t n_in = weights->input_size, n_h = weights->hidden_size;
    /* multiplications by 2^shift: a left shift of a negative int is undefined in C99 */
    const int32_t mw = (int32_t)1 << params->wx_shift, mu = (int32_t)1 << params->uh_shift;
    const int16_t *w = weights->w, *u = weights->u;
    const int32_t *bg = weights->bias_gate, *bh = weights->bias_update;
    int32_t i = 0;
    for (; i + 2 <= n_h; i += 2) {
        int32_t wx0, wx1, uh0, uh1;
        dot2_s16(w + i * n_in, w + (i + 1) * n_in, x, n_in, &wx0, &wx1);
        dot2_s16(u + i * n_h, u + (i + 1) * n_h, h, n_h, &uh0, &uh1);
        h_out[i] = unit_update(params, wx0 * mw + uh0 * mu, bg[i], bh[i], h[i]);
        h_out[i + 1] = unit_update(params, wx1 * mw + uh1 * mu, bg[i + 1], bh[i + 1], h[i + 1]);
    }
    if (i < n_h) {
        const int32_t acc = dot1_s16(w + i * n_in, x, n_in) * mw + dot1_s16(u + i * n_h, h, n_h) * mu;
        h_out[i] = unit_update(params, acc, bg[i], bh[i], h[i]);
    }
}

hil_kernel_status hil_nn_fastgrnn_check(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights)
{
    if (!params || !weights || !weights->w || !weights->u || !weights->bias_gate || !weights->bias_update ||
        weights->input_size < 1 || weights->hidden_size < 1 || params->wx_shift < 0 || params->wx_shift > 30 ||
        params->uh_shift < 0 || params->uh_shift > 30 || params->pre_shift < 0 || params->pre_shift > 31 ||
        params->h_frac_bits < 0 || params->h_frac_bits > 14 || params->zeta_q15 < 0 || params->zeta_q15 > 32768 ||
        params->nu_q15 < 0 || params->nu_q15 > 32768) {
        return HIL_KERNEL_ARG_ERROR;
    }
    return HIL_KERNEL_OK;
}

hil_kernel_status fastgrnn_step_s16(const hil_fastgrnn_params *params, const hil_fastgrnn_weights *weights,
                                    const int16_t *x, const int16_t *h, int16_t *h_out)
{
    if (hil_nn_fastgrnn_check(params, weights) != HIL_KERNEL_OK || !x || !h || !h_out || h_out == h) {
        return HIL_KERNEL_ARG_ERROR;
    }
    hil_nn_fastgrnn_step_s16(params, weights, x, h, h_out);
    return HIL_KERNEL_OK;
}

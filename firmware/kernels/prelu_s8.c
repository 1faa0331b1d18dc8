/*
 * PReLU with a slope per channel (MobileFaceNet's, MTCNN's), on an NHWC map or [rows, channels]:
 *   acc = in >= 0 ? in << pos_shift : in * slope[c];  out = clamp(round_shift(acc, out_shift), act_min, act_max)
 * Both sides are brought to one grid, 2^(e_in + e_slope), so one rounding serves both: the positive side's exact
 * left shift is 2^-e_slope. |acc| < 2^7 * 2^23 < 2^31 for pos_shift <= 23 and int16 slopes, so int32 holds it.
 * DSP path (channels >= 4, out_shift 1..17 and -128 <= act_min <= act_max <= 127; otherwise, and for each pixel's
 * last channels % 4, the loop below): 4 channels a word, each block of 4 down all the pixels. The negative side:
 * SMLAWB/T of m = slope * 2^(17 - out_shift) (an exact int32 for those shifts) and the SXTB16 halfwords, USAT of that
 * >> 1 (prelu_column), PKHBT and 2 ORRs to 4 bytes. The positive side is a function of x alone, so it is done on the
 * 4 bytes at once (prelu_positive4: SADD8, UQADD8 / UHADD8) and SEL takes it where x >= 0; hil_nn_clamp4's lower
 * bound last. 24 instructions a word for pos_shift - out_shift = 0 or 1, 22 for 0 with the clamp -128..127, 26 for
 * -1; other differences loop over their doublings or halvings (about 10 instructions per element). 256x16 with
 * pos_shift 14, out_shift 13 and the clamp -120..120 went from 20.62 instructions per element to 6.09 (python -m
 * hil.kernels_ref.bench_ipm --only prelu); 5.59 with out_shift 14 and the clamp -128..127. Not below 6 there: a word
 * wants 14 registers besides its 3 byte constants, which it reads from the stack.
 */
#include "hil_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* The positive side of four values as hil_nn_clamp4's biased bytes, min(round_shift(x << pos_shift, out_shift) +
 * bias, 255) where x >= 0 (other bytes: anything), with the GE flags set where x >= 0 (SADD8 of x and x: the sign of
 * 2x). d = pos_shift - out_shift: x << d saturated (SADD8's 2x, then UQADD8 doubling with saturation; 8 doublings
 * saturate any x > 0), or (x + 2^(-d-1)) >> -d as -d halvings (UHADD8: floor((floor(y / 2) + c) / 2) =
 * floor((y + 2c) / 4); 0 from 8 on for x < 128). */
static inline __attribute__((always_inline)) uint32_t prelu_positive4(uint32_t w, int32_t d, uint32_t bias4)
{
    uint32_t v = __sadd8(w, w);
    if (d <= 0) {
        v = w;
        for (int32_t j = 1; j < -d && j < 8; ++j) {
            v = __uhadd8(v, 0);
        }
        if (d < 0) {
            v = __uhadd8(v, 0x01010101u);
        }
    }
    for (int32_t j = 1; j < d && j < 8; ++j) {
        v = __uqadd8(v, v);
    }
    return __uqadd8(v, bias4);
}

/* One block of 4 channels: what its loop takes. */
typedef struct {
    int32_t m[4];  /* slope * 2^(17 - out_shift) of each channel */
    int32_t round; /* 1 + 2 bias, bias = hil_nn_clamp4's */
    struct {
        uint32_t bias4;  /* min(bias, 255) in every byte */
        uint32_t floor4; /* hil_nn_clamp4's */
        uint32_t lo4;
    } bytes;
} prelu_block;

/* The block's channels down all the pixels (stride: channels apart; the output delta bytes past the input). The
 * negative side: SMLAWB's (m * x) >> 16 is floor(acc * 2^(1 - out_shift)), so (that + 1 + 2 bias) >> 1 is
 * round_shift(acc, out_shift) + bias, which USAT (with its ASR #1) saturates to a byte; SEL takes the positive
 * side's bytes where x >= 0. The loop holds 9 values (the multipliers, the addend, 3 addresses and the offset) and a
 * word needs 5 more: the 3 byte constants are read from memory in every word (LDR, then LDRD for the clamp's pair),
 * 2 loads where GCC's spills took 3. */
static inline __attribute__((always_inline)) void prelu_column(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                               int32_t stride, const prelu_block *block, int32_t d,
                                                               int full)
{
    const int32_t m0 = block->m[0], m1 = block->m[1], m2 = block->m[2], m3 = block->m[3], round = block->round;
    const struct {
        uint32_t bias4;
        struct {
            uint32_t floor4, lo4;
        } clamp;
    } local = {block->bytes.bias4, {block->bytes.floor4, block->bytes.lo4}}; /* the loads below address it from SP */
    const int8_t *const last = in + pixels * stride; /* the pixels run at last + offset, offset < 0 */
    int8_t *const out = (int8_t *)((uintptr_t)last + delta);
    for (int32_t offset = -pixels * stride; offset != 0; offset += stride) {
        const uint32_t w = (uint32_t)hil_nn_read32(last + offset);
        const int32_t xe = __sxtb16((int32_t)w), xo = hil_nn_sxtb16_ror8((int32_t)w);
        const int32_t even = hil_nn_pack_halves(__usat(__smlawb(m0, xe, round) >> 1, 8),
                                                __usat(__smlawt(m2, xe, round) >> 1, 8));
        const uint32_t negative = (uint32_t)even | (__usat(__smlawb(m1, xo, round) >> 1, 8) << 8) |
                                  (__usat(__smlawt(m3, xo, round) >> 1, 8) << 24);
        uint32_t bias4, floor4, lo4;
        __asm__ volatile("ldr %0, %1" : "=r"(bias4) : "m"(local.bias4));
        const uint32_t v = __sel(prelu_positive4(w, d, bias4), negative);
        uint32_t result = v ^ 0x80808080u; /* full: the clamp is -128..127 (hil_nn_clamp4_apply) */
        if (!full) {
            __asm__ volatile("ldrd %0, %1, %2" : "=&r"(floor4), "=&r"(lo4) : "m"(local.clamp));
            result = __uadd8(__uqsub8(v, floor4), lo4);
        }
        memcpy(out + offset, &result, sizeof result);
    }
}

/* One function a common d (the positive side unrolled; d 0 also with the clamp -128..127, the compiler's), and one
 * for any d and clamp. */
static __attribute__((noinline)) void prelu_column_d0_full(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                           int32_t stride, const prelu_block *block)
{
    prelu_column(in, delta, pixels, stride, block, 0, 1);
}

static __attribute__((noinline)) void prelu_column_d0(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                      int32_t stride, const prelu_block *block)
{
    prelu_column(in, delta, pixels, stride, block, 0, 0);
}

static __attribute__((noinline)) void prelu_column_d1(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                      int32_t stride, const prelu_block *block)
{
    prelu_column(in, delta, pixels, stride, block, 1, 0);
}

static __attribute__((noinline)) void prelu_column_dm1(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                       int32_t stride, const prelu_block *block)
{
    prelu_column(in, delta, pixels, stride, block, -1, 0);
}

static __attribute__((noinline)) void prelu_column_any(const int8_t *in, uintptr_t delta, int32_t pixels,
                                                       int32_t stride, const prelu_block *block, int32_t d)
{
    prelu_column(in, delta, pixels, stride, block, d, 0);
}

/* The channels 4 at a time (prelu_column), channels >= 4, 1 <= out_shift <= 17 (so that m is an exact int32); the
 * last channels % 4 are left to the caller. */
static void prelu_dsp(const hil_prelu_params *params, int32_t pixels, int32_t channels, const int8_t *input,
                      const int16_t *slope, int8_t *output)
{
    const int32_t shift = params->out_shift, d = params->pos_shift - shift;
    const hil_nn_clamp4 k = hil_nn_clamp4_make(params->act_min, params->act_max);
    const uintptr_t delta = (uintptr_t)output - (uintptr_t)input; /* one pointer steps down the pixels */
    const int full = hil_nn_clamp4_full(params->act_min, params->act_max);
    prelu_block block = {{0}, 1 + 2 * k.bias, {(uint32_t)(k.bias < 255 ? k.bias : 255) * 0x01010101u, k.floor4, k.lo4}};
    for (int32_t c = 0; c + 4 <= channels; c += 4) {
        for (int32_t i = 0; i < 4; ++i) {
            block.m[i] = slope[c + i] * (1 << (17 - shift));
        }
        if (d == 0 && full) {
            prelu_column_d0_full(input + c, delta, pixels, channels, &block);
        } else if (d == 0) {
            prelu_column_d0(input + c, delta, pixels, channels, &block);
        } else if (d == 1) {
            prelu_column_d1(input + c, delta, pixels, channels, &block);
        } else if (d == -1) {
            prelu_column_dm1(input + c, delta, pixels, channels, &block);
        } else {
            prelu_column_any(input + c, delta, pixels, channels, &block, d);
        }
    }
}
#endif

hil_kernel_status prelu_s8(const hil_prelu_params *params, int32_t pixels, int32_t channels, const int8_t *input,
                           const int16_t *slope, int8_t *output)
{
    if (!params || !input || !slope || !output || pixels < 0 || channels < 1 || params->pos_shift < 0 ||
        params->pos_shift > 23 || params->out_shift < 0 || params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t positive = (int32_t)1 << params->pos_shift;
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    int32_t first = 0; /* the first channel the loop below computes */
#if defined(__ARM_FEATURE_DSP)
    if (channels >= 4 && shift >= 1 && shift <= 17 && hil_nn_clamp4_fits(lo, hi)) {
        prelu_dsp(params, pixels, channels, input, slope, output);
        first = channels & ~3; /* the words are done: each pixel's last channels % 4 below */
    }
#endif
    for (int32_t p = 0; p < pixels && first < channels; ++p) {
        for (int32_t c = first; c < channels; ++c) {
            const int32_t x = input[c];
            output[c] = hil_nn_requantize_s8(x >= 0 ? x * positive : x * slope[c], shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

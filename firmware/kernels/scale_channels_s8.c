/*
 * A map times a runtime int8 vector with one value per channel (the squeeze-and-excitation gate of MobileNetV3 /
 * EfficientNet: the excitation's hardsigmoid/sigmoid output, one value a channel, scales every pixel of the map):
 *   acc = in * scale[c];  out = clamp(round_shift(acc, out_shift), act_min, act_max)      out_shift in 0..31
 * prelu_s8's twin, with the slope an activation computed at run time rather than a constant. |acc| <= 128 * 128 =
 * 2^14. The output's exponent is never finer than the product's grid, so out_shift is never negative.
 * DSP path (channels >= 4 and -128 <= act_min <= act_max <= 127; otherwise, and for each pixel's last channels % 4,
 * the loop below): 4 channels a word, each block of 4 down all the pixels with its 4 gates in two registers.
 * hil_nn_scale4_s8: SXTB16 (or the bytes masked in place below out_shift 8), 4 SMLAxy whose addend rounds and biases,
 * 2 PKHTB, 2 USAT16 and an ORR to 4 bytes; hil_nn_clamp4_apply: UQSUB8 and UADD8 (one EOR for -128..127). 18
 * instructions a word where the scalar loop spent 17.47 an element on the per-value rounding and clamp: MobileNetV3's
 * 28x28x72 gate (shift 6, clamp -120..120) takes 4.51 instructions per element, 4.26 with the clamp -128..127
 * (python -m hil.kernels_ref.bench_ipm --only scale_channels).
 */
#include "hil_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* The channels 4 at a time, each block of 4 down all the pixels (its 4 gates stay in two registers), channels >= 4;
 * the last channels % 4 are left to the caller. shifted: out_shift < 8 (hil_nn_scale4_s8). */
static inline __attribute__((always_inline)) void scale_channels_dsp(int32_t pixels, int32_t channels,
                                                                     const int8_t *input, const int8_t *scale,
                                                                     int8_t *output, int32_t shift,
                                                                     const hil_nn_clamp4 *k, const int shifted,
                                                                     const int full)
{
    const int32_t up = hil_nn_scale4_up(shift), round = hil_nn_scale4_round(k);
    const int32_t mask = hil_nn_in_register((int32_t)0xFF00FF00u);
    const uintptr_t delta = (uintptr_t)output - (uintptr_t)input; /* one pointer steps down the pixels */
    for (int32_t c = 0; c + 4 <= channels; c += 4) {
        const uint32_t f0 = ((uint32_t)scale[c] << up) & 0xFFFFu, f1 = ((uint32_t)scale[c + 1] << up) & 0xFFFFu;
        const int32_t fe = (int32_t)(f0 | ((uint32_t)scale[c + 2] << (up + 16)));
        const int32_t fo = (int32_t)(f1 | ((uint32_t)scale[c + 3] << (up + 16)));
        const int8_t *in = input + c;
        for (int32_t p = pixels; p > 0; --p) {
            const uint32_t v =
                hil_nn_clamp4_apply(hil_nn_scale4_s8(hil_nn_read32(in), fe, fo, round, shifted, 0, mask), k, full);
            memcpy((void *)((uintptr_t)in + delta), &v, sizeof v);
            in += channels;
        }
    }
}

/* The words of every pixel (the loop apart from the kernel's checks and tails: GCC gives it every register). */
static __attribute__((noinline)) void scale_channels_words(int32_t pixels, int32_t channels, const int8_t *input,
                                                           const int8_t *scale, int8_t *output, int32_t shift,
                                                           int32_t lo, int32_t hi)
{
    const hil_nn_clamp4 k = hil_nn_clamp4_make(lo, hi);
    const int full = hil_nn_clamp4_full(lo, hi);
    if (shift < 8) {
        if (full) {
            scale_channels_dsp(pixels, channels, input, scale, output, shift, &k, 1, 1);
        } else {
            scale_channels_dsp(pixels, channels, input, scale, output, shift, &k, 1, 0);
        }
    } else if (full) {
        scale_channels_dsp(pixels, channels, input, scale, output, shift, &k, 0, 1);
    } else {
        scale_channels_dsp(pixels, channels, input, scale, output, shift, &k, 0, 0);
    }
}
#endif

hil_kernel_status scale_channels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
                                    const int8_t *input, const int8_t *scale, int8_t *output)
{
    if (!params || !input || !scale || !output || pixels < 0 || channels < 1 || params->out_shift < 0 ||
        params->out_shift > 31) {
        return HIL_KERNEL_ARG_ERROR;
    }
    const int32_t shift = params->out_shift, lo = params->act_min, hi = params->act_max;
    int32_t first = 0; /* the first channel the loop below computes */
#if defined(__ARM_FEATURE_DSP)
    if (channels >= 4 && hil_nn_clamp4_fits(lo, hi)) {
        scale_channels_words(pixels, channels, input, scale, output, shift, lo, hi);
        first = channels & ~3; /* the words are done: each pixel's last channels % 4 below */
    }
#endif
    for (int32_t p = 0; p < pixels && first < channels; ++p) {
        for (int32_t c = first; c < channels; ++c) {
            const int32_t acc = (int32_t)input[c] * scale[c];
            output[c] = hil_nn_requantize_s8(acc, shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

/*
 * A map times a runtime int8 gate with one value per pixel, broadcast over the channels (CBAM's spatial attention:
 * a sigmoid of a convolution of the channels' mean and max, one value a pixel, scales every channel of that pixel):
 *   acc = in * scale[p];  out = clamp(round_shift(acc, out_shift), act_min, act_max)      out_shift in 0..31
 * scale_channels_s8 with the gate indexed by pixel rather than by channel (same params and requantisation).
 * |acc| <= 128 * 128 = 2^14. DSP path (channels >= 4 and -128 <= act_min <= act_max <= 127; otherwise, and for each
 * pixel's last channels % 4, the loop below): each pixel's channels 4 at a time, hil_nn_scale4_s8 with the pixel's
 * gate as the one factor, then hil_nn_clamp4_apply, 17 instructions a word. The rounding is SMLAxy's addend and the
 * clamp USAT plus two byte instructions, so the DSP path does help: CBAM's gate on the M4's 30x40x32 map (shift 6,
 * clamp -120..120) went from 16.92 instructions per element to 4.57, 4.22 with the clamp -128..127 (python -m
 * hil.kernels_ref.bench_ipm --only scale_pixels).
 */
#include "hil_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* Every pixel's channels 4 at a time (hil_nn_scale4_s8 with one factor, the gate's), channels >= 4; the last
 * channels % 4 of each pixel are left to the caller. shifted: out_shift < 8. */
static inline __attribute__((always_inline)) void scale_pixels_dsp(int32_t pixels, int32_t channels,
                                                                   const int8_t *input, const int8_t *scale,
                                                                   int8_t *output, int32_t shift,
                                                                   const hil_nn_clamp4 *k, const int shifted,
                                                                   const int full)
{
    const int32_t up = hil_nn_scale4_up(shift), round = hil_nn_scale4_round(k);
    const int32_t mask = hil_nn_in_register((int32_t)0xFF00FF00u);
    const int32_t words = channels & ~3, skip = channels - words;
    const int8_t *const last = scale + pixels;
    while (scale != last) {
        const int32_t factor = (int32_t)((uint32_t)*scale++ << up);
        const int8_t *const end = input + words;
        do {
            const uint32_t v =
                hil_nn_clamp4_apply(hil_nn_scale4_s8(hil_nn_read32(input), factor, factor, round, shifted, 1, mask), k,
                                    full);
            memcpy(output, &v, sizeof v);
            input += 4;
            output += 4;
        } while (input != end);
        input += skip;
        output += skip;
    }
}

/* The words of every pixel (the loop apart from the kernel's checks and tails: GCC gives it every register). */
static __attribute__((noinline)) void scale_pixels_words(int32_t pixels, int32_t channels, const int8_t *input,
                                                         const int8_t *scale, int8_t *output, int32_t shift,
                                                         int32_t lo, int32_t hi)
{
    const hil_nn_clamp4 k = hil_nn_clamp4_make(lo, hi);
    const int full = hil_nn_clamp4_full(lo, hi);
    if (shift < 8) {
        if (full) {
            scale_pixels_dsp(pixels, channels, input, scale, output, shift, &k, 1, 1);
        } else {
            scale_pixels_dsp(pixels, channels, input, scale, output, shift, &k, 1, 0);
        }
    } else if (full) {
        scale_pixels_dsp(pixels, channels, input, scale, output, shift, &k, 0, 1);
    } else {
        scale_pixels_dsp(pixels, channels, input, scale, output, shift, &k, 0, 0);
    }
}
#endif

hil_kernel_status scale_pixels_s8(const hil_scale_channels_params *params, int32_t pixels, int32_t channels,
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
        scale_pixels_words(pixels, channels, input, scale, output, shift, lo, hi);
        first = channels & ~3; /* the words are done: each pixel's last channels % 4 below */
    }
#endif
    for (int32_t p = 0; p < pixels && first < channels; ++p) {
        const int32_t gate = scale[p];
        for (int32_t c = first; c < channels; ++c) {
            output[c] = hil_nn_requantize_s8((int32_t)input[c] * gate, shift, lo, hi);
        }
        input += channels;
        output += channels;
    }
    return HIL_KERNEL_OK;
}

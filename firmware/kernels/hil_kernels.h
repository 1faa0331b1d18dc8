/*
 * Integer kernels the generated model code calls: one operator per file, plain C99, shapes and
 * shifts passed explicitly, no state. Layout NHWC; filters OHWI (out channel, kernel row, kernel
 * column, in channel), as CMSIS-NN.
 */
#ifndef HIL_KERNELS_H
#define HIL_KERNELS_H

#include <stdint.h>

typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} hil_dims;

typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;       /* zeros added above (and, as far as the output needs, below) */
    int32_t pad_w;       /* zeros added left (and, as far as the output needs, right) */
    int32_t out_shift;   /* out = round(acc / 2^out_shift), halves rounded up */
    int32_t act_min;     /* clamp after the shift: ReLU, ReLU6 and the int8 range in one */
    int32_t act_max;
} hil_conv_params;

typedef enum {
    HIL_KERNEL_OK = 0,
    HIL_KERNEL_ARG_ERROR = -1
} hil_kernel_status;

/* Rounding arithmetic right shift: the one requantisation every kernel shares. */
static inline int32_t hil_round_shift(int32_t acc, int32_t shift)
{
    return shift > 0 ? (int32_t)(((int64_t)acc + ((int64_t)1 << (shift - 1))) >> shift) : acc;
}

static inline int32_t hil_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Standard convolution, int8 in/out, int32 bias and accumulator. */
hil_kernel_status conv2d_s8(const hil_conv_params *params, const hil_dims *input_dims, const int8_t *input,
                            const hil_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            const hil_dims *output_dims, int8_t *output);

#endif

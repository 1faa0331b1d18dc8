/*
 * An element-wise activation as a 256-entry table (CMSIS-NN does int8 sigmoid and tanh the same way): with the
 * input's and output's exponents fixed at compile time, every int8 input has exactly one correctly rounded
 * output, so one table lookup per value replaces the float function, whatever the function.
 */
#include "hil_kernels.h"

hil_kernel_status lut_s8(int32_t count, const int8_t *input, const int8_t *table, int8_t *output)
{
    if (count < 0 || !input || !table || !output) {
        return HIL_KERNEL_ARG_ERROR;
    }
    for (int32_t i = 0; i < count; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
    return HIL_KERNEL_OK;
}

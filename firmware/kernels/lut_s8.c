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
    const int8_t *centre = table + 128;  /* centre[v] for v in -128..127 */
    int32_t i = 0;
    for (; i + 4 <= count; i += 4) { /* four lookups per loop test; all read before any write (in place too) */
        const int8_t a = centre[input[i]], b = centre[input[i + 1]];
        const int8_t c = centre[input[i + 2]], d = centre[input[i + 3]];
        output[i] = a;
        output[i + 1] = b;
        output[i + 2] = c;
        output[i + 3] = d;
    }
    for (; i < count; ++i) {
        output[i] = centre[input[i]];
    }
    return HIL_KERNEL_OK;
}

/* Test-only exports of the header's inline tanh/sigmoid, so pytest can sweep them against the numpy twin. */
#include "hil_kernels.h"

void hil_test_tanh_q15(const int32_t *v, int32_t *out, int32_t n);
void hil_test_sigmoid_q15(const int32_t *v, int32_t *out, int32_t n);

void hil_test_tanh_q15(const int32_t *v, int32_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = hil_nn_tanh_q15(v[i]);
    }
}

void hil_test_sigmoid_q15(const int32_t *v, int32_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = hil_nn_sigmoid_q15(v[i]);
    }
}

/* One timed inference: LED lit exactly around model_run, timer read on both sides. */
#ifndef HIL_INFERENCE_H
#define HIL_INFERENCE_H

#include <stdint.h>

#include "hil_model.h"

#define HIL_MAX_TENSORS 16u

typedef struct {
    int32_t status;            /* model_run's return value */
    uint64_t ticks;            /* board timer ticks spent in model_run, less those waiting for streamed input */
    uint32_t stack_high_water; /* bytes, since reset */
    uint32_t output_crc[HIL_MAX_TENSORS];
} inference_result;

void inference_run(const hil_model_info *model, uint8_t *arena, inference_result *result);

/* Bracket a wait for streamed input inside model_run: the LED goes dark and the timer's ticks are not counted. */
void inference_wait_begin(void);
void inference_wait_end(void);

/* CRC-32 of every input tensor held in the arena, in order, as the host computes it over what it sent. */
uint32_t inference_input_crc(const hil_model_info *model, const uint8_t *arena);

#endif

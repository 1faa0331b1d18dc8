#include "inference.h"

#include "board.h"
#include "crc32.h"
#include "runtime.h"

uint32_t hil_tensor_bytes(const hil_tensor_info *tensor)
{
    static const uint8_t dtype_bytes[] = {1u, 2u, 4u, 1u, 4u};
    uint32_t n = tensor->dtype < sizeof dtype_bytes ? dtype_bytes[tensor->dtype] : 0u;
    for (uint8_t i = 0; i < tensor->rank; ++i) {
        n *= tensor->dims[i];
    }
    return n;
}

/* Ticks spent waiting for streamed input during the current inference, and when the current wait began. */
static uint64_t waited_ticks;
static uint64_t wait_start;

void inference_wait_begin(void)
{
    board_led_inference(0);
    wait_start = board_timer_read();
}

void inference_wait_end(void)
{
    waited_ticks += board_timer_read() - wait_start;
    board_led_inference(1);
}

void inference_run(const hil_model_info *model, uint8_t *arena, inference_result *result)
{
    /* Repainted per run, so the high-water mark is this inference's, not the deepest since boot (a link
       error's handling path went deeper than the inference and made the same run report more). */
    stack_paint();
    waited_ticks = 0;
    board_led_inference(1);
    uint64_t start = board_timer_read();
    result->status = model_run(arena);
    uint64_t end = board_timer_read();
    board_led_inference(0);

    result->ticks = end - start - waited_ticks;
    result->stack_high_water = stack_high_water();
    for (uint8_t i = 0; i < model->n_outputs && i < HIL_MAX_TENSORS; ++i) {
        const hil_tensor_info *t = &model->outputs[i];
        result->output_crc[i] = crc32_update(0, arena + t->arena_offset, hil_tensor_bytes(t));
    }
}

uint32_t inference_input_crc(const hil_model_info *model, const uint8_t *arena)
{
    uint32_t crc = 0;
    for (uint8_t i = 0; i < model->n_inputs; ++i) {
        const hil_tensor_info *t = &model->inputs[i];
        if (t->arena_offset == HIL_STREAMED_INPUT) {
            continue; /* checked by the application as it serves the reads */
        }
        crc = crc32_update(crc, arena + t->arena_offset, hil_tensor_bytes(t));
    }
    return crc;
}

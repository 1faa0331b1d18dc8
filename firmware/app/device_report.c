#include "device_report.h"

#include <string.h>

#include "hil_build_config.h"
#include "protocol.h"
#include "runtime.h"

static void tensor_write(wire_writer *w, const hil_tensor_info *t)
{
    uint32_t scale_bits;
    memcpy(&scale_bits, &t->scale, sizeof scale_bits);
    wire_put_str(w, t->name);
    wire_put_u8(w, (uint8_t)t->dtype);
    wire_put_u8(w, t->rank);
    for (uint8_t i = 0; i < t->rank; ++i) {
        wire_put_u32(w, t->dims[i]);
    }
    wire_put_u32(w, scale_bits);
    wire_put_u32(w, (uint32_t)t->zero_point);
}

void info_write(wire_writer *w, const board_status *board, const hil_model_info *model, uint32_t io_buffer_bytes,
                const char *transport)
{
    uint32_t id_length;
    const uint8_t *id = build_id(&id_length);

    wire_put_u16(w, PROTOCOL_VERSION);
    wire_put_u16(w, HIL_MAX_PAYLOAD);
    wire_put_u32(w, board->core_clock_hz);
    wire_put_u32(w, board->timer_hz);
    wire_put_u8(w, (uint8_t)board->timer_kind);
    wire_put_u32(w, board->flags);
    wire_put_u32(w, model->arena_size);
    wire_put_u32(w, stack_size());
    wire_put_u32(w, io_buffer_bytes);
    wire_put_str(w, HIL_FIRMWARE_VERSION);
    wire_put_str(w, board_name);
    wire_put_str(w, model->name);
    wire_put_str(w, model->hash);
    wire_put_str(w, HIL_BUILD_FLAGS);
    wire_put_str(w, transport);
    wire_put_u8(w, (uint8_t)id_length);
    wire_put_bytes(w, id, id_length);
    wire_put_u8(w, model->n_inputs);
    for (uint8_t i = 0; i < model->n_inputs; ++i) {
        tensor_write(w, &model->inputs[i]);
    }
    wire_put_u8(w, model->n_outputs);
    for (uint8_t i = 0; i < model->n_outputs; ++i) {
        tensor_write(w, &model->outputs[i]);
    }
    /* Every input's arena offset, in order: HIL_STREAMED_INPUT marks one the host streams after RUN_STARTED. */
    for (uint8_t i = 0; i < model->n_inputs; ++i) {
        wire_put_u32(w, model->inputs[i].arena_offset);
    }
}

void result_write(wire_writer *w, const board_status *board, const hil_model_info *model,
                  const inference_result *result, uint32_t inference_count)
{
    wire_put_u32(w, (uint32_t)result->status);
    wire_put_u8(w, (uint8_t)board->timer_kind);
    wire_put_u32(w, board->timer_hz);
    wire_put_u64(w, result->ticks);
    wire_put_u32(w, result->stack_high_water);
    wire_put_u32(w, inference_count);
    wire_put_u8(w, model->n_outputs);
    for (uint8_t i = 0; i < model->n_outputs && i < HIL_MAX_TENSORS; ++i) {
        wire_put_u32(w, hil_tensor_bytes(&model->outputs[i]));
        wire_put_u32(w, result->output_crc[i]);
    }
}

void stats_write(wire_writer *w, const hil_model_info *model, const link_counters *counters)
{
    wire_put_u32(w, stack_high_water());
    wire_put_u32(w, stack_size());
    wire_put_u32(w, model->arena_size);
    wire_put_u32(w, counters->io_buffer_bytes);
    wire_put_u32(w, counters->inference_count);
    wire_put_u32(w, counters->rx_bad_crc);
    wire_put_u32(w, counters->rx_bad_length);
    wire_put_u32(w, counters->rx_timeouts);
}

#include "uart_session.h"

#include <string.h>

#include "crc32.h"
#include "hil_build_config.h"
#include "link_io.h"
#include "protocol.h"
#include "wire.h"

void uart_session_send_error(uint8_t code, uint8_t request_type, uint8_t seq, const char *text)
{
    uint8_t payload[2u + 255u];
    wire_writer w = {payload, sizeof payload, 0, 0};
    wire_put_u8(&w, code);
    wire_put_u8(&w, request_type);
    uint32_t n = (uint32_t)strlen(text);
    wire_put_bytes(&w, (const uint8_t *)text, n > 255u ? 255u : n);
    frame_send(MSG_ERROR, seq, payload, (uint16_t)w.length);
}

static void reply_with(const frame *request, const wire_writer *w)
{
    if (w->overflow) {
        uart_session_send_error(ERR_BAD_LENGTH, request->type, request->seq, "reply larger than HIL_MAX_PAYLOAD");
        return;
    }
    frame_send(request->type | MSG_REPLY, request->seq, w->data, (uint16_t)w->length);
}

static const hil_tensor_info *tensor_at(const hil_tensor_info *tensors, uint8_t count, uint8_t index)
{
    return index < count ? &tensors[index] : 0;
}

static void handle_input(uart_session *s, const frame *request)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    uint8_t index = wire_get_u8(&r);
    uint32_t offset = wire_get_u32(&r);
    const hil_tensor_info *t = tensor_at(s->model->inputs, s->model->n_inputs, index);
    uint32_t n = request->length - r.position;
    if (r.underflow || !t) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq, "INPUT needs u8 tensor < n_inputs, u32 offset");
        return;
    }
    uint32_t size = hil_tensor_bytes(t);
    if (offset > size || n > size - offset) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq, "INPUT chunk runs past the tensor's end");
        return;
    }
    memcpy(s->arena + t->arena_offset + offset, request->payload + r.position, n);
    s->have_result = 0;
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    wire_put_u8(&w, index);
    wire_put_u32(&w, offset);
    wire_put_u32(&w, n);
    reply_with(request, &w);
}

static void handle_set_baud(uart_session *s, const frame *request)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    uint32_t baud = wire_get_u32(&r);
    if (r.underflow || !link_baud_ok(baud)) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq,
                                "SET_BAUD needs a u32 rate this link can make within 2 %");
        return;
    }
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    wire_put_u32(&w, baud);
    reply_with(request, &w);
    if (baud == s->baud) {
        s->settled_baud = baud;
        s->trial_deadline = 0u;
        return;
    }
    if (!s->trial_deadline) {
        s->settled_baud = s->baud;
    }
    link_set_baud(baud);
    s->baud = baud;
    s->trial_deadline = board_timer_read() + (uint64_t)s->board.timer_hz * BAUD_TRIAL_MS / 1000u;
}

static void end_trial(uart_session *s)
{
    link_set_baud(s->settled_baud);
    s->baud = s->settled_baud;
    s->trial_deadline = 0u;
}

static void send_result(uart_session *s, uint8_t seq)
{
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    result_write(&w, &s->board, s->model, &s->last_result, s->counters.inference_count);
    frame_send(MSG_RESULT, seq, s->reply, (uint16_t)w.length);
}

static void handle_run(uart_session *s, const frame *request)
{
    /* A repeated seq means our RESULT was lost: answer from the cache instead of running again. */
    if (s->have_result && request->seq == s->last_run_seq) {
        frame_send(MSG_RUN_STARTED, request->seq, 0, 0);
        send_result(s, request->seq);
        return;
    }
    wire_reader r = {request->payload, request->length, 0, 0};
    uint32_t expected_crc = wire_get_u32(&r);
    if (r.underflow) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq, "RUN needs the u32 CRC-32 of the inputs");
        return;
    }
    if (inference_input_crc(s->model, s->arena) != expected_crc) {
        uart_session_send_error(ERR_INPUT_MISMATCH, request->type, request->seq,
                                "the inputs on the device differ from what the host sent");
        return;
    }
    frame_send(MSG_RUN_STARTED, request->seq, 0, 0);
    inference_run(s->model, s->arena, &s->last_result);
    s->counters.inference_count++;
    s->have_result = 1;
    s->last_run_seq = request->seq;
    send_result(s, request->seq);
}

static void handle_read_output(uart_session *s, const frame *request)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    uint8_t index = wire_get_u8(&r);
    uint32_t offset = wire_get_u32(&r);
    uint16_t n = wire_get_u16(&r);
    const hil_tensor_info *t = tensor_at(s->model->outputs, s->model->n_outputs, index);
    if (r.underflow || !t) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq,
                                "READ_OUTPUT needs u8 tensor < n_outputs, u32 offset, u16 length");
        return;
    }
    uint32_t size = hil_tensor_bytes(t);
    if (offset > size || n > size - offset || n > HIL_MAX_PAYLOAD - 5u) {
        uart_session_send_error(ERR_BAD_ARGUMENT, request->type, request->seq,
                                "READ_OUTPUT range runs past the tensor's end or the payload limit");
        return;
    }
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    wire_put_u8(&w, index);
    wire_put_u32(&w, offset);
    wire_put_bytes(&w, s->arena + t->arena_offset + offset, n);
    reply_with(request, &w);
}

void uart_session_handle(uart_session *s, frame_status status, const frame *request)
{
    switch (status) {
    case FRAME_OK:
        break;
    case FRAME_BAD_CRC:
        s->counters.rx_bad_crc++;
        uart_session_send_error(ERR_BAD_CRC, request->type, request->seq, "frame CRC mismatch");
        return;
    case FRAME_BAD_LENGTH:
        s->counters.rx_bad_length++;
        uart_session_send_error(ERR_BAD_LENGTH, request->type, request->seq, "frame length over HIL_MAX_PAYLOAD");
        return;
    case FRAME_TIMEOUT:
        /* Bytes were lost mid-frame: the host's own timeout resends; an error reply could only collide. */
        s->counters.rx_timeouts++;
        return;
    case FRAME_DEADLINE:
        end_trial(s);
        return;
    }

    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    switch (request->type) {
    case MSG_PING:
        wire_put_bytes(&w, request->payload, request->length);
        reply_with(request, &w);
        break;
    case MSG_INFO:
        info_write(&w, &s->board, s->model, s->counters.io_buffer_bytes, HIL_TRANSPORTS);
        reply_with(request, &w);
        break;
    case MSG_STATS:
        stats_write(&w, s->model, &s->counters);
        reply_with(request, &w);
        break;
    case MSG_INPUT:
        handle_input(s, request);
        break;
    case MSG_RUN:
        handle_run(s, request);
        break;
    case MSG_READ_OUTPUT:
        handle_read_output(s, request);
        break;
    case MSG_SET_BAUD:
        handle_set_baud(s, request);
        break;
    default:
        uart_session_send_error(ERR_UNKNOWN_TYPE, request->type, request->seq, "unknown request type");
        break;
    }
}

#include "uart_session.h"

#include <string.h>

#include "crc32.h"
#include "hil_build_config.h"
#include "link_io.h"
#include "protocol.h"
#include "wire.h"

/* An ERROR frame built in payload (at least 2 + 255 bytes). */
static void send_error_in(uint8_t *payload, uint8_t code, uint8_t request_type, uint8_t seq, const char *text)
{
    wire_writer w = {payload, 2u + 255u, 0, 0};
    wire_put_u8(&w, code);
    wire_put_u8(&w, request_type);
    uint32_t n = (uint32_t)strlen(text);
    wire_put_bytes(&w, (const uint8_t *)text, n > 255u ? 255u : n);
    frame_send(MSG_ERROR, seq, payload, (uint16_t)w.length);
}

void uart_session_send_error(uint8_t code, uint8_t request_type, uint8_t seq, const char *text)
{
    uint8_t payload[2u + 255u];
    send_error_in(payload, code, request_type, seq, text);
}

/* An ERROR built in the reply buffer, so answering from inside a model's hil_input_read costs no stack. */
static void session_error(uart_session *s, const frame *request, uint8_t code, const char *text)
{
    send_error_in(s->reply, code, request->type, request->seq, text);
}

static void reply_with(uart_session *s, const frame *request, const wire_writer *w)
{
    if (w->overflow) {
        session_error(s, request, ERR_BAD_LENGTH, "reply larger than HIL_MAX_PAYLOAD");
        return;
    }
    frame_send(request->type | MSG_REPLY, request->seq, w->data, (uint16_t)w->length);
}

static const hil_tensor_info *tensor_at(const hil_tensor_info *tensors, uint8_t count, uint8_t index)
{
    return index < count ? &tensors[index] : 0;
}

/* The session of the run in progress, for hil_input_read; 0 between runs. */
static uart_session *streaming;

static int is_streamed(const uart_session *s, uint32_t index)
{
    return index < s->model->n_inputs && s->model->inputs[index].arena_offset == HIL_STREAMED_INPUT;
}

/* The first streamed input at or after index; n_inputs when there is none. */
static uint8_t next_streamed(const uart_session *s, uint32_t index)
{
    while (index < s->model->n_inputs && !is_streamed(s, index)) {
        ++index;
    }
    return (uint8_t)index;
}

/* Whether the model has read every byte of [offset, offset + n) of streamed input index in the current or last run. */
static int stream_read(const uart_session *s, uint8_t index, uint32_t offset, uint32_t n)
{
    return index < s->stream_tensor || (index == s->stream_tensor && offset + n <= s->stream_position);
}

static void send_input_ack(uint8_t seq, uint8_t index, uint32_t offset, uint32_t n)
{
    uint8_t payload[9];
    wire_writer w = {payload, sizeof payload, 0, 0};
    wire_put_u8(&w, index);
    wire_put_u32(&w, offset);
    wire_put_u32(&w, n);
    frame_send(MSG_INPUT | MSG_REPLY, seq, payload, (uint16_t)w.length);
}

/* Acknowledges the INPUT frame held in the receiver (s->request: valid until the next frame_receive). */
static void ack_held(uart_session *s)
{
    const frame *held = s->request;
    uint32_t offset = (uint32_t)held->payload[1] | ((uint32_t)held->payload[2] << 8) |
                      ((uint32_t)held->payload[3] << 16) | ((uint32_t)held->payload[4] << 24);
    s->ack_pending = 0;
    send_input_ack(held->seq, held->payload[0], offset, held->length - 5u);
}

/* An INPUT's tensor, offset and data length, checked against the model's inputs; 0 (answered) when it is bad. */
static const hil_tensor_info *input_request(uart_session *s, const frame *request, uint8_t *index, uint32_t *offset,
                                            uint32_t *n, uint32_t *data_at)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    *index = wire_get_u8(&r);
    *offset = wire_get_u32(&r);
    *n = request->length - r.position;
    *data_at = r.position;
    const hil_tensor_info *t = tensor_at(s->model->inputs, s->model->n_inputs, *index);
    if (r.underflow || !t) {
        session_error(s, request, ERR_BAD_ARGUMENT, "INPUT needs u8 tensor < n_inputs, u32 offset");
        return 0;
    }
    uint32_t size = hil_tensor_bytes(t);
    if (*offset > size || *n > size - *offset) {
        session_error(s, request, ERR_BAD_ARGUMENT, "INPUT chunk runs past the tensor's end");
        return 0;
    }
    return t;
}

static void handle_input(uart_session *s, const frame *request)
{
    uint8_t index;
    uint32_t offset, n, data_at;
    const hil_tensor_info *t = input_request(s, request, &index, &offset, &n, &data_at);
    if (!t) {
        return;
    }
    if (t->arena_offset == HIL_STREAMED_INPUT) {
        /* A resend of a streamed frame whose acknowledgement was lost is acknowledged again; nothing else. */
        if (stream_read(s, index, offset, n)) {
            send_input_ack(request->seq, index, offset, n);
            return;
        }
        session_error(s, request, ERR_BAD_ARGUMENT, "a streamed input's INPUT frames go after RUN_STARTED, in order");
        return;
    }
    memcpy(s->arena + t->arena_offset + offset, request->payload + data_at, n);
    s->have_result = 0;
    send_input_ack(request->seq, index, offset, n);
}

static void handle_set_baud(uart_session *s, const frame *request)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    uint32_t baud = wire_get_u32(&r);
    if (r.underflow || !link_baud_ok(baud)) {
        session_error(s, request, ERR_BAD_ARGUMENT, "SET_BAUD needs a u32 rate this link can make within 2 %");
        return;
    }
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    wire_put_u32(&w, baud);
    reply_with(s, request, &w);
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

/*
 * A frame that arrived while the model waits for streamed input: answered here, or held for the model (1) when
 * it is the stream's INPUT holding the next byte the model has not read.
 */
static int stream_frame(uart_session *s, const frame *request)
{
    if (request->type == MSG_PING) {
        frame_send(MSG_PING | MSG_REPLY, request->seq, request->payload, request->length);
        return 0;
    }
    if (request->type == MSG_RUN && request->seq == s->run_seq) {
        frame_send(MSG_RUN_STARTED, request->seq, 0, 0); /* our RUN_STARTED was lost */
        return 0;
    }
    if (request->type != MSG_INPUT) {
        session_error(s, request, ERR_BUSY, "a RUN is reading streamed input: only PING, that RUN and its INPUT now");
        return 0;
    }
    uint8_t index;
    uint32_t offset, n, data_at;
    if (!input_request(s, request, &index, &offset, &n, &data_at)) {
        return 0;
    }
    if (!is_streamed(s, index)) {
        session_error(s, request, ERR_BUSY, "a RUN is reading streamed input: INPUT for a held input goes before RUN");
        return 0;
    }
    if (stream_read(s, index, offset, n)) {
        send_input_ack(request->seq, index, offset, n);
        return 0;
    }
    if (index != s->stream_tensor || offset > s->stream_position) {
        session_error(s, request, ERR_BAD_ARGUMENT, "INPUT skips streamed bytes the model has not read");
        return 0;
    }
    /* A frame resized by the host may overlap what was read: the model takes it from its next byte on. */
    uint32_t skip = s->stream_position - offset;
    s->held = request->payload + data_at + skip;
    s->held_left = n - skip;
    s->ack_pending = 1;
    return 1;
}

/*
 * Acknowledges the frame the model has read (the host then sends the next) and waits for the frame holding the
 * next byte, answering the others; ERR_TIMEOUT after the stream timeout with no INPUT (or damaged) frame. Not
 * timed, LED dark.
 */
static int32_t stream_wait(uart_session *s)
{
    inference_wait_begin();
    if (s->ack_pending) {
        ack_held(s);
    }
    int32_t status = ERR_TIMEOUT;
    uint64_t timeout = (uint64_t)s->board.timer_hz * s->stream_timeout_ms / 1000u;
    uint64_t deadline = board_timer_read() + timeout;
    for (;;) {
        uint64_t until = s->trial_deadline && s->trial_deadline < deadline ? s->trial_deadline : deadline;
        frame_status got = frame_receive(s->receiver, s->request, s->byte_timeout, until);
        if (got == FRAME_DEADLINE) {
            if (s->trial_deadline && board_timer_read() >= s->trial_deadline) {
                end_trial(s);
                continue;
            }
            break;
        }
        /* An INPUT, or a damaged frame (likely one): the host is there, streaming. PING and RUN do not count. */
        if (got != FRAME_OK || s->request->type == MSG_INPUT) {
            deadline = board_timer_read() + timeout;
        }
        if (got != FRAME_OK) {
            uart_session_handle(s, got, s->request);
            continue;
        }
        if (stream_frame(s, s->request)) {
            status = 0;
            break;
        }
    }
    inference_wait_end();
    return status;
}

int32_t hil_input_read(uint8_t tensor, uint32_t offset, uint32_t length, uint8_t *destination)
{
    uart_session *s = streaming;
    if (!s || !is_streamed(s, tensor)) {
        return ERR_BAD_ARGUMENT;
    }
    const hil_tensor_info *inputs = s->model->inputs;
    if (tensor != s->stream_tensor) {
        /* The host streams the inputs in order: the model moves on only after reading the one before whole. */
        if (s->stream_position != hil_tensor_bytes(&inputs[s->stream_tensor]) ||
            next_streamed(s, s->stream_tensor + 1u) != tensor) {
            return ERR_BAD_ARGUMENT;
        }
        s->stream_tensor = tensor;
        s->stream_position = 0;
    }
    uint32_t size = hil_tensor_bytes(&inputs[tensor]);
    if (offset != s->stream_position || length > size - offset) {
        return ERR_BAD_ARGUMENT;
    }
    while (length) {
        if (!s->held_left) {
            int32_t status = stream_wait(s);
            if (status) {
                return status;
            }
        }
        uint32_t n = s->held_left < length ? s->held_left : length;
        memcpy(destination, s->held, n);
        s->stream_crc = crc32_update(s->stream_crc, s->held, n);
        s->held += n;
        s->held_left -= n;
        s->stream_position += n;
        destination += n;
        length -= n;
    }
    if (s->ack_pending && s->stream_position == size && next_streamed(s, tensor + 1u) == s->model->n_inputs) {
        /* The last streamed byte: acknowledged at once, so the host waits for RESULT while the model runs on. */
        inference_wait_begin();
        ack_held(s);
        inference_wait_end();
    }
    return 0;
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
    uint32_t streamed_crc = wire_get_u32(&r);
    uint32_t timeout_ms = request->length >= 12u ? wire_get_u32(&r) : 0u;
    uint8_t first_streamed = next_streamed(s, 0);
    int streams = first_streamed < s->model->n_inputs;
    if (request->length < 4u || (streams && request->length < 8u)) {
        session_error(s, request, ERR_BAD_ARGUMENT,
                      "RUN needs the u32 CRC-32 of the held inputs, and with streamed inputs that of the streamed");
        return;
    }
    if (inference_input_crc(s->model, s->arena) != expected_crc) {
        session_error(s, request, ERR_INPUT_MISMATCH, "the inputs on the device differ from what the host sent");
        return;
    }
    s->have_result = 0;
    frame_send(MSG_RUN_STARTED, request->seq, 0, 0);
    s->run_seq = request->seq;
    s->stream_tensor = first_streamed;
    s->stream_position = 0;
    s->stream_crc = 0;
    s->held_left = 0;
    s->ack_pending = 0;
    s->stream_timeout_ms = timeout_ms ? timeout_ms : HIL_STREAM_TIMEOUT_MS;
    streaming = s;
    /* request is the receiver's frame, which the stream's frames replace: only run_seq names the RUN now. */
    inference_run(s->model, s->arena, &s->last_result);
    streaming = 0;
    if (streams && s->last_result.status == 0) {
        /* Every streamed byte read, and the bytes the host meant (the stream's CRC; see protocol.h). */
        int whole = next_streamed(s, s->stream_tensor + 1u) == s->model->n_inputs &&
                    s->stream_position == hil_tensor_bytes(&s->model->inputs[s->stream_tensor]);
        if (!whole || s->stream_crc != streamed_crc) {
            s->last_result.status = -(int32_t)ERR_INPUT_MISMATCH;
        }
    }
    s->counters.inference_count++;
    s->have_result = 1;
    s->last_run_seq = s->run_seq;
    send_result(s, s->run_seq);
}

static void handle_read_output(uart_session *s, const frame *request)
{
    wire_reader r = {request->payload, request->length, 0, 0};
    uint8_t index = wire_get_u8(&r);
    uint32_t offset = wire_get_u32(&r);
    uint16_t n = wire_get_u16(&r);
    const hil_tensor_info *t = tensor_at(s->model->outputs, s->model->n_outputs, index);
    if (r.underflow || !t) {
        session_error(s, request, ERR_BAD_ARGUMENT, "READ_OUTPUT needs u8 tensor < n_outputs, u32 offset, u16 length");
        return;
    }
    uint32_t size = hil_tensor_bytes(t);
    if (offset > size || n > size - offset || n > HIL_MAX_PAYLOAD - 5u) {
        session_error(s, request, ERR_BAD_ARGUMENT, "READ_OUTPUT range runs past the tensor's end or the payload limit");
        return;
    }
    wire_writer w = {s->reply, HIL_MAX_PAYLOAD, 0, 0};
    wire_put_u8(&w, index);
    wire_put_u32(&w, offset);
    wire_put_bytes(&w, s->arena + t->arena_offset + offset, n);
    reply_with(s, request, &w);
}

void uart_session_handle(uart_session *s, frame_status status, const frame *request)
{
    switch (status) {
    case FRAME_OK:
        break;
    case FRAME_BAD_CRC:
        s->counters.rx_bad_crc++;
        session_error(s, request, ERR_BAD_CRC, "frame CRC mismatch");
        return;
    case FRAME_BAD_LENGTH:
        s->counters.rx_bad_length++;
        session_error(s, request, ERR_BAD_LENGTH, "frame length over HIL_MAX_PAYLOAD");
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
        reply_with(s, request, &w);
        break;
    case MSG_INFO:
        info_write(&w, &s->board, s->model, s->counters.io_buffer_bytes, HIL_TRANSPORTS);
        reply_with(s, request, &w);
        break;
    case MSG_STATS:
        stats_write(&w, s->model, &s->counters);
        reply_with(s, request, &w);
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
        session_error(s, request, ERR_UNKNOWN_TYPE, "unknown request type");
        break;
    }
}

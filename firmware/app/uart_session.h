/*
 * The device side of the framed link (UART or RTT): answers one request frame at a time, and serves a running
 * model's hil_input_read from the INPUT frames the host streams during a RUN.
 */
#ifndef HIL_UART_SESSION_H
#define HIL_UART_SESSION_H

#include <stdint.h>

#include "board.h"
#include "device_report.h"
#include "frame.h"
#include "hil_model.h"
#include "inference.h"

typedef struct {
    const hil_model_info *model;
    uint8_t *arena;
    board_status board;
    link_counters counters;
    uint8_t *reply;            /* HIL_MAX_PAYLOAD bytes for the payload of replies */
    inference_result last_result;
    int have_result;
    uint8_t last_run_seq;
    /* A run's streamed inputs (see protocol.h): the RUN's seq, the input being streamed, and whether the INPUT
       frame held in the receiver (request) is to be acknowledged once the model wants bytes past it. */
    uint8_t run_seq;
    uint8_t stream_tensor;
    uint8_t ack_pending;
    uint32_t baud;            /* the link's rate now */
    uint32_t settled_baud;    /* the rate to return to when a trial (see MSG_SET_BAUD) is not committed */
    uint64_t trial_deadline;  /* board timer; 0 while no rate is on trial */
    frame_receiver *receiver; /* where frames arrive, also while a run waits for streamed input */
    frame *request;           /* the frame being answered (a fault report names it) */
    uint64_t byte_timeout;    /* board ticks a frame may stall before its bytes count as lost */
    /* How much of the streamed input the model has read, the CRC of every streamed byte read, and the held
       frame's bytes it has not read. */
    uint32_t stream_position;
    uint32_t stream_crc;
    uint32_t stream_timeout_ms; /* no frame for this long: hil_input_read gives up */
    const uint8_t *held;
    uint32_t held_left;
} uart_session;

/* Answers one received frame (or the receive error) with its reply frames; FRAME_DEADLINE ends a rate trial. */
void uart_session_handle(uart_session *s, frame_status status, const frame *request);

/* Sends an ERROR frame. */
void uart_session_send_error(uint8_t code, uint8_t request_type, uint8_t seq, const char *text);

#endif

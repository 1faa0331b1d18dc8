/* The device side of the UART link: answers one request frame at a time. */
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
    uint32_t baud;            /* the link's rate now */
    uint32_t settled_baud;    /* the rate to return to when a trial (see MSG_SET_BAUD) is not committed */
    uint64_t trial_deadline;  /* board timer; 0 while no rate is on trial */
} uart_session;

/* Answers one received frame (or the receive error) with its reply frames; FRAME_DEADLINE ends a rate trial. */
void uart_session_handle(uart_session *s, frame_status status, const frame *request);

/* Sends an ERROR frame. */
void uart_session_send_error(uint8_t code, uint8_t request_type, uint8_t seq, const char *text);

#endif

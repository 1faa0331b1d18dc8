/* The application over the framed link (UART or RTT, see link_io.h): answer the host's requests for ever. */
#include "board.h"
#include "fault.h"
#include "frame.h"
#include "hil_build_config.h"
#include "link_io.h"
#include "model.h"
#include "runtime.h"
#include "uart_session.h"

/* A frame that stalls for this long lost bytes on the way: drop it and wait for the host to resend. */
#define BYTE_TIMEOUT_MS 50u

static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(16)));
/* The request being answered, so a fault report names it. */
static frame current;
static frame_receiver receiver __attribute__((section(".ccm_bss")));
static uint8_t reply[HIL_MAX_PAYLOAD] __attribute__((section(".ccm_bss")));

void fault_report(const uint32_t *stacked, uint32_t exception)
{
    char text[160];
    fault_enter(text, sizeof text, stacked, exception);
    uart_session_send_error(ERR_FAULT, current.type, current.seq, text);
    for (;;) {
    }
}

int main(void)
{
    uart_session s = {0};
    board_init(HIL_UART_BAUD, &s.board);
    s.model = &model_info;
    s.arena = arena;
    s.reply = reply;
    s.counters.io_buffer_bytes = (uint32_t)(sizeof receiver + sizeof reply) + link_buffer_bytes();
    s.baud = HIL_UART_BAUD;
    s.settled_baud = HIL_UART_BAUD;
    s.receiver = &receiver;
    s.request = &current;
    s.byte_timeout = (uint64_t)s.board.timer_hz * BYTE_TIMEOUT_MS / 1000u;
    for (;;) {
        frame_status status = frame_receive(&receiver, &current, s.byte_timeout, s.trial_deadline);
        uart_session_handle(&s, status, &current);
    }
}

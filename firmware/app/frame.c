#include "frame.h"

#include <string.h>

#include "board.h"
#include "crc32.h"
#include "link_io.h"

static void drop(frame_receiver *rx, uint32_t n)
{
    memmove(rx->raw, rx->raw + n, rx->count - n);
    rx->count -= n;
}

/* Drops bytes up to the first that may begin a frame: a sync pair, or a lone first sync byte at the end. */
static void skip_to_sync(frame_receiver *rx)
{
    uint32_t i = 0;
    while (i < rx->count &&
           !(rx->raw[i] == FRAME_SYNC0 && (i + 1u == rx->count || rx->raw[i + 1u] == FRAME_SYNC1))) {
        ++i;
    }
    drop(rx, i);
}

/* Whether the board timer has reached deadline; a deadline of 0 never comes. */
static int past(uint64_t deadline)
{
    return deadline && board_timer_read() >= deadline;
}

/*
 * Appends up to wanted bytes (at least one): 1, or 0 when the timeout passes first, or -1 at the deadline.
 * A timeout of 0 waits for ever.
 * Whole runs are copied at once: a byte at a time, a 2 KB frame from RAM rings cost QEMU milliseconds. The timer
 * is read only once nothing is waiting: under QEMU -icount each timer read ends a translation block.
 */
static int receive(frame_receiver *rx, uint32_t wanted, uint64_t timeout_ticks, uint64_t deadline)
{
    uint32_t n = link_read(rx->raw + rx->count, wanted);
    if (n == 0u) {
        uint64_t start = board_timer_read();
        while ((n = link_read(rx->raw + rx->count, wanted)) == 0u) {
            if (timeout_ticks && board_timer_read() - start > timeout_ticks) {
                return 0;
            }
            if (past(deadline)) {
                return -1;
            }
        }
    }
    rx->count += n;
    return 1;
}

frame_status frame_receive(frame_receiver *rx, frame *f, uint64_t byte_timeout_ticks, uint64_t deadline)
{
    drop(rx, rx->consumed);
    rx->consumed = 0;
    for (;;) {
        if (past(deadline)) {
            rx->count = 0;
            return FRAME_DEADLINE;
        }
        skip_to_sync(rx);
        uint32_t needed = FRAME_HEADER_BYTES;
        if (rx->count >= FRAME_HEADER_BYTES) {
            f->type = rx->raw[2];
            f->seq = rx->raw[3];
            f->length = (uint16_t)(rx->raw[4] | (rx->raw[5] << 8));
            if (f->length > HIL_MAX_PAYLOAD) {
                drop(rx, 1);
                return FRAME_BAD_LENGTH;
            }
            needed = FRAME_HEADER_BYTES + f->length + FRAME_CRC_BYTES;
        }
        if (rx->count >= needed) {
            const uint8_t *c = rx->raw + FRAME_HEADER_BYTES + f->length;
            uint32_t received = (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) | ((uint32_t)c[3] << 24);
            if (crc32_update(0, rx->raw + 2, FRAME_HEADER_BYTES - 2u + f->length) != received) {
                drop(rx, 1);
                return FRAME_BAD_CRC;
            }
            f->payload = rx->raw + FRAME_HEADER_BYTES;
            rx->consumed = needed;
            return FRAME_OK;
        }
        /* needed is the header, then the whole frame: never more, so the next frame's bytes stay in the link. */
        int got = receive(rx, needed - rx->count, rx->count ? byte_timeout_ticks : 0u, deadline);
        if (got <= 0) {
            rx->count = 0;
            return got ? FRAME_DEADLINE : FRAME_TIMEOUT;
        }
    }
}

void frame_send(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t length)
{
    uint8_t header[FRAME_HEADER_BYTES] = {FRAME_SYNC0, FRAME_SYNC1, type, seq, (uint8_t)length,
                                          (uint8_t)(length >> 8)};
    uint32_t crc = crc32_update(0, header + 2, FRAME_HEADER_BYTES - 2u);
    crc = crc32_update(crc, payload, length);
    uint8_t trailer[FRAME_CRC_BYTES] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    link_write(header, sizeof header);
    link_write(payload, length);
    link_write(trailer, sizeof trailer);
    link_flush();
}

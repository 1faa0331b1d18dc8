/* Framing of the host link (see protocol.h): receive with resynchronisation, send with CRC. */
#ifndef HIL_FRAME_H
#define HIL_FRAME_H

#include <stdint.h>

#include "protocol.h"

#define FRAME_MAX_BYTES (FRAME_HEADER_BYTES + HIL_MAX_PAYLOAD + FRAME_CRC_BYTES)

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t length;
    const uint8_t *payload; /* inside the receiver's buffer: valid until the next frame_receive */
} frame;

/*
 * Bytes received and not yet consumed. After a corrupt frame the bytes after its first one stay
 * here and are searched again for a sync, so a frame that arrived right behind a truncated one
 * is still found.
 */
typedef struct {
    uint8_t raw[FRAME_MAX_BYTES];
    uint32_t count;
    uint32_t consumed; /* bytes of the last good frame, dropped on the next call */
} frame_receiver;

typedef enum {
    FRAME_OK = 0,
    FRAME_BAD_CRC,    /* header fields hold what arrived, so the error reply can name the seq */
    FRAME_BAD_LENGTH, /* the length field exceeds HIL_MAX_PAYLOAD */
    FRAME_TIMEOUT,    /* a frame stopped arriving part way: bytes were lost */
    FRAME_DEADLINE    /* the deadline passed with no whole frame: what had arrived is dropped */
} frame_status;

/*
 * Waits until a frame starts or the board timer reaches deadline (0: no deadline), then gives each
 * following byte at most byte_timeout_ticks of board timer. Anything before the sync bytes is skipped.
 */
frame_status frame_receive(frame_receiver *rx, frame *f, uint64_t byte_timeout_ticks, uint64_t deadline);

void frame_send(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t length);

#endif

/*
 * The host link, as bytes on the wire. hil/link/messages.py is its Python twin: change both together.
 *
 * Frame: 0xA5 0x5A | type u8 | seq u8 | length u16 | payload[length] | crc32 u32
 * Little-endian; the CRC-32 (IEEE 802.3, the one zlib computes) covers type..payload.
 * The host sends one request and waits for its reply (stop and wait), so the device never holds
 * more than one frame. A reply carries the request's seq; the reply type is the request type | 0x80.
 * Every request is idempotent (INPUT carries its offset, RUN is answered from a cache when its seq
 * repeats), so the host may resend any request whose reply was lost or corrupt.
 *
 * Streamed inputs (arena_offset HIL_STREAMED_INPUT; INFO lists every input's arena offset): the device does not
 * hold them, the model reads them through hil_input_read while it runs. The host sends no INPUT for them before
 * RUN; after RUN_STARTED it sends each streamed input, in input order, as INPUT frames in offset order, each
 * after the previous one's acknowledgement. The device keeps one INPUT frame in its receive buffer while the
 * model reads it and acknowledges it only when the model wants bytes past it (the last frame of the last
 * streamed input: as soon as it is read), so its UART is listening whenever a frame may come (the device
 * paces the stream). While it waits for the next frame it answers PING, a repeated RUN (same seq) with
 * RUN_STARTED, an INPUT it has read already (a resend) with its acknowledgement, an INPUT that overlaps the
 * next unread byte by taking the bytes from there on, and anything else with ERROR (ERR_BUSY, or
 * ERR_BAD_ARGUMENT for an INPUT that skips unread bytes). A wait with no INPUT frame (or damaged frame) for the
 * RUN's stream timeout ends it: hil_input_read returns ERR_TIMEOUT, the model fails, and RESULT's status is
 * -ERR_TIMEOUT. The device CRCs the streamed bytes in the order the model reads them (input order, offset
 * order: the order the host sent them) and checks the CRC the RUN carries after the model ran: a mismatch
 * (bytes damaged, misplaced or missing) makes RESULT's status -ERR_INPUT_MISMATCH. A model reads its streamed
 * inputs one after another, in input order (hil_input_read refuses anything else with ERR_BAD_ARGUMENT).
 */
#ifndef HIL_PROTOCOL_H
#define HIL_PROTOCOL_H

#define PROTOCOL_VERSION 2u /* 2: streamed inputs (INFO's input offsets, RUN's streamed CRC) */

#define FRAME_SYNC0 0xA5u
#define FRAME_SYNC1 0x5Au
#define FRAME_HEADER_BYTES 6u
#define FRAME_CRC_BYTES 4u

#ifndef HIL_MAX_PAYLOAD
#define HIL_MAX_PAYLOAD 2048u
#endif

/* Requests. */
#define MSG_PING 0x01u        /* payload: anything; reply echoes it */
#define MSG_INFO 0x02u        /* reply: see info_write in device_report.c */
#define MSG_INPUT 0x03u       /* u8 tensor, u32 offset, data; reply: u8 tensor, u32 offset, u32 length */
/*
 * u32 crc32 of the inputs held in the arena (every input not streamed, in order: every input of a model without
 * streamed ones); then u32 crc32 of the streamed inputs (in order, each whole; required when the model has any);
 * then, optional, u32 stream timeout in ms (absent or 0: HIL_STREAM_TIMEOUT_MS). Replies RUN_STARTED, then (after
 * the stream) RESULT. A held-input mismatch is refused before the run with ERROR ERR_INPUT_MISMATCH.
 */
#define MSG_RUN 0x04u
#define MSG_READ_OUTPUT 0x06u /* u8 tensor, u32 offset, u16 length; reply: u8 tensor, u32 offset, data */
#define MSG_STATS 0x07u       /* reply: see stats_write in device_report.c */
/* How long the device waits for the next frame of a stream when the RUN states no timeout. */
#define HIL_STREAM_TIMEOUT_MS 10000u
/*
 * u32 baud; reply: u32 baud, sent at the old rate, then the UART moves to baud on trial: it keeps that rate
 * only if SET_BAUD for the same rate arrives intact within BAUD_TRIAL_MS (the host's commit after a verified
 * echo burst), and otherwise returns to the rate before. SET_BAUD for the current rate just answers.
 */
#define MSG_SET_BAUD 0x08u
#define BAUD_TRIAL_MS 500u

/* Replies. */
#define MSG_REPLY 0x80u
#define MSG_RUN_STARTED (MSG_RUN | MSG_REPLY)
#define MSG_RESULT 0x85u      /* see result_write in device_report.c */
#define MSG_ERROR 0xFFu       /* u8 code, u8 request type, text */

/* Error codes: in ERROR replies and as the semihosting exit status. */
#define ERR_NONE 0u
#define ERR_BAD_CRC 1u
#define ERR_BAD_LENGTH 2u
#define ERR_UNKNOWN_TYPE 3u
#define ERR_BAD_ARGUMENT 4u
#define ERR_INPUT_MISMATCH 5u
#define ERR_MODEL_FAILED 6u
#define ERR_IO 7u
#define ERR_FAULT 8u
#define ERR_TIMEOUT 9u
#define ERR_NO_INPUT 10u /* semihosting: no input files, so only hil_info.bin was written */
#define ERR_BUSY 11u     /* a request other than PING, the RUN and its INPUT while a run reads streamed input */

#endif

/*
 * The byte stream under the framed link (frame.c): one implementation is linked per build flavour,
 * link_uart.c over the board's UART or rtt.c over SEGGER RTT rings in RAM.
 */
#ifndef HIL_LINK_IO_H
#define HIL_LINK_IO_H

#include <stdint.h>

/* Up to max received bytes into dst; 0 when none is waiting. */
uint32_t link_read(uint8_t *dst, uint32_t max);

/* Blocking write of n bytes to the host. */
void link_write(const uint8_t *data, uint32_t n);

/* A whole frame was written: the host may collect it now. */
void link_flush(void);

/* Whether the byte stream has a rate that can move to baud (a UART within 2 %; never RTT). */
int link_baud_ok(uint32_t baud);

/* Moves the byte stream to baud (link_baud_ok) once everything written has left. */
void link_set_baud(uint32_t baud);

/* Bytes of RAM the byte stream keeps for itself (reported in INFO with the frame buffers). */
uint32_t link_buffer_bytes(void);

#endif

/* The framed link's byte stream over the board's UART. */
#include "board.h"
#include "link_io.h"

int link_read_byte(void)
{
    return board_uart_read_byte();
}

void link_write(const uint8_t *data, uint32_t n)
{
    board_uart_write(data, n);
}

void link_flush(void)
{
    /* board_uart_write returns once the bytes are in the UART: nothing is held back. */
}

uint32_t link_buffer_bytes(void)
{
    return 0u;
}

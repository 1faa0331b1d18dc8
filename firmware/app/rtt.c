/* The framed link's byte stream over SEGGER RTT rings in RAM (see rtt.h). */
#include "rtt.h"

#include <string.h>

#include "frame.h"
#include "link_io.h"

/*
 * One whole frame either way (a ring holds one byte less than its size), so a frame moves in one halt; no
 * more, as the rings count against the RAM budget. Rounded up to whole words.
 */
#define RTT_RING_BYTES ((FRAME_MAX_BYTES + 1u + 3u) & ~3u)
#define RTT_UP_BYTES RTT_RING_BYTES
#define RTT_DOWN_BYTES RTT_RING_BYTES

/* The host finds the control block by its symbol or signature, so it is one object at a fixed address. */
rtt_control_block _SEGGER_RTT __attribute__((section(".ccm_bss")));
static uint8_t up_buffer[RTT_UP_BYTES] __attribute__((section(".ccm_bss")));
static uint8_t down_buffer[RTT_DOWN_BYTES] __attribute__((section(".ccm_bss")));

/*
 * hil_rtt_wait alone in a 1 KB page (QEMU's page size for M-profile cores): QEMU 7.2 runs every instruction on a
 * page that holds a breakpoint as a block of its own, which made the ring loops beside it ~20 times slower. It
 * is written in assembly so nothing else lands in its page. A function call is a compiler barrier, so the
 * callers reread the ring offsets the host moved while the core was halted.
 */
__asm__(".section .text.hil_rtt_wait,\"ax\",%progbits\n"
        ".balign 1024\n"
        ".global hil_rtt_wait\n"
        ".type hil_rtt_wait, %function\n"
        ".thumb_func\n"
        "hil_rtt_wait:\n"
        "    bx lr\n"
        ".size hil_rtt_wait, . - hil_rtt_wait\n"
        ".balign 1024\n"
        ".text\n");

/* Orders the ring's bytes before the offset that publishes them, for a probe reading the running core. */
static void publish_barrier(void)
{
    __asm volatile("dmb" ::: "memory");
}

/* The control block, set up on first use; its signature is written last so a host never finds half of it. */
static rtt_control_block *control_block(void)
{
    rtt_control_block *cb = &_SEGGER_RTT;
    if (cb->id[0] == RTT_SIGNATURE[0]) {
        return cb;
    }
    cb->max_up_rings = 1;
    cb->max_down_rings = 1;
    cb->up[0] = (rtt_ring){"hil", up_buffer, RTT_UP_BYTES, 0u, 0u, 0u};
    cb->down[0] = (rtt_ring){"hil", down_buffer, RTT_DOWN_BYTES, 0u, 0u, 0u};
    publish_barrier();
    memcpy(cb->id + 1, RTT_SIGNATURE + 1, sizeof RTT_SIGNATURE - 1u);
    publish_barrier();
    cb->id[0] = RTT_SIGNATURE[0];
    return cb;
}

uint32_t link_read(uint8_t *dst, uint32_t max)
{
    rtt_ring *down = &control_block()->down[0];
    uint32_t read = down->read_offset;
    uint32_t write = down->write_offset;
    if (read == write) {
        hil_rtt_wait();
        return 0;
    }
    uint32_t n = (write > read ? write : down->size) - read;
    n = n < max ? n : max;
    memcpy(dst, down->buffer + read, n);
    publish_barrier();
    down->read_offset = read + n == down->size ? 0u : read + n;
    return n;
}

void link_write(const uint8_t *data, uint32_t n)
{
    rtt_ring *up = &control_block()->up[0];
    while (n) {
        uint32_t write = up->write_offset;
        uint32_t read = up->read_offset;
        uint32_t space = (read > write ? read - write : up->size - write + read) - 1u;
        if (space == 0u) {
            hil_rtt_wait();
            continue;
        }
        uint32_t run = up->size - write;
        run = run < space ? run : space;
        run = run < n ? run : n;
        memcpy(up->buffer + write, data, run);
        publish_barrier();
        up->write_offset = write + run == up->size ? 0u : write + run;
        data += run;
        n -= run;
    }
}

void link_flush(void)
{
    hil_rtt_wait();
}

int link_baud_ok(uint32_t baud)
{
    (void)baud;
    return 0;
}

void link_set_baud(uint32_t baud)
{
    (void)baud;
}

uint32_t link_buffer_bytes(void)
{
    return (uint32_t)(sizeof _SEGGER_RTT + sizeof up_buffer + sizeof down_buffer);
}

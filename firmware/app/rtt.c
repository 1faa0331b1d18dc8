/* The framed link's byte stream over SEGGER RTT rings in RAM (see rtt.h). */
#include "rtt.h"

#include <string.h>

#include "link_io.h"

/* Sized for throughput: a whole frame of HIL_MAX_PAYLOAD fits either way, so a frame moves in one pass. */
#define RTT_UP_BYTES 4096u
#define RTT_DOWN_BYTES 4096u

/* The host finds the control block by its symbol or signature, so it is one object at a fixed address. */
rtt_control_block _SEGGER_RTT __attribute__((section(".ccm_bss")));
static uint8_t up_buffer[RTT_UP_BYTES] __attribute__((section(".ccm_bss")));
static uint8_t down_buffer[RTT_DOWN_BYTES] __attribute__((section(".ccm_bss")));

/* noipa: the call must stay, even though the body does nothing the compiler can see. */
__attribute__((noipa, used)) void hil_rtt_wait(void)
{
    __asm volatile("" ::: "memory");
}

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

int link_read_byte(void)
{
    rtt_ring *down = &control_block()->down[0];
    uint32_t read = down->read_offset;
    if (read == down->write_offset) {
        hil_rtt_wait();
        return -1;
    }
    uint8_t c = down->buffer[read];
    publish_barrier();
    down->read_offset = read + 1u == down->size ? 0u : read + 1u;
    return c;
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

uint32_t link_buffer_bytes(void)
{
    return (uint32_t)(sizeof _SEGGER_RTT + sizeof up_buffer + sizeof down_buffer);
}

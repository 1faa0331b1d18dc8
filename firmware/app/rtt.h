/*
 * SEGGER RTT's control block, in the layout pyOCD, OpenOCD, probe-rs and J-Link look for: a debug
 * probe finds it in RAM by its signature (or by the symbol _SEGGER_RTT) and moves bytes through its
 * rings while the core runs. hil/link/rtt.py is its Python twin: change both together.
 *
 * Up rings carry device -> host bytes (the device writes write_offset, the host read_offset); down
 * rings carry host -> device bytes (the host writes write_offset, the device read_offset). A ring of
 * size n holds at most n - 1 bytes, so equal offsets mean empty.
 */
#ifndef HIL_RTT_H
#define HIL_RTT_H

#include <stdint.h>

#define RTT_SIGNATURE "SEGGER RTT"
#define RTT_ID_BYTES 16u

typedef struct {
    const char *name;
    uint8_t *buffer;
    uint32_t size;
    volatile uint32_t write_offset;
    volatile uint32_t read_offset;
    uint32_t flags;
} rtt_ring;

typedef struct {
    char id[RTT_ID_BYTES];
    int32_t max_up_rings;
    int32_t max_down_rings;
    rtt_ring up[1];
    rtt_ring down[1];
} rtt_control_block;

/*
 * Called where the device cannot go on without the host: the down ring is empty, the up ring is full,
 * or a frame waits in the up ring. It does nothing, so a probe that reads the running core just lets
 * it spin; under QEMU the host puts a breakpoint here, and the gdbstub halts the guest for exactly as
 * long as the host moves bytes.
 */
void hil_rtt_wait(void);

#endif

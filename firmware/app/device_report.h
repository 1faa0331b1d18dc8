/*
 * The payloads of INFO, RESULT and STATS. The UART session sends them as frames; the semihosting
 * build writes the same bytes to host files, so the host parses one format for both.
 */
#ifndef HIL_DEVICE_REPORT_H
#define HIL_DEVICE_REPORT_H

#include <stdint.h>

#include "board.h"
#include "hil_model.h"
#include "inference.h"
#include "wire.h"

typedef struct {
    uint32_t inference_count;
    uint32_t rx_bad_crc;
    uint32_t rx_bad_length;
    uint32_t rx_timeouts;
    uint32_t io_buffer_bytes;
} link_counters;

void info_write(wire_writer *w, const board_status *board, const hil_model_info *model, uint32_t io_buffer_bytes,
                const char *transport);

void result_write(wire_writer *w, const board_status *board, const hil_model_info *model,
                  const inference_result *result, uint32_t inference_count);

void stats_write(wire_writer *w, const hil_model_info *model, const link_counters *counters);

#endif

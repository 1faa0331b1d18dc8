/*
 * The application over semihosting: one inference on inputs read from host files, outputs and
 * reports written to host files, status as the exit code. Paths are relative to the host tool's
 * working directory (QEMU's, or pyOCD's on a board):
 *   in:  hil_input_<i>.bin (the exact bytes of input tensor i); with none, only hil_info.bin is written. A streamed
 *        input (arena_offset HIL_STREAMED_INPUT) is not read ahead: its file stays open and hil_input_read seeks
 *        and reads the bytes the model asks for.
 *   out: hil_info.bin and hil_result.bin (the INFO and RESULT payloads of the UART link),
 *        hil_output_<i>.bin (the bytes of output tensor i)
 */
#include <stdint.h>

#include "board.h"
#include "device_report.h"
#include "fault.h"
#include "hil_build_config.h"
#include "inference.h"
#include "model.h"
#include "protocol.h"
#include "runtime.h"
#include "semihosting.h"

/* INFO and RESULT as the framed link sends them, so whatever fits one frame fits here. */
#define REPORT_BYTES HIL_MAX_PAYLOAD

static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t report[REPORT_BYTES] __attribute__((section(".ccm_bss")));
/* Host file handles of the streamed inputs, kept open through model_run; -1 for an input read into the arena. */
static int32_t streamed_handles[HIL_MAX_TENSORS];

void fault_report(const uint32_t *stacked, uint32_t exception)
{
    char text[160];
    fault_enter(text, sizeof text, stacked, exception);
    sh_write0(text);
    sh_write0("\n");
    sh_exit(ERR_FAULT);
}

static void tensor_file_name(char *name, const char *stem, uint8_t index)
{
    const char *suffix = ".bin";
    uint32_t n = 0;
    while (*stem) {
        name[n++] = *stem++;
    }
    if (index >= 10u) {
        name[n++] = (char)('0' + index / 10u);
    }
    name[n++] = (char)('0' + index % 10u);
    while (*suffix) {
        name[n++] = *suffix++;
    }
    name[n] = '\0';
}

static void fail(const char *text, uint32_t code) __attribute__((noreturn));
static void fail(const char *text, uint32_t code)
{
    sh_write0(text);
    sh_write0("\n");
    sh_exit(code);
}

static void write_file(const char *name, const uint8_t *data, uint32_t n)
{
    int32_t h = sh_open(name, SH_MODE_WRITE_BINARY);
    if (h < 0) {
        fail("hil: cannot create an output file on the host", ERR_IO);
    }
    if (sh_write(h, data, n) != 0u) {
        fail("hil: short write to a host file", ERR_IO);
    }
    sh_close(h);
}

static void read_input(const hil_tensor_info *t, uint8_t index)
{
    char name[32];
    tensor_file_name(name, "hil_input_", index);
    int32_t h = sh_open(name, SH_MODE_READ_BINARY);
    if (h < 0 && index == 0u) {
        /* The host asks what this firmware is by giving it nothing to run on. */
        sh_exit(ERR_NO_INPUT);
    }
    if (h < 0) {
        fail("hil: cannot open hil_input_<i>.bin on the host", ERR_IO);
    }
    uint32_t size = hil_tensor_bytes(t);
    if (sh_file_length(h) != (int32_t)size) {
        fail("hil: hil_input_<i>.bin does not hold exactly the input tensor's bytes", ERR_BAD_LENGTH);
    }
    if (t->arena_offset == HIL_STREAMED_INPUT) {
        streamed_handles[index] = h; /* the model reads it through hil_input_read */
        return;
    }
    if (sh_read(h, arena + t->arena_offset, size) != 0u) {
        fail("hil: short read from hil_input_<i>.bin", ERR_IO);
    }
    sh_close(h);
}

int32_t hil_input_read(uint8_t tensor, uint32_t offset, uint32_t length, uint8_t *destination)
{
    if (tensor >= model_info.n_inputs || tensor >= HIL_MAX_TENSORS || streamed_handles[tensor] < 0) {
        return (int32_t)ERR_BAD_ARGUMENT;
    }
    const uint32_t size = hil_tensor_bytes(&model_info.inputs[tensor]);
    if (offset > size || length > size - offset) {
        return (int32_t)ERR_BAD_ARGUMENT;
    }
    inference_wait_begin();
    const int32_t h = streamed_handles[tensor];
    const uint32_t status = (sh_seek(h, offset) != 0 || sh_read(h, destination, length) != 0u) ? ERR_IO : ERR_NONE;
    inference_wait_end();
    return (int32_t)status;
}

int main(void)
{
    board_status board;
    board_init(HIL_UART_BAUD, &board);

    wire_writer w = {report, sizeof report, 0, 0};
    info_write(&w, &board, &model_info, sizeof report, HIL_TRANSPORTS);
    if (w.overflow) {
        fail("hil: INFO larger than its buffer", ERR_BAD_LENGTH);
    }
    write_file("hil_info.bin", report, w.length);

    if (model_info.n_inputs > HIL_MAX_TENSORS) {
        fail("hil: the model has more inputs than the application serves", ERR_BAD_ARGUMENT);
    }
    for (uint8_t i = 0; i < HIL_MAX_TENSORS; ++i) {
        streamed_handles[i] = -1;
    }
    for (uint8_t i = 0; i < model_info.n_inputs; ++i) {
        read_input(&model_info.inputs[i], i);
    }
    inference_result result;
    inference_run(&model_info, arena, &result);
    for (uint8_t i = 0; i < model_info.n_inputs; ++i) {
        if (streamed_handles[i] >= 0) {
            sh_close(streamed_handles[i]);
        }
    }

    for (uint8_t i = 0; i < model_info.n_outputs; ++i) {
        char name[32];
        const hil_tensor_info *t = &model_info.outputs[i];
        tensor_file_name(name, "hil_output_", i);
        write_file(name, arena + t->arena_offset, hil_tensor_bytes(t));
    }
    w.length = 0;
    result_write(&w, &board, &model_info, &result, 1u);
    if (w.overflow) {
        fail("hil: report larger than its buffer", ERR_BAD_LENGTH);
    }
    write_file("hil_result.bin", report, w.length);
    sh_exit(result.status == 0 ? ERR_NONE : ERR_MODEL_FAILED);
}

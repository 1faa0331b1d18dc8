#include "fault.h"

#include "board.h"

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

/* Positions of the stacked registers in an exception frame. */
#define FRAME_LR 5u
#define FRAME_PC 6u

typedef struct {
    char *buf;
    uint32_t size;
    uint32_t length;
} text_buffer;

static void append(text_buffer *t, const char *s)
{
    while (*s && t->length + 1u < t->size) {
        t->buf[t->length++] = *s++;
    }
    t->buf[t->length] = '\0';
}

static void append_hex(text_buffer *t, const char *label, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char hex[11] = "0x";
    for (int i = 0; i < 8; ++i) {
        hex[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    hex[10] = '\0';
    append(t, label);
    append(t, hex);
}

void fault_enter(char *buf, uint32_t size, const uint32_t *frame, uint32_t exception)
{
    text_buffer t = {buf, size, 0};
    board_led_inference(0);
    board_led_error(1);
    if (size == 0u) {
        return;
    }
    buf[0] = '\0';
    append_hex(&t, "fault exception=", exception);
    if (frame) {
        append_hex(&t, " pc=", frame[FRAME_PC]);
        append_hex(&t, " lr=", frame[FRAME_LR]);
    }
    append_hex(&t, " cfsr=", SCB_CFSR);
    append_hex(&t, " hfsr=", SCB_HFSR);
    append_hex(&t, " mmfar=", SCB_MMFAR);
    append_hex(&t, " bfar=", SCB_BFAR);
}

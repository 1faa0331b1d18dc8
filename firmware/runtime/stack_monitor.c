/* Stack painting: the high-water mark is the deepest word that no longer holds the pattern. */
#include "runtime.h"

#define STACK_PATTERN 0xC5C5C5C5u
/* Words below the current stack pointer left unpainted: the painting function's own frame. */
#define STACK_PAINT_MARGIN_WORDS 16u

extern uint32_t _sstack, _estack;

void stack_paint(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; p < sp - STACK_PAINT_MARGIN_WORDS; ++p) {
        *p = STACK_PATTERN;
    }
}

uint32_t stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PATTERN) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

uint32_t stack_size(void)
{
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

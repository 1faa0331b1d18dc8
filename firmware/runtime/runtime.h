/* What the board-independent runtime offers the startup code and the application. */
#ifndef HIL_RUNTIME_H
#define HIL_RUNTIME_H

#include <stdint.h>

/* Fills the unused part of the stack with a pattern; called once at reset, before main. */
void stack_paint(void);

/* Deepest stack use since reset, in bytes, found from the untouched pattern. */
uint32_t stack_high_water(void);

/* Bytes reserved for the stack by the linker script. */
uint32_t stack_size(void);

/*
 * Called from the fault handlers with the stacked frame (or 0) and the exception number.
 * Reports the fault to the host in the way the build's transport allows, then never returns.
 */
void fault_report(const uint32_t *frame, uint32_t exception) __attribute__((noreturn));

/* The build ID the linker wrote into the image; *length receives its size in bytes. */
const uint8_t *build_id(uint32_t *length);

#endif

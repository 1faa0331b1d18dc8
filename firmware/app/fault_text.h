#ifndef HIL_FAULT_TEXT_H
#define HIL_FAULT_TEXT_H

#include <stdint.h>

/* "fault exception=N pc=0x... lr=0x... cfsr=0x... hfsr=0x... mmfar=0x... bfar=0x..." into buf. */
void fault_describe(char *buf, uint32_t size, const uint32_t *frame, uint32_t exception);

#endif

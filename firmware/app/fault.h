#ifndef HIL_FAULT_H
#define HIL_FAULT_H

#include <stdint.h>

/*
 * What every fault report does first: the inference LED off, the error LED on, and the fault
 * described as "fault exception=N pc=0x... lr=0x... cfsr=0x... hfsr=0x... mmfar=0x... bfar=0x..."
 * in buf. The transport then sends the text its own way.
 */
void fault_enter(char *buf, uint32_t size, const uint32_t *frame, uint32_t exception);

#endif

/* Little-endian writers and readers over a bounded buffer; an overflow sets a flag instead of writing. */
#ifndef HIL_WIRE_H
#define HIL_WIRE_H

#include <stdint.h>

typedef struct {
    uint8_t *data;
    uint32_t capacity;
    uint32_t length;
    int overflow;
} wire_writer;

typedef struct {
    const uint8_t *data;
    uint32_t length;
    uint32_t position;
    int underflow;
} wire_reader;

void wire_put_u8(wire_writer *w, uint8_t v);
void wire_put_u16(wire_writer *w, uint16_t v);
void wire_put_u32(wire_writer *w, uint32_t v);
void wire_put_u64(wire_writer *w, uint64_t v);
void wire_put_bytes(wire_writer *w, const uint8_t *data, uint32_t n);
/* A string as u8 length then bytes; longer strings are cut at 255 bytes. */
void wire_put_str(wire_writer *w, const char *s);

uint8_t wire_get_u8(wire_reader *r);
uint16_t wire_get_u16(wire_reader *r);
uint32_t wire_get_u32(wire_reader *r);

#endif

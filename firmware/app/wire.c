#include "wire.h"

#include <string.h>

void wire_put_bytes(wire_writer *w, const uint8_t *data, uint32_t n)
{
    if (w->overflow || n > w->capacity - w->length) {
        w->overflow = 1;
        return;
    }
    memcpy(w->data + w->length, data, n);
    w->length += n;
}

void wire_put_u8(wire_writer *w, uint8_t v)
{
    wire_put_bytes(w, &v, 1);
}

void wire_put_u16(wire_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    wire_put_bytes(w, b, sizeof b);
}

void wire_put_u32(wire_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wire_put_bytes(w, b, sizeof b);
}

void wire_put_u64(wire_writer *w, uint64_t v)
{
    wire_put_u32(w, (uint32_t)v);
    wire_put_u32(w, (uint32_t)(v >> 32));
}

void wire_put_str(wire_writer *w, const char *s)
{
    size_t n = strlen(s);
    uint8_t len = (uint8_t)(n > 255u ? 255u : n);
    wire_put_u8(w, len);
    wire_put_bytes(w, (const uint8_t *)s, len);
}

static const uint8_t *wire_take(wire_reader *r, uint32_t n)
{
    if (r->underflow || n > r->length - r->position) {
        r->underflow = 1;
        return 0;
    }
    const uint8_t *p = r->data + r->position;
    r->position += n;
    return p;
}

uint8_t wire_get_u8(wire_reader *r)
{
    const uint8_t *p = wire_take(r, 1);
    return p ? p[0] : 0;
}

uint16_t wire_get_u16(wire_reader *r)
{
    const uint8_t *p = wire_take(r, 2);
    return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}

uint32_t wire_get_u32(wire_reader *r)
{
    const uint8_t *p = wire_take(r, 4);
    return p ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24) : 0;
}

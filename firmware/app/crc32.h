#ifndef HIL_CRC32_H
#define HIL_CRC32_H

#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected, as zlib). Start with crc = 0 and feed the running value back. */
uint32_t crc32_update(uint32_t crc, const uint8_t *data, uint32_t n);

#endif

/* The GNU build ID note the linker placed in flash: the host compares it with the ELF it built. */
#include "runtime.h"

extern const uint8_t __build_id_start[], __build_id_end[];

/* Note layout: namesz, descsz, type (4 bytes each), the name "GNU\0", then the ID itself. */
#define NOTE_HEADER_BYTES 16u

const uint8_t *build_id(uint32_t *length)
{
    uint32_t note_bytes = (uint32_t)(__build_id_end - __build_id_start);
    if (note_bytes <= NOTE_HEADER_BYTES) {
        *length = 0;
        return __build_id_start;
    }
    const uint32_t *words = (const uint32_t *)(const void *)__build_id_start;
    uint32_t desc_bytes = words[1];
    if (desc_bytes > note_bytes - NOTE_HEADER_BYTES) {
        desc_bytes = note_bytes - NOTE_HEADER_BYTES;
    }
    *length = desc_bytes;
    return __build_id_start + NOTE_HEADER_BYTES;
}

"""The host build's hil_input_read (firmware/include/hil_model.h): a model compiled for the host reads its streamed
inputs from memory buffers the Python side hands it (StreamedInputs), and the read order the interface promises
(each byte once, increasing offsets) is checked on every call."""

from __future__ import annotations

import ctypes

from hil.errors import HilError
from hil.paths import FIRMWARE_DIR

APP_INCLUDE_DIR = FIRMWARE_DIR / "app"  # protocol.h: the ERR_ codes hil_input_read returns
MAX_INPUTS = 16
SOURCE = f"""/* The host build's hil_input_read (hil/host_build/streamed_input.py). */
#include <stdint.h>
#include <string.h>

#include "hil_model.h"
#include "protocol.h"

#define HOST_MAX_INPUTS {MAX_INPUTS}u

/* Set by the Python side before model_run: input i's bytes (NULL: not streamed) and their count; next is the
 * offset the next read of input i must start at, so a read out of order or twice is refused. */
const uint8_t *hil_host_input_data[HOST_MAX_INPUTS];
uint32_t hil_host_input_bytes[HOST_MAX_INPUTS];
uint32_t hil_host_input_next[HOST_MAX_INPUTS];

int32_t hil_input_read(uint8_t tensor, uint32_t offset, uint32_t length, uint8_t *destination)
{{
    if (tensor >= HOST_MAX_INPUTS || hil_host_input_data[tensor] == NULL) {{
        return (int32_t)ERR_BAD_ARGUMENT;
    }}
    const uint32_t size = hil_host_input_bytes[tensor];
    if (offset != hil_host_input_next[tensor] || offset > size || length > size - offset) {{
        return (int32_t)ERR_BAD_ARGUMENT;
    }}
    memcpy(destination, hil_host_input_data[tensor] + offset, length);
    hil_host_input_next[tensor] = offset + length;
    return 0;
}}
"""


class StreamedInputs:
    """The buffers of one run's streamed inputs, set in a host-built model (a ctypes CDLL linking SOURCE)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.data = (ctypes.c_void_p * MAX_INPUTS).in_dll(lib, "hil_host_input_data")
        self.bytes = (ctypes.c_uint32 * MAX_INPUTS).in_dll(lib, "hil_host_input_bytes")
        self.next = (ctypes.c_uint32 * MAX_INPUTS).in_dll(lib, "hil_host_input_next")
        self._kept: list[ctypes.Array] = []

    def set(self, streamed: dict[int, bytes]) -> None:
        """Input index -> its bytes, for this run (every other input: not streamed)."""
        if any(not 0 <= i < MAX_INPUTS for i in streamed):
            raise HilError(f"streamed inputs {sorted(streamed)}: the host build serves inputs 0..{MAX_INPUTS - 1}")
        self._kept = []
        for i in range(MAX_INPUTS):
            data = streamed.get(i)
            buffer = ctypes.create_string_buffer(data, len(data)) if data is not None else None
            self._kept += [buffer] if buffer is not None else []
            self.data[i] = ctypes.cast(buffer, ctypes.c_void_p).value if buffer is not None else None
            self.bytes[i] = len(data) if data is not None else 0
            self.next[i] = 0

    def unread(self) -> dict[int, tuple[int, int]]:
        """Input index -> (bytes read, bytes it has) for the streamed inputs the run did not read to the end."""
        return {
            i: (self.next[i], self.bytes[i])
            for i in range(MAX_INPUTS)
            if self.data[i] is not None and self.next[i] != self.bytes[i]
        }

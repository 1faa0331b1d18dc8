"""Generated model C compiled for the host (hil.host_build, -Werror) and run through ctypes on an arena."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np

from hil.errors import HilError
from hil.host_build import streamed_input
from hil.host_build.compiler import (
    DEFAULT_BUILD_ROOT,
    KERNELS_DIR,
    build_shared_library,
    kernel_sources,
)
from hil.model_sources import ModelSources, write_if_changed
from hil.paths import FIRMWARE_DIR

MODEL_INCLUDE_DIR = FIRMWARE_DIR / "include"
# The host's hil_debug_layer (see emit_c.DEBUG_LAYERS): forwards each layer to a callback Python sets.
DEBUG_HOOK = """#include <stdint.h>

typedef void (*hil_debug_sink_fn)(int32_t index, const char *name, const void *data, uint32_t bytes);
hil_debug_sink_fn hil_debug_sink = 0;

void hil_debug_layer(int32_t index, const char *name, const void *data, uint32_t bytes);

void hil_debug_layer(int32_t index, const char *name, const void *data, uint32_t bytes)
{
    if (hil_debug_sink) {
        hil_debug_sink(index, name, data, bytes);
    }
}
"""
STREAMED = 0xFFFFFFFF  # HIL_STREAMED_INPUT: an input the model reads through hil_input_read, not from the arena
DEBUG_SINK = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_uint32)


class HostModelError(HilError):
    """model_run returned non-zero: the layer number plus one of the kernel that refused its arguments."""


class HostModel:
    """A generated model as a host shared library: run(inputs) -> outputs, bit for bit what the C computes."""

    def __init__(self, sources: ModelSources, build_root: Path | None = None, debug_layers: bool = False) -> None:
        """debug_layers: build with -DHIL_DEBUG_LAYERS, so run_layers can collect every layer's output."""
        self.sources = sources
        build_root = DEFAULT_BUILD_ROOT if build_root is None else build_root
        reader = build_root / "streamed_input" / "hil_host_input.c"
        reader.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(reader, streamed_input.SOURCE)
        files, flags, name = [*kernel_sources(), *sources.c_files, reader], (), f"model_{sources.name}"
        if debug_layers:
            hook = build_root / "debug_hook" / "hil_debug_hook.c"
            hook.parent.mkdir(parents=True, exist_ok=True)
            write_if_changed(hook, DEBUG_HOOK)
            files, flags, name = [*files, hook], ("-DHIL_DEBUG_LAYERS",), f"{name}_debug"
        self.library = build_shared_library(
            files,
            name=name,
            include_dirs=(KERNELS_DIR, MODEL_INCLUDE_DIR, streamed_input.APP_INCLUDE_DIR, sources.directory),
            extra_flags=flags,
            build_root=build_root,
        )
        self.lib = ctypes.CDLL(str(self.library.path))
        self.lib.model_run.restype = ctypes.c_int32
        self.lib.model_run.argtypes = [ctypes.c_void_p]
        self._offsets = self._tensor_offsets()
        self._streamed = streamed_input.StreamedInputs(self.lib)

    def _tensor_offsets(self) -> tuple[list[int], list[int]]:
        """Arena offsets of the inputs and outputs, read from the compiled model_info."""
        text = (self.sources.directory / "model.c").read_text()
        offsets = []
        for table in ("model_inputs", "model_outputs"):
            line = next(s for s in text.splitlines() if s.startswith(f"static const hil_tensor_info {table}"))
            # each entry ends "<scale>f, <zero point>, <arena offset>u}"
            offsets.append([int(offset) for offset in re.findall(r"f, -?\d+, (\d+)u\}", line)])
        return offsets[0], offsets[1]

    def run_layers(self, inputs: list[np.ndarray]) -> list[tuple[int, str, bytes]]:
        """(layer index, name, output bytes) of every layer, in execution order, for inputs (debug_layers builds)."""
        layers: list[tuple[int, str, bytes]] = []

        def collect(index: int, name: bytes, data: int, size: int) -> None:
            layers.append((index, name.decode(), ctypes.string_at(data, size)))

        sink = DEBUG_SINK(collect)  # kept alive for the run
        ctypes.c_void_p.in_dll(self.lib, "hil_debug_sink").value = ctypes.cast(sink, ctypes.c_void_p).value
        try:
            self.run(inputs)
        finally:
            ctypes.c_void_p.in_dll(self.lib, "hil_debug_sink").value = None
        return layers

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs for inputs (arrays of the model's input specs), from a fresh arena filled with 0x55; a streamed
        input is served from memory through hil_input_read (streamed_input), and must be read to its last byte."""
        arena = np.full(self.sources.arena_bytes + 16, 0x55, dtype=np.uint8)
        base = (-arena.ctypes.data) % 16  # 16-byte aligned, as the firmware's arena
        view = arena[base : base + self.sources.arena_bytes]
        in_offsets, out_offsets = self._offsets
        streamed = {}
        for i, (spec, offset, x) in enumerate(zip(self.sources.inputs, in_offsets, inputs, strict=True)):
            if offset == STREAMED:
                streamed[i] = spec.to_bytes(x)
                continue
            data = np.frombuffer(spec.to_bytes(x), dtype=np.uint8)
            view[offset : offset + data.size] = data
        self._streamed.set(streamed)
        status = self.lib.model_run(view.ctypes.data)
        if status < 0:
            raise HostModelError(f"{self.sources.name}: model_run returned {status} (hil_input_read refused a read)")
        if status != 0:
            raise HostModelError(f"{self.sources.name}: model_run returned {status} (layer {status - 1} failed)")
        for i, (read, size) in self._streamed.unread().items():
            name = self.sources.name
            raise HostModelError(f"{name}: model_run read {read} of the {size} bytes of streamed input {i}")
        return [
            spec.from_bytes(view[offset : offset + spec.nbytes].tobytes())
            for spec, offset in zip(self.sources.outputs, out_offsets, strict=True)
        ]

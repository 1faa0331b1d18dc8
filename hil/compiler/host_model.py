"""Generated model C compiled for the host (hil.host_build, -Werror) and run through ctypes on an arena."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hil.errors import HilError
from hil.host_build.compiler import KERNELS_DIR, REPO_ROOT, build_shared_library, kernel_sources
from hil.model_sources import ModelSources

MODEL_INCLUDE_DIR = REPO_ROOT / "firmware" / "include"


class HostModelError(HilError):
    """model_run returned non-zero: the layer number plus one of the kernel that refused its arguments."""


class HostModel:
    """A generated model as a host shared library: run(inputs) -> outputs, bit for bit what the C computes."""

    def __init__(self, sources: ModelSources, build_root: Path | None = None) -> None:
        self.sources = sources
        extra = {"build_root": build_root} if build_root is not None else {}
        self.library = build_shared_library(
            [*kernel_sources(), *sources.c_files],
            name=f"model_{sources.name}",
            include_dirs=(KERNELS_DIR, MODEL_INCLUDE_DIR, sources.directory),
            **extra,
        )
        self.lib = ctypes.CDLL(str(self.library.path))
        self.lib.model_run.restype = ctypes.c_int32
        self.lib.model_run.argtypes = [ctypes.c_void_p]
        self._offsets = self._tensor_offsets()

    def _tensor_offsets(self) -> tuple[list[int], list[int]]:
        """Arena offsets of the inputs and outputs, read from the compiled model_info."""
        text = (self.sources.directory / "model.c").read_text()
        offsets = []
        for table in ("model_inputs", "model_outputs"):
            line = next(s for s in text.splitlines() if s.startswith(f"static const hil_tensor_info {table}"))
            offsets.append([int(part.split("u")[0]) for part in line.split("f, 0, ")[1:]])
        return offsets[0], offsets[1]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs for inputs (arrays of the model's input specs), from a fresh arena filled with 0x55."""
        arena = np.full(self.sources.arena_bytes + 16, 0x55, dtype=np.uint8)
        base = (-arena.ctypes.data) % 16  # 16-byte aligned, as the firmware's arena
        view = arena[base : base + self.sources.arena_bytes]
        in_offsets, out_offsets = self._offsets
        for spec, offset, x in zip(self.sources.inputs, in_offsets, inputs, strict=True):
            data = np.frombuffer(spec.to_bytes(x), dtype=np.uint8)
            view[offset : offset + data.size] = data
        status = self.lib.model_run(view.ctypes.data)
        if status != 0:
            raise HostModelError(f"{self.sources.name}: model_run returned {status} (layer {status - 1} failed)")
        return [
            spec.from_bytes(view[offset : offset + spec.nbytes].tobytes())
            for spec, offset in zip(self.sources.outputs, out_offsets, strict=True)
        ]

"""The C sources of one model, as a generator wrote them, with the tensor layout the host needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DTYPES: dict[str, tuple[int, np.dtype]] = {
    "int8": (0, np.dtype(np.int8)),
    "int16": (1, np.dtype("<i2")),
    "int32": (2, np.dtype("<i4")),
    "uint8": (3, np.dtype(np.uint8)),
    "float32": (4, np.dtype("<f4")),
}
DTYPE_NAMES = {code: name for name, (code, _) in DTYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: what the host sends or receives, and how to read it as reals."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int = 0

    @property
    def numpy_dtype(self) -> np.dtype:
        return DTYPES[self.dtype][1]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.numpy_dtype.itemsize

    def from_bytes(self, data: bytes) -> np.ndarray:
        """The tensor as an array of its shape, from the exact bytes the device holds."""
        if len(data) != self.nbytes:
            raise ValueError(f"tensor '{self.name}': got {len(data)} bytes, expected {self.nbytes} for {self.shape}")
        return np.frombuffer(data, dtype=self.numpy_dtype).reshape(self.shape).copy()

    def to_bytes(self, array: np.ndarray) -> bytes:
        """The exact bytes of an array, checked against this tensor's shape and dtype."""
        array = np.asarray(array)
        if tuple(array.shape) != self.shape or array.dtype != self.numpy_dtype:
            raise ValueError(
                f"tensor '{self.name}': got {array.dtype} {tuple(array.shape)}, "
                f"expected {self.numpy_dtype} {self.shape}"
            )
        return np.ascontiguousarray(array).tobytes()


def c_tensor_info(spec: TensorSpec, arena_offset: int) -> str:
    """The C initializer of a hil_tensor_info (firmware/include/hil_model.h) for a tensor."""
    dims = ", ".join(str(d) for d in spec.shape)
    dtype = "HIL_DTYPE_" + spec.dtype.upper()
    fields = (
        f'"{spec.name}", {dtype}, {len(spec.shape)}, {{{dims}}}, {spec.scale!r}f, {spec.zero_point}, {arena_offset}u'
    )
    return f"{{{fields}}}"


def write_if_changed(path: Path, text: str) -> None:
    """Leaves an unchanged file untouched, so builds keyed on file contents and times stay cached."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


@dataclass(frozen=True)
class ModelSources:
    """A directory holding model.c and model.h (and any other C it needs), and what they compute."""

    name: str
    hash: str
    directory: Path
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    arena_bytes: int

    @property
    def c_files(self) -> list[Path]:
        return sorted(self.directory.glob("*.c"))

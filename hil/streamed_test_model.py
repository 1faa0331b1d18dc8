"""A hand-written model whose input is streamed (arena offset HIL_STREAMED_INPUT): model_run reads it through
hil_input_read in odd-sized pieces that straddle the link's frames, and writes outputs a test checks exactly
(tests/link/test_streamed_inputs.py; `python -m hil.bench.link_noise --model streamed`).

Inputs: x (uint8[SIZE], streamed) and k (uint8[16], held in the arena at offset 0, as inputs are today).
Outputs: y = x XOR k repeated (uint8[SIZE]), and s (int32[2]): sum of x[i] * (i % 251 + 1) modulo 2**32, and the
number of reads it made. The model does nothing else, so its instruction count is its reads' and their copies',
unless it is written with `work`: then it also spins that many loop iterations per byte it reads, as a model that
computes on each piece of its input before it wants the next (the frames' acknowledgements wait for that).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hil.model_sources import ModelSources, TensorSpec

NAME = "streamed_copy"
SIZE = 5000
PIECES = (7, 1, 250, 13, 509, 3, 1021, 61, 2047)  # bytes per read, in turn; 2047 spans a whole frame's data
X = TensorSpec("x", "uint8", (SIZE,), 1.0)
K = TensorSpec("k", "uint8", (16,), 1.0)
Y = TensorSpec("y", "uint8", (SIZE,), 1.0)
S = TensorSpec("s", "int32", (2,), 1.0)
ARENA_BYTES = 16 + SIZE + 8

MODEL_C = """#include "model.h"

#include <string.h>

#define SIZE {SIZE}u
#define WORK_PER_BYTE {work}u

static const hil_tensor_info inputs[2] = {{
    {{"x", HIL_DTYPE_UINT8, 1, {{SIZE}}, 1.0f, 0, HIL_STREAMED_INPUT}},
    {{"k", HIL_DTYPE_UINT8, 1, {{16}}, 1.0f, 0, 0u}},
}};
static const hil_tensor_info outputs[2] = {{
    {{"y", HIL_DTYPE_UINT8, 1, {{SIZE}}, 1.0f, 0, 16u}},
    {{"s", HIL_DTYPE_INT32, 1, {{2}}, 1.0f, 0, 16u + SIZE}},
}};
const hil_model_info model_info = {{"{NAME}", "{NAME}", MODEL_ARENA_BYTES, 2, inputs, 2, outputs}};

static const uint16_t pieces[] = {{{pieces}}};

int32_t model_run(uint8_t *arena)
{{
    const uint8_t *k = arena;
    uint8_t *y = arena + 16u;
    uint32_t sum = 0u, reads = 0u, offset = 0u;
    while (offset < SIZE) {{
        uint32_t n = pieces[reads % (sizeof pieces / sizeof pieces[0])];
        n = n < SIZE - offset ? n : SIZE - offset;
        int32_t status = hil_input_read(0u, offset, n, y + offset);
        if (status) {{
            return -status;
        }}
        for (uint32_t i = offset; i < offset + n; ++i) {{
            sum += (uint32_t)y[i] * (i % 251u + 1u);
            y[i] ^= k[i % 16u];
        }}
        for (volatile uint32_t spin = 0u; spin < WORK_PER_BYTE * n; spin = spin + 1u) {{
        }}
        offset += n;
        ++reads;
    }}
    int32_t s[2] = {{(int32_t)sum, (int32_t)reads}};
    memcpy(arena + 16u + SIZE, s, sizeof s);
    return 0;
}}
"""


def write_streamed_model(directory: Path, work: int = 0) -> ModelSources:
    """The model's sources in directory; work: spin loop iterations per byte read (0: none)."""
    directory.mkdir(parents=True)
    (directory / "model.h").write_text(f'#include "hil_model.h"\n#define MODEL_ARENA_BYTES {ARENA_BYTES}u\n')
    (directory / "model.c").write_text(
        MODEL_C.format(SIZE=SIZE, NAME=NAME, pieces=", ".join(f"{p}u" for p in PIECES), work=work)
    )
    return ModelSources(NAME, NAME, directory, (X, K), (Y, S), ARENA_BYTES)


def reads() -> int:
    """How many hil_input_read calls the model makes."""
    count, offset = 0, 0
    while offset < SIZE:
        offset += PIECES[count % len(PIECES)]
        count += 1
    return count


def reference(x: bytes, k: bytes) -> tuple[bytes, bytes]:
    """The outputs' exact bytes for inputs x and k."""
    xs = np.frombuffer(x, dtype=np.uint8)
    y = xs ^ np.resize(np.frombuffer(k, dtype=np.uint8), SIZE)
    weights = np.arange(SIZE, dtype=np.uint64) % 251 + 1
    total = int((xs.astype(np.uint64) * weights).sum()) % 2**32
    return y.tobytes(), np.array([total, reads()], dtype="<u4").tobytes()


def random_inputs(seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, SIZE, dtype=np.uint8).tobytes(), rng.integers(0, 256, 16, dtype=np.uint8).tobytes()]

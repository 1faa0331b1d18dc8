"""A hand-written model whose input is streamed (arena offset HIL_STREAMED_INPUT): model_run reads it through
hil_input_read in odd-sized pieces that straddle the link's frames, and writes outputs a test checks exactly
(tests/link/test_streamed_inputs.py; `python -m hil.bench.link_noise --model streamed`).

Inputs: x (uint8[SIZE], streamed) and k (uint8[16], held in the arena at offset 0, as inputs are today), and
optionally z (streamed too, input 2, read after x). Outputs: y = x XOR k repeated (uint8[SIZE]), and s (int32[2],
[3] with z): sum of x[i] * (i % 251 + 1) modulo 2**32, the number of reads it made (and z's sum). The model
does nothing else, so its instruction count is its reads' and their copies', unless it is written with `work`:
then it also spins that many loop iterations per byte it reads, as a model that computes on each piece of its
input before it wants the next (the frames' acknowledgements wait for that).
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

MODEL_C = """#include "model.h"

#include <string.h>

#define SIZE {SIZE}u
#define SIZE_Z {size_z}u
#define WORK_PER_BYTE {work}u
#define S_OFFSET (16u + SIZE)
#define S_COUNT {s_count}u
#define Z_OFFSET (S_OFFSET + 4u * S_COUNT)

static const hil_tensor_info inputs[] = {{
    {{"x", HIL_DTYPE_UINT8, 1, {{SIZE}}, 1.0f, 0, HIL_STREAMED_INPUT}},
    {{"k", HIL_DTYPE_UINT8, 1, {{16}}, 1.0f, 0, 0u}},
{z_info}}};
static const hil_tensor_info outputs[2] = {{
    {{"y", HIL_DTYPE_UINT8, 1, {{SIZE}}, 1.0f, 0, 16u}},
    {{"s", HIL_DTYPE_INT32, 1, {{S_COUNT}}, 1.0f, 0, S_OFFSET}},
}};
const hil_model_info model_info = {{
    "{NAME}", "{NAME}", MODEL_ARENA_BYTES, sizeof inputs / sizeof inputs[0], inputs, 2, outputs}};

static const uint16_t pieces[] = {{{pieces}}};

/* Reads size bytes of a streamed input into dst in the pieces' sizes, in order (the pieces' turn carries on in
 * *reads), adding dst[i] * (i % 251 + 1) to *sum. */
static int32_t read_pieces(uint8_t tensor, uint32_t size, uint8_t *dst, uint32_t *sum, uint32_t *reads)
{{
    uint32_t offset = 0u;
    while (offset < size) {{
        uint32_t n = pieces[*reads % (sizeof pieces / sizeof pieces[0])];
        n = n < size - offset ? n : size - offset;
        int32_t status = hil_input_read(tensor, offset, n, dst + offset);
        if (status) {{
            return -status;
        }}
        for (uint32_t i = offset; i < offset + n; ++i) {{
            *sum += (uint32_t)dst[i] * (i % 251u + 1u);
        }}
        for (volatile uint32_t spin = 0u; spin < WORK_PER_BYTE * n; spin = spin + 1u) {{
        }}
        offset += n;
        ++*reads;
    }}
    return 0;
}}

int32_t model_run(uint8_t *arena)
{{
    const uint8_t *k = arena;
    uint8_t *y = arena + 16u;
    uint32_t sums[2] = {{0u, 0u}}, reads = 0u;
    int32_t status = read_pieces(0u, SIZE, y, &sums[0], &reads);
    if (status) {{
        return status;
    }}
    for (uint32_t i = 0u; i < SIZE; ++i) {{
        y[i] ^= k[i % 16u];
    }}
    if (SIZE_Z) {{
        status = read_pieces(2u, SIZE_Z, arena + Z_OFFSET, &sums[1], &reads);
        if (status) {{
            return status;
        }}
    }}
    int32_t s[3] = {{(int32_t)sums[0], (int32_t)reads, (int32_t)sums[1]}};
    memcpy(arena + S_OFFSET, s, 4u * S_COUNT);
    return 0;
}}
"""


def _outputs(size_z: int) -> tuple[TensorSpec, TensorSpec]:
    return Y, TensorSpec("s", "int32", (3 if size_z else 2,), 1.0)


def write_streamed_model(directory: Path, work: int = 0, size_z: int = 0) -> ModelSources:
    """The model's sources in directory; work: spin loop iterations per byte read (0: none); size_z: the bytes of a
    second streamed input z (input 2, after the held k; 0: none), read after x, whose weighted sum s[2] is."""
    directory.mkdir(parents=True)
    s_count = _outputs(size_z)[1].shape[0]
    arena_bytes = 16 + SIZE + 4 * s_count + size_z
    (directory / "model.h").write_text(f'#include "hil_model.h"\n#define MODEL_ARENA_BYTES {arena_bytes}u\n')
    z_info = f'    {{"z", HIL_DTYPE_UINT8, 1, {{{size_z}}}, 1.0f, 0, HIL_STREAMED_INPUT}},\n' if size_z else ""
    (directory / "model.c").write_text(
        MODEL_C.format(
            SIZE=SIZE,
            NAME=NAME,
            pieces=", ".join(f"{p}u" for p in PIECES),
            work=work,
            size_z=size_z,
            s_count=s_count,
            z_info=z_info,
        )
    )
    inputs = (X, K, TensorSpec("z", "uint8", (size_z,), 1.0)) if size_z else (X, K)
    return ModelSources(NAME, NAME, directory, inputs, _outputs(size_z), arena_bytes)


def reads(size_z: int = 0) -> int:
    """How many hil_input_read calls the model makes (the pieces' turn carries on from x into z)."""
    count = 0
    for size in (SIZE, size_z):
        offset = 0
        while offset < size:
            offset += PIECES[count % len(PIECES)]
            count += 1
    return count


def _weighted_sum(data: bytes) -> int:
    values = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
    return int((values * (np.arange(values.size, dtype=np.uint64) % 251 + 1)).sum()) % 2**32


def reference(x: bytes, k: bytes, z: bytes | None = None) -> tuple[bytes, bytes]:
    """The outputs' exact bytes for inputs x, k (and z, when the model streams a second input)."""
    y = np.frombuffer(x, dtype=np.uint8) ^ np.resize(np.frombuffer(k, dtype=np.uint8), SIZE)
    s = [_weighted_sum(x), reads(len(z) if z else 0)] + ([_weighted_sum(z)] if z is not None else [])
    return y.tobytes(), np.array(s, dtype="<u4").tobytes()


def random_inputs(seed: int, size_z: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(0, 256, SIZE, dtype=np.uint8).tobytes(), rng.integers(0, 256, 16, dtype=np.uint8).tobytes()]
    return inputs + ([rng.integers(0, 256, size_z, dtype=np.uint8).tobytes()] if size_z else [])

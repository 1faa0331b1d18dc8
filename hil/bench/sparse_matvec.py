"""Dense against sparse for the M4 RNNPool's matrix-vector products, measured under QEMU: should its 70 %-zero
U1, W2 and U2 (16 x 16 int16) run sparse?

    python -m hil.bench.sparse_matvec [--repeats 200] [--json]

Three forms of out = M v on each matrix of the M4 checkpoint, compiled for the board (DSP path) and run
--repeats times each under QEMU -icount shift=0, every result checked against numpy:
- dense: the kernel's own product (hil_nn_fastgrnn_input_s16: the vector in eight registers, eight SMLADs a row);
- CSR: per row the nonzero values and their column indices (uint8), one multiply-accumulate per nonzero;
- 1x2 blocks: per row the nonzero pairs of adjacent columns (a word of two int16) and their pair index, one SMLAD
  per nonzero pair (a pair is zero only when both its weights are).
Printed: instructions per product for each, and the flash each form takes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from hil.kernels_ref.device_cases import KernelCase, run_cases

CALLS = {
    "dense": (
        "{{ static const int32_t zero[16] = {{0}}; static const hil_fastgrnn_params p = {{0, 0, 0, 14, 32768, 0}};\n"
        "      static const hil_fastgrnn_weights w = {{16, {rows}, {{p}}m, {{p}}m, zero, zero}};\n"
        "      for (int32_t r = 0; r < {repeats}; ++r) {{ hil_nn_fastgrnn_input_s16(&p, &w, {{in0}}, {{out}}); }} }}"
    ),
    "csr": (
        "{{ const int16_t *v = {{in0}}; int32_t *o = {{out}};\n"
        "      for (int32_t r = 0; r < {repeats}; ++r) {{\n"
        "        const int16_t *val = {{p}}val; const uint8_t *col = (const uint8_t *){{p}}col;\n"
        "        for (int32_t i = 0; i < {rows}; ++i) {{\n"
        "          int32_t acc = 0;\n"
        "          for (const int16_t *end = {{p}}val + {{p}}ptr[i + 1]; val < end; ++val, ++col) {{\n"
        "            acc += *val * v[*col]; }}\n"
        "          o[i] = acc; }} }} }}"
    ),
    "blocks": (
        "{{ const int16_t *v = {{in0}}; int32_t *o = {{out}};\n"
        "      for (int32_t r = 0; r < {repeats}; ++r) {{\n"
        "        const int32_t *pair = (const int32_t *){{p}}pair; const uint8_t *col = (const uint8_t *){{p}}col;\n"
        "        for (int32_t i = 0; i < {rows}; ++i) {{\n"
        "          int32_t acc = 0;\n"
        "          const int32_t *end = (const int32_t *){{p}}pair + {{p}}ptr[i + 1];\n"
        "          for (; pair < end; ++pair, ++col) {{\n"
        "            acc = __smlad(*pair, hil_nn_read32(v + 2 * *col), acc); }}\n"
        "          o[i] = acc; }} }} }}"
    ),
}


def m4_matrices() -> dict[str, np.ndarray]:
    """U1, W2 and U2 of the M4 checkpoint as the compiler quantises them ([out, in] int16)."""
    from hil.catalog import compile_spec, resolve_model

    with tempfile.TemporaryDirectory(prefix="hil_sparse_m4_") as work:
        compiled = compile_spec(resolve_model("rnnpool_face_m4"), directory=Path(work))
    node = next(n for n in compiled.qgraph.nodes if n.kernel.startswith("rnnpool"))
    return {"U1": node.arrays["rnn1_u"], "W2": node.arrays["rnn2_w"], "U2": node.arrays["rnn2_u"]}


def sparse_forms(m: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """The constant arrays of the CSR and 1x2-block forms of m (row pointers int16, indices as int8 bytes)."""
    rows = [np.nonzero(row)[0] for row in m]
    csr = {
        "val": np.concatenate([m[i, c] for i, c in enumerate(rows)]).astype(np.int16),
        "col": np.concatenate(rows).astype(np.uint8).view(np.int8),
        "ptr": np.cumsum([0] + [len(c) for c in rows]).astype(np.int16),
    }
    pairs = m.reshape(m.shape[0], -1, 2)
    live = [np.nonzero(np.any(p != 0, axis=1))[0] for p in pairs]
    words = [pairs[i, c].astype(np.int16).view(np.int32).ravel() for i, c in enumerate(live)]
    blocks = {
        "pair": np.concatenate(words).astype(np.int32),
        "col": np.concatenate(live).astype(np.uint8).view(np.int8),
        "ptr": np.cumsum([0] + [len(c) for c in live]).astype(np.int16),
    }
    return {"dense": {"m": m}, "csr": csr, "blocks": blocks}


def measure(repeats: int, work: Path) -> dict:
    rng = np.random.default_rng(11)
    results = {}
    for name, m in m4_matrices().items():
        v = rng.integers(-32768, 32768, m.shape[1], dtype=np.int16)
        expected = (m.astype(np.int64) @ v.astype(np.int64)).astype(np.int32)
        row = {"zeros": float(np.mean(m == 0))}
        for form, consts in sparse_forms(m).items():
            call = CALLS[form].format(rows=m.shape[0], repeats=repeats)
            case = KernelCase(f"{form} {name}", [v], expected, consts, call, repeats * m.size)
            run = run_cases(f"sparse_{form}_{name}", [case], work)
            if run.mismatches:
                raise SystemExit("\n".join(run.mismatches))
            row[form] = {
                "instructions_per_product": run.instructions / repeats,
                "flash_bytes": sum(a.nbytes for a in consts.values()),
            }
        results[name] = row
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hil_sparse_") as work:
        results = measure(args.repeats, Path(work))
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("instructions per 16x16 product under QEMU (flash bytes of the form), M4 checkpoint's matrices")
    for name, row in results.items():
        forms = ", ".join(f"{f} {row[f]['instructions_per_product']:.0f} ({row[f]['flash_bytes']} B)" for f in CALLS)
        print(f"{name} ({row['zeros']:.0%} zeros): {forms}")


if __name__ == "__main__":
    main()

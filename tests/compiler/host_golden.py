"""The compiler's end-to-end check, in one place: the host build of a compiled model's C gives the golden model's
outputs bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hil.compiler.host_model import HostModel
from hil.compiler.pipeline import CompiledModel


def assert_host_c_equals_golden(
    compiled: CompiledModel, inputs: list[np.ndarray], build_root: Path, label: str = ""
) -> None:
    """Every output of the host-built C equals golden's on each NHWC float input (label names a failure)."""
    host = HostModel(compiled.emitted.sources, build_root=build_root)
    for x in inputs:
        got = host.run([compiled.qgraph.quantize_input(x)])
        for g, e in zip(got, compiled.golden(x), strict=True):
            np.testing.assert_array_equal(g, e, err_msg=label)

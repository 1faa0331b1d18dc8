"""Host-to-QEMU link figures: PING round trip, INPUT and READ_OUTPUT payload throughput for the
76,800-byte test-model tensors, the test model's instruction count, and a semihosting run.

    python -m hil.bench.link_throughput [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from hil import conv_test_model
from hil.board_description import load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.catalog import model_sources
from hil.targets.qemu import QemuSemihostingTarget, QemuUartTarget


def measure(repeats: int) -> dict:
    board = load_board("mps2-an386")
    sources = model_sources(conv_test_model.NAME)
    builder = FirmwareBuilder()
    image = np.random.default_rng(0).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    data = conv_test_model.INPUT.to_bytes(image)
    figures: dict = {"payload_bytes": len(data)}
    with tempfile.TemporaryDirectory(prefix="hil-bench-") as workdir:
        uart = builder.build(BuildRequest(board, sources, "uart"))
        with QemuUartTarget(board, uart.elf, Path(workdir) / "uart") as target:
            link = target.link
            figures["ping_rtt_ms"] = 1e3 * statistics.median(link.ping(b"x" * 16) for _ in range(20))
            upload, download = [], []
            for _ in range(repeats):
                start = time.monotonic()
                link.write_input(0, data)
                upload.append(time.monotonic() - start)
                summary = link.run(zlib.crc32(data), run_timeout=60.0)
                start = time.monotonic()
                link.read_output(0, summary.output_sizes[0], summary.output_crcs[0])
                download.append(time.monotonic() - start)
            figures["input_kb_per_s"] = len(data) / 1e3 / statistics.median(upload)
            figures["output_kb_per_s"] = summary.output_sizes[0] / 1e3 / statistics.median(download)
            figures["test_model_instructions"] = summary.timing.instructions
            figures["link_counters"] = link.counters.to_dict()
        semihosting = builder.build(BuildRequest(board, sources, "semihosting"))
        target = QemuSemihostingTarget(board, semihosting.elf, Path(workdir) / "semihosting")
        target.start()
        start = time.monotonic()
        outcome = target.infer([data])
        figures["semihosting_run_s"] = time.monotonic() - start
        figures["semihosting_instructions"] = outcome.summary.timing.instructions
    macs = int(np.prod(conv_test_model.OUTPUT.shape)) * conv_test_model.KERNEL**2
    figures["test_model_macs"] = macs
    figures["instructions_per_mac"] = figures["test_model_instructions"] / macs
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.repeats)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"payload                      {figures['payload_bytes']:,} B")
    print(f"PING round trip (median)     {figures['ping_rtt_ms']:.2f} ms")
    print(f"INPUT host -> QEMU           {figures['input_kb_per_s']:.1f} KB/s")
    print(f"READ_OUTPUT QEMU -> host     {figures['output_kb_per_s']:.1f} KB/s")
    print(f"semihosting run (whole)      {figures['semihosting_run_s']:.3f} s")
    print(
        f"test model                   {figures['test_model_instructions']:,} instructions for "
        f"{figures['test_model_macs']:,} MACs ({figures['instructions_per_mac']:.1f} per MAC; virtual, not silicon)"
    )


if __name__ == "__main__":
    main()

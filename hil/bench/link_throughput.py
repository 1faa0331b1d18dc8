"""Link figures for the 76,800-byte test-model tensors.

Over QEMU's UART: PING round trip, INPUT and READ_OUTPUT throughput, the test model's instruction count, and a
semihosting run. Over rtt (`--transport rtt`): each host -> device upload's time, their median, and the median
download and PING, on QEMU or, with `--probe UID`, on a board through pyOCD.

    python -m hil.bench.link_throughput [--repeats 3] [--json]
    python -m hil.bench.link_throughput --transport rtt [--repeats 8] [--board nucleo-f439zi --probe UID]
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
from hil.errors import HilError
from hil.target_factory import TargetChoice, open_dut
from hil.targets.linked import LinkedTarget
from hil.targets.qemu import QemuSemihostingTarget, QemuUartTarget

RTT_REPEATS = 8


def test_image() -> bytes:
    image = np.random.default_rng(0).integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    return conv_test_model.INPUT.to_bytes(image)


def measure_rtt(repeats: int, board: str, probe: str | None) -> dict:
    """Upload times over rtt, each one timed alone, on QEMU or (with a probe) on the board itself."""
    data = test_image()
    choice = TargetChoice(board, None if probe else "qemu", "rtt", probe=probe)
    with tempfile.TemporaryDirectory(prefix="hil-bench-") as workdir:
        dut = open_dut(choice, model_sources(conv_test_model.NAME), Path(workdir))
        try:
            target = dut.target
            assert isinstance(target, LinkedTarget) and target.link is not None
            link = target.link
            ping = statistics.median(link.ping(b"x" * 16) for _ in range(20))
            uploads, downloads = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                link.write_input(0, data)
                uploads.append(time.perf_counter() - start)
            summary = link.run(zlib.crc32(data), run_timeout=60.0)
            for _ in range(repeats):
                start = time.perf_counter()
                link.read_output(0, summary.output_sizes[0], summary.output_crcs[0])
                downloads.append(time.perf_counter() - start)
            counters = link.counters.to_dict()
        finally:
            dut.close()
    return {
        "target": f"{board} ({'pyOCD probe ' + probe if probe else 'QEMU'})",
        "payload_bytes": len(data),
        "upload_s": uploads,
        "upload_median_s": statistics.median(uploads),
        "download_median_s": statistics.median(downloads),
        "output_bytes": summary.output_sizes[0],
        "ping_rtt_ms": 1e3 * ping,
        "link_counters": counters,
    }


def print_rtt(figures: dict) -> None:
    median = figures["upload_median_s"]
    print(f"rtt on {figures['target']}")
    print(f"payload                      {figures['payload_bytes']:,} B")
    print(f"upload host -> device        median {median:.3f} s ({figures['payload_bytes'] / 1e6 / median:.2f} MB/s)")
    each = " ".join(f"{t:.3f}" for t in figures["upload_s"])
    print(f"  each of {len(figures['upload_s'])}                    {each} s")
    download = figures["download_median_s"]
    print(
        f"download device -> host      median {download:.3f} s for {figures['output_bytes']:,} B "
        f"({figures['output_bytes'] / 1e6 / download:.2f} MB/s)"
    )
    print(f"PING round trip (median)     {figures['ping_rtt_ms']:.2f} ms")


def measure(repeats: int) -> dict:
    board = load_board("mps2-an386")
    sources = model_sources(conv_test_model.NAME)
    builder = FirmwareBuilder()
    data = test_image()
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
    parser.add_argument("--transport", choices=("uart", "rtt"), default="uart")
    parser.add_argument("--repeats", type=int, help=f"uploads to time (default 3 over uart, {RTT_REPEATS} over rtt)")
    parser.add_argument("--board", default="mps2-an386", help="board kind (rtt; QEMU runs its stand-in)")
    parser.add_argument("--probe", help="pyOCD unique ID of the board's probe: measure the board, not QEMU (rtt)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.transport == "rtt":
        try:
            figures = measure_rtt(args.repeats or RTT_REPEATS, args.board, args.probe)
        except HilError as e:
            raise SystemExit(f"link_throughput: {e}") from None
        print(json.dumps(figures, indent=2)) if args.json else print_rtt(figures)
        return
    figures = measure(args.repeats or 3)
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

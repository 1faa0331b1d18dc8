"""The framed link under noise: the conv test model over QEMU's UART through a proxy that flips bits of a
fraction of the bytes in both directions.

    python -m hil.bench.link_noise [--frames 10000] [--flip 0.01] [--seed 1] [--json]

Prints the frames the host sent, the requests (INPUT, RUN, READ_OUTPUT, ...) and how many completed, the
inferences whose outputs equal the host's exact computation, corrupt results accepted (outputs that differ
but were returned as good), the longest inference and hangs (one longer than HANG_S), the bytes the proxy damaged,
and the wall time. The link shrinks its data frames while frames are being damaged (DeviceLink.data_chunk).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hil import conv_test_model
from hil.board_description import load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.catalog import model_sources
from hil.errors import DeviceError, LinkError
from hil.link.device_link import DeviceLink, open_port
from hil.link.fault_proxy import FaultRates, FaultyProxy
from hil.targets.qemu import QemuProcess, free_tcp_port, wait_until_listening

HANG_S = 600.0  # every wait is bounded; an inference this long would mean one is not
REPLY_TIMEOUT_S = 1.0
INFO_TRIES = 20


def measure(frames: int, flip: float, seed: int) -> dict:
    """Inferences through the damaging proxy until the host has sent `frames` frames."""
    board = load_board("mps2-an386")
    image = FirmwareBuilder().build(BuildRequest(board, model_sources(conv_test_model.NAME), "uart"))
    rng = np.random.default_rng(seed)
    figures = {"flip": flip, "seed": seed, "inferences_exact": 0, "inferences_failed": 0, "corrupt_accepted": 0}
    figures["hangs"] = 0
    figures["longest_inference_s"] = 0.0
    with tempfile.TemporaryDirectory(prefix="hil-noise-") as workdir:
        port = free_tcp_port()
        qemu = QemuProcess(board, image.elf, Path(workdir), f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on")
        qemu.start()
        rates = FaultRates(flip=flip)
        proxy = None
        link = None
        try:
            wait_until_listening(port)
            proxy = FaultyProxy(port, rates, seed)
            link = DeviceLink(open_port(f"socket://127.0.0.1:{proxy.port}", board.baud), "noisy", REPLY_TIMEOUT_S)
            start = time.monotonic()
            for _ in range(INFO_TRIES):
                try:
                    link.info()
                    break
                except LinkError:
                    continue
            else:
                raise LinkError(f"no INFO got through in {INFO_TRIES} tries at flip {flip}")
            while link.counters.frames_sent < frames:
                picture = rng.integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
                began = time.monotonic()
                try:
                    outcome = link.infer([conv_test_model.INPUT.to_bytes(picture)], run_timeout=30.0)
                except (LinkError, DeviceError):
                    figures["inferences_failed"] += 1
                    continue
                finally:
                    took = time.monotonic() - began
                    figures["hangs"] += took > HANG_S
                    figures["longest_inference_s"] = round(max(figures["longest_inference_s"], took), 1)
                device = conv_test_model.OUTPUT.from_bytes(outcome.outputs[0])
                exact = np.array_equal(device, conv_test_model.reference(picture))
                figures["inferences_exact" if exact else "corrupt_accepted"] += 1
            figures["wall_s"] = round(time.monotonic() - start, 1)
            counters = link.counters
            figures.update(
                frames_sent=counters.frames_sent,
                requests=counters.requests,
                requests_completed=counters.requests - counters.requests_failed,
                completed_percent=round(100 * (1 - counters.requests_failed / max(1, counters.requests)), 2),
                resends=counters.resends,
                timeouts=counters.timeouts,
                final_data_chunk=link.data_chunk,
                bytes_damaged=dict(rates.counts),
            )
        finally:
            if link is not None:
                link.close()
            if proxy is not None:
                proxy.close()
            qemu.stop()
    return figures


def main(argv: list[str] | None = None) -> None:
    """Command line: the figures as text or --json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--flip", type=float, default=0.01, help="fraction of bytes flipped, each direction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.frames, args.flip, args.seed)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()

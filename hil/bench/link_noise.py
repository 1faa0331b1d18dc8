"""The framed link under noise: the conv test model under QEMU, over its UART through a proxy that flips bits of
a fraction of the bytes in both directions, or over rtt with the same fraction of the rings' payload bytes
flipped by the memory access (host -> device writes and device -> host reads; never the control block, never
the GDB packets).

    python -m hil.bench.link_noise [--transport uart|rtt] [--model conv|streamed] [--frames 10000] [--flip 0.01]
                                   [--seed 1] [--json]

--model streamed runs hil.streamed_test_model instead, whose 5,000-byte input streams in during RUN (protocol.h).

Prints the frames the host sent, the requests (INPUT, RUN, READ_OUTPUT, ...) and how many completed (a data
request given up for a smaller one is not counted: DeviceLink.transact, requests_resized), the
inferences whose outputs equal the host's exact computation, corrupt results accepted (outputs that differ
but were returned as good), the longest inference and hangs (one longer than HANG_S), the bytes damaged,
and the wall time. The link shrinks its data frames while frames are being damaged (DeviceLink.data_chunk).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from hil import conv_test_model, streamed_test_model
from hil.board_description import BoardDescription, load_board
from hil.build.firmware_builder import BuildRequest, FirmwareBuilder
from hil.catalog import model_sources
from hil.errors import DeviceError, LinkError
from hil.link.device_link import DeviceLink, open_port
from hil.link.fault_proxy import FaultRates, FaultyProxy
from hil.link.faulty_memory import FaultyMemory
from hil.link.memory_access import MemoryAccess
from hil.link.messages import DeviceInfo
from hil.link.rtt import CONTROL_BLOCK_BYTES, RttAddresses
from hil.targets.gdb_remote import GdbRemote
from hil.targets.qemu import QemuProcess, free_tcp_port, wait_until_listening
from hil.targets.qemu_rtt import QemuRttTarget

HANG_S = 600.0  # every wait is bounded; an inference this long would mean one is not
REPLY_TIMEOUT_S = 1.0
INFO_TRIES = 20


class _NoisyRttTarget(QemuRttTarget):
    """The rtt target with bits flipped in the rings' payload bytes by the memory access under the rings."""

    def __init__(
        self, board: BoardDescription, elf: Path, workdir: Path, rates: FaultRates, seed: int, reply_timeout: float
    ) -> None:
        super().__init__(board, elf, workdir, reply_timeout=reply_timeout)
        self.rates = rates
        self.seed = seed

    def memory(self, remote: GdbRemote, addresses: RttAddresses) -> MemoryAccess:
        spared = [(addresses.control_block, CONTROL_BLOCK_BYTES)]
        return FaultyMemory(super().memory(remote, addresses), self.rates, self.seed, spared)


@contextmanager
def noisy_link(
    transport: str,
    board: BoardDescription,
    elf: Path,
    workdir: Path,
    rates: FaultRates,
    seed: int,
    reply_timeout: float = REPLY_TIMEOUT_S,
) -> Iterator[DeviceLink]:
    """A link to QEMU running elf whose bytes are damaged on the way, both ways; no request sent yet."""
    if transport == "rtt":
        target = _NoisyRttTarget(board, elf, workdir, rates, seed, reply_timeout)
        link = DeviceLink(target.open_rtt(), "noisy rtt", reply_timeout)
        try:
            yield link
        finally:
            link.close()
            target.stop()
        return
    port = free_tcp_port()
    qemu = QemuProcess(board, elf, workdir, f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on")
    qemu.start()
    proxy = None
    link = None
    try:
        wait_until_listening(port)
        proxy = FaultyProxy(port, rates, seed)
        link = DeviceLink(open_port(f"socket://127.0.0.1:{proxy.port}", board.baud), "noisy", reply_timeout)
        yield link
    finally:
        if link is not None:
            link.close()
        if proxy is not None:
            proxy.close()
        qemu.stop()


def first_info(link: DeviceLink, tries: int = INFO_TRIES) -> DeviceInfo:
    """INFO over a damaged link: asked again until one reply gets through whole (its 200-odd bytes are the likeliest
    frame to be hit), at most tries times."""
    for _ in range(tries):
        try:
            return link.info()
        except LinkError:
            continue
    raise LinkError(f"{link.name}: no INFO got through in {tries} tries")


def measure(frames: int, flip: float, seed: int, transport: str = "uart", model: str = "conv") -> dict:
    """Inferences over the damaged link until the host has sent `frames` frames."""
    board = load_board("mps2-an386")
    rng = np.random.default_rng(seed)
    figures = {"transport": transport, "model": model, "flip": flip, "seed": seed}
    figures.update(inferences_exact=0, inferences_failed=0, corrupt_accepted=0, hangs=0, longest_inference_s=0.0)
    rates = FaultRates(flip=flip)
    with tempfile.TemporaryDirectory(prefix="hil-noise-") as workdir:
        if model == "streamed":
            sources = streamed_test_model.write_streamed_model(Path(workdir) / "model" / streamed_test_model.NAME)
        else:
            sources = model_sources(conv_test_model.NAME)
        image = FirmwareBuilder().build(BuildRequest(board, sources, transport))
        with noisy_link(transport, board, image.elf, Path(workdir) / "run", rates, seed) as link:
            start = time.monotonic()
            first_info(link)
            while link.counters.frames_sent < frames:
                inputs, expected = _case(model, rng)
                began = time.monotonic()
                try:
                    outcome = link.infer(inputs, run_timeout=30.0)
                except (LinkError, DeviceError):
                    figures["inferences_failed"] += 1
                    continue
                finally:
                    took = time.monotonic() - began
                    figures["hangs"] += took > HANG_S
                    figures["longest_inference_s"] = round(max(figures["longest_inference_s"], took), 1)
                exact = outcome.outputs == expected
                figures["inferences_exact" if exact else "corrupt_accepted"] += 1
            figures["wall_s"] = round(time.monotonic() - start, 1)
            counters = link.counters
            figures.update(
                frames_sent=counters.frames_sent,
                requests=counters.requests,
                requests_completed=counters.requests - counters.requests_failed,
                completed_percent=round(100 * (1 - counters.requests_failed / max(1, counters.requests)), 2),
                requests_resized=counters.requests_resized,
                resends=counters.resends,
                timeouts=counters.timeouts,
                final_data_chunk=link.data_chunk,
                bytes_damaged=dict(rates.counts),
            )
    return figures


def _case(model: str, rng: np.random.Generator) -> tuple[list[bytes], tuple[bytes, ...]]:
    """One inference's inputs and the exact bytes of its outputs."""
    if model == "streamed":
        inputs = streamed_test_model.random_inputs(int(rng.integers(2**31)))
        return inputs, streamed_test_model.reference(*inputs)
    picture = rng.integers(-128, 128, size=conv_test_model.INPUT.shape, dtype=np.int8)
    expected = conv_test_model.OUTPUT.to_bytes(conv_test_model.reference(picture))
    return [conv_test_model.INPUT.to_bytes(picture)], (expected,)


def main(argv: list[str] | None = None) -> None:
    """Command line: the figures as text or --json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("uart", "rtt"), default="uart")
    parser.add_argument("--model", choices=("conv", "streamed"), default="conv")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument(
        "--flip",
        type=float,
        default=0.01,
        help="fraction of bytes flipped, each direction (rtt: of ring payload bytes)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.frames, args.flip, args.seed, args.transport, args.model)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()

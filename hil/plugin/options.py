"""The plugin's command-line and ini options, read into one typed record."""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.board_description import available_boards
from hil.build.firmware_builder import TRANSPORTS, fastest_transport
from hil.build.toolchain import QEMU
from hil.parity.detection_parity import DEFAULT_SCORE_MARGIN
from hil.target_factory import FLASHERS

EMULATE_CHOICES = ("qemu", "renode", "auto")
TRANSPORT_CHOICES = (*TRANSPORTS, "auto")
ON_OFF = ("on", "off")
_CHOICES = {
    "--emulate": EMULATE_CHOICES,
    "--hil-transport": TRANSPORT_CHOICES,
    "--hil-flasher": FLASHERS,
    "--hil-baud-negotiation": ON_OFF,
}


@dataclass(frozen=True)
class HilOptions:
    """The run's choices, from the command line first and the ini file second."""

    board: str
    emulate: str | None
    probe: str | None
    port: str | None
    baud: int | None
    transport: str
    model: str
    images: Path | None
    out_dir: Path | None
    metrics: Path | None
    run_timeout: float
    ram_budget: int | None
    flash_budget: int | None
    latency_budget: int | None  # in the run's unit: instructions under an emulator, cycles on a board
    farm: Path | None
    lock_dir: Path | None
    labgrid_coordinator: str | None
    shard: str | None
    quarantine: Path | None
    retries: int
    image_count: int
    images_sample: int | None
    truth: Path | None
    min_recall: float
    min_precision: float
    score_margin: float
    min_snr_db: float
    ap_tolerance: float
    flasher: str = "pyocd"
    baud_negotiation: bool = True
    transport_chosen: bool = False  # True when `--hil-transport auto` picked the transport

    @property
    def models(self) -> list[str]:
        """The models of the run: `--model a,b` runs every test that needs the device once per model."""
        return [m.strip() for m in self.model.split(",") if m.strip()]

    @property
    def target_label(self) -> str:
        if self.farm:
            return f"a board of the farm {self.farm}"
        if self.emulate:
            return f"emulator {self.emulate}"
        probe = f"{self.flasher} probe {self.probe or 'first free'}"
        return f"board ({probe}, port {self.port or 'matched by probe'})"


# (option, ini name, help, type): every option also exists as an ini setting.
_OPTIONS: tuple[tuple[str, str, str, type], ...] = (
    ("--board", "hil_board", f"board kind (one of {', '.join(available_boards())}) or a farm board name", str),
    ("--emulate", "hil_emulate", "qemu, renode, or auto (a board if one is attached, else an emulator)", str),
    ("--hil-probe", "hil_probe", "debug probe unique ID (pyOCD) of the board to use", str),
    ("--hil-flasher", "hil_flasher", "what flashes and resets a board: pyocd (default) or openocd", str),
    ("--hil-port", "hil_port", "serial port of the board (default: the one matching the probe)", str),
    ("--hil-baud", "hil_baud", "UART baud rate (default: the board's)", int),
    (
        "--hil-baud-negotiation",
        "hil_baud_negotiation",
        "on (default): a board's UART link moves to the fastest of its board.toml [uart] rates that passes an "
        "echo burst; off: it stays at the rate the firmware starts at",
        str,
    ),
    (
        "--hil-transport",
        "hil_transport",
        f"how inputs and outputs move: {', '.join(TRANSPORTS)}, or auto (the fastest the target supports)",
        str,
    ),
    ("--model", "hil_model", "the model(s) to build the firmware around, comma-separated", str),
    ("--images", "hil_images", "directory of test images", str),
    ("--hil-out", "hil_out", "directory for the run's report, results CSV/JSON and JUnit XML", str),
    ("--hil-metrics", "hil_metrics", "file to write the run's figures to in Prometheus text format", str),
    ("--hil-run-timeout", "hil_run_timeout", "seconds one inference may take", float),
    ("--hil-ram-budget", "hil_ram_budget", "RAM budget in bytes (default: the board's)", int),
    ("--hil-flash-budget", "hil_flash_budget", "flash budget in bytes (default: the board's)", int),
    (
        "--hil-latency-budget",
        "hil_latency_budget",
        "most instructions (emulator) or cycles (board) the median inference may take (default: the model's "
        "instruction budget, under an emulator)",
        int,
    ),
    ("--hil-farm", "hil_farm", "farm file (YAML): each worker locks one of its boards; --board may name one", str),
    ("--hil-lock-dir", "hil_lock_dir", "board locks shared by every worker (default $HIL_LOCK_DIR or /tmp)", str),
    ("--hil-labgrid-coordinator", "hil_labgrid_coordinator", "labgrid coordinator HOST:PORT for farm places", str),
    ("--hil-shard", "hil_shard", "run only part INDEX of COUNT (as 2/3), a deterministic split of the tests", str),
    ("--hil-quarantine", "hil_quarantine", "file of test ids (one a line) to skip as quarantined", str),
    ("--hil-retries", "hil_retries", "reruns of a test that failed on a harness or device error (marked flaky)", int),
    ("--hil-image-count", "hil_image_count", "synthetic test images per model when --images is not given", int),
    (
        "--hil-images-sample",
        "hil_images_sample",
        "with --images, N pictures evenly spaced through the folder's (default: all), as a nightly run samples a "
        "large set such as WIDER FACE",
        int,
    ),
    (
        "--hil-truth",
        "hil_truth",
        "with --images, truth kept outside its folder: a COCO .json, a WIDER FACE ground-truth .txt, or a folder of "
        "them or of Pascal VOC .xml (default: the annotation files in --images)",
        str,
    ),
    ("--hil-min-recall", "hil_min_recall", "least recall of float detections (score >= 0.5) by the device", float),
    ("--hil-min-precision", "hil_min_precision", "least precision of device detections against float", float),
    (
        "--hil-score-margin",
        "hil_score_margin",
        "how far below 0.5 a detection may score on the other side and still count as found",
        float,
    ),
    ("--hil-min-snr-db", "hil_min_snr_db", "least SNR of each device output against float, in dB", float),
    ("--hil-ap-tolerance", "hil_ap_tolerance", "largest AP@0.5 drop of the device against float", float),
)
_DEFAULTS = {
    "hil_image_count": "8",
    "hil_retries": "0",
    "hil_min_recall": "0.9",
    "hil_min_precision": "0.8",
    "hil_score_margin": str(DEFAULT_SCORE_MARGIN),
    "hil_min_snr_db": "10",
    "hil_ap_tolerance": "0.02",
    "hil_board": "nucleo-f439zi",
    "hil_transport": "uart",
    "hil_flasher": "pyocd",
    "hil_baud_negotiation": "on",
    "hil_model": "conv_test_model",
    "hil_run_timeout": "120",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop (hil)")
    for flag, ini, help_text, kind in _OPTIONS:
        choices = _CHOICES.get(flag)
        group.addoption(flag, dest=ini, default=None, type=kind, choices=choices, help=help_text)
        parser.addini(ini, help_text, default=_DEFAULTS.get(ini, ""))


@functools.cache
def _probe_attached() -> bool:
    """Whether pyOCD sees a debug probe, so `--emulate auto` means the board."""
    try:
        from hil.targets.pyocd_driver import PyOcdProbeDriver

        return bool(PyOcdProbeDriver().list_probes())
    except Exception:  # pyOCD missing or a USB stack that fails: no board to use
        return False


def _value(config: pytest.Config, ini: str, kind: type):
    given = config.getoption(ini)
    if given is not None:
        return given
    text = config.getini(ini)
    return kind(text) if text not in ("", None) else None


def options_from_config(config: pytest.Config) -> HilOptions:
    get = {ini: _value(config, ini, kind) for _, ini, _, kind in _OPTIONS}
    emulate = get["hil_emulate"]
    if emulate == "auto":
        emulate = None if _probe_attached() else "qemu" if shutil.which(QEMU) else None
    transport = get["hil_transport"]
    if transport == "auto":
        transport = fastest_transport(emulate)
    if get["hil_baud_negotiation"] not in ON_OFF:  # the command line checks its choices, the ini file does not
        raise pytest.UsageError(f"hil_baud_negotiation = {get['hil_baud_negotiation']}: expected on or off")
    html = config.getoption("htmlpath", default=None)
    out_dir = get["hil_out"] or (str(Path(html).parent) if html else None)
    return HilOptions(
        board=get["hil_board"],
        emulate=emulate,
        probe=get["hil_probe"],
        port=get["hil_port"],
        baud=get["hil_baud"],
        transport=transport,
        model=get["hil_model"],
        images=Path(get["hil_images"]) if get["hil_images"] else None,
        out_dir=Path(out_dir) if out_dir else None,
        metrics=Path(get["hil_metrics"]) if get["hil_metrics"] else None,
        run_timeout=get["hil_run_timeout"],
        ram_budget=get["hil_ram_budget"],
        flash_budget=get["hil_flash_budget"],
        latency_budget=get["hil_latency_budget"],
        farm=Path(get["hil_farm"]) if get["hil_farm"] else None,
        lock_dir=Path(get["hil_lock_dir"]) if get["hil_lock_dir"] else None,
        labgrid_coordinator=get["hil_labgrid_coordinator"],
        shard=get["hil_shard"],
        quarantine=Path(get["hil_quarantine"]) if get["hil_quarantine"] else None,
        retries=get["hil_retries"],
        image_count=get["hil_image_count"],
        images_sample=get["hil_images_sample"],
        truth=Path(get["hil_truth"]) if get["hil_truth"] else None,
        min_recall=get["hil_min_recall"],
        min_precision=get["hil_min_precision"],
        score_margin=get["hil_score_margin"],
        min_snr_db=get["hil_min_snr_db"],
        ap_tolerance=get["hil_ap_tolerance"],
        flasher=get["hil_flasher"],
        baud_negotiation=get["hil_baud_negotiation"] == "on",
        transport_chosen=get["hil_transport"] == "auto",
    )

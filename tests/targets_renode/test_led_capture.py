"""LED-timed latency from sigrok VCD captures: synthetic files, and a real sigrok-cli demo capture."""

from __future__ import annotations

import shutil

import pytest

from hil.targets.led_capture import CaptureError, SigrokCapture, parse_vcd

HEADER = (
    "$date Sat Nov 28 2026 $end\n$version libsigrok 0.5.2 $end\n$timescale {scale} $end\n"
    '$scope module libsigrok $end\n$var wire 1 ! D0 $end\n$var wire 1 " D1 $end\n$upscope $end\n$enddefinitions $end\n'
)


def test_on_intervals_from_a_synthetic_capture():
    body = '#0 0! 1"\n#1000 1!\n#13500 0!\n#20000 0"\n#25000 1!\n#25001\n#40000 0! 1"\n#50000 1!\n#60000\n'
    trace = parse_vcd(HEADER.format(scale="1 us") + body, "D0")
    assert trace.on_intervals() == [(0.001, 0.0135), (0.025, 0.04)]
    assert trace.on_durations() == pytest.approx([0.0125, 0.015])
    assert trace.end == pytest.approx(0.06)


def test_pulses_cut_by_the_capture_edges_are_left_out_and_units_scale():
    body = "#0 1!\n#5 0!\n#10 1!\n#30 0!\n#40 1!\n#50\n"
    trace = parse_vcd(HEADER.format(scale="10 ns") + body, "D0")
    assert trace.on_intervals() == [pytest.approx((100e-9, 300e-9))]


def test_a_missing_channel_or_timescale_is_named():
    with pytest.raises(CaptureError, match="no channel 'D7'; channels: D0, D1"):
        parse_vcd(HEADER.format(scale="1 us") + "#0 0!\n", "D7")
    with pytest.raises(CaptureError, match="no \\$timescale"):
        parse_vcd(HEADER.replace("$timescale {scale} $end\n", "") + "#0 0!\n", "D0")
    with pytest.raises(CaptureError, match="not a VCD"):
        parse_vcd("logic\n0\n1\n", "D0")


def test_the_command_records_the_channel_at_the_samplerate_for_the_duration(tmp_path):
    capture = SigrokCapture(driver="fx2lafw", channel="D2", samplerate_hz=2_000_000, duration_s=1.5)
    assert capture.command(tmp_path / "c.vcd") == [
        "sigrok-cli",
        *("--driver", "fx2lafw", "--channels", "D2", "--config", "samplerate=2000000", "--samples", "3000000"),
        *("-O", "vcd", "-o", str(tmp_path / "c.vcd")),
    ]


def test_a_missing_sigrok_cli_says_how_to_install_it(tmp_path):
    with pytest.raises(CaptureError, match="apt-get install -y --no-install-recommends sigrok-cli"):
        SigrokCapture(executable="sigrok-cli-that-does-not-exist").start(tmp_path / "c.vcd")


@pytest.mark.skipif(shutil.which("sigrok-cli") is None, reason="sigrok-cli is not installed")
def test_a_real_sigrok_demo_capture_parses_into_pulses(tmp_path):
    capture = SigrokCapture(driver="demo", channel="D0", samplerate_hz=1_000_000, duration_s=0.002)
    trace = capture.run(tmp_path / "demo.vcd", timeout=30)
    assert trace.end == pytest.approx(0.002)
    durations = trace.on_durations()
    assert len(durations) > 10 and all(0 < d < 0.001 for d in durations)
    with pytest.raises(CaptureError, match="exited with"):
        SigrokCapture(driver="no-such-driver", duration_s=0.001).run(tmp_path / "bad.vcd", timeout=30)

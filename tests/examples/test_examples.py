"""The four MLPerf Tiny examples: each is a ModelSpec a user's factory could return, compiles, fits its budgets
on nucleo-f439zi, and runs on the QEMU stand-in with host C == golden == QEMU bit for bit."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from examples.bench import EXAMPLES, run_example, spec_of
from hil.board_description import load_board
from hil.catalog import ModelSpec


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_is_a_model_spec(name: str) -> None:
    spec = spec_of(name)
    assert isinstance(spec, ModelSpec) and spec.name == name
    model = spec.build()
    assert not model.training
    calibration = spec.calibration(3)
    assert calibration.dtype == np.float32 and calibration.shape == (3, *spec.input_shape[1:])
    np.testing.assert_array_equal(calibration, spec.calibration(3))  # generated, deterministic
    with torch.no_grad():
        out = model(torch.from_numpy(calibration))
    assert out.shape[0] == 3 and torch.isfinite(out).all()


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_fits_nucleo_and_is_bit_exact_on_qemu(name: str, tmp_path) -> None:
    spec = spec_of(name)
    run = run_example(spec, tmp_path, inputs=1)
    assert run.bit_exact, f"{name}: host C, golden and QEMU differ"
    board = load_board("nucleo-f439zi")
    assert run.flash_bytes <= spec.budgets.flash_bytes <= board.flash_budget
    assert run.ram_bytes <= spec.budgets.ram_bytes <= board.ram_budget
    assert run.instructions_per_mac > 0


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_the_bit_width_search_raises_the_autoencoders_snr_and_stays_bit_exact(tmp_path) -> None:
    """int16 where the search puts it (fully_connected_a16, and the model's output): host C == golden == QEMU, and a
    better output."""
    spec = spec_of("autoencoder")
    plain = run_example(spec, tmp_path / "int8", inputs=1)
    searched = run_example(replace(spec, bit_widths="search", bit_width_arena_budget=29_580), tmp_path / "search", 1)
    assert searched.bit_exact, "autoencoder with searched widths: host C, golden and QEMU differ"
    assert searched.snr_db > plain.snr_db  # 29.10 -> 29.70 dB on the held-out input, the output int16 (2026-12-04)
    assert searched.arena_bytes > plain.arena_bytes


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_the_bit_width_search_widens_a_fused_mbconvs_depthwise_map_in_vww(tmp_path) -> None:
    """vww (a MobileNet, not ours): the search widens a map inside one of its fused MBConv blocks (features.30's
    expanded output, 2026-12-05; features.9's depthwise output while the search measured 3 images), which the block
    then runs with conv2d_a16 and depthwise_conv2d_a16 on int16 rows: host C == golden == QEMU."""
    from hil.compiler.cli import bit_width_spec

    spec = spec_of("vww")
    searched_spec, _ = bit_width_spec(spec, "search", "nucleo-f439zi", None)
    plain = run_example(spec, tmp_path / "int8", inputs=1)
    searched = run_example(searched_spec, tmp_path / "search", 1)
    assert searched.bit_exact, "vww with searched widths: host C, golden and QEMU differ"
    assert searched.instructions_per_mac > plain.instructions_per_mac  # the int16 kernels ran
    model_c = (tmp_path / "search" / "c" / "model.c").read_text()
    # a block's rows (gen_mbconv.bits): input and output int8, its expanded or depthwise row int16
    assert re.search(r"\{8, (16, 8|8, 16), 8\}", model_c), "no fused MBConv runs an int16 row"


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_the_bit_width_search_gives_kws_pointwise_layers_int16_weights(tmp_path) -> None:
    """kws_dscnn (a DS-CNN, not ours): the search takes int16 weights for pointwise convolutions of its blocks
    (conv2d_a16_w16 on int8 rows; blocks.1 and blocks.2, 2026-12-06), and the model stays bit-exact: host C == golden
    == QEMU. (Its calibration SNR rises 38.5 -> 40.2 dB; on 8 held-out inputs the mean 39.8 -> 39.9, README.)"""
    from hil.compiler.cli import bit_width_spec

    spec = spec_of("kws_dscnn")
    searched_spec, _ = bit_width_spec(spec, "search", "nucleo-f439zi", None)
    plain = run_example(spec, tmp_path / "int8", inputs=1)
    searched = run_example(searched_spec, tmp_path / "search", 1)
    assert searched.bit_exact, "kws_dscnn with searched widths: host C, golden and QEMU differ"
    assert searched.instructions_per_mac > plain.instructions_per_mac  # the int16-weight kernel ran
    model_c = (tmp_path / "search" / "c" / "model.c").read_text()
    assert "conv2d_a16_w16" in model_c and re.search(r"static const int16_t l\d+\w*_filter\[", model_c)


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
def test_the_bench_prints_the_worst_and_the_mean_snr_of_the_held_out_inputs(capsys) -> None:
    """The worst input alone can hide what a change does to the others (kws_dscnn's search, 2026-12-06)."""
    from examples.bench import main

    assert main(["--models", "autoencoder", "--inputs", "3"]) == 0
    out = capsys.readouterr().out
    assert "SNR dB worst" in out and "over 3 held-out inputs" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("autoencoder"))
    worst, mean, exact = float(row[-3]), float(row[-2]), row[-1]
    assert exact == "yes" and 0 < worst < mean


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--models", "kws_dscnn,lenet"], "--models: no example lenet; expected some of kws_dscnn"),
        (["--inputs", "0"], "--inputs 0: expected 1 or more held-out inputs"),
        (["--bit-widths", "int4"], "argument --bit-widths: invalid choice: 'int4'"),
    ],
)
def test_the_bench_refuses_what_it_cannot_run(argv: list[str], message: str, capsys) -> None:
    from examples.bench import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err

"""models.train's command line refuses bad arguments in one line, before any training image is made."""

from __future__ import annotations

import pytest
import torch

from models.train import main


def _refusal(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    # the command as the user types it, also where sys.argv[0] is another program's (a pytest-xdist worker's "-c")
    assert error.split(": error: ")[0] == "python -m models.train", error
    return error


@pytest.mark.parametrize(
    ("flag", "value", "minimum"),
    [("--tolerance-steps", "-600", 0), ("--crop-steps", "-1", 0), ("--full-steps", "x", 0), ("--threads", "0", 1)],
)
def test_a_step_count_below_its_minimum_is_refused(capsys, flag: str, value: str, minimum: int) -> None:
    message = _refusal(capsys, ["--model", "m4", flag, value])
    assert f"argument {flag}: expected an integer >= {minimum}, got '{value}'" in message


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--tolerance-weight-decay", "-1"),
        ("--tolerance-weight", "nan"),
        ("--tolerance-distillation-weight", "x"),
        ("--tolerance-detection-weight", "inf"),
    ],
)
def test_a_negative_or_non_numeric_tolerance_weight_is_refused(capsys, flag: str, value: str) -> None:
    message = _refusal(capsys, ["--model", "m4", flag, value])
    assert f"argument {flag}: expected a finite number >= 0, got '{value}'" in message


def test_a_missing_init_checkpoint_is_refused(capsys, tmp_path) -> None:
    missing = tmp_path / "none.pt"
    assert f"--init {missing}:" in _refusal(capsys, ["--model", "m4", "--init", str(missing)])


def test_an_init_checkpoint_of_the_other_model_is_refused(capsys, tmp_path) -> None:
    """The QVGA's weights do not fit the M4: the mismatch is named, not raised from deep inside load_state_dict."""
    from models.registry import load_model

    qvga = tmp_path / "qvga.pt"
    torch.save(load_model("qvga").state_dict(), qvga)
    message = _refusal(capsys, ["--model", "m4", "--init", str(qvga)])
    assert f"--init {qvga}: state_dict does not fit RNNPool_Face_M4: unexpected keys (180): " in message
    assert "shape mismatches (25): " in message and len(message) < 600


def test_a_file_that_is_not_a_checkpoint_is_refused(capsys, tmp_path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    message = _refusal(capsys, ["--model", "m4", "--init", str(text)])
    assert f"--init {text}: not a readable PyTorch checkpoint (UnpicklingError); expected a state_dict" in message

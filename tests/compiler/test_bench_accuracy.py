"""hil.compiler.bench_accuracy's command line refuses an empty run in one line, before anything is compiled."""

from __future__ import annotations

import pytest

from hil.compiler.bench_accuracy import main


@pytest.mark.parametrize("images", ["0", "-3"])
def test_no_test_image_is_refused(capsys: pytest.CaptureFixture, images: str) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--model", "m4", "--images", images])
    assert exit.value.code == 2
    assert f"--images: expected at least 1 test image, got {images}" in capsys.readouterr().err.splitlines()[-1]

"""hil.compiler.bench_accuracy's command line: it refuses an empty run in one line, before anything is compiled, and
says which images hold faces."""

from __future__ import annotations

import pytest

from hil.compiler.bench_accuracy import main


@pytest.mark.parametrize("images", ["0", "-3"])
def test_no_test_image_is_refused(capsys: pytest.CaptureFixture, images: str) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--model", "m4", "--images", images])
    assert exit.value.code == 2
    assert f"--images: expected at least 1 test image, got {images}" in capsys.readouterr().err.splitlines()[-1]


def test_each_snr_image_says_how_many_faces_it_holds(capsys: pytest.CaptureFixture) -> None:
    """Test images 0-2 of the synthetic split: 0 and 2 hold no face, 1 holds one (SyntheticFaceGenerator); an SNR at
    the face anchors of a picture without a face is the model's response to non-faces, so the line says which."""
    import json

    main(["--model", "m4", "--images", "3", "--snr-images", "3", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert [row["true_faces"] for row in result[0]["snr_db"]] == [0, 1, 0]
    main(["--model", "m4", "--images", "1", "--snr-images", "1"])
    out = capsys.readouterr().out
    assert "image 0 (0 faces in it): SNR loc " in out
    assert "AP@0.5: none, the 1 test images hold no face" in out

"""hil.compiler.bench_accuracy's command line: it refuses an empty run in one line, before anything is compiled, and
says which images hold faces and how contrasted each is."""

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
    # Pixel standard deviations of test images 0-2 (the README's "Why images 3 and 4"): the contrast, in grey levels.
    assert [round(row["pixel_std"], 1) for row in result[0]["snr_db"]] == [40.5, 57.4, 40.9]
    assert result[0]["borderline_anchors"] >= 0 and "borderline_logit_change_mean" in result[0]
    main(["--model", "m4", "--images", "1", "--snr-images", "1"])
    out = capsys.readouterr().out
    assert "image 0 (0 faces in it, pixel std 40.5): SNR loc " in out
    assert "AP@0.5: none, the 1 test images hold no face" in out


def test_the_borderline_logit_change_counts_only_anchors_near_one_half() -> None:
    """Face logits 0.2 (probability 0.55) and -0.4 (0.40) are borderline, 3.0 (0.95) and -3.0 (0.05) are not; the
    change is the quantised face-minus-background logit less the float one, so a face read low is negative."""
    import numpy as np

    from hil.compiler.bench_accuracy import _borderline_logit_changes

    float_conf = np.array([[[0.0, 0.2], [0.0, 3.0], [0.4, 0.0], [1.0, -2.0]]])
    quantized_conf = np.array([[[0.0, 0.1], [0.0, 2.0], [0.5, 0.0], [0.0, 0.0]]])
    changes = _borderline_logit_changes([None, float_conf], [None, quantized_conf])
    np.testing.assert_allclose(changes, [-0.1, -0.1])

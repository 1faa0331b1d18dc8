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
    assert "saturation: 0 of 1 images" in out and result[0]["worst_saturation"] is None


def test_the_borderline_logit_change_counts_only_anchors_near_one_half() -> None:
    """Face logits 0.2 (probability 0.55) and -0.4 (0.40) are borderline, 3.0 (0.95) and -3.0 (0.05) are not; the
    change is the quantised face-minus-background logit less the float one, so a face read low is negative."""
    import numpy as np

    from hil.compiler.bench_accuracy import _borderline_logit_changes

    float_conf = np.array([[[0.0, 0.2], [0.0, 3.0], [0.4, 0.0], [1.0, -2.0]]])
    quantized_conf = np.array([[[0.0, 0.1], [0.0, 2.0], [0.5, 0.0], [0.0, 0.0]]])
    changes = _borderline_logit_changes([None, float_conf], [None, quantized_conf])
    np.testing.assert_allclose(changes, [-0.1, -0.1])


def test_an_image_past_the_calibrated_range_is_counted_and_the_worst_named(capsys: pytest.CaptureFixture) -> None:
    """The QVGA, calibrated on 4 val images, has test image 3 (a dim one) past the range of its last MBConv's
    projection (3.4 % of its values on 2026-12-06); the worst of the images counted is named, in JSON and text."""
    import json

    from hil.compiler.bench_accuracy import SATURATION_REPORTED

    main(["--model", "qvga", "--images", "4", "--snr-images", "0", "--json"])
    (result,) = json.loads(capsys.readouterr().out)
    worst = result["worst_saturation"]
    assert 1 <= result["images_saturating"] <= 4 and worst["image"] in range(4)
    assert worst["saturated"] / worst["values"] > SATURATION_REPORTED and worst["layer"] in worst["described"]
    main(["--model", "qvga", "--images", "4", "--snr-images", "0"])
    assert (
        f"saturation: {result['images_saturating']} of 4 images have a tensor with more than 0.5 % of its values at "
        f"the ends of its range; the most, image {worst['image']}: {worst['described']}"
    ) in capsys.readouterr().out

"""The catalog: the models the harness ships, one entry each. Nothing else in the harness names them."""

from __future__ import annotations

import numpy as np

from hil import conv_test_model, null_model
from hil.build.firmware_builder import reserved_ram_bytes
from hil.catalog.spec import Budgets, ModelDecode, ModelSpec

FACE_CALIBRATION_IMAGES = 4
# What int16 activations may cost a face model (issue 12): 5 % more instructions than its all-int8 build. The nightly
# holds the firmware to it (test_latency, plus what UART's or rtt's input reads add: the M4 measured 264.72 M
# instructions over semihosting, 265.54 M over UART and rtt); the bit-width search holds its cost model's estimate
# to the 5 % (hil.compiler.width_cost).
INT16_LATENCY_ALLOWANCE = 0.05
INPUT_READ_INSTRUCTIONS = 800_000
FACE_INPUT = (1, 1, 240, 320)


def _face_calibration(count: int) -> np.ndarray:
    """The first images of the synthetic val split, preprocessed as the device sees them (NCHW)."""
    from hil.compiler.calibrate import synthetic_images

    return np.concatenate([x.transpose(0, 3, 1, 2) for x in synthetic_images(count)])


def _face_model(registry_name: str):
    def build():
        from models.registry import load_model

        return load_model(registry_name)

    return build


def _face_normalise(pixels: np.ndarray) -> np.ndarray:
    """Grey pixels as the face models were trained on them: the mean taken off, no scaling."""
    from models.preprocess import GREY_MEAN

    return (pixels.astype(np.float32) - np.float32(GREY_MEAN))[None]


def _face_decode(model, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """loc and conf to face boxes in input pixels, with the anchors the model's weights were trained with (the
    committed QVGA's differ from the M4's and from an EdgeML checkpoint's)."""
    from hil.parity.face_detections import detections

    _, _, height, width = FACE_INPUT
    return detections(outputs[0], outputs[1], model.priors_for(height, width), width, height)


def _face_test_images(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The synthetic test split's first pictures (320x240 grey) with their face boxes."""
    from models.data.synthetic import SyntheticFaceGenerator

    generator = SyntheticFaceGenerator()
    return [generator.image("test", index) for index in range(count)]


def _face(
    name: str, registry_name: str, flash_kb: int, ram_kb: int, int8_instructions: int, description: str
) -> ModelSpec:
    """int8_instructions: the all-int8 build's per image under QEMU (python -m hil.bench.profile --model m4|qvga
    --bit-widths int8, over semihosting)."""
    build = _face_model(registry_name)
    allowance = round(int8_instructions * INT16_LATENCY_ALLOWANCE)
    return ModelSpec(
        name=name,
        build=build,
        input_shape=FACE_INPUT,
        output_names=("loc", "conf"),
        task="detection",
        calibration=_face_calibration,
        calibration_count=FACE_CALIBRATION_IMAGES,
        # Pictures are letterboxed (the default): models.train shows both models letterboxed, zoomed frames, and the
        # M4 then finds the packaged photographs' faces in one pass (python -m hil.bench.photos).
        normalise=_face_normalise,
        decode=ModelDecode(_face_decode, build),
        test_images=_face_test_images,
        labels=("background", "face"),
        # Both searches measure where the detections are read: loc at the anchors the float model calls faces, conf's
        # logits at every anchor. Over every anchor, loc's SNR is the never-decoded background's; on conf alone the
        # exponents left the QVGA missing a face on 7 of 300 test images at score margin 0, on both 3
        # (python -m hil.compiler.bench_accuracy). Finer exponents where they raise it, then int16 where it gains
        # within the RAM budget (bit_widths.search): an int8 logit moves in steps of 1/8, so a face the float model
        # scores 0.505 could only read 0.5 or 0.469.
        output_measure="faces",
        exponents="search",
        # The image is read by rows into the stem, RNNPool and the first MBConv (the streamed front): the input,
        # the stem's and RNNPool's maps are never whole, which takes the M4's arena from 97,280 to 67,848 B.
        stream_input=True,
        bit_widths="search",
        bit_width_arena_budget=ram_kb * 1024 - reserved_ram_bytes(),
        bit_width_latency_budget=allowance,
        # Flash: the article's figures (MODELS.md), the floor to beat; RAM: half the article's 185 KB for the M4.
        budgets=Budgets(
            flash_bytes=flash_kb * 1024,
            ram_bytes=ram_kb * 1024,
            latency_instructions=int8_instructions + allowance + INPUT_READ_INSTRUCTIONS,
        ),
        description=description,
        aliases=(registry_name,),
    )


def _handwritten(module, reference) -> ModelSpec:
    return ModelSpec(
        name=module.NAME,
        build=None,
        input_shape=module.INPUT.shape,
        output_names=(module.OUTPUT.name,),
        sources=module.emit,
        reference=reference,
        description=(module.__doc__ or "").strip().splitlines()[0],
    )


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _face(
            "rnnpool_face_m4",
            "m4",
            160,
            96,
            252_599_560,
            "RNNPool_Face_M4: the article's sparse face detector (56 K parameters)",
        ),
        _face("rnnpool_face_qvga", "qvga", 450, 128, 483_320_560, "RNNPool_Face_QVGA_Monochrome (339 K parameters)"),
        _handwritten(conv_test_model, lambda inputs: [conv_test_model.reference(inputs[0])]),
        _handwritten(null_model, lambda inputs: [np.asarray(inputs[0]).copy()]),
    )
}
ALIASES: dict[str, str] = {alias: spec.name for spec in CATALOG.values() for alias in spec.aliases}

"""Int8 rounding noise at the face models' activations (models.quant_noise) and the training phase that uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tqdm import tqdm

from models.data import SyntheticFaceGenerator
from models.face_models import rnnpool_face_m4
from models.multibox_loss import MultiBoxLoss
from models.preprocess import grey_batch_to_input
from models.quant_noise import QuantisationNoise
from models.train import TOLERANCE_OBJECTIVES, Batches, Schedule, output_change, tolerate_quantisation


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, list[np.ndarray]]:
    items = [SyntheticFaceGenerator().image("train", i) for i in range(4)]
    return np.stack([image for image, _ in items]), [boxes for _, boxes in items]


def _captured(model: torch.nn.Module, layer: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    model(inputs)
    handle.remove()
    return seen[0]


def test_noise_is_at_most_half_a_grid_step_and_only_while_active() -> None:
    torch.manual_seed(0)
    model = rnnpool_face_m4().eval()
    inputs = torch.randn(2, 1, 64, 80)
    noise = QuantisationNoise(model)
    with torch.no_grad():
        clean = model(inputs)
        stem_clean = _captured(model, model.conv, inputs)
        with noise.active():
            noisy = model(inputs)
            stem_noisy = _captured(model, model.conv, inputs)
        after = model(inputs)
    step = 2.0 ** np.ceil(np.log2(float(stem_clean.abs().max()))) / 128
    error = (stem_noisy - stem_clean).abs()
    assert 0 < float(error.max()) <= step / 2
    assert not torch.equal(noisy[0], clean[0])
    assert torch.equal(after[0], clean[0]) and torch.equal(after[1], clean[1])
    noise.remove()
    with torch.no_grad(), noise.active():
        assert torch.equal(model(inputs)[0], clean[0])


def test_rnnpool_noise_follows_its_centred_range() -> None:
    """The RNNPool output's grid is fitted about its channel means, as the compiler centres it: a tensor at 0.6
    with a 0.01 spread gets a step of 2^-13, not the 2^-7 its magnitude would give."""
    model = rnnpool_face_m4()
    noise = QuantisationNoise(model)
    value = 0.6 + 0.01 * torch.rand(1, 64, 5, 5)
    with noise.active():
        noisy = noise._add_noise(model.rnn_model, (), value)
    assert 0 < float((noisy - value).abs().max()) <= 2.0**-13 / 2 + 1e-9


def test_tolerance_phase_trains_rnnpool_and_mbconv_weights_and_restores_the_model(frames) -> None:
    torch.manual_seed(0)
    images, boxes = frames
    model = rnnpool_face_m4().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    statistics = model.mob[0].conv[0][1].running_var.clone()
    batches = Batches(images, boxes, np.random.default_rng(0))
    loss = MultiBoxLoss(model.priors_for(*images.shape[1:]))
    schedule = Schedule(crop_steps=0, full_steps=0, full_batch=2, tolerance_steps=2)
    tolerate_quantisation(model, lambda: batches.next(schedule.full_batch, False), loss, schedule, tqdm(disable=True))
    after = model.state_dict()
    assert not torch.equal(after["mob.0.conv.0.0.weight"], before["mob.0.conv.0.0.weight"])
    assert not torch.equal(after["rnn_model.cell_rnn.cell.W"], before["rnn_model.cell_rnn.cell.W"])
    # The clean passes move BatchNorm's statistics; the noisy ones run with momentum 0, which is then given back.
    assert not torch.equal(model.mob[0].conv[0][1].running_var, statistics)
    assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
    assert all(not m._forward_hooks for m in model.modules())


def _tolerance_run(frames, schedule: Schedule) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """A fresh M4 (seed 0) before, and the model after, the schedule's tolerance steps on the frames."""
    torch.manual_seed(0)
    images, boxes = frames
    model = rnnpool_face_m4().train()
    model.sparsify()  # as training leaves it, so that the steps' own thresholding changes nothing by itself
    before = {k: v.clone() for k, v in model.named_parameters()}
    batches = Batches(images, boxes, np.random.default_rng(0))
    loss = MultiBoxLoss(model.priors_for(*images.shape[1:]))
    tolerate_quantisation(model, lambda: batches.next(schedule.full_batch, False), loss, schedule, tqdm(disable=True))
    return before, model


def test_distillation_alone_leaves_the_weights_where_they_are(frames) -> None:
    """The starting copy runs on batch statistics, as the training pass does, so with no other term the outputs
    already match it and nothing moves (were it in eval mode, BatchNorm's running statistics would pull the
    weights off at once)."""
    schedule = Schedule(
        0,
        0,
        full_batch=2,
        tolerance_steps=2,
        tolerance_weight=0.0,
        tolerance_detection_weight=0.0,
        tolerance_distillation_weight=1.0,
        tolerance_weight_decay=0.0,
    )
    before, model = _tolerance_run(frames, schedule)
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())


@pytest.mark.parametrize("objective", TOLERANCE_OBJECTIVES)
def test_distillation_holds_the_outputs_to_the_starting_models(frames, objective: str) -> None:
    """The same noisy fine-tuning with and without the distillation term: with it, the outputs move less."""
    images, _ = frames
    inputs = grey_batch_to_input(torch.from_numpy(images[:2]))
    moved = {}
    for weight in (0.0, 100.0):
        schedule = Schedule(
            0,
            0,
            full_batch=2,
            tolerance_steps=5,
            tolerance_learning_rate=1e-3,
            tolerance_detection_weight=0.0,
            tolerance_distillation_weight=weight,
            tolerance_objective=objective,
        )
        before, model = _tolerance_run(frames, schedule)
        start = rnnpool_face_m4()
        start.load_state_dict({**model.state_dict(), **before})
        with torch.no_grad():
            ends, starts = model.eval()(inputs), start.eval()(inputs)
        moved[weight] = float(output_change("outputs", ends, starts))
    assert moved[100.0] < 0.5 * moved[0.0], moved

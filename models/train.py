"""Train a face model on the synthetic set: ``python -m models.train --model m4`` (or ``qvga``).

Training runs a fixed number of steps, sized so that the whole command stays under 30 minutes on the 2-core CPU.
The first steps use random 160x120 crops (the models are fully convolutional, so a crop costs a quarter of a frame
and trains the same weights; crops are usually placed to hold a whole face), the rest full 320x240 frames so that
large faces, image borders and BatchNorm statistics match evaluation. For the M4 model the RNNPool weights are
hard-thresholded to EdgeML's sparsity after every full-frame step (iterative hard thresholding). Writes
``models/checkpoints/<name>.pt`` (an EdgeML-named state_dict) and a JSON next to it saying how it was made and how
it scores."""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.data import DEFAULT_SPLIT_IMAGES, SyntheticFaceGenerator
from models.data.synthetic import DEFAULT_SEED
from models.errors import StateDictMismatchError
from models.evaluate import real_photo_results, split_average_precision
from models.face_models import RNNPoolFaceDetector
from models.multibox_loss import MultiBoxLoss
from models.output_change import face_output_change
from models.preprocess import GREY_MEAN, grey_batch_to_input
from models.quant_noise import QuantisationNoise
from models.registry import MODELS, get_model_entry, load_model


@dataclass(frozen=True)
class Schedule:
    """Steps of the crop and full-frame phases, batch sizes and optimiser settings.

    A fixed step count makes a re-run do the same work on any machine (a loaded one only takes longer); the
    counts are sized so that each command takes under 30 minutes on this 2-core CPU, even with both models training
    at once on one thread each.
    """

    crop_steps: int
    full_steps: int
    crop_batch: int = 32
    full_batch: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    tolerance_steps: int = 0  # full-frame steps of `tolerate_quantisation` after the two phases
    tolerance_weight: float = 3.0
    tolerance_learning_rate: float = 1e-4
    tolerance_detection_weight: float = 1.0
    tolerance_distillation_weight: float = 0.0
    tolerance_weight_decay: float = 0.01  # AdamW's default, which the committed M4's tolerance runs used
    tolerance_objective: str = "outputs"  # how the noise's and the distillation's change is measured: see below

    @property
    def total_steps(self) -> int:
        return self.crop_steps + self.full_steps


# Full-frame steps cost twice a crop step (16 frames against 32 quarter frames); the full-frame phase is longer
# than it was before reframing (M4 1,100 + 300, QVGA 1,200 + 340) for the same work, because large and letterboxed
# faces exist only there.
SCHEDULES = {
    "m4": Schedule(crop_steps=700, full_steps=500),
    "qvga": Schedule(crop_steps=760, full_steps=560),
}
CROP_HEIGHT, CROP_WIDTH = 120, 160
REFRAME_PROBABILITY = 0.5
MAX_ZOOM = 2.5
MAX_FACE_FRACTION = 0.5  # of the frame height, after zooming
PORTRAIT_ASPECT, LANDSCAPE_ASPECT = 0.75, 4 / 3  # width / height of the reframed window


def random_crop(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random crop, usually placed to hold one whole face; faces at least half inside are kept, clipped."""
    top_range, left_range = (0, image.shape[0] - height), (0, image.shape[1] - width)
    if len(boxes) and rng.random() < 0.7:
        x1, y1, x2, y2 = boxes[rng.integers(len(boxes))]
        if x2 - x1 <= width and y2 - y1 <= height:
            top_range = (max(0, int(np.ceil(y2)) - height), min(top_range[1], int(y1)))
            left_range = (max(0, int(np.ceil(x2)) - width), min(left_range[1], int(x1)))
    top = int(rng.integers(top_range[0], top_range[1] + 1))
    left = int(rng.integers(left_range[0], left_range[1] + 1))
    crop = image[top : top + height, left : left + width]
    shifted = boxes - np.array([left, top, left, top], dtype=np.float32)
    clipped = np.clip(shifted, 0, [width, height, width, height]).astype(np.float32)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    visible = area(clipped) >= 0.5 * area(shifted) if len(boxes) else np.zeros(0, dtype=bool)
    return crop, clipped[visible]


def reframe(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The frame as a letterboxed photograph looks to the device: a window of random aspect (portrait to 4:3)
    zoomed up to MAX_ZOOM around a face (faces up to MAX_FACE_FRACTION of the frame height), scaled with its
    aspect kept to the frame height and placed at a random column on mean grey (the letterbox's padding)."""
    height, width = image.shape
    aspect = float(np.exp(rng.uniform(np.log(PORTRAIT_ASPECT), np.log(LANDSCAPE_ASPECT))))
    max_zoom = MAX_ZOOM
    centre = (rng.uniform(0, width), rng.uniform(0, height))
    if len(boxes):
        x1, y1, x2, y2 = boxes[rng.integers(len(boxes))]
        centre = ((x1 + x2) / 2, (y1 + y2) / 2)
        max_zoom = min(MAX_ZOOM, max(1.0, MAX_FACE_FRACTION * height / max(1.0, float(y2 - y1))))
    zoom = float(np.exp(rng.uniform(0.0, np.log(max_zoom))))
    window_h = height / zoom
    window_w = min(width, window_h * aspect)
    left = int(np.clip(centre[0] - window_w / 2 + rng.uniform(-0.25, 0.25) * window_w, 0, width - window_w))
    top = int(np.clip(centre[1] - window_h / 2 + rng.uniform(-0.25, 0.25) * window_h, 0, height - window_h))
    window = image[top : top + round(window_h), left : left + round(window_w)]
    scale = height / window.shape[0]
    new_w = min(width, max(1, round(window.shape[1] * scale)))
    placed_left = int(rng.integers(0, width - new_w + 1))
    frame = np.full_like(image, round(GREY_MEAN))
    frame[:, placed_left : placed_left + new_w] = cv2.resize(window, (new_w, height), interpolation=cv2.INTER_LINEAR)
    if not len(boxes):
        return frame, boxes
    moved = (boxes - np.array([left, top, left, top], np.float32)) * np.array(
        [new_w / window.shape[1], scale, new_w / window.shape[1], scale], np.float32
    ) + np.array([placed_left, 0, placed_left, 0], np.float32)
    clipped = np.clip(moved, [placed_left, 0, placed_left, 0], [placed_left + new_w, height] * 2).astype(np.float32)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    return frame, clipped[area(clipped) >= 0.5 * area(moved)]


def make_batch(
    images: np.ndarray, boxes: list[np.ndarray], indices: np.ndarray, rng: np.random.Generator, crop: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(model input [B, 1, h, w], normalised corner-form boxes per image) with random crops (crop phase) or
    reframed views (full frames, see `reframe`), and flips."""
    pictures, truths = [], []
    for index in indices:
        image, image_boxes = images[index], boxes[index]
        if crop:
            image, image_boxes = random_crop(image, image_boxes, rng, CROP_HEIGHT, CROP_WIDTH)
        elif rng.random() < REFRAME_PROBABILITY:
            image, image_boxes = reframe(image, image_boxes, rng)
        height, width = image.shape
        if rng.random() < 0.5:
            image = image[:, ::-1]
            image_boxes = (
                np.stack(
                    [width - image_boxes[:, 2], image_boxes[:, 1], width - image_boxes[:, 0], image_boxes[:, 3]], axis=1
                )
                if len(image_boxes)
                else image_boxes
            )
        pictures.append(np.ascontiguousarray(image))
        truths.append(torch.from_numpy(image_boxes / np.array([width, height, width, height], dtype=np.float32)))
    return grey_batch_to_input(torch.from_numpy(np.stack(pictures))), truths


class Batches:
    """Training batches drawn without replacement from a shuffled order, reshuffled when it runs out."""

    def __init__(self, images: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator) -> None:
        self.images, self.boxes, self.rng = images, boxes, rng
        self.order, self.seen = rng.permutation(len(images)), 0

    def next(self, size: int, crop: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The next size images as a batch (see make_batch)."""
        if self.seen + size > len(self.images):
            self.order, self.seen = self.rng.permutation(len(self.images)), 0
        indices = self.order[self.seen : self.seen + size]
        self.seen += size
        return make_batch(self.images, self.boxes, indices, self.rng, crop)


def cosine_decay(step: int, steps: int) -> float:
    """1 at step 0, falling along a half cosine to 0 at step `steps`."""
    return 0.5 * (1.0 + math.cos(math.pi * step / steps))


def learning_rate(schedule: Schedule, step: int) -> float:
    """Linear warm-up over the first steps, then cosine decay to zero at the last step."""
    warmup = min(1.0, (step + 1) / schedule.warmup_steps)
    return schedule.learning_rate * warmup * cosine_decay(step, schedule.total_steps)


# "outputs": each output's relative squared change over every anchor (how the committed checkpoints were made; the
# background anchors dominate it and training inflates them, models.output_change); "faces": face_output_change.
TOLERANCE_OBJECTIVES = ("outputs", "faces")


def output_change(
    objective: str, outputs: tuple[torch.Tensor, ...], references: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """The summed noise-to-signal ratios of outputs against references, as the objective measures them."""
    if objective == "faces":
        return sum(face_output_change(outputs, references))
    return sum(((o - r) ** 2).sum() / (r**2).sum() for o, r in zip(outputs, references, strict=True))


def tolerate_quantisation(
    model: RNNPoolFaceDetector,
    next_batch: Callable[[], tuple[torch.Tensor, list[torch.Tensor]]],
    loss: MultiBoxLoss,
    schedule: Schedule,
    bar: tqdm,
) -> None:
    """Fine-tune for the schedule's tolerance steps on three terms: the detection loss (times
    tolerance_detection_weight), tolerance_weight times the outputs' change (`output_change`) when int8 rounding
    noise is added at every quantised output (models.quant_noise), and tolerance_distillation_weight times the
    clean outputs' change from the model's own at the phase's start.

    Distillation holds the model to what it does, also on what the synthetic set lacks: fine-tuning on the
    detection loss alone moves the QVGA off the one large real face it finds (models/README.md). The starting
    copy runs on batch statistics, as the model's training pass does. The noisy pass leaves BatchNorm's running
    statistics alone."""
    teacher = copy.deepcopy(model).train() if schedule.tolerance_distillation_weight else None
    if teacher is not None:
        teacher.requires_grad_(False)
        for m in teacher.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.0
    noise = QuantisationNoise(model)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=schedule.tolerance_learning_rate, weight_decay=schedule.tolerance_weight_decay
    )
    sparse = model.config.sparse
    for step in range(schedule.tolerance_steps):
        for group in optimiser.param_groups:
            group["lr"] = schedule.tolerance_learning_rate * cosine_decay(step, schedule.tolerance_steps)
        inputs, truths = next_batch()
        clean = model(inputs)
        loss_loc, loss_conf = loss(*clean, truths)
        held = torch.zeros(())
        if teacher is not None:
            with torch.no_grad():
                reference = teacher(inputs)
            held = output_change(schedule.tolerance_objective, clean, reference)
        momenta = [m.momentum for m in batch_norms]
        for m in batch_norms:
            m.momentum = 0.0
        with noise.active():
            noisy = model(inputs)
        for m, momentum in zip(batch_norms, momenta, strict=True):
            m.momentum = momentum
        change = output_change(schedule.tolerance_objective, noisy, tuple(c.detach() for c in clean))
        optimiser.zero_grad()
        (
            schedule.tolerance_detection_weight * (loss_loc + loss_conf)
            + schedule.tolerance_weight * change
            + schedule.tolerance_distillation_weight * held
        ).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        if sparse:
            model.sparsify()
        bar.update(1)
        snr = -10 * math.log10(max(change.item() / 2, 1e-12))
        bar.set_postfix(phase="tolerance", snr_db=f"{snr:.1f}", refresh=False)
    noise.remove()


def train(
    model_name: str,
    seed: int,
    train_size: int,
    schedule: Schedule,
    progress_bar: bool = True,
    init: Path | None = None,
) -> tuple[RNNPoolFaceDetector, dict[str, object]]:
    """Train a model (fresh, or from the checkpoint init) for the schedule's steps; returns it (eval mode) and a
    record of the run."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = SyntheticFaceGenerator(seed=seed)
    model = load_model(model_name, pretrained=False, checkpoint=init)
    items = [generator.image("train", i) for i in range(train_size)]
    images = np.stack([image for image, _ in items])
    boxes = [b for _, b in items]
    losses = {
        crop: MultiBoxLoss(model.priors_for(*((CROP_HEIGHT, CROP_WIDTH) if crop else images.shape[1:])))
        for crop in (True, False)
    }
    optimiser = torch.optim.AdamW(model.parameters(), lr=schedule.learning_rate, weight_decay=schedule.weight_decay)
    sparse = model.config.sparse
    batches = Batches(images, boxes, rng)
    total = schedule.total_steps + schedule.tolerance_steps
    bar = tqdm(total=total, desc=f"train {model_name}", unit="step", disable=not progress_bar)
    model.train()
    start = time.monotonic()
    for step in range(schedule.total_steps):
        crop = step < schedule.crop_steps
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(schedule, step)
        inputs, truths = batches.next(schedule.crop_batch if crop else schedule.full_batch, crop)
        loc, conf = model(inputs)
        loss_loc, loss_conf = losses[crop](loc, conf, truths)
        optimiser.zero_grad()
        (loss_loc + loss_conf).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        if sparse and not crop:
            model.sparsify()
        bar.update(1)
        bar.set_postfix(
            phase="crop" if crop else "full",
            loc=f"{loss_loc.item():.3f}",
            conf=f"{loss_conf.item():.3f}",
            refresh=False,
        )
    tolerate_quantisation(model, lambda: batches.next(schedule.full_batch, False), losses[False], schedule, bar)
    bar.close()
    if sparse:
        model.sparsify()
    record = {
        "train_seconds": round(time.monotonic() - start, 1),
        "images_seen": schedule.crop_steps * schedule.crop_batch
        + (schedule.full_steps + schedule.tolerance_steps) * schedule.full_batch,
        "schedule": asdict(schedule),
    }
    return model.eval(), record


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least minimum, refused in one line otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _non_negative(text: str) -> float:
    """An argparse type: a weight or decay, a number >= 0, refused in one line otherwise (AdamW would refuse a
    negative decay only after the training images are made, from deep inside torch)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    arguments = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m models.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--train-size", type=_count(1), default=DEFAULT_SPLIT_IMAGES["train"])
    parser.add_argument("--val-size", type=_count(1), default=DEFAULT_SPLIT_IMAGES["val"])
    parser.add_argument("--test-size", type=_count(1), default=DEFAULT_SPLIT_IMAGES["test"])
    parser.add_argument("--crop-steps", type=_count(0), help="steps on 160x120 crops (default: the model's schedule)")
    parser.add_argument("--full-steps", type=_count(0), help="steps on full frames (default: the model's schedule)")
    parser.add_argument(
        "--tolerance-steps",
        type=_count(0),
        help="full-frame steps with int8 rounding noise (models.quant_noise) at the end",
    )
    parser.add_argument(
        "--tolerance-weight", type=_non_negative, help="weight of the noise's relative change of the outputs"
    )
    parser.add_argument(
        "--tolerance-detection-weight", type=_non_negative, help="weight of the detection loss (default 1)"
    )
    parser.add_argument(
        "--tolerance-distillation-weight",
        type=_non_negative,
        help="weight of the outputs' relative change from the model's own at the phase's start (default 0)",
    )
    parser.add_argument("--tolerance-weight-decay", type=_non_negative, help="AdamW's weight decay (default 0.01)")
    parser.add_argument(
        "--tolerance-objective",
        choices=TOLERANCE_OBJECTIVES,
        help="measure the outputs' change over every anchor (default) or where faces are read (models.output_change)",
    )
    parser.add_argument("--init", type=Path, help="start from this checkpoint, not from random weights")
    parser.add_argument("--threads", type=_count(1), default=2)
    parser.add_argument("--output", type=Path, help="checkpoint path (default: the registry's committed path)")
    args = parser.parse_args(arguments)
    torch.set_num_threads(args.threads)
    schedule = SCHEDULES[args.model]
    if args.crop_steps is not None:
        schedule = replace(schedule, crop_steps=args.crop_steps)
    if args.full_steps is not None:
        schedule = replace(schedule, full_steps=args.full_steps)
    if args.tolerance_steps is not None:
        schedule = replace(schedule, tolerance_steps=args.tolerance_steps)
    tolerance = {
        "tolerance_weight": args.tolerance_weight,
        "tolerance_detection_weight": args.tolerance_detection_weight,
        "tolerance_distillation_weight": args.tolerance_distillation_weight,
        "tolerance_weight_decay": args.tolerance_weight_decay,
        "tolerance_objective": args.tolerance_objective,
    }
    schedule = replace(schedule, **{k: v for k, v in tolerance.items() if v is not None})
    init_record = None
    if args.init is not None:
        try:  # a bad --init fails here, in one line, not after the training images are made
            load_model(args.model, checkpoint=args.init)
        except StateDictMismatchError as e:
            parser.error(f"--init {args.init}: {e.brief()}")
        except FileNotFoundError as e:
            parser.error(f"--init {args.init}: " + " ".join(str(e).split()))
        except Exception as e:
            parser.error(  # torch.load's own message runs over many lines about weights_only
                f"--init {args.init}: not a readable PyTorch checkpoint ({type(e).__name__}); expected a state_dict "
                "saved by torch.save, as models/checkpoints/*.pt"
            )
        made = args.init.with_suffix(".json")
        init_record = {"checkpoint": str(args.init), "record": json.loads(made.read_text()) if made.exists() else None}
    wall_start = time.monotonic()
    model, record = train(args.model, args.seed, args.train_size, schedule, init=args.init)
    evaluation_start = time.monotonic()
    generator = SyntheticFaceGenerator(seed=args.seed)
    record.update(
        {
            "command": "python -m models.train " + " ".join(arguments),
            "model": model.config.name,
            "seed": args.seed,
            "threads": args.threads,
            "torch_version": torch.__version__,
            "split_images": {"train": args.train_size, "val": args.val_size, "test": args.test_size},
            "parameters": sum(p.numel() for p in model.parameters()),
            "ap50_val": round(split_average_precision(model, "val", args.val_size, generator), 4),
            "ap50_test": round(split_average_precision(model, "test", args.test_size, generator), 4),
            "real_photos": [asdict(r) for r in real_photo_results(model)],
            "evaluation_seconds": round(time.monotonic() - evaluation_start, 1),
        }
    )
    if init_record is not None:
        record["init"] = init_record
    record["wall_seconds"] = round(time.monotonic() - wall_start, 1)
    checkpoint = args.output or get_model_entry(args.model).checkpoint
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), checkpoint)
    checkpoint.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

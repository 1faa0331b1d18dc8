"""Evaluation: VOC AP@0.5 on the synthetic val/test splits and detections on the packaged real photographs.

``python -m models.evaluate --model m4`` prints the figures and draws the detections on the real photographs
into ``build/models/eval/<model>/``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.data import DEFAULT_SPLIT_IMAGES, REAL_PHOTOS, SyntheticFaceGenerator
from models.detection import box_iou, detect
from models.face_models import RNNPoolFaceDetector
from models.inference import detect_faces
from models.metrics import average_precision
from models.preprocess import grey_batch_to_input
from models.registry import MODELS, get_model_entry, load_model

DEFAULT_OUTPUT = Path("build/models/eval")


@dataclass(frozen=True)
class PhotoResult:
    """How well the face in one real photograph was found."""

    name: str
    frontal: bool
    best_iou: float
    score: float
    found: bool


def split_detections(
    model: RNNPoolFaceDetector, split: str, size: int, generator: SyntheticFaceGenerator, batch_size: int = 25
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
    """Detections and ground truths (both in pixels) for the first ``size`` images of a synthetic split."""
    model.eval()
    priors = model.priors_for(generator.height, generator.width)
    scale = torch.tensor([generator.width, generator.height] * 2, dtype=torch.float32)
    detections, truths = [], []
    for start in range(0, size, batch_size):
        items = [generator.image(split, i) for i in range(start, min(size, start + batch_size))]
        images = torch.from_numpy(np.stack([image for image, _ in items]))
        with torch.no_grad():
            loc, conf = model(grey_batch_to_input(images))
        detections += [(boxes * scale, scores) for boxes, scores in detect(loc, conf, priors)]
        truths += [torch.from_numpy(boxes) for _, boxes in items]
    return detections, truths


def split_average_precision(
    model: RNNPoolFaceDetector, split: str, size: int, generator: SyntheticFaceGenerator | None = None
) -> float:
    """VOC AP@0.5 of ``model`` on the first ``size`` images of a synthetic split."""
    detections, truths = split_detections(model, split, size, generator or SyntheticFaceGenerator())
    return average_precision(detections, truths, iou_threshold=0.5)


def real_photo_results(
    model: RNNPoolFaceDetector, iou_threshold: float = 0.5, min_score: float = 0.5
) -> list[PhotoResult]:
    """For each packaged photograph's face: the best IoU of any detection and the best score among those matching."""
    results = []
    for photo in REAL_PHOTOS:
        boxes, scores = detect_faces(model, photo.load())
        truth = torch.tensor(photo.boxes, dtype=torch.float32)
        overlaps = box_iou(torch.from_numpy(boxes), truth)[:, 0] if len(boxes) else torch.zeros(0)
        matching = scores[(overlaps >= iou_threshold).numpy()] if len(boxes) else np.zeros(0)
        score = float(matching.max()) if len(matching) else 0.0
        best_iou = float(overlaps.max()) if len(overlaps) else 0.0
        results.append(PhotoResult(photo.name, photo.frontal, best_iou, score, score >= min_score))
    return results


def draw_photo(model: RNNPoolFaceDetector | None, photo_index: int, path: Path, min_score: float = 0.5) -> None:
    """Draw the ground truth (green) and, with a model, detections scoring >= ``min_score`` (red) into a PNG."""
    photo = REAL_PHOTOS[photo_index]
    image = photo.load()
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for x1, y1, x2, y2 in np.asarray(photo.boxes, dtype=int):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0), 2)
    if model is not None:
        boxes, scores = detect_faces(model, image, min_score=min_score)
        for (x1, y1, x2, y2), score in zip(boxes.astype(int), scores, strict=True):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 0, 255), 2)
            cv2.putText(canvas, f"{score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas)


def main(argv: list[str] | None = None) -> None:
    """Command line: AP on val/test, real-photo results, PNGs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), help="registered model to evaluate")
    parser.add_argument("--checkpoint", type=Path, help="weights to use instead of the committed checkpoint")
    parser.add_argument("--val-size", type=int, default=DEFAULT_SPLIT_IMAGES["val"])
    parser.add_argument("--test-size", type=int, default=DEFAULT_SPLIT_IMAGES["test"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--draw-ground-truth", action="store_true", help="only draw the real photos' boxes")
    parser.add_argument(
        "--update-record",
        action="store_true",
        help="write these figures into the committed checkpoint's JSON (after the evaluation itself changed)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.draw_ground_truth:
        for index, photo in enumerate(REAL_PHOTOS):
            draw_photo(None, index, args.output / "ground_truth" / f"{photo.name}.png")
        print(f"ground-truth boxes drawn into {args.output / 'ground_truth'}")
        return
    if args.model is None:
        parser.error("--model is required unless --draw-ground-truth is given")
    model = load_model(args.model, checkpoint=args.checkpoint)
    report = {
        "ap50_val": split_average_precision(model, "val", args.val_size),
        "ap50_test": split_average_precision(model, "test", args.test_size),
        "real_photos": [asdict(r) for r in real_photo_results(model)],
    }
    for index, photo in enumerate(REAL_PHOTOS):
        draw_photo(model, index, args.output / args.model / f"{photo.name}.png")
    print(json.dumps(report, indent=2))
    print(f"detections drawn into {args.output / args.model}")
    if args.update_record:
        if args.checkpoint is not None:
            parser.error("--update-record rewrites the committed checkpoint's record; drop --checkpoint")
        record_path = get_model_entry(args.model).metrics
        record = json.loads(record_path.read_text())
        record.update(
            ap50_val=round(report["ap50_val"], 4),
            ap50_test=round(report["ap50_test"], 4),
            real_photos=report["real_photos"],
            evaluated_by=f"python -m models.evaluate --model {args.model} --update-record",
        )
        record_path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"record updated: {record_path}")


if __name__ == "__main__":
    main()

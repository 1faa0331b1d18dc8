"""Truth boxes for a folder of pictures, in the formats labelling tools export: COCO JSON (one file for the
folder) and Pascal VOC XML (one file per picture). Boxes are x1 y1 x2 y2 in the picture's own pixels."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from hil.errors import ModelSpecError


def truth_files(directory: Path) -> list[Path]:
    """The annotation files of a picture folder: *.json (COCO) and *.xml (Pascal VOC)."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in (".json", ".xml"))


def _coco(path: Path) -> dict[str, np.ndarray]:
    try:
        data = json.loads(path.read_text())
        names = {image["id"]: Path(image["file_name"]).name for image in data["images"]}
        boxes: dict[str, list] = {name: [] for name in names.values()}
        for annotation in data.get("annotations", []):
            x, y, w, h = (float(v) for v in annotation["bbox"])
            boxes[names[annotation["image_id"]]].append([x, y, x + w, y + h])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelSpecError(
            f"{path}: not a COCO annotation file ({type(e).__name__}: {e}); expected images[].file_name and "
            "annotations[].image_id/bbox [x, y, width, height]"
        ) from e
    return {name: np.asarray(b, np.float32).reshape(-1, 4) for name, b in boxes.items()}


def _voc(path: Path) -> dict[str, np.ndarray]:
    try:
        root = ElementTree.parse(path).getroot()
        name = Path(root.findtext("filename") or "").name
        boxes = [
            [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            for obj in root.iter("object")
        ]
        if not name:
            raise ValueError("no <filename>")
    except (ElementTree.ParseError, ValueError, TypeError) as e:
        raise ModelSpecError(
            f"{path}: not a Pascal VOC annotation ({type(e).__name__}: {e}); expected <filename> and "
            "<object><bndbox> xmin ymin xmax ymax"
        ) from e
    return {name: np.asarray(boxes, np.float32).reshape(-1, 4)}


def load_truth(directory: Path) -> dict[str, np.ndarray]:
    """Picture file name -> its truth boxes, from every annotation file in the folder."""
    truth: dict[str, np.ndarray] = {}
    for path in truth_files(directory):
        truth.update(_coco(path) if path.suffix.lower() == ".json" else _voc(path))
    return truth

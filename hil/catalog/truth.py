"""Truth for a folder of pictures, in the formats labelling tools and data sets use: COCO JSON (one file for the
folder), Pascal VOC XML (one file per picture), WIDER FACE ground truth (one text file) and, for a classifier, one
subfolder per class. Boxes are x1 y1 x2 y2 in the picture's own pixels; each labelled object keeps its class name,
so the same files serve detectors (boxes) and classifiers (the picture's class)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np

from hil.catalog.preprocess import IMAGE_SUFFIXES, files_named, picture_files, picture_name
from hil.errors import ModelSpecError


@dataclass(frozen=True)
class PictureTruth:
    """What a picture's annotation says: its boxes, and the class name of every labelled object (boxed or
    not: a classification export may label a picture without a box)."""

    boxes: np.ndarray
    box_labels: tuple[str, ...]
    labels: tuple[str, ...]
    size: tuple[int, int] | None = None  # (width, height) of the picture the boxes were drawn on, where declared

    def picture_class(self) -> str | None:
        """The picture's class: its only class name, or the largest box's when it has several (None: unlabelled)."""
        if len(set(self.labels)) <= 1:
            return self.labels[0] if self.labels else None
        if not self.box_labels:
            return None
        areas = (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        return self.box_labels[int(np.argmax(areas))]

    def check_size(self, name: str, width: int, height: int) -> None:
        """A one-line error when the annotation declares another size than the picture's (read upright): its boxes
        would land elsewhere on it."""
        if self.size is None or self.size == (width, height):
            return
        declared = f"{name}: its truth is for a {self.size[0]}x{self.size[1]} picture"
        if self.size == (height, width):
            raise ModelSpecError(
                f"{declared}, and the picture reads {width}x{height} upright (its EXIF orientation turns it): the "
                "labelling tool drew the boxes on the picture as stored; expected truth drawn on the upright picture "
                "(label it again in a tool that applies the orientation, or save the picture upright without the tag)"
            )
        raise ModelSpecError(f"{declared}, the picture is {width}x{height}; expected truth drawn on this picture")


class FolderTruth(dict[str, PictureTruth]):
    """Each picture's truth under the name its annotation gives it ('0--Parade/a.jpg', 'a.jpg')."""

    @cached_property
    def _by_file_name(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for key in self:
            index.setdefault(PurePosixPath(key).name, []).append(key)
        return index

    def for_picture(self, name: str) -> PictureTruth | None:
        """A picture's truth (name: preprocess.picture_name, 'cat/a.png'): the annotation whose name shares the
        most trailing folders with it, so truth that names pictures without their folder (VOC, COCO exports), with
        one (WIDER FACE) or under another root still finds them. Two annotations that match alike are an error
        naming both: one would be the other picture's."""
        parts = PurePosixPath(name).parts
        keys = self._by_file_name.get(parts[-1], [])
        shared = {key: _trailing_parts_shared(PurePosixPath(key).parts, parts) for key in keys}
        best = [key for key in keys if shared[key] == max(shared.values())]
        if len(best) > 1:
            raise ModelSpecError(
                f"{name}: the truth names {len(best)} pictures alike ({', '.join(best[:3])}); expected one "
                "annotation per picture (give the pictures their folders in the truth, or distinct file names)"
            )
        return self[best[0]] if best else None


def _trailing_parts_shared(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    while count < min(len(a), len(b)) and a[-1 - count] == b[-1 - count]:
        count += 1
    return count


def _annotated_name(name: str) -> str:
    """A picture's name as an annotation writes it, with '/' between folders ('images\\a.jpg', './a.jpg')."""
    return PurePosixPath(name.replace("\\", "/")).as_posix()


def _picture_truth(objects: list[tuple[str, list[float] | None]], size: tuple[int, int] | None) -> PictureTruth:
    boxed = [(name, box) for name, box in objects if box is not None]
    return PictureTruth(
        boxes=np.asarray([box for _, box in boxed], np.float32).reshape(-1, 4),
        box_labels=tuple(name for name, _ in boxed),
        labels=tuple(name for name, _ in objects if name),
        size=size,
    )


def _declared_size(width, height) -> tuple[int, int] | None:
    """(width, height) where an annotation gives both above 0 (tools write 0 or leave them out when unknown)."""
    if width is None or height is None or float(width) <= 0 or float(height) <= 0:
        return None
    return round(float(width)), round(float(height))


TRUTH_EXPECTED = "a COCO .json, a WIDER FACE ground-truth .txt, or a folder of those or of Pascal VOC .xml files"


def truth_sources(directory: Path, given: Path | None = None) -> list[Path]:
    """The annotation files for a folder of pictures: those given (a file, or a folder's: data sets keep truth
    apart, as COCO's annotations/, VOC's Annotations/ or WIDER FACE's wider_face_split/), else the folder's own.
    Given truth that holds none is an error starting with its path."""
    if given is None:
        return truth_files(directory)
    if not given.exists():
        raise ModelSpecError(f"{given}: no such file or folder; expected {TRUTH_EXPECTED}")
    found = truth_files(given) if given.is_dir() else [p for p in truth_files(given.parent) if p == given]
    if not found:
        what = "no annotation files there" if given.is_dir() else "not an annotation file"
        raise ModelSpecError(f"{given}: {what}; expected {TRUTH_EXPECTED}")
    return found


def truth_files(directory: Path) -> list[Path]:
    """The annotation files of a picture folder: *.json (COCO), *.xml (Pascal VOC) and the *.txt files that are
    WIDER FACE ground truth (other text files, such as a README, are not truth)."""
    return [p for p in files_named(directory, (".json", ".xml", ".txt")) if p.suffix.lower() != ".txt" or _is_wider(p)]


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]


def _is_wider(path: Path) -> bool:
    """Whether a text file reads as WIDER FACE ground truth: a picture's path, then its number of faces. Only its
    first lines are read: WIDER's training ground truth is megabytes, and a run lists its truth files more than
    once (the setup check, each model's collection and inputs)."""
    lines = []
    with path.open(errors="replace") as text:
        for line in text:
            if line.strip():
                lines.append(line.strip())
            if len(lines) == 2:
                break
    return len(lines) == 2 and Path(lines[0]).suffix.lower() in IMAGE_SUFFIXES and lines[1].isdigit()


def _wider(path: Path) -> dict[str, PictureTruth]:
    """WIDER FACE ground truth (wider_face_val_bbx_gt.txt): per picture its path, its number of faces n, then n rows
    'x y w h blur expression illumination invalid occlusion pose' (one row of zeros when n is 0). Faces WIDER marks
    invalid are left out, as its evaluation leaves them out."""
    lines, at, truth = _lines(path), 0, {}
    try:
        while at < len(lines):
            name, count = lines[at], int(lines[at + 1])
            rows = lines[at + 2 : at + 2 + max(count, 1)]
            if len(rows) < max(count, 1):
                raise ValueError(f"{name} has {count} faces but {len(rows)} rows follow")
            faces = []
            for row in rows[:count]:
                values = [float(v) for v in row.split()]
                x, y, w, h = values[:4]
                if w > 0 and h > 0 and not (len(values) > 7 and values[7] == 1):
                    faces.append(("face", [x, y, x + w, y + h]))
            truth[_annotated_name(name)] = _picture_truth(faces, None)
            at += 2 + max(count, 1)
    except (ValueError, IndexError) as e:
        raise ModelSpecError(
            f"{path}: not WIDER FACE ground truth near line {at + 1} ({type(e).__name__}: {e}); expected a picture's "
            "path, its number of faces n, then n rows 'x y w h blur expression illumination invalid occlusion pose'"
        ) from e
    return truth


def _coco(path: Path) -> dict[str, PictureTruth]:
    try:
        data = json.loads(path.read_text())
        names = {image["id"]: _annotated_name(image["file_name"]) for image in data["images"]}
        sizes = {names[i["id"]]: _declared_size(i.get("width"), i.get("height")) for i in data["images"]}
        categories = {category["id"]: str(category["name"]) for category in data.get("categories", [])}
        objects: dict[str, list] = {name: [] for name in names.values()}
        for annotation in data.get("annotations", []):
            box = None
            if annotation.get("bbox"):
                x, y, w, h = (float(v) for v in annotation["bbox"])
                box = [x, y, x + w, y + h]
            category = annotation.get("category_id")
            objects[names[annotation["image_id"]]].append((categories.get(category, ""), box))
    except (ValueError, KeyError, TypeError) as e:
        raise ModelSpecError(
            f"{path}: not a COCO annotation file ({type(e).__name__}: {e}); expected images[].file_name, "
            "annotations[].image_id with bbox [x, y, width, height] and/or category_id, and categories[].id/name"
        ) from e
    return {name: _picture_truth(found, sizes[name]) for name, found in objects.items()}


def _voc(path: Path) -> dict[str, PictureTruth]:
    try:
        root = ElementTree.parse(path).getroot()
        name = (root.findtext("filename") or "").strip()
        objects = []
        for obj in root.iter("object"):
            box = None
            if obj.find("bndbox") is not None:
                box = [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            objects.append(((obj.findtext("name") or "").strip(), box))
        if not name:
            raise ValueError("no <filename>")
        size = _declared_size(root.findtext("size/width"), root.findtext("size/height"))
    except (ElementTree.ParseError, ValueError, TypeError) as e:
        raise ModelSpecError(
            f"{path}: not a Pascal VOC annotation ({type(e).__name__}: {e}); expected <filename> and "
            "<object> with <name> and/or <bndbox> xmin ymin xmax ymax"
        ) from e
    folder = (root.findtext("folder") or "").strip()
    return {_annotated_name(f"{folder}/{name}" if folder else name): _picture_truth(objects, size)}


def load_truth(directory: Path, given: Path | None = None) -> FolderTruth:
    """The truth of a folder's pictures: from the annotation files given (truth_sources), else from those in the
    folder, or for a folder laid out one subfolder per class, each picture's class folder. A picture two files
    annotate is an error naming both."""
    truth, source = FolderTruth(), {}
    readers = {".json": _coco, ".xml": _voc, ".txt": _wider}
    for path in truth_sources(directory, given):
        for name, known in readers[path.suffix.lower()](path).items():
            if name in source:
                raise ModelSpecError(
                    f"{name} is annotated in both {source[name].name} and {path.name}; expected each picture's "
                    "truth in one file (move the other aside)"
                )
            truth[name], source[name] = known, path
    if not truth and given is None:
        for picture in picture_files(directory):
            if picture.parent != directory:
                truth[picture_name(directory, picture)] = _picture_truth([(picture.parent.name, None)], None)
    return truth


def class_index(label: str, labels: tuple[str, ...], model: str) -> int:
    """The model's output index for a truth class name: its position in the spec's labels, or the name itself
    when it is a class number."""
    if label in labels:
        return labels.index(label)
    if label.isdigit() and (not labels or int(label) < len(labels)):
        return int(label)
    known = f"one of {', '.join(labels[:12])}{', ...' if len(labels) > 12 else ''}" if labels else "a class number"
    raise ModelSpecError(f"truth class '{label}' is not a class of model {model}: expected {known} (ModelSpec.labels)")

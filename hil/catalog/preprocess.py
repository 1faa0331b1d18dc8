"""An image file or array file to a model's input: size and channels converted as the model's spec says
(letterbox keeping the aspect ratio by default, or a stretch), then the spec's own normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.catalog.spec import ModelSpec
from hil.errors import ModelSpecError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm")
LETTERBOX_FILL = 114


def files_named(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """A folder's files with one of suffixes (in any case), sorted by name; hidden ones left out: a Mac's
    '._face.jpg' beside face.jpg holds Finder metadata, not a picture."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()
    )


def picture_files(folder: Path) -> list[Path]:
    """A folder's pictures: those at its top sorted by name, else those of its subfolders, folder by folder (a
    classification set laid out one folder per class, as torchvision's ImageFolder reads it)."""
    top = files_named(folder, IMAGE_SUFFIXES)
    if top:
        return top
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [p for sub in subfolders for p in files_named(sub, IMAGE_SUFFIXES)]


def class_folders(folder: Path) -> list[Path]:
    """The subfolders picture_files took pictures from, sorted by name (none when the folder's top holds
    pictures): each folder's name its pictures' class."""
    return sorted({p.parent for p in picture_files(folder)} - {folder})


def picture_name(folder: Path, picture: Path) -> str:
    """How the harness names a picture of folder (test ids, truth, results): its file name, with its class folder
    in front ('cat/a.png') when it is in one."""
    return picture.relative_to(folder).as_posix()


def no_pictures(flag: str, folder: Path) -> str:
    """The one line for a folder with no pictures."""
    return f"{flag} {folder}: no {'/'.join(IMAGE_SUFFIXES)} images there, nor in class subfolders"


@dataclass(frozen=True)
class ModelImage:
    """One picture as the model sees it: the pixels at input size, the float input and how it was converted."""

    pixels: np.ndarray  # uint8 H x W (grey) or H x W x 3 (RGB), at the model's input size
    x: np.ndarray  # float32, the model's own layout, batch first
    conversion: str  # "" when the picture already had the model's size and channels
    box_transform: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)  # x, y scales and offsets

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes x1 y1 x2 y2 in the original picture's pixels -> in the model input's pixels."""
        sx, sy, dx, dy = self.box_transform
        return np.asarray(boxes, np.float32).reshape(-1, 4) * np.float32([sx, sy, sx, sy]) + np.float32(
            [dx, dy, dx, dy]
        )


def image_size(spec: ModelSpec) -> tuple[int, int, int]:
    """(height, width, channels) of an image model's input; a one-line error for a model that takes no image."""
    if len(spec.input_shape) != 4 or spec.input_shape[1] not in (1, 3):
        raise ModelSpecError(
            f"model {spec.name}: input {tuple(spec.input_shape)} is not an image (expected N x 1 or 3 x H x W); "
            "give it an array with --input F.npy"
        )
    _, channels, height, width = spec.input_shape
    return height, width, channels


def read_image(path: Path) -> np.ndarray:
    """uint8 H x W x 3 RGB, or H x W for a grey file, turned upright by its EXIF orientation; one line naming the
    file when it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            # As every viewer shows it: a phone's photograph is stored sideways with an EXIF orientation tag.
            image = ImageOps.exif_transpose(opened)
            if image.mode.startswith("I"):
                return _grey_16_bits(path, np.asarray(image))
            return np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        reason = type(e).__name__
        raise ModelSpecError(f"{path}: not a readable image ({reason}); expected a PNG, JPEG, BMP or PGM") from e


def _grey_16_bits(path: Path, values: np.ndarray) -> np.ndarray:
    """A 16-bit grey picture (PNG, or a PGM, which Pillow scales to 0..65535) scaled to uint8: Pillow's own
    conversion clips at 255, so every pixel above 255 of 65535 came out white."""
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 65535:
        raise ModelSpecError(f"{path}: grey values {low}..{high}; expected 8 or 16 bits per pixel (0..65535)")
    return ((values.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def default_normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels H x W (x C) -> float32 C x H x W in [0, 1]."""
    planes = pixels[..., None] if pixels.ndim == 2 else pixels
    return (planes.astype(np.float32) / 255.0).transpose(2, 0, 1)


def to_model_pixels(spec: ModelSpec, image: np.ndarray) -> tuple[np.ndarray, str, tuple[float, float, float, float]]:
    """The picture at the model's input size and channels, a description of the conversion ("" if none) and
    how a box's coordinates move (x scale, y scale, x offset, y offset)."""
    import cv2

    height, width, channels = image_size(spec)
    steps = []
    if channels == 1 and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        steps.append("converted to grey")
    elif channels == 3 and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        steps.append("grey copied to 3 channels")
    h, w = image.shape[:2]
    transform = (1.0, 1.0, 0.0, 0.0)
    if (h, w) != (height, width):
        if spec.resize == "stretch":
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            steps.append(f"stretched from {w}x{h} to {width}x{height}")
            transform = (width / w, height / h, 0.0, 0.0)
        else:
            scale = min(width / w, height / h)
            new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
            resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            canvas = np.full((height, width, *image.shape[2:]), LETTERBOX_FILL, dtype=np.uint8)
            top, left = (height - new_h) // 2, (width - new_w) // 2
            canvas[top : top + new_h, left : left + new_w] = resized
            image = canvas
            steps.append(f"letterboxed from {w}x{h} to {width}x{height} (aspect kept, padded)")
            transform = (new_w / w, new_h / h, float(left), float(top))
    return image, ", ".join(steps), transform


def normalised(spec: ModelSpec, pixels: np.ndarray) -> np.ndarray:
    """Pixels at the model's input size as its float input (the spec's normalise, batch first)."""
    normalise = spec.normalise or default_normalise
    x = np.asarray(normalise(pixels), dtype=np.float32)[None]
    if tuple(x.shape) != tuple(spec.input_shape):
        raise ModelSpecError(
            f"model {spec.name}: its normalisation gave shape {tuple(x.shape)}, expected {tuple(spec.input_shape)}"
        )
    return x


def model_image(spec: ModelSpec, image: np.ndarray) -> ModelImage:
    """A uint8 picture (any size, grey or RGB) as the model's input."""
    pixels, conversion, transform = to_model_pixels(spec, image)
    return ModelImage(pixels, normalised(spec, pixels), conversion, transform)

"""Offline data for the face models: a synthetic set from package images and a few packaged real photographs."""

from models.data.real_photos import REAL_PHOTOS, RealPhoto, load_real_photo
from models.data.synthetic import (
    DEFAULT_SPLIT_IMAGES,
    SPLITS,
    SyntheticFaceDataset,
    SyntheticFaceGenerator,
)

__all__ = [
    "DEFAULT_SPLIT_IMAGES",
    "REAL_PHOTOS",
    "SPLITS",
    "RealPhoto",
    "SyntheticFaceDataset",
    "SyntheticFaceGenerator",
    "load_real_photo",
]

"""RNNPool and the RNNPool face-detection models (EdgeML-compatible), with offline data, training and evaluation."""

from models.detection import decode_boxes, detect, nms
from models.face_models import (
    RNNPOOL_FACE_M4,
    RNNPOOL_FACE_QVGA_MONOCHROME,
    RNNPoolFaceDetector,
    rnnpool_face_m4,
    rnnpool_face_qvga_monochrome,
)
from models.fastgrnn import FastGRNN, FastGRNNCell
from models.inference import detect_faces
from models.preprocess import preprocess_image
from models.priors import PriorBox
from models.registry import load_model
from models.rnnpool import RNNPool, RNNPoolLayer

__all__ = [
    "RNNPOOL_FACE_M4",
    "RNNPOOL_FACE_QVGA_MONOCHROME",
    "FastGRNN",
    "FastGRNNCell",
    "PriorBox",
    "RNNPool",
    "RNNPoolFaceDetector",
    "RNNPoolLayer",
    "decode_boxes",
    "detect",
    "detect_faces",
    "load_model",
    "nms",
    "preprocess_image",
    "rnnpool_face_m4",
    "rnnpool_face_qvga_monochrome",
]

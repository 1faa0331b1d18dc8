"""RNNPool_Face_M4 and RNNPool_Face_QVGA_Monochrome: one builder, two configurations (EdgeML's module names)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import ConvBNReLU, L2Norm, build_mbconv_blocks
from models.errors import ModelInputError
from models.priors import INPUT_HEIGHT, INPUT_WIDTH, PriorBox
from models.rnnpool import RNNPoolLayer

STEM_CHANNELS = 4
RNNPOOL_CHANNELS = 64


# EdgeML trained both of its face models with these anchors (data/config.py, config_qvga.py): a checkpoint without
# an anchor_sizes entry is one of theirs (or predates the entry) and decodes with them.
ARTICLE_ANCHOR_SIZES = PriorBox.anchor_sizes


@dataclass(frozen=True)
class FaceDetectorConfig:
    """What differs between the face models."""

    name: str
    mbconv_settings: tuple[tuple[int, int, int, int], ...]
    source_after_block: tuple[int, int, int, int]
    l2norm_scales: tuple[float, float, float] = (10.0, 8.0, 5.0)
    rnnpool_sparsity: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    anchor_sizes: tuple[int, int, int, int] = ARTICLE_ANCHOR_SIZES  # one square anchor (px) per source

    @property
    def sparse(self) -> bool:
        """Whether training hard-thresholds the RNNPool weights (any kept fraction below 1)."""
        return self.rnnpool_sparsity != (1.0, 1.0, 1.0, 1.0)


RNNPOOL_FACE_M4 = FaceDetectorConfig(
    name="RNNPool_Face_M4",
    mbconv_settings=((2, 32, 1, 1), (2, 32, 1, 1), (2, 64, 1, 2), (2, 64, 1, 1)),
    source_after_block=(1, 2, 3, 4),
    rnnpool_sparsity=(0.5, 0.3, 0.3, 0.3),
)

RNNPOOL_FACE_QVGA_MONOCHROME = FaceDetectorConfig(
    name="RNNPool_Face_QVGA_Monochrome",
    mbconv_settings=((2, 32, 4, 1), (2, 32, 4, 1), (2, 96, 3, 2), (2, 128, 3, 1)),
    source_after_block=(4, 8, 11, 14),
    # The last source's anchor is 64 px, not the article's 48: letterboxed photos hold faces up to ~90 px, and a
    # face-size sweep scored an 84-px face 0.18 against 48-px anchors (IoU 0.33, below the 0.35 match threshold,
    # so each such face trained one prior); 8-16-32-64 doubles per source, as S3FD's anchors do.
    anchor_sizes=(8, 16, 32, 64),
)


class RNNPoolFaceDetector(nn.Module):
    """Monochrome S3FD-style face detector on an RNNPool stem.

    Input [B, 1, H, W] preprocessed grey image (320x240 for the published models); output
    (loc [B, num_priors, 4], conf [B, num_priors, 2]) raw logits, sources in order, each row-major (NHWC).
    """

    def __init__(self, config: FaceDetectorConfig) -> None:
        super().__init__()
        self.config = config
        w1, u1, w2, u2 = config.rnnpool_sparsity
        self.conv = ConvBNReLU(1, STEM_CHANNELS, stride=2)
        self.rnn_model = RNNPoolLayer(
            8, 8, 16, 16, STEM_CHANNELS, stride=4, w1Sparsity=w1, u1Sparsity=u1, w2Sparsity=w2, u2Sparsity=u2
        )
        self.mob = nn.ModuleList(build_mbconv_blocks(RNNPOOL_CHANNELS, list(config.mbconv_settings)))
        channels = [self.mob[index - 1].conv[-1].num_features for index in config.source_after_block]
        self.L2Norm3_3 = L2Norm(channels[0], config.l2norm_scales[0])
        self.L2Norm4_3 = L2Norm(channels[1], config.l2norm_scales[1])
        self.L2Norm5_3 = L2Norm(channels[2], config.l2norm_scales[2])
        self.loc = nn.ModuleList(nn.Conv2d(c, 4, kernel_size=3, padding=1) for c in channels)
        # Head 0 has three background logits reduced by max ("max-out background") plus one face logit.
        self.conf = nn.ModuleList(
            nn.Conv2d(c, 4 if i == 0 else 2, kernel_size=3, padding=1) for i, c in enumerate(channels)
        )
        # The anchors the weights were trained with travel with them in the state_dict (see _load_from_state_dict).
        self.register_buffer("anchor_sizes", torch.tensor(config.anchor_sizes, dtype=torch.int64))

    # Keys the model fills in when a checkpoint lacks them (models.state_dict.state_dict_mismatches skips them).
    DEFAULTED_STATE = ("anchor_sizes",)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        state_dict.setdefault(prefix + "anchor_sizes", torch.tensor(ARTICLE_ANCHOR_SIZES, dtype=torch.int64))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four detection sources (after L2Norm on the first three)."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ModelInputError(f"{self.config.name} expects a [B, 1, H, W] grey tensor, got {tuple(x.shape)}")
        x = self.conv(x)
        x = self.rnn_model(x)
        x = F.pad(x, (0, 1, 0, 1), mode="replicate")
        norms = [self.L2Norm3_3, self.L2Norm4_3, self.L2Norm5_3, None]
        sources = []
        start = 0
        for end, norm in zip(self.config.source_after_block, norms, strict=True):
            for block in self.mob[start:end]:
                x = block(x)
            sources.append(norm(x) if norm is not None else x)
            start = end
        return sources

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loc [B, N, 4], conf [B, N, 2]) logits."""
        sources = self.features(x)
        locs, confs = [], []
        for i, source in enumerate(sources):
            conf = self.conf[i](source)
            if i == 0:
                background, _ = conf[:, 0:3].max(dim=1, keepdim=True)
                conf = torch.cat([background, conf[:, 3:]], dim=1)
            locs.append(self.loc[i](source).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(conf.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        return torch.cat(locs, dim=1), torch.cat(confs, dim=1)

    @staticmethod
    def source_sizes(height: int, width: int) -> list[tuple[int, int]]:
        """(rows, columns) of the four detection sources for an input of this size."""
        stem = ((height + 1) // 2, (width + 1) // 2)
        pooled = ((stem[0] - 8) // 4 + 2, (stem[1] - 8) // 4 + 2)
        halved = ((pooled[0] + 1) // 2, (pooled[1] + 1) // 2)
        return [pooled, pooled, halved, halved]

    def priors_for(self, height: int, width: int) -> torch.Tensor:
        """Anchors [N, 4] for an input of this size, at the anchor sizes the weights were trained with."""
        sizes = tuple(int(v) for v in self.anchor_sizes)
        boxes = PriorBox(image_height=height, image_width=width, anchor_sizes=sizes)
        return boxes.forward(self.source_sizes(height, width))

    def prior_box(self) -> torch.Tensor:
        """Anchors [N, 4] at the published input size, 320x240."""
        return self.priors_for(INPUT_HEIGHT, INPUT_WIDTH)

    def sparsify(self) -> None:
        """Hard-threshold the RNNPool weights to the configured kept fractions."""
        self.rnn_model.sparsify()


def rnnpool_face_m4() -> RNNPoolFaceDetector:
    """RNNPool_Face_M4 (about 56 K parameters)."""
    return RNNPoolFaceDetector(RNNPOOL_FACE_M4)


def rnnpool_face_qvga_monochrome() -> RNNPoolFaceDetector:
    """RNNPool_Face_QVGA_Monochrome (about 339 K parameters)."""
    return RNNPoolFaceDetector(RNNPOOL_FACE_QVGA_MONOCHROME)

"""Inputs generated offline for calibration and tests, deterministic for a seed: image-like pictures (smooth
shapes and gradients on 8-bit pixels), MFCC-like keyword features, and log-mel frames of a machine sound."""

from __future__ import annotations

import numpy as np


def images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """[count, 3, height, width] float32 pictures as 8-bit pixels p normalised (p - 128) / 128: a lit gradient,
    a few coloured discs and rectangles, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    out = np.empty((count, 3, height, width), np.float32)
    for i in range(count):
        angle = rng.uniform(0, 2 * np.pi)
        picture = 0.4 * (np.cos(angle) * xx + np.sin(angle) * yy)[None] + rng.uniform(0.2, 0.6, (3, 1, 1))
        for _ in range(int(rng.integers(2, 6))):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3)
            mask = (
                ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)
                if rng.random() < 0.5
                else ((np.abs(yy - cy) < r) & (np.abs(xx - cx) < r * rng.uniform(0.3, 1.5)))
            )
            picture = np.where(mask[None], rng.uniform(0, 1, (3, 1, 1)), picture)
        picture = picture + rng.normal(0, 0.02, picture.shape)
        pixels = np.clip(np.round(picture * 255), 0, 255)
        out[i] = (pixels - 128) / 128
    return out


def _dct_matrix(inputs: int, outputs: int) -> np.ndarray:
    k, n = np.arange(outputs)[:, None], np.arange(inputs)[None]
    return np.sqrt(2.0 / inputs) * np.cos(np.pi * k * (2 * n + 1) / (2 * inputs))


def mfcc(count: int, frames: int = 49, coefficients: int = 10, seed: int = 0) -> np.ndarray:
    """[count, 1, frames, coefficients] float32 MFCC-like features: log-mel energies of a few formant tracks over
    a noise floor, DCT-II to cepstra (as a 1 s utterance in 20 ms hops), scaled to unit-order values."""
    rng = np.random.default_rng(seed)
    mels = 40
    dct = _dct_matrix(mels, coefficients)
    bins = np.arange(mels)[None]
    out = np.empty((count, 1, frames, coefficients), np.float32)
    for i in range(count):
        energy = np.full((frames, mels), 1e-3)
        onset, length = int(rng.integers(0, frames // 3)), int(rng.integers(frames // 3, frames))
        t = np.arange(frames)[:, None]
        voiced = ((t >= onset) & (t < onset + length)).astype(float)
        for _ in range(3):
            centre = rng.uniform(3, mels - 3) + rng.normal(0, 2) * np.sin(t / rng.uniform(3, 9))
            energy += voiced * rng.uniform(0.3, 1.0) * np.exp(-((bins - centre) ** 2) / (2 * rng.uniform(1, 4) ** 2))
        energy *= np.exp(rng.normal(0, 0.1, energy.shape))
        out[i, 0] = (np.log(energy) @ dct.T) / 10.0
    return out


def log_mel_frames(count: int, frames: int = 5, mels: int = 128, seed: int = 0) -> np.ndarray:
    """[count, frames * mels] float32: consecutive log-mel frames of a machine's hum (harmonics of a drifting
    fundamental over pink noise), standardised as the anomaly-detection reference's features."""
    rng = np.random.default_rng(seed)
    bins = np.arange(mels)[None]
    out = np.empty((count, frames * mels), np.float32)
    for i in range(count):
        fundamental = rng.uniform(4, 12)
        power = 1.0 / (1.0 + bins)
        drift = fundamental + rng.normal(0, 0.3, (frames, 1))
        for h in range(1, 8):
            power = power + rng.uniform(0.2, 1.0) / h * np.exp(-((bins - h * drift) ** 2) / 2.0)
        log_power = np.log(power * np.exp(rng.normal(0, 0.15, (frames, mels))))
        out[i] = ((log_power - log_power.mean()) / (log_power.std() + 1e-6)).ravel()
    return out

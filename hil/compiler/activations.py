"""The element-wise activations the compiler runs as 256-entry tables (lut_s8): each one's float function, used by
the float executor and to fill the table at the input's and output's exponents."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


def _softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """torch's softplus: log(1 + exp(beta x)) / beta, x itself where beta x > threshold."""
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # torch.nn.SELU's constants


FUNCTIONS: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "relu": lambda x, a: np.maximum(x, 0.0),
    "relu6": lambda x, a: np.clip(x, 0.0, 6.0),
    "hardtanh": lambda x, a: np.clip(x, a["min_val"], a["max_val"]),
    "leaky_relu": lambda x, a: np.where(x >= 0, x, a["negative_slope"] * x),
    "hardswish": lambda x, a: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hardsigmoid": lambda x, a: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "sigmoid": lambda x, a: _sigmoid(x),
    "tanh": lambda x, a: np.tanh(x),
    "silu": lambda x, a: x * _sigmoid(x),
    "gelu": lambda x, a: _gelu(x, a["approximate"]),
    "elu": lambda x, a: _elu(x, a["alpha"]),
    "celu": lambda x, a: _elu(x / a["alpha"], 1.0) * a["alpha"],
    "selu": lambda x, a: SELU_SCALE * _elu(x, SELU_ALPHA),
    "softplus": lambda x, a: _softplus(x, a["beta"], a["threshold"]),
    "mish": lambda x, a: x * np.tanh(_softplus(x)),
    "log_sigmoid": lambda x, a: -_softplus(-x),
}


def apply(function: str, x: np.ndarray, attrs: dict) -> np.ndarray:
    """The float activation of x."""
    return FUNCTIONS[function](np.asarray(x, dtype=np.float64), attrs)


def table(function: str, attrs: dict, e_in: int, e_out: int) -> np.ndarray:
    """lut_s8's table: entry q + 128 = the int8 nearest f(q * 2^e_in) / 2^e_out, saturated."""
    q = np.arange(-128, 128, dtype=np.float64)
    return np.clip(np.round(apply(function, q * 2.0**e_in, attrs) / 2.0**e_out), -128, 127).astype(np.int8)

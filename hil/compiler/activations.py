"""The element-wise activations the compiler runs as 256-entry tables (lut_s8): each one's float function, used by
the float executor and to fill the table at the input's and output's exponents.

Besides the named functions, three compose what models write by hand from constants and other activations:
"affine" (scale * x + offset), "chain" (steps applied in turn) and "gated" (x times a chain of x, as
x * torch.sigmoid(1.702 * x)). Each step is a (function, attrs) pair. `named` gives a composition the name of the
function it equals (x * relu6(x + 3) / 6 is hardswish), so reports and tables read as the model's author meant."""

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


def _outside_domain(
    function: Callable[[np.ndarray], np.ndarray], x: np.ndarray, inside: np.ndarray, limit: float
) -> np.ndarray:
    """function where x is inside its domain, its limit at the domain's edge (+-inf, which a table saturates)
    elsewhere: log and rsqrt of 0 or less, a reciprocal of 0. A table's grid reaches such inputs even when the
    model's values never do; rsqrt's limit is the reciprocal of sqrt's 0, so 1 / sqrt(x) names it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inside, function(np.where(inside, x, 1.0)), limit)


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
    "abs": lambda x, a: np.abs(x),
    "exp": lambda x, a: np.exp(x),
    "log": lambda x, a: _outside_domain(np.log, x, x > 0, -np.inf),
    "sqrt": lambda x, a: np.sqrt(np.maximum(x, 0.0)),
    "rsqrt": lambda x, a: _outside_domain(lambda v: 1.0 / np.sqrt(v), x, x > 0, np.inf),
    "reciprocal": lambda x, a: _outside_domain(lambda v: 1.0 / v, x, x != 0, np.inf),
    "sin": lambda x, a: np.sin(x),
    "cos": lambda x, a: np.cos(x),
    "power": lambda x, a: x ** a["exponent"],
    "affine": lambda x, a: a["scale"] * x + a["offset"],
    "chain": lambda x, a: _steps(a["steps"], x),
    "gated": lambda x, a: x * _steps(a["gate"], x),
}

FunctionStep = tuple[str, dict]

# The functions a composition is compared with, each with the arguments a model means when it writes one out.
NAMED: tuple[FunctionStep, ...] = (
    ("relu", {}),
    ("relu6", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("silu", {}),
    ("hardswish", {}),
    ("hardsigmoid", {}),
    ("mish", {}),
    ("gelu", {"approximate": "none"}),
    ("gelu", {"approximate": "tanh"}),
    ("log_sigmoid", {}),
    ("rsqrt", {}),
    ("reciprocal", {}),
)
# Where a composition is compared: fine steps where the functions bend, and far out where a table's input grid
# may reach (an int8 map with exponent 3 spans +-1024).
PROBE = np.concatenate([-np.geomspace(1e4, 10.0, 200), np.linspace(-10.0, 10.0, 4001), np.geomspace(10.0, 1e4, 200)])
# Constants models and ONNX files hold in float32 (1 / 6 is 0.16666667, sqrt 2, 0.044715) still name their function
# (a GELU written out is within 1e-6 of it); a different one differs by far more (QuickGELU's x * sigmoid(1.702 x)
# from GELU by 1e-2, GELU's tanh form from its erf form by 2e-4).
NAMED_TOLERANCE = 1e-5


def _steps(steps: list[FunctionStep], x: np.ndarray) -> np.ndarray:
    for function, attrs in steps:
        x = apply(function, x, attrs)
    return x


def steps_of(attrs: dict) -> list[FunctionStep]:
    """The steps a table activation applies in turn, from its attrs (function and arguments): a chain's own, else
    the activation itself."""
    function, arguments = attrs["function"], {k: v for k, v in attrs.items() if k != "function"}
    return list(arguments["steps"]) if function == "chain" else [(function, arguments)]


def named(steps: list[FunctionStep]) -> FunctionStep:
    """The activation the steps compute: one of NAMED where it equals it on PROBE, else the steps as one."""
    if len(steps) == 1 and steps[0][0] not in ("chain", "gated", "affine"):
        return steps[0]
    composed: FunctionStep = steps[0] if len(steps) == 1 else ("chain", {"steps": steps})
    with np.errstate(all="ignore"):
        return name_of(apply(composed[0], PROBE, composed[1])) or composed


def name_of(values: np.ndarray) -> FunctionStep | None:
    """The function of NAMED whose values on PROBE these are (within NAMED_TOLERANCE), else None."""
    if np.shape(values) != PROBE.shape:
        return None
    for function, attrs in NAMED:
        if np.allclose(values, apply(function, PROBE, attrs), rtol=NAMED_TOLERANCE, atol=NAMED_TOLERANCE):
            return function, dict(attrs)
    return None


def apply(function: str, x: np.ndarray, attrs: dict) -> np.ndarray:
    """The float activation of x."""
    return FUNCTIONS[function](np.asarray(x, dtype=np.float64), attrs)


def table(function: str, attrs: dict, e_in: int, e_out: int) -> np.ndarray:
    """lut_s8's table: entry q + 128 = the int8 nearest f(q * 2^e_in) / 2^e_out, saturated."""
    q = np.arange(-128, 128, dtype=np.float64)
    return np.clip(np.round(apply(function, q * 2.0**e_in, attrs) / 2.0**e_out), -128, 127).astype(np.int8)

"""What the user-facing suite needs beyond the plugin, for any model: its spec, its test inputs, the compile the
firmware was built from, the float model, and each input's run (made once, shared by the tests that read it).

A test marked for some models only is not collected for the others (deselected, not skipped):
`hil_task(*tasks)` for the model's task, `hil_compiled` for models compiled from PyTorch, `hil_written_in_c`
for models written directly in C."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from hil.catalog import ModelSpec, ParityThresholds, resolve_model
from hil.catalog import compiled_model as compiled_model_of
from hil.catalog.preprocess import (
    class_folders,
    image_size,
    model_image,
    no_pictures,
    normalised,
    picture_files,
    picture_name,
    read_image,
)
from hil.catalog.truth import class_index, load_truth, truth_sources
from hil.compiler.ir import to_graph_layout
from hil.compiler.output_measures import measure_for
from hil.compiler.saturation import Saturation, saturated_tensors
from hil.dut import Dut
from hil.errors import HilError
from hil.model_run import float_outputs, real_outputs
from hil.parity.tensor_metrics import TensorComparison, compare_tensors
from hil.plugin.options import HilOptions, options_from_config
from hil.plugin.progress import progress

MARKERS = (
    "hil_task(*tasks): collected only when the model's task (detection, classification, tensor) is one of tasks",
    "hil_compiled: collected only for models the harness compiles from PyTorch (golden and float models exist)",
    "hil_written_in_c: collected only for models written directly in C (checked against their host reference)",
    "hil_truth: collected only when the test inputs come with truth (the spec's test pictures, or --images with "
    "a COCO JSON or Pascal VOC XML)",
)
# ParityThresholds field -> the option that overrides the spec's figure when given.
THRESHOLD_OPTIONS = {
    "min_snr_db": "hil_min_snr_db",
    "min_recall": "hil_min_recall",
    "min_precision": "hil_min_precision",
    "ap_tolerance": "hil_ap_tolerance",
}


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    check_images_apply(options_from_config(config))


@functools.cache
def spec_of(model: str) -> ModelSpec:
    """The spec a --model value names, resolved once per process."""
    try:
        return resolve_model(model)
    except HilError as e:
        raise pytest.UsageError(str(e)) from e


def _item_model(item: pytest.Item, options: HilOptions) -> str:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("hil_model_name", options.models[0]) if callspec else options.models[0]


def has_truth(spec: ModelSpec, options: HilOptions) -> bool:
    """Whether the test inputs come with truth boxes or labels (a folder per class labels a classifier's only)."""
    if options.images:
        return bool(truth_sources(options.images, options.truth)) or (
            spec.task == "classification" and bool(class_folders(options.images))
        )
    return spec.test_images is not None


def applies(item: pytest.Item, spec: ModelSpec, options: HilOptions) -> bool:
    """Whether the item's markers let it run for this model."""
    if item.get_closest_marker("hil_truth") is not None and not has_truth(spec, options):
        return False
    task = item.get_closest_marker("hil_task")
    if task is not None and spec.task not in task.args:
        return False
    if item.get_closest_marker("hil_compiled") is not None and spec.build is None:
        return False
    return item.get_closest_marker("hil_written_in_c") is None or spec.build is None


def check_images_apply(options: HilOptions) -> None:
    """--images for a model written in C would be ignored (its tests run its own int8 arrays): a run that reports
    green on pictures it never read. One line instead, naming the model, before anything is built."""
    if options.images is None:
        return
    for model in options.models:
        if spec_of(model).build is None:
            raise pytest.UsageError(
                f"--images {options.images}: model {model} is written in C and runs its own int8 inputs, not "
                "pictures; expected --model naming a model compiled from PyTorch (a catalog name or FILE.py:FUNCTION)"
            )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    options = options_from_config(config)
    keep, drop = [], []
    for item in items:
        (keep if applies(item, spec_of(_item_model(item, options)), options) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass(frozen=True)
class ModelInput:
    """One test input: its name (the file name with --images), the float input in the model's own layout
    (batch first: array, or for a picture of --images its spec's normalisation of pixels, made when asked), the
    picture the model sees (None for arrays), its truth boxes in input pixels and, for a classifier, its truth
    class index (None: unknown). error: why the file could not be read or its truth not understood (its test fails
    with it; the others run)."""

    name: str
    array: np.ndarray | None
    pixels: np.ndarray | None = None
    truth: np.ndarray | None = None
    error: str = ""
    label: int | None = None
    spec: ModelSpec | None = None

    @property
    def x(self) -> np.ndarray | None:
        """The float input. A folder's pictures hold only their pixels until then: held as floats too, a face
        model's picture takes 384,000 B, so WIDER FACE's 3,226 validation pictures would take 1.2 GB per worker;
        as pixels, a fifth of that."""
        if self.array is not None or self.spec is None or self.pixels is None:
            return self.array
        return normalised(self.spec, self.pixels)


def image_files(options: HilOptions) -> list[Path]:
    """The pictures of --images, sorted by name; with --hil-images-sample N, N of them evenly spaced through that
    order (every class or event folder of a large set, not only the first), the same N every run."""
    if not options.images.is_dir():
        raise pytest.UsageError(f"--images {options.images}: not a directory")
    files = picture_files(options.images)
    if not files:
        raise pytest.UsageError(no_pictures("--images", options.images))
    sample = options.images_sample
    if sample is None or sample >= len(files):
        return files
    return [files[i * len(files) // sample] for i in range(sample)]


def input_ids(options: HilOptions) -> list[str]:
    """Test ids of the inputs: the file names with --images, else input0, input1, ..."""
    if options.images:
        return [picture_name(options.images, p) for p in image_files(options)]
    return [f"input{i}" for i in range(options.image_count)]


def _file_inputs(spec: ModelSpec, options: HilOptions) -> list[ModelInput]:
    try:
        image_size(spec)
        truth = load_truth(options.images, options.truth)
    except HilError as e:
        raise pytest.UsageError(str(e)) from e
    inputs, conversions, unlabelled = [], [], []
    for path in image_files(options):
        name = picture_name(options.images, path)
        try:
            known = truth.for_picture(name)
            if known is None:
                unlabelled.append(name)
            picture = read_image(path)
            if known is not None:
                known.check_size(name, picture.shape[1], picture.shape[0])
            prepared = model_image(spec, picture)
        except HilError as e:
            inputs.append(ModelInput(name, None, error=str(e)))
            continue
        if prepared.conversion:
            conversions.append(f"{name}: {prepared.conversion}")
        label, picture_class = None, None if known is None else known.picture_class()
        if spec.task == "classification" and picture_class is not None:
            try:
                label = class_index(picture_class, spec.labels, spec.name)
            except HilError as e:
                inputs.append(ModelInput(name, None, error=f"{name}: {e}"))
                continue
        boxes = None if known is None else prepared.boxes_to_input(known.boxes)
        inputs.append(ModelInput(name, None, prepared.pixels, boxes, label=label, spec=spec))
    if conversions:
        height, width, channels = image_size(spec)
        warnings.warn(
            f"--images: {len(conversions)} of {len(inputs)} pictures differ from {spec.name}'s input "
            f"({width}x{height}, {'grey' if channels == 1 else 'RGB'}) and were converted, e.g. {conversions[0]}",
            UserWarning,
            stacklevel=1,
        )
    if truth and unlabelled:
        warnings.warn(
            f"--images: {len(unlabelled)} of {len(inputs)} pictures have no truth under their file name (e.g. "
            f"{unlabelled[0]}); accuracy is measured over the others",
            UserWarning,
            stacklevel=1,
        )
    return inputs


def model_inputs(spec: ModelSpec, options: HilOptions) -> list[ModelInput]:
    """The model's test inputs: --images, else the spec's labelled test pictures, else its calibration inputs."""
    if options.images:
        return _file_inputs(spec, options)
    count = options.image_count
    if spec.test_images is not None:
        return [_picture(spec, f"input{i}", pixels, truth) for i, (pixels, truth) in enumerate(spec.test_images(count))]
    calibration = spec.calibration_inputs()
    if len(calibration) < count:
        raise pytest.UsageError(
            f"model {spec.name}: {len(calibration)} calibration inputs for --hil-image-count {count}; "
            f"expected at least {count} (lower --hil-image-count or give --images)"
        )
    return [ModelInput(f"input{i}", calibration[i : i + 1]) for i in range(count)]


def _picture(spec: ModelSpec, name: str, pixels: np.ndarray, truth: np.ndarray | None) -> ModelInput:
    prepared = model_image(spec, pixels)
    truth = None if truth is None else np.asarray(truth, np.float32)
    return ModelInput(name, None, prepared.pixels, truth, spec=spec)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model_input" in metafunc.fixturenames:
        ids = input_ids(options_from_config(metafunc.config))
        metafunc.parametrize("model_input_index", range(len(ids)), ids=ids)


@pytest.fixture(scope="session")
def model_spec(hil_model_name: str) -> ModelSpec:
    """The catalog entry (or the user's spec) of the model under test."""
    return spec_of(hil_model_name)


@pytest.fixture(scope="session")
def all_model_inputs(model_spec: ModelSpec, hil_options: HilOptions) -> list[ModelInput]:
    return model_inputs(model_spec, hil_options)


@pytest.fixture
def model_input(all_model_inputs: list[ModelInput], model_input_index: int) -> ModelInput:
    given = all_model_inputs[model_input_index]
    if given.error:
        pytest.fail(given.error, pytrace=False)
    return given


@pytest.fixture(scope="session")
def thresholds(request: pytest.FixtureRequest, model_spec: ModelSpec, hil_options: HilOptions) -> ParityThresholds:
    """The spec's parity thresholds, each replaced by its option when given on the command line (--hil-min-snr-db,
    ...): the spec knows its model better than a run-wide ini default."""
    given = {
        field: getattr(hil_options, ini.removeprefix("hil_"))
        for field, ini in THRESHOLD_OPTIONS.items()
        if request.config.getoption(ini) is not None
    }
    return replace(model_spec.thresholds, **given)


@pytest.fixture(scope="session")
def float_model(model_spec: ModelSpec):
    """The float PyTorch model the device must come close to."""
    return model_spec.build()


@pytest.fixture(scope="session")
def compiled_model(model_spec: ModelSpec, dut: Dut):
    """The compile the firmware was built from, with its bit-exact integer reference (the golden model)."""
    compiled = compiled_model_of(model_spec)
    if compiled.emitted.sources.hash != dut.info.model_hash:
        pytest.fail(
            f"the device runs model hash {dut.info.model_hash}, but compiling {model_spec.name} now gives "
            f"{compiled.emitted.sources.hash}: the firmware is stale",
            pytrace=False,
        )
    return compiled


@dataclass(frozen=True)
class InputRun:
    """One input through the golden model, the float model and the device (real values, the device's layout);
    measured: the device's SNRs against float by the model's output measure (hil.compiler.output_measures), the
    figures its compile raised; saturated: the golden model's tensors that saturate on it, the most first."""

    device: list[np.ndarray]
    floats: list[np.ndarray]
    mismatched: dict[str, int]
    comparisons: dict[str, TensorComparison]
    measured: dict[str, float | None]
    saturated: list[Saturation]


@pytest.fixture(scope="session")
def input_runs() -> dict[tuple[str, str], InputRun]:
    """(model, input name) -> its run, filled by the first test that needs it."""
    return {}


@pytest.fixture(scope="session")
def run_input(
    dut: Dut,
    compiled_model,
    float_model,
    model_spec: ModelSpec,
    all_model_inputs: list[ModelInput],
    input_runs: dict,
    pytestconfig: pytest.Config,
):
    """Runs an input once per session on the device; later calls return the same run."""

    def run(given: ModelInput) -> InputRun:
        key = (model_spec.name, given.name)
        if key not in input_runs:
            number = next(i for i, listed in enumerate(all_model_inputs, 1) if listed.name == given.name)
            progress(
                pytestconfig,
                f"hil: {model_spec.name}: running {given.name} on the device "
                f"(input {number} of {len(all_model_inputs)})",
            )
            x = given.x  # a picture's is made from its pixels on each ask
            nhwc = to_graph_layout(x)
            device_run = dut.infer([compiled_model.qgraph.quantize_input(nhwc)])
            tensors = compiled_model.golden_tensors(nhwc)
            golden = compiled_model.outputs_of(tensors)
            names = [spec.name for spec in dut.info.outputs]
            device = real_outputs(list(device_run.outputs), dut.info.outputs)
            floats = float_outputs(float_model, x, compiled_model.output_shapes)
            measure, _ = measure_for(model_spec.output_measure, names, names)
            input_runs[key] = InputRun(
                device,
                floats,
                {n: int(np.count_nonzero(d != g)) for n, d, g in zip(names, device_run.outputs, golden, strict=True)},
                {n: compare_tensors(f, d) for n, f, d in zip(names, floats, device, strict=True)},
                measure(floats, device),
                saturated_tensors(compiled_model.qgraph, nhwc, tensors),
            )
        return input_runs[key]

    return run


@pytest.fixture(scope="session")
def model_budgets(hil_options: HilOptions, model_spec: ModelSpec, dut: Dut) -> tuple[int, int]:
    """(RAM, flash) bytes the model may use: the options, else the spec's figures, else the board's."""
    ram = model_spec.budgets.ram_bytes or dut.board.ram_budget
    flash = model_spec.budgets.flash_bytes or dut.board.flash_budget
    return hil_options.ram_budget or ram, hil_options.flash_budget or flash

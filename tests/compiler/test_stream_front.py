"""stream_input: the first layers as one row pipeline reading the input by rows (schedule.stream_front). The golden
model is unchanged, so the C must equal it bit for bit: host C (hil_input_read from memory) and QEMU semihosting
(hil_input_read seeking in the host file)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hil.compiler.calibrate import profile
from hil.compiler.capture import capture
from hil.compiler.debug_layers import first_layer_divergence
from hil.compiler.host_model import HostModel, HostModelError
from hil.compiler.live_set import live_sets
from hil.compiler.memory_plan import STREAMED_INPUT, scheduled_plan
from hil.compiler.passes import optimize
from hil.compiler.pipeline import compile_model
from hil.compiler.quantize import quantize
from hil.errors import CompileError
from tests.compiler.faces import compile_faces
from tests.compiler.host_golden import QEMU, assert_host_c_equals_golden, assert_qemu_equals_golden
from tests.compiler.random_models import RandomModel


@pytest.fixture(scope="session")
def streamed_faces(face_graphs, calibration_inputs, tmp_path_factory) -> dict:
    """Both face models compiled with stream_input (calibrated as compiled_faces)."""
    root = tmp_path_factory.mktemp("face_streamed")
    return compile_faces(face_graphs, calibration_inputs, root, "_streamed", stream_input=True)


def test_face_models_stream_their_front_within_the_bound(streamed_faces) -> None:
    for name, compiled in streamed_faces.items():
        steps, memory = compiled.steps, compiled.memory
        front = steps[0]
        assert front.kind == "front" and front.name == "conv.0+rnn_model+mob.0", (name, front.name)
        assert memory.offsets[compiled.qgraph.inputs[0]] == STREAMED_INPUT
        assert memory.overlaps() == [] and memory.lower_bound <= memory.arena_bytes
        # the live set of the fused step lists its windows: 3 input rows, 8 stem rows, one RNNPool row
        live = dict(live_sets(memory, steps)[0].buffers)
        prefix = f"{front.name} "
        assert live[prefix + "input rows"] == 3 * 320
        assert live[prefix + "conv.0 rows"] == 8 * 160 * 4
        assert live[prefix + "rnn_model rows"] == 40 * 64
        assert not any("conv.0 out" in label or "rnn_model out" in label for label in live)
        assert f"{prefix}mob.0 expanded rows" in live and f"{prefix}work" in live
    # Each arena is the most bytes live at one step, so no placement of this schedule needs less. The qvga's peak
    # is later (mob.12); its aliased MBConv chain drifts a row down per residual block, and first-fit in the
    # placement orders alone left it 2,560 B above that bound (the M4 152 B) before the planner compacted it.
    m4 = streamed_faces["m4"].memory
    assert m4.arena_bytes == m4.lower_bound <= 70_000, (m4.arena_bytes, m4.lower_bound)
    qvga = streamed_faces["qvga"].memory
    assert qvga.arena_bytes == qvga.lower_bound <= 82_000, (qvga.arena_bytes, qvga.lower_bound)


def test_face_models_streamed_host_c_equals_golden(streamed_faces, calibration_inputs, tmp_path) -> None:
    for name, compiled in streamed_faces.items():
        source = (compiled.emitted.sources.directory / "model.c").read_text()
        assert source.count("/* layer ") == len(compiled.steps) and "hil_input_read(0u" in source
        assert_host_c_equals_golden(compiled, calibration_inputs, tmp_path / name, name)


@QEMU
@pytest.mark.parametrize("name", ["m4", "qvga"])
def test_face_models_streamed_on_qemu_semihosting_equal_golden(streamed_faces, calibration_inputs, name, tmp_path):
    assert_qemu_equals_golden(streamed_faces[name], calibration_inputs[2], tmp_path)


def _random(seed: int, tmp_path, stream_input: bool = True):
    model = RandomModel(seed)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 4)]
    return model, compile_model(
        model, model.example(), calibration, tmp_path / "c", f"random_stream_{seed}", stream_input=stream_input
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_models_streamed_host_c_equals_golden(seed: int, tmp_path) -> None:
    """The stem alone, stem + RNNPool, stem + RNNPool + MBConv...: whatever chain each model's first layers make."""
    model, compiled = _random(seed, tmp_path)
    assert compiled.steps[0].kind == "front"
    inputs = [model.example(i).permute(0, 2, 3, 1).numpy() for i in (7, 8)]
    assert_host_c_equals_golden(compiled, inputs, tmp_path / "host")


@QEMU
def test_random_model_streamed_on_qemu_semihosting_equals_golden(tmp_path) -> None:
    model, compiled = _random(1, tmp_path)
    assert_qemu_equals_golden(compiled, model.example(9).permute(0, 2, 3, 1).numpy(), tmp_path, run_timeout=300)


def test_a_model_whose_first_layer_cannot_stream_is_refused_in_one_line() -> None:
    class TwoReaders(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 4, 3, padding=1)
            self.b = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(x)

    model = TwoReaders().eval()
    example = torch.rand(1, 1, 12, 10)
    graph = optimize(capture(model, example))
    q = quantize(graph, profile(graph, [example.permute(0, 2, 3, 1).numpy()]))
    with pytest.raises(CompileError) as error:
        scheduled_plan(q, stream_input=True)
    message = str(error.value)
    assert "\n" not in message and "first layer cannot be streamed" in message, message


def test_a_read_out_of_order_is_refused_by_the_host_reader(tmp_path) -> None:
    """The host's hil_input_read serves each byte once, in order: a model reading otherwise fails, naming it."""
    _, compiled = _random(0, tmp_path)
    source = compiled.emitted.sources.directory / "model.c"
    text = source.read_text()
    broken = text.replace("(uint32_t)w->next * ", "(uint32_t)(w->next + 1) * ", 1)
    assert broken != text
    source.write_text(broken)
    host = HostModel(compiled.emitted.sources, build_root=tmp_path / "broken")
    x = RandomModel(0).example(7).permute(0, 2, 3, 1).numpy()
    with pytest.raises(HostModelError, match="hil_input_read refused"):
        host.run([compiled.qgraph.quantize_input(x)])


def test_debug_layers_name_the_front_and_skip_its_inner_maps(tmp_path) -> None:
    """The debug build dumps the streamed front once (its last stage's output, under the front's name): the maps
    inside it are never whole. A perturbed stem bias is found in the front."""
    model, compiled = _random(1, tmp_path)
    x = model.example(7).permute(0, 2, 3, 1).numpy()
    host = HostModel(compiled.emitted.sources, build_root=tmp_path / "host", debug_layers=True)
    dumped = host.run_layers([compiled.qgraph.quantize_input(x)])
    assert [name for _, name, _ in dumped] == [s.name for s in compiled.steps]
    assert first_layer_divergence(compiled, host, x) is None
    source_path = compiled.emitted.sources.directory / "model.c"
    source = source_path.read_text()
    head, tail = source.split("static const int32_t l0_s1_bias[", 1)
    size, rest = tail.split("] = {\n    ", 1)
    values, rest = rest.split("\n", 1)
    low = ", ".join(str(int(v) - (1 << 28)) for v in values.rstrip(",").split(", "))  # every stem channel to 0
    source_path.write_text(f"{head}static const int32_t l0_s1_bias[{size}] = {{\n    {low}\n{rest}")
    perturbed = HostModel(compiled.emitted.sources, build_root=tmp_path / "host", debug_layers=True)
    divergence = first_layer_divergence(compiled, perturbed, x)
    assert divergence is not None and (divergence.index, divergence.layer) == (0, compiled.steps[0].name)


@QEMU
def test_profile_names_the_front_by_its_layers(streamed_faces, calibration_inputs, tmp_path) -> None:
    """hil.bench.profile on the streamed M4: one entry for the front, named by its layers, the hottest."""
    from hil.bench.profile import profile_compiled

    compiled = streamed_faces["m4"]
    result = profile_compiled(compiled, calibration_inputs[2], tmp_path)
    assert result["firmware_equals_golden"]
    assert len(result["layers"]) == len(compiled.steps)
    hottest = result["layers"][0]
    assert (hottest["name"], hottest["op"]) == ("conv.0+rnn_model+mob.0", "front")
    assert sum(r["macs"] for r in result["layers"]) == compiled.qgraph.macs

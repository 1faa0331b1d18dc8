"""The debug build of generated C (-DHIL_DEBUG_LAYERS) dumps every layer; first_layer_divergence names the layer
where C first leaves the golden model (here: a weight perturbed in model.c)."""

from __future__ import annotations

import re

from hil.compiler.debug_layers import first_layer_divergence
from hil.compiler.host_model import HostModel
from hil.compiler.pipeline import compile_model
from tests.compiler.random_models import RandomModel


def test_first_divergence_names_the_perturbed_layer(tmp_path) -> None:
    model = RandomModel(3)
    calibration = [model.example(i).permute(0, 2, 3, 1).numpy() for i in range(1, 4)]
    compiled = compile_model(model, model.example(), calibration, tmp_path / "c", "debug_layers")
    x = model.example(7).permute(0, 2, 3, 1).numpy()
    host = HostModel(compiled.emitted.sources, build_root=tmp_path / "host", debug_layers=True)
    assert len(host.run_layers([compiled.qgraph.quantize_input(x)])) == len(compiled.steps)
    assert first_layer_divergence(compiled, host, x) is None

    source_path = compiled.emitted.sources.directory / "model.c"
    source = source_path.read_text()
    # the last layer with a bias array: every layer before it must still agree
    layer = max(int(m) for m in re.findall(r"static const int32_t l(\d+)_(?:expand_)?bias\[", source))
    pattern = rf"(static const int32_t l{layer}_(?:expand_)?bias\[\d+\] = {{\n    )(-?\d+)"
    source_path.write_text(re.sub(pattern, lambda m: m.group(1) + str(int(m.group(2)) + (1 << 24)), source, count=1))
    perturbed = HostModel(compiled.emitted.sources, build_root=tmp_path / "host", debug_layers=True)
    divergence = first_layer_divergence(compiled, perturbed, x)
    assert divergence is not None, "the perturbed bias changed nothing"
    assert (divergence.index, divergence.layer) == (layer, compiled.steps[layer].name)
    print(divergence.describe())

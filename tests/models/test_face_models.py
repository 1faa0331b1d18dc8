"""Shapes, sizes, head layout and EdgeML state_dict compatibility of the two face models."""

from __future__ import annotations

import pytest
import torch

from models.complexity import count_layers, totals
from models.errors import ModelInputError, StateDictMismatchError
from models.face_models import rnnpool_face_m4, rnnpool_face_qvga_monochrome
from models.state_dict import load_edgeml_state_dict

FASTGRNN_PATHS = ("cell", "unrollRNN.RNNCell")
FASTGRNN_PARAMS = ("W", "U", "bias_gate", "bias_update", "zeta", "nu")
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def edgeml_keys(settings: list[tuple[int, int, int, int]], head_channels: list[int]) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of EdgeML's RPool_Face_M4/QVGA state_dict, written out from its module structure."""
    keys: dict[str, tuple[int, ...]] = {"conv.0.weight": (4, 1, 3, 3)}
    keys.update({f"conv.1.{k}": (() if k == "num_batches_tracked" else (4,)) for k in BN_KEYS})
    for rnn, (n_in, n_hidden), paths in (
        ("cell_rnn", (4, 16), FASTGRNN_PATHS),
        ("cell_bidirrnn", (16, 16), (*FASTGRNN_PATHS, "unrollRNN.RNNCell_reverse")),
    ):
        shapes = {
            "W": (n_in, n_hidden),
            "U": (n_hidden, n_hidden),
            "bias_gate": (1, n_hidden),
            "bias_update": (1, n_hidden),
            "zeta": (1, 1),
            "nu": (1, 1),
        }
        for path in paths:
            keys.update({f"rnn_model.{rnn}.{path}.{p}": shapes[p] for p in FASTGRNN_PARAMS})
    channels, block = 64, 0
    for t, c, n, _ in settings:
        for _ in range(n):
            hidden = channels * t
            layers = [
                ("0.0.weight", (hidden, channels, 1, 1)),
                ("0.1", hidden),
                ("1.0.weight", (hidden, 1, 3, 3)),
                ("1.1", hidden),
                ("2.weight", (c, hidden, 1, 1)),
                ("3", c),
            ]
            for name, shape in layers:
                if isinstance(shape, int):
                    keys.update(
                        {
                            f"mob.{block}.conv.{name}.{k}": (() if k == "num_batches_tracked" else (shape,))
                            for k in BN_KEYS
                        }
                    )
                else:
                    keys[f"mob.{block}.conv.{name}"] = shape
            channels, block = c, block + 1
    for name, ch in zip(("L2Norm3_3", "L2Norm4_3", "L2Norm5_3"), head_channels, strict=False):
        keys[f"{name}.weight"] = (ch,)
    for i, ch in enumerate(head_channels):
        keys[f"loc.{i}.weight"], keys[f"loc.{i}.bias"] = (4, ch, 3, 3), (4,)
        out = 4 if i == 0 else 2
        keys[f"conf.{i}.weight"], keys[f"conf.{i}.bias"] = (out, ch, 3, 3), (out,)
    return keys


M4_KEYS = edgeml_keys([(2, 32, 1, 1), (2, 32, 1, 1), (2, 64, 1, 2), (2, 64, 1, 1)], [32, 32, 64, 64])
QVGA_KEYS = edgeml_keys([(2, 32, 4, 1), (2, 32, 4, 1), (2, 96, 3, 2), (2, 128, 3, 1)], [32, 32, 96, 128])


def random_edgeml_state(keys: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator)
    # EdgeML's shared cell appears under several paths: one tensor, as torch.save would give it.
    for key in list(state):
        for alias in ("unrollRNN.RNNCell.", "unrollRNN.RNNCell_reverse."):
            if alias in key:
                state[key] = state[key.replace(alias, "cell.")]
    return state


@pytest.mark.parametrize("build, keys", [(rnnpool_face_m4, M4_KEYS), (rnnpool_face_qvga_monochrome, QVGA_KEYS)])
def test_state_dict_has_edgeml_names_and_shapes(build, keys) -> None:
    """EdgeML's names, plus the anchor sizes the weights were trained with."""
    state = build().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {**keys, "anchor_sizes": (4,)}


def test_an_edgeml_qvga_checkpoint_keeps_the_anchors_edgeml_trained_it_with() -> None:
    """EdgeML's QVGA was trained with 8-16-32-48 anchors (config_qvga.py); the committed one with 64 on its last
    source. A state_dict without anchor_sizes is EdgeML's, so it decodes with theirs."""
    model = rnnpool_face_qvga_monochrome()
    assert model.anchor_sizes.tolist() == [8, 16, 32, 64]
    load_edgeml_state_dict(model, random_edgeml_state(QVGA_KEYS))
    assert model.anchor_sizes.tolist() == [8, 16, 32, 48]
    assert model.prior_box()[-1, 2].item() == pytest.approx(48 / 320)


@pytest.mark.parametrize("wrap", ["plain", "edgeml_checkpoint", "data_parallel"])
def test_edgeml_state_dict_loads_as_is(wrap: str) -> None:
    state = random_edgeml_state(M4_KEYS)
    if wrap == "edgeml_checkpoint":
        checkpoint = {"weight": state, "epoch": 12}
    elif wrap == "data_parallel":
        checkpoint = {f"module.{k}": v for k, v in state.items()}
    else:
        checkpoint = state
    model = rnnpool_face_m4()
    load_edgeml_state_dict(model, checkpoint)
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_state_dict_mismatch_lists_missing_and_unexpected_keys() -> None:
    state = random_edgeml_state(M4_KEYS)
    del state["L2Norm4_3.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["loc.0.bias"] = torch.zeros(5)
    with pytest.raises(StateDictMismatchError) as error:
        load_edgeml_state_dict(rnnpool_face_m4(), state)
    assert error.value.missing == ["L2Norm4_3.weight"]
    assert error.value.unexpected == ["extra.weight"]
    message = str(error.value)
    assert "L2Norm4_3.weight" in message and "extra.weight" in message and "loc.0.bias (5,) != (4,)" in message


def test_qvga_state_dict_does_not_fit_m4() -> None:
    with pytest.raises(StateDictMismatchError, match="unexpected keys"):
        load_edgeml_state_dict(rnnpool_face_m4(), random_edgeml_state(QVGA_KEYS))


@pytest.mark.parametrize("build", [rnnpool_face_m4, rnnpool_face_qvga_monochrome])
def test_output_shapes(build) -> None:
    model = build().eval()
    with torch.no_grad():
        loc, conf = model(torch.randn(2, 1, 240, 320))
    assert loc.shape == (2, 3000, 4) and conf.shape == (2, 3000, 2)
    assert [tuple(s.shape[1:]) for s in model.features(torch.zeros(1, 1, 240, 320))] == [
        (model.conf[0].in_channels, 30, 40),
        (model.conf[1].in_channels, 30, 40),
        (model.conf[2].in_channels, 15, 20),
        (model.conf[3].in_channels, 15, 20),
    ]


def test_head_layout_is_nhwc_with_max_out_background() -> None:
    torch.manual_seed(0)
    model = rnnpool_face_m4().eval()
    x = torch.randn(1, 1, 240, 320)
    with torch.no_grad():
        loc, conf = model(x)
        sources = model.features(x)
        raw = model.conf[0](sources[0])
        loc3 = model.loc[3](sources[3])
    expected_conf0 = torch.stack([raw[0, :3].max(dim=0).values, raw[0, 3]], dim=-1)
    torch.testing.assert_close(conf[0, :1200], expected_conf0.reshape(1200, 2))
    torch.testing.assert_close(loc[0, 2700:], loc3[0].permute(1, 2, 0).reshape(300, 4))


def test_sizes_match_the_published_models() -> None:
    m4_params, m4_macs = totals(rnnpool_face_m4())
    qvga_params, qvga_macs = totals(rnnpool_face_qvga_monochrome())
    assert m4_params == 56_330 and qvga_params == 338_538
    assert 100e6 < m4_macs < 106e6 and 205e6 < qvga_macs < 215e6
    rnnpool = [c for c in count_layers(rnnpool_face_m4()) if c.kind == "RNNPoolLayer"]
    assert len(rnnpool) == 1 and rnnpool[0].macs == 29 * 39 * (2 * 64 * (4 * 16 + 16 * 16) + 4 * 8 * (2 * 16 * 16))


def test_model_rejects_colour_input() -> None:
    with pytest.raises(ModelInputError, match=r"\[B, 1, H, W\]"):
        rnnpool_face_m4()(torch.zeros(1, 3, 240, 320))

"""What saved networks depend on stays fixed: every variable's path, shape and order, the layout
of a weights file (``.keras`` files and Keras backups address each variable by its place in it,
an optimizer's slots by the variables' order), and what a newly built network computes (its
initial weights included: :func:`ei_tf.model.model_fingerprint`).

``tests/cell_checkpoints.txt`` holds them for representative small networks, as ei-tf wrote
them at commit 0484aa2 (the code that wrote the existing run directories, whose cells were
configured by the whole model config and an area index); the fingerprints' ``redrawn`` and
``weights`` parts were added later, by code whose ``initial`` part still matched. A difference
means that the run directories' checkpoints no longer load, load into other variables, or that
a config now builds another network. A ``.keras`` file of that code is this code's file with
each cell's config in the earlier form (:func:`legacy_keras_file`): its weights file is the one
pinned here. ``python tests/test_cell_checkpoints.py`` prints the current text, for a
deliberate change of the layout only.
"""

import dataclasses
import json
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from ei_tf.config import load_config
from ei_tf.model import build_model, model_fingerprint, recurrent_areas, same_model

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "cell_checkpoints.txt"
SMALL = ["model.pn_channels=[6, 8]", "model.ig_channels=[2, 3]", "model.og_channels=[3, 2]",
         "model.i_channels=[2, 3]", "model.ff_channels=[4, 5]", "model.time_steps=2"]
EI = ["model.family=standard_ei", "model.normalization=e_current_bn"]
CASES = {
    "standard": [],
    "standard_noog_ecurrbn_ssub_sfg_recurri": [
        "model.output_gate=none", "model.og_channels=[0, 0]", "model.normalization=e_current_bn",
        "model.input_gate=sub", "model.simple_subtraction=true", "model.forget_gate=scalar",
        "model.recurrent_ig=true"],
    "standard_inhpn_cell_dropout_og_dropout_ig_og_bn_regular": [
        "model.principal=inhibitory", "model.normalization=cell_dropout", "model.og_dropout=true",
        "model.ig_current_bn=true", "model.og_current_bn=true", "model.separable=false"],
    "standard_ei_icurrbn": EI + ["model.i_current_bn=true"],
    "standard_ei_inhpn_inhibitory_input_layer_norm": EI[:1] + [
        "model.normalization=layer_norm", "model.i_current_bn=true",
        "model.principal=inhibitory", "model.inhibitory_area_input=true"],
}


def images():
    return np.random.default_rng(5).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def describe(case: str) -> list[str]:
    """``case``'s variables (``weight``: path, shape, trainable, in ``model.weights`` order), the
    datasets of its weights file (``file``) and its fingerprint."""
    cfg = load_config(sets=SMALL + CASES[case])
    keras.backend.clear_session()
    model = build_model(cfg)
    lines = [f"weight {w.path} {tuple(w.shape)} {'trainable' if w.trainable else 'fixed'}"
             for w in model.weights]
    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(Path(tmp) / "m.weights.h5")
        with h5py.File(Path(tmp) / "m.weights.h5") as h5:
            h5.visititems(lambda name, item: lines.append(f"file {name} {item.shape}")
                          if isinstance(item, h5py.Dataset) else None)
    lines += [f"fingerprint {part} " + " ".join(f"{v:.7g}" for v in values)
              for part, values in model_fingerprint(cfg).items()]
    return lines


def fingerprint_of(lines: list[str]) -> dict:
    """The fingerprint that ``lines`` (of :func:`describe`) hold, part by part."""
    return {line.split()[1]: [float(v) for v in line.split()[2:]]
            for line in lines if line.startswith("fingerprint ")}


def golden() -> dict:
    sections, case = {}, None
    for line in GOLDEN.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            case = line[1:-1]
            sections[case] = []
        elif line and not line.startswith("#"):
            sections[case].append(line)
    return sections


@pytest.mark.parametrize("case", sorted(CASES))
def test_variables_weights_file_layout_and_fingerprint_are_unchanged(case):
    want, got = golden()[case], describe(case)
    assert [v for v in got if not v.startswith("fingerprint")] == [
        v for v in want if not v.startswith("fingerprint")]
    fingerprints = [fingerprint_of(lines) for lines in (want, got)]
    assert fingerprints[0].keys() == {"initial", "redrawn", "weights"}
    assert same_model(*fingerprints), fingerprints


def test_fingerprint_of_a_network_without_inhibitory_channels_warns_of_nothing():
    """A population with no channels has empty kernels: the fingerprint draws nothing for them
    (no mean of an empty array, whose RuntimeWarning reached the protocol's log)."""
    cfg = load_config(sets=SMALL + ["model.ig_channels=[0, 0]", "model.og_channels=[0, 0]"])
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fingerprint = model_fingerprint(cfg)
    assert all(np.isfinite(fingerprint[part]).all() for part in fingerprint)


def legacy_keras_file(model, cfg, path: Path) -> Path:
    """``model`` saved at ``path`` as ei-tf wrote ``.keras`` files before the cells took their
    own arguments: each cell's config is the whole model config, the area index and the weight
    decays (the weights file is the same, and pinned by :data:`GOLDEN`)."""
    model.save(path.with_suffix(".new.keras"))
    with zipfile.ZipFile(path.with_suffix(".new.keras")) as new:
        files = {name: new.read(name) for name in new.namelist()}
    config = json.loads(files["config.json"])
    for area, layer in enumerate(x for x in config["config"]["layers"]
                                 if x["class_name"] == "RecurrentArea"):
        cell = layer["config"]["cell"]["config"]
        layer["config"]["cell"]["config"] = {
            **{k: cell[k] for k in ("name", "trainable", "dtype")},
            "model_config": dataclasses.asdict(cfg.model), "area": area,
            "weight_decay": cell["weight_decay"], "bn_weight_decay": cell["bn_weight_decay"]}
    assert area == len(cfg.model.pn_channels) - 1  # every recurrent area's cell rewritten
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as old:
        for name, data in files.items():
            old.writestr(name, data)
    return path


@pytest.mark.parametrize("case", ["standard", "standard_ei_icurrbn"])
def test_keras_file_written_by_earlier_code_loads_and_computes_the_same(case, tmp_path):
    """Logits in inference mode, then in training mode (batch statistics: an untrained
    Standard network's inference-mode PN are all zero)."""
    cfg = load_config(sets=SMALL + CASES[case])
    model = build_model(cfg)
    loaded = keras.saving.load_model(legacy_keras_file(model, cfg, tmp_path / "old.keras"))
    for training in (False, True):
        np.testing.assert_allclose(loaded(images(), training=training),
                                   model(images(), training=training), rtol=1e-6, atol=1e-6)
    assert [(w.name, w.shape) for w in loaded.weights] == [(w.name, w.shape)
                                                           for w in model.weights]


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_file_round_trip(case, tmp_path):
    """A trained network saved as ``.keras`` loads with the same cells and computes the same
    logits, in inference and training mode (dropout aside)."""
    cfg = load_config(sets=SMALL + CASES[case])
    model = build_model(cfg)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(images(), np.array([1, 2]))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for a, b in zip(recurrent_areas(model), recurrent_areas(loaded)):
        assert a.cell.get_config() == b.cell.get_config()
    modes = (False,) if "dropout" in case else (False, True)
    for training in modes:
        np.testing.assert_allclose(loaded(images(), training=training),
                                   model(images(), training=training), rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    sys.stdout.write("# Written by `python tests/test_cell_checkpoints.py`; see its docstring.\n")
    for name in CASES:
        sys.stdout.write(f"[{name}]\n" + "\n".join(describe(name)) + "\n")

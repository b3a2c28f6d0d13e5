"""The typed config schema, its strict YAML override and the CLI's one-line errors."""

import re
from pathlib import Path

import pytest

from conftest import CONFIGS
from ei_tf.cli import train_main
from ei_tf.config import ConfigError, config_diff, load_config, parse_yaml, smoke


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_the_papers_cifar10_standard_network():
    # Section 2 (CIFAR10): feedforward areas of 16 and 32 channels, then 64 PN, 16 IG and 16 OG
    # channels doubled in the second recurrent area; 4 time steps read out at the last one
    # (LastT), multiplicative input and subtractive output gates (Appendix D.1: "LastT_MulSub");
    # learning rate 0.1 decaying 10-fold at epochs 100, 150 and 200 of 250; L2 coefficient
    # 0.0002. The paper names momentum without its value: 0.9 and the BatchNorm moving
    # statistics (momentum 0.997, epsilon 1e-5) are the design's (design.md sections 2-3).
    cfg = load_config()
    m, t = cfg.model, cfg.training
    assert (m.ff_channels, m.pn_channels, m.ig_channels, m.og_channels) == (
        [16, 32], [64, 128], [16, 32], [16, 32])
    assert (m.time_steps, m.readout, m.input_gate, m.output_gate) == (4, "last", "mul", "sub")
    assert (t.learning_rate, t.lr_boundaries, t.epochs, t.weight_decay, t.momentum) == (
        0.1, [100, 150, 200], 250, 2e-4, 0.9)
    assert cfg.data.batch_size == 128 and m.bn_momentum == 0.997 and m.bn_epsilon == 1e-5


def test_scientific_notation_is_a_number(tmp_path):
    assert parse_yaml("a: 1e-4")["a"] == 1e-4
    cfg = load_config(write(tmp_path, "training:\n  weight_decay: 1e-4\n"))
    assert cfg.training.weight_decay == 1e-4


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "model:\n  time_step: 4\n")
    with pytest.raises(ConfigError, match=r"c\.yaml.*unknown config key 'model\.time_step'"):
        load_config(path)


@pytest.mark.parametrize("text, field, allowed", [
    ("model:\n  time_steps: 0\n", "model.time_steps", ">= 1"),
    ("model:\n  readout: mean\n", "model.readout", "'last', 'sum'"),
    ("training:\n  epochs: ten\n", "training.epochs", "an integer"),
    ("model:\n  pn_channels: [64, -2]\n", r"model.pn_channels\[1\]", ">= 1"),
    ("data:\n  augment: 1\n", "data.augment", "true or false"),
    ("training:\n  learning_rate: 0\n", "training.learning_rate", "> 0"),
    ("training:\n  validation_freq: 0\n", "training.validation_freq", ">= 1"),
])
def test_bad_value_names_field_value_and_allowed(tmp_path, text, field, allowed):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "c.yaml" in message
    assert re.search(field, message), message
    assert re.search(allowed, message), message


@pytest.mark.parametrize("epochs, freq, tested", [
    (3, 1, [1, 2, 3]), (25, 10, [10, 20, 25]), (250, 10, list(range(10, 251, 10))), (2, 5, [2]),
])
def test_the_test_set_is_evaluated_every_nth_epoch_and_after_the_last(epochs, freq, tested):
    training = load_config(sets=[f"training.epochs={epochs}",
                                 f"training.validation_freq={freq}"]).training
    assert training.validation_epochs() == tested


def test_contradictory_switches_are_refused():
    with pytest.raises(ConfigError, match="output_gate is 'none'"):
        load_config(sets=["model.output_gate=none"])
    with pytest.raises(ConfigError, match="inhibitory_area_input needs"):
        load_config(sets=["model.inhibitory_area_input=true"])
    with pytest.raises(ConfigError, match="i_current_bn is a StandardEI switch"):
        load_config(sets=["model.i_current_bn=true"])


def test_set_overrides_and_name_from_file():
    base = load_config(CONFIGS / "fig2_standard.yaml")
    cfg = load_config(CONFIGS / "fig2_standard.yaml",
                      ["training.epochs=3", "model.pn_channels=[8, 16]", "training.lr_decay=2e-1"])
    assert cfg.name == "fig2_standard"
    assert cfg.training.epochs == 3 and cfg.model.pn_channels == [8, 16]
    assert cfg.training.lr_decay == 0.2  # scientific notation, unlike the file's 0.1
    assert config_diff(base, cfg) == ["model.pn_channels", "training.epochs", "training.lr_decay"]
    with pytest.raises(ConfigError, match="--set.*unknown config key 'training.epoch'"):
        load_config(sets=["training.epoch=3"])


def test_smoke_keeps_architecture():
    cfg = load_config(CONFIGS / "fig2_standard.yaml")
    small = smoke(cfg)
    assert small.model == cfg.model
    assert config_diff(cfg, small) and all(
        k.startswith(("data.", "training.", "export.")) for k in config_diff(cfg, small))


@pytest.mark.parametrize("config", sorted(str(p.relative_to(CONFIGS))
                                          for p in CONFIGS.rglob("*.yaml")
                                          if p.name != "protocol.yaml"))  # a list of runs
def test_every_config_loads(config):
    cfg = load_config(CONFIGS / config)
    assert cfg.name == Path(config).stem


def test_cli_reports_one_line_error(tmp_path, capsys):
    path = write(tmp_path, "model:\n  colour: red\n")
    assert train_main(["--config", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown config key 'model.colour'" in err
    assert train_main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err

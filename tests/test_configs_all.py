"""Every config in configs/: loads, validates every point, builds its network(s).

``pytest -s tests/test_configs_all.py`` prints each network's trainable parameter count.
"""

import re

import keras
import numpy as np
import pytest

from conftest import CONFIGS, ROOT
from ei_tf.config import load_config
from ei_tf.model import build_model
from ei_tf.sweep import load_points

pytestmark = pytest.mark.tf

ALL = sorted(p.name for p in CONFIGS.glob("*.yaml"))
AUTHORS_GRID = [1, 4, 16, 64, 256]  # the authors' NoNorm E x I grid (Fig 17c), 5 seeds


def build(cfg) -> keras.Model:
    keras.backend.clear_session()
    return build_model(cfg)


@pytest.mark.parametrize("config", ALL)
def test_config_validates_and_builds(config):
    points = load_points(CONFIGS / config)  # every point's config is validated here
    assert points and [p.index for p in points] == list(range(len(points)))
    # Build the first and the last network (a sweep's smallest and largest grid point).
    builds = [points[0]] if not points[0].name else [points[0], points[-1]]
    for point in builds:
        model, d = build(point.config), point.config.data
        # images of the config's size in, one logit per class out (exact parameter counts of
        # the CIFAR10 networks: tests/test_model.py)
        assert model.input_shape == (None, d.image_size, d.image_size, 3)
        assert model.output_shape == (None, d.num_classes)
        n = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"{config}: {point.label} seed {point.seed}: {n:,} trainable parameters "
              f"({len(points)} runs)")


@pytest.mark.parametrize("config", ALL)
def test_config_header_says_command_result_and_runtime(config):
    text = (CONFIGS / config).read_text()
    assert text.startswith(f"# python train.py --config configs/{config}"), config
    header = text[:text.index("\ndescription:")]
    if config != "quickstart.yaml":
        assert re.search(r"^# Paper", header, re.MULTILINE), config
        assert re.search(r"^# Full scale", header, re.MULTILINE), config
    assert load_config(CONFIGS / config).description


def test_readme_lists_every_config():
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in ALL if f"`configs/{c}`" not in readme]
    assert not missing, missing


def _network(cfg) -> dict:
    """Everything a run trains (the config without its name, description and seeds)."""
    return {k: v for k, v in cfg.to_dict().items()
            if k not in ("name", "description", "seeds", "sweep")}


@pytest.mark.parametrize("variant", ["inhpn", "noconstraint"])
def test_two_family_fig7_files_train_the_single_family_networks(variant):
    """The figures and the claims take a run of fig7_<variant> point <family> and one of
    fig7_<family>_<variant> for the same network: the configs must agree field by field."""
    cfg = load_config(CONFIGS / f"fig7_{variant}.yaml")
    points = load_points(CONFIGS / f"fig7_{variant}.yaml")
    assert [(p.name, p.seed) for p in points] == [
        (family, seed) for seed in cfg.seeds for family in ("standard", "standard_ei")]
    for point in points[:2]:
        single = load_config(CONFIGS / f"fig7_{point.name}_{variant}.yaml")
        assert point.config.seeds == single.seeds
        assert _network(point.config) == _network(single), point.name
        assert point.config.name == f"fig7_{variant}__{point.name}"


def test_inhibitory_area_input_sibling_differs_in_that_switch_only():
    paper = load_config(CONFIGS / "fig7_standard_ei_inhpn.yaml")
    authors = load_config(CONFIGS / "fig7_standard_ei_inhpn_inhibitory_input.yaml")
    assert (paper.model.inhibitory_area_input, authors.model.inhibitory_area_input) == (
        False, True)
    authors.model.inhibitory_area_input = False
    assert _network(authors) == _network(paper) and authors.seeds == paper.seeds


def test_dropout_configs_drop_in_training_only():
    for config in ("fig9c_pn_cell_drpt.yaml", "fig9c_pn_cell_drpt_add_og_drpt.yaml"):
        text = (CONFIGS / config).read_text()
        assert "tf.nn.dropout" in text  # the header says how the authors' code differs
        off = load_config(CONFIGS / config)
        assert off.model.dropout_at_inference is False
        on = load_config(CONFIGS / config, sets=["model.dropout_at_inference=true"])
        # the switch is accepted and is the only difference
        assert _network(on) == {**_network(off),
                                "model": {**_network(off)["model"], "dropout_at_inference": True}}


def test_channel_grids_contain_the_papers_networks():
    standard = load_config(CONFIGS / "fig2_standard.yaml").model
    standard_ei = load_config(CONFIGS / "fig4_standard_ei.yaml").model
    counts = [2, 4, 8, 16, 32, 64, 128, 256]
    for config, base, i_counts in [
            ("fig6_standard_channel_grid.yaml", standard, counts),
            ("fig6_standard_ei_channel_grid.yaml", standard_ei, counts),
            ("fig17_standard_nonorm_channel_grid.yaml", None, [0, 1] + counts),
            ("fig17_standard_ei_nonorm_channel_grid.yaml", None, [0, 1] + counts),
            ("fig17_standard_nonorm_authors_channel_grid.yaml", None, AUTHORS_GRID),
            ("fig17_standard_ei_nonorm_authors_channel_grid.yaml", None, AUTHORS_GRID)]:
        e_counts = AUTHORS_GRID if "authors" in config else counts
        points = load_points(CONFIGS / config)
        seeds = load_config(CONFIGS / config).seeds
        assert len(points) == len(e_counts) * len(i_counts) * len(seeds), config
        assert "authors" not in config or seeds == [0, 1, 2, 3, 4]
        by_name = {p.name: p.config.model for p in points if p.seed == seeds[0]}
        assert sorted(by_name) == sorted(f"e{e}_i{i}" for e in e_counts for i in i_counts)
        for name, m in by_name.items():
            e, i = map(int, re.match(r"e(\d+)_i(\d+)$", name).groups())
            assert m.pn_channels == [e, 2 * e], name
            inh = [m.ig_channels, m.og_channels] if m.family == "standard" else [m.i_channels]
            assert all(c == [i, 2 * i] for c in inh), name
        if base is not None:
            assert by_name["e64_i16"] == base, config  # the Standard / StandardEI network
        else:
            assert all(m.normalization == "none" for m in by_name.values())


def test_readout_gating_sweep_includes_the_standard_network():
    points = load_points(CONFIGS / "fig9a_readout_gating.yaml")
    names = [p.name for p in points if p.seed == 0]
    assert names == [f"{r}_{g}" for r in ("LastT", "SumT")
                     for g in ("MulSub", "MulMul", "SubMul", "SubSub")]
    assert len(points) == 40
    standard = load_config(CONFIGS / "fig2_standard.yaml").model
    assert points[0].config.model == standard
    m = points[6].config.model
    assert (m.readout, m.input_gate, m.output_gate) == ("sum", "sub", "mul")


def test_imagenet_config_follows_the_authors_settings():
    cfg = load_config(CONFIGS / "fig4_imagenet_standard.yaml")
    m, d, t = cfg.model, cfg.data, cfg.training
    assert (m.ff_channels, m.ff_kernel_sizes, m.ff_conv_strides, m.ff_pool_strides) == (
        [64, 128], [7, 3], [2, 1], [2, 2])
    assert (m.pn_channels, m.ig_channels, m.og_channels) == (
        [256, 256, 512], [64, 64, 128], [64, 64, 128])
    assert (m.recurrent_pool_stride, m.time_steps, m.preprocessing) == (2, 5, "channel_mean")
    assert (d.dataset, d.image_size, d.num_classes, d.batch_size) == ("imagenet", 128, 1000, 256)
    assert (t.epochs, t.learning_rate, t.lr_boundaries, t.momentum) == (
        100, 0.1, [30, 60, 80, 90], 0.9)
    assert (t.weight_decay, t.weight_decay_exclude_bn) == (1e-4, True)


def test_shuffled_label_configs():
    for config in ("fig16_standard_shuffled_l2.yaml", "fig16_standard_ei_shuffled_l2.yaml",
                   "appK_standard_shuffled_no_l2.yaml"):
        d, t = load_config(CONFIGS / config).data, load_config(CONFIGS / config).training
        assert (d.shuffled_labels, d.shuffled_fraction, d.augment) == (True, 0.1, False)
        assert t.weight_decay == (0.0 if "no_l2" in config else 2e-4)

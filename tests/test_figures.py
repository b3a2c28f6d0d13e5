"""Paper figures from runs: ``analyze.py --figure N`` / ``--all``.

Two smoke runs (Standard and StandardEI, synthetic data, exact architecture) are trained and
analysed once; every run a figure needs is then made by copying one of them (its analysis
JSONs, history.csv, config.yaml and completed.json; no SavedModel, so the figures read the
stored results) under the run's name. Only ``fig2_standard/seed_0`` keeps its SavedModels, so
that the path through ``analyze_run`` (stored results reused by fingerprint) is exercised too.
Seeds are restricted to 0 and 1 (``--seeds 0,1``) to keep the tree small.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ei_tf import figures
from ei_tf.analysis.recording import AnalysisError
from ei_tf.analysis.runs import Context, Need, Run, variant_need
from ei_tf.analysis.summary import (EXPERIMENT_DENSITY_DIFF, EXPERIMENT_SKEW_DIFF, ei_difference,
                                    ei_difference_area_mean, pooled_density)
from ei_tf.analyze_cli import analyze_main
from ei_tf.figures import common
from ei_tf.figures.common import panel_axes
from ei_tf.sweep import load_points

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SEEDS = [0, 1]
# Data panels (colour bars excluded) of each figure.
PANELS = {2: 3, 3: 5, 4: 1, 5: 6, 6: 8, 7: 2, 8: 10, 9: 3, 10: 1, 11: 2, 12: 1, 13: 8, 14: 8,
          15: 7, 16: 6, 17: 8}


def _train_and_analyse(config: str, out: Path) -> Path:
    from ei_tf import layout
    from ei_tf.analysis.pipeline import analyze_run, find_exports
    from ei_tf.config import load_config, smoke
    from ei_tf.training import train

    cfg = smoke(load_config(CONFIGS / f"{config}.yaml", sets=["data.dataset=synthetic"]))
    train(cfg, 0, out=out, verbose=0)
    run_dir = layout.run_dir(out, cfg.name, 0)
    final = list(find_exports(run_dir))[-1]
    analyze_run(run_dir, final, n_images=None, verbose=False)  # the 32 synthetic test images
    return run_dir


@pytest.fixture(scope="session")
def sources(tmp_path_factory, smoke_run):
    """``{"standard": run dir, "standard_ei": run dir}``: the Standard run analysed at epochs 0
    and 1 (Figure 5 reads every epoch), the StandardEI run at its last epoch."""
    from ei_tf.analysis.pipeline import analyze_run

    out = tmp_path_factory.mktemp("figure_sources")
    standard = out / "fig2_standard" / "seed_0"
    shutil.copytree(smoke_run.run_dir, standard)  # leave the shared run untouched
    analyze_run(standard, None, n_images=None, verbose=False)
    return {"standard": standard, "standard_ei": _train_and_analyse("fig4_standard_ei", out)}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _place(src: Path, dst: Path, analysis: bool) -> None:
    """A finished run at ``dst`` made of ``src``'s records (and analysis JSONs)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("completed.json", "history.csv", "config.yaml"):
        if not (dst / name).exists():
            _link_or_copy(src / name, dst / name)
    if analysis and not (dst / "analysis").exists():
        (dst / "analysis").mkdir()
        for path in (src / "analysis").glob("epoch_*.json"):
            _link_or_copy(path, dst / "analysis" / path.name)


def _family(run) -> str:
    return load_points(CONFIGS / f"{run.config}.yaml")[run.index].config.model.family


def build_tree(root: Path, sources: dict, numbers, skip=()) -> Context:
    """Every run that figures ``numbers`` need (seeds 0 and 1) under ``root``, except the run
    directories in ``skip``."""
    ctx = Context(root, seeds=SEEDS)
    keep_export = ctx.runs_for(Need("fig2_standard"))[0].run_dir
    for number in numbers:
        for need in figures.needs(number):
            for run in ctx.runs_for(need):
                if run.run_dir in skip:
                    continue
                if run.run_dir == keep_export and not run.run_dir.exists():
                    shutil.copytree(sources["standard"], run.run_dir)
                    continue
                _place(sources[_family(run)], run.run_dir, need.analysis is not None)
    return ctx


@pytest.fixture(scope="session")
def tree(tmp_path_factory, sources) -> Path:
    root = tmp_path_factory.mktemp("runs")
    build_tree(root, sources, figures.NUMBERS)
    return root


# --------------------------------------------------------------------------------------------
# Every figure


@pytest.mark.tf
def test_all_writes_every_figure_with_its_panels(tree, tmp_path, monkeypatch, capsys):
    seen = {}
    real_save = common.save

    def spy(fig, out_dir, number):
        seen[(number, "panels")] = len(panel_axes(fig))
        if number == 4:  # the experimental estimate of Appendix E
            ax = panel_axes(fig)[0]
            stars = [line for line in ax.get_lines() if line.get_label() == "Experiment"]
            seen[(4, "experiment")] = [tuple(np.ravel(line.get_xydata())) for line in stars]
        return real_save(fig, out_dir, number)

    monkeypatch.setattr(common, "save", spy)
    out = tmp_path / "figures"
    rc = analyze_main(["--all", "--runs", str(tree), "--out", str(out), "--seeds", "0,1",
                       "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    for number, count in PANELS.items():
        assert seen[(number, "panels")] == count, f"figure {number}"
        png, pdf = out / f"fig{number}.png", out / f"fig{number}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert f"figure {number}: {png}" in captured.out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"fig{n}.{ext}" for n in PANELS for ext in ("png", "pdf"))
    assert seen[(4, "experiment")] == [pytest.approx((2.1, 0.42 - 0.11))]
    # the run with exports went through analyze_run and reused its stored results
    assert not (tree / "fig2_standard" / "seed_1" / "export").exists()
    assert (tree / "fig2_standard" / "seed_0" / "export").is_dir()


@pytest.mark.tf
def test_single_figure_and_panel_labels(tree, tmp_path):
    ctx = Context(tree, seeds=SEEDS)
    fig = figures.draw(13, ctx)
    axes = panel_axes(fig)
    assert len(axes) == 8
    assert axes[0].get_title() == "Area 3" and axes[1].get_title() == "Area 4"
    assert [ax.get_ylabel() for ax in axes[::2]] == [
        "gOSI", "Orientation skewness", "Image skewness", "Connection density"]
    texts = [t.get_text() for ax in axes for t in ax.texts]
    assert [t for t in texts if t in "abcd" and t] == ["a", "b", "c", "d"]
    paths = figures.make_figure(13, ctx, tmp_path)
    assert [p.name for p in paths] == ["fig13.png", "fig13.pdf"]


# --------------------------------------------------------------------------------------------
# Figure 7's variants under the two-family and the single-family config names

OLD_NAMES = {("inhpn", "standard"): "fig7_standard_inhpn",
             ("inhpn", "standard_ei"): "fig7_standard_ei_inhpn",
             ("noconstraint", "standard"): "fig7_standard_noconstraint",
             ("noconstraint", "standard_ei"): "fig7_standard_ei_noconstraint"}


@pytest.mark.tf
def test_variants_are_found_under_the_new_and_the_old_names(tmp_path, sources, capsys):
    from ei_tf.analysis import claims

    root = tmp_path / "runs"
    # Every seed of every variant under its single-family name ...
    for (variant, family), old in OLD_NAMES.items():
        for seed in SEEDS:
            _place(sources[family], root / old / f"seed_{seed}", analysis=True)
    ctx = build_tree(root, sources, [7, 12, 13, 14])  # ... and the original networks
    assert not list(root.glob("fig7_inhpn__*")) and not list(root.glob("fig7_noconstraint__*"))
    for (variant, family), old in OLD_NAMES.items():
        runs = ctx.runs_for(variant_need(variant, family))
        assert [r.run_dir for r in runs] == [root / old / f"seed_{s}" for s in SEEDS]
    for number in (7, 12, 13, 14):
        figures.draw(number, ctx)  # no run missing
    found = {c.id: c for c in claims.evaluate(Context(root, seeds=SEEDS, partial=True))}
    for claim, variant in (("C8", "inhpn"), ("C9", "noconstraint")):  # both families
        assert found[claim].runs == [str(root / OLD_NAMES[variant, family] / f"seed_{s}")
                                     for family in ("standard", "standard_ei") for s in SEEDS]

    # A run of fig7_inhpn.yaml (point standard_ei, seed 0) replaces the old one of that seed,
    # the other seed stays; no network is counted twice.
    new = root / "fig7_inhpn__standard_ei" / "seed_0"
    _place(sources["standard_ei"], new, analysis=True)
    ctx = Context(root, seeds=SEEDS)
    runs = ctx.runs_for(variant_need("inhpn", "standard_ei"))
    assert [r.run_dir for r in runs] == [new, root / "fig7_standard_ei_inhpn" / "seed_1"]
    assert (runs[0].config, runs[0].point, runs[0].index) == ("fig7_inhpn", "standard_ei", 1)
    assert len(ctx.finals(variant_need("inhpn", "standard_ei"))) == 2
    assert "fig7_standard_ei_inhpn/seed_0 trains the same network" in capsys.readouterr().err
    figures.draw(7, ctx)


@pytest.mark.tf
def test_new_names_alone_serve_the_figures_and_claims(tree):
    ctx = Context(tree, seeds=SEEDS)
    for variant in ("inhpn", "noconstraint"):
        for family in ("standard", "standard_ei"):
            assert [r.run_dir for r in ctx.runs_for(variant_need(variant, family))] == [
                tree / f"fig7_{variant}__{family}" / f"seed_{s}" for s in SEEDS]
    assert not (tree / "fig7_standard_inhpn").exists()
    from ei_tf.analysis import claims

    found = {c.id: c for c in claims.evaluate(Context(tree, seeds=SEEDS, partial=True))}
    for claim, variant in (("C8", "inhpn"), ("C9", "noconstraint")):  # both families
        assert found[claim].runs == [str(tree / f"fig7_{variant}__{family}" / f"seed_{s}")
                                     for family in ("standard", "standard_ei") for s in SEEDS]


# --------------------------------------------------------------------------------------------
# Missing runs


@pytest.mark.tf
def test_missing_run_prints_train_commands(tmp_path, sources, capsys):
    ctx = Context(tmp_path / "runs", seeds=SEEDS)
    gone = ctx.runs_for(variant_need("inhpn", "standard"))[1].run_dir  # seed 1
    grid = ctx.runs_for(Need("fig6_standard_channel_grid"))
    point = next(r for r in grid if r.point == "e8_i32" and r.seed == 1)
    build_tree(tmp_path / "runs", sources, [13, 11], skip={gone, point.run_dir})
    out = tmp_path / "figures"
    rc = analyze_main(["--figure", "13", "--figure", "11", "--runs", str(tmp_path / "runs"),
                       "--out", str(out), "--seeds", "0,1"])
    captured = capsys.readouterr()
    assert rc == 3
    commands = captured.out.strip().splitlines()
    index = next(p.index for p in load_points(CONFIGS / "fig6_standard_channel_grid.yaml")
                 if p.name == "e8_i32" and p.seed == 1)
    assert len(commands) == 2, captured.out
    assert commands[0].startswith("python train.py --config ")
    assert commands[0].endswith(f"fig7_inhpn.yaml --index 2 --out {tmp_path / 'runs'}")
    assert commands[1].endswith(f"fig6_standard_channel_grid.yaml --index {index} --out "
                                f"{tmp_path / 'runs'}")
    assert "figure 13: 1 run(s) missing" in captured.err
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.tf
def test_unfinished_run_is_missing(tmp_path, sources):
    ctx = build_tree(tmp_path / "runs", sources, [10])
    run = ctx.runs_for(Need("fig2_standard"))[1]
    (run.run_dir / "completed.json").unlink()
    with pytest.raises(figures.MissingRuns) as err:
        figures.draw(10, ctx)
    assert [why for _, why in err.value.missing] == ["not finished"]
    assert err.value.commands == [ctx.command(run)]


def test_script_on_empty_runs_lists_every_command(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(REPO / "analyze.py"), "--figure", "4",
                           "--runs", "runs"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.strip().splitlines()
    configs = ("fig2_standard", "fig4_standard_ei", "fig4_imagenet_standard")
    # Outside a checkout (no train.py here) the commands name the installed script and config.
    assert lines == [f"ei-train --config {c} --seed {s}" for c in configs for s in range(5)]
    assert not (tmp_path / "figures").exists()


def test_cli_rejects_unknown_figure_and_mixed_modes(capsys):
    assert analyze_main(["--figure", "1"]) == 2
    assert "no figure 1" in capsys.readouterr().err
    assert analyze_main(["--figure", "2", "--run", "x"]) == 2
    assert "not both" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Summary quantities (Figures 4, 6, 7, 9)


def _population(values):
    return {"image_skewness": {"mean": None, "n_excluded": 0, "values": values}}


def _connection(density, c_in, c_out):
    return {"density": density, "shape": [3, 3, c_in, c_out]}


def test_ei_difference_pools_areas_and_interneuron_types():
    result = {
        "populations": {"area3_PN": _population([3.0, 1.0]), "area4_PN": _population([2.0]),
                        "area3_IG": _population([0.5]), "area3_OG": _population([None, 1.5]),
                        "area4_IG": _population([1.0]), "area4_OG": _population([1.0])},
        "connections": {"area3_PN_to_PN": _connection(0.1, 4, 4),    # 16 weights
                        "area4_PN_to_PN": _connection(0.4, 8, 8),    # 64 weights
                        "area3_IG_to_PN": _connection(1.0, 2, 4),    # 8
                        "area3_OG_to_PN": _connection(0.5, 2, 4),    # 8
                        "area4_IG_to_PN": _connection(0.75, 4, 8),   # 32
                        "area4_OG_to_PN": _connection(0.75, 4, 8)},  # 32
    }
    skew, dens = ei_difference(result)
    assert skew == pytest.approx(2.0 - 1.0)  # PN mean 2; Int mean of 0.5, 1.5, 1, 1 = 1
    int_pn = (8 * 1.0 + 8 * 0.5 + 32 * 0.75 + 32 * 0.75) / 80
    pn_pn = (16 * 0.1 + 64 * 0.4) / 80
    assert dens == pytest.approx(int_pn - pn_pn)
    only3 = ei_difference(result, ["area3"])
    assert only3 == pytest.approx((2.0 - 1.0, 0.75 - 0.1))
    # the other reading of "areas combined": each area once (area 4 alone: 1.0, 0.75 - 0.4)
    assert ei_difference_area_mean(result) == pytest.approx((1.0, (0.65 + 0.35) / 2))
    assert np.isnan(pooled_density(result, ["area5"], ["PN_to_PN"]))  # no connections


def test_ei_difference_for_standard_ei_uses_e_and_i():
    result = {"populations": {"area3_E": _population([2.0]), "area3_I": _population([0.5])},
              "connections": {"area3_E_to_E": _connection(0.2, 2, 2),
                              "area3_I_to_E": _connection(0.9, 2, 2)}}
    assert ei_difference(result) == pytest.approx((1.5, 0.7))


def test_experimental_estimates():
    # Appendix E: PV- minus PV+ skewness of mouse V1 responses to gratings (Znamenskiy et al.)
    assert EXPERIMENT_SKEW_DIFF == 2.1
    # Appendix E: connection probability PV+ -> pyramidal, about 42% (Packer & Yuste), minus
    # excitatory -> excitatory, about 11% (Song et al.)
    assert EXPERIMENT_DENSITY_DIFF == pytest.approx(0.42 - 0.11)


def test_bars_of_identical_networks(tmp_path):
    fig = common.new_figure(3, 3)
    ax = fig.subplots()
    value = 0.1 + 0.2  # not exactly representable: the bootstrap bounds may round around it
    common.bars(ax, ["Area 3", "Area 4"], [("PN", "b", [[value] * 5, [value, value]])])
    assert len(ax.patches) == 2
    common.save(fig, tmp_path, 99)
    assert (tmp_path / "fig99.png").is_file() and (tmp_path / "fig99.pdf").is_file()


def test_partial_figures_say_which_values_are_missing(recwarn):
    fig = common.new_figure(6, 3)
    bars_ax, grid_ax = fig.subplots(1, 2)
    common.bars(bars_ax, ["Standard", "no Int", "silent"],
                [("PN", "b", [[0.7, 0.72], [], [np.nan]])])
    assert [t.get_text() for t in bars_ax.texts] == ["no runs", "undefined"]
    common.heatmap(fig, grid_ax, [], [], np.full((0, 0), np.nan), "grid", "accuracy")
    assert [t.get_text() for t in grid_ax.texts] == ["no runs"]
    assert not grid_ax.images and panel_axes(fig) == [bars_ax, grid_ax]
    assert not [w for w in recwarn if "singular" in str(w.message)]


def test_a_partial_grid_keeps_its_unfinished_cells_grey():
    def run(point):
        return Run("grid", point, 0, 0, Path(point), True)

    declared = [run(p) for p in ("e16_i4", "e16_i16", "e64_i4", "e64_i16")]
    es, is_, grid = common.grid_values([run("e16_i4")], lambda r: 0.68, declared=declared)
    assert (es, is_) == ([16, 64], [4, 16])
    assert grid[0, 0] == 0.68 and np.isnan(grid).sum() == 3
    fig = common.new_figure(3, 3)
    ax = fig.subplots()
    common.heatmap(fig, ax, es, is_, grid, "grid", "accuracy", missing=np.isnan(grid))
    assert [t.get_text() for t in ax.texts] == ["no runs"] * 3 and len(ax.images) == 2
    empty = fig.add_subplot(2, 2, 4)
    common.heatmap(fig, empty, es, is_, np.full((2, 2), np.nan), "grid", "accuracy",
                   missing=np.full((2, 2), True))
    assert [t.get_text() for t in empty.texts] == ["no runs"] and not empty.images


def test_a_panel_of_a_network_type_without_runs_says_so(tmp_path):
    from types import SimpleNamespace

    from ei_tf.figures.fig10 import training_curves
    from ei_tf.figures.panels import by_area

    bars_ax, curves_ax = common.new_figure(6, 3).subplots(1, 2)
    by_area(bars_ax, [], "image_skewness", ["E", "I"], title="EI_Shuffled_L2")
    training_curves(curves_ax, SimpleNamespace(runs_for=lambda need: []), None)
    for ax in (bars_ax, curves_ax):
        assert [t.get_text() for t in ax.texts] == ["no runs"]
        assert not ax.patches and not ax.lines and ax.get_legend() is None
    assert bars_ax.get_title() == "EI_Shuffled_L2"


def test_training_curves_skip_untested_epochs(tmp_path):
    """A run tested every 2nd epoch (training.validation_freq) next to one tested each epoch:
    each network's test curve joins its tested epochs; the mean is drawn where both were."""
    from types import SimpleNamespace

    from ei_tf.figures.fig10 import training_curves

    histories = {"every": "epoch,accuracy,val_accuracy\n0,0.1,0.2\n1,0.2,0.3\n2,0.3,0.4\n",
                 "second": "epoch,accuracy,val_accuracy\n0,0.1,\n1,0.2,0.5\n2,0.3,\n"}
    runs = []
    for name, text in histories.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.csv").write_text(text)
        runs.append(SimpleNamespace(run_dir=tmp_path / name))
    ctx = SimpleNamespace(runs_for=lambda need: runs, lr_boundaries=lambda run: [])
    ax = common.new_figure(3, 3).subplots()

    training_curves(ax, ctx, None, (("val_accuracy", "Test", "b"),))

    lines = [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines]
    assert lines == [([1, 2, 3], [0.2, 0.3, 0.4]), ([2], [0.5]), ([2], [0.4])]


def test_context_refuses_an_unknown_reading_of_constant_responses(tmp_path):
    with pytest.raises(AnalysisError, match=r"constant_skewness='zeros' is not one of 'zero'"):
        Context(tmp_path, constant_skewness="zeros")

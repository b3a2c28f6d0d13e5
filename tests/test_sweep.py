"""Sweeps: expansion of a grid into points, point selection, and the CLI's --list / --index."""

import json
import re

import pytest

from ei_tf import layout
from ei_tf.cli import train_main
from ei_tf.config import ConfigError, load_config
from ei_tf.sweep import SweepError, expand, load_points, select

GRID = """\
seeds: [3, 5]
model:
  time_steps: 2
sweep:
  axes:
    - e4: {model.pn_channels: [4, 8]}
      e8: {model.pn_channels: [8, 16]}
    - i1: {model.ig_channels: [1, 2], model.og_channels: [1, 2]}
      i2: {model: {ig_channels: [2, 4], og_channels: [2, 4]}}
      i0: {model.ig_channels: [0, 0], model.og_channels: [0, 0]}
"""


def write(tmp_path, text, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_points_are_the_grid_times_the_seeds_seed_by_seed(tmp_path):
    points = load_points(write(tmp_path, GRID))
    names = ["e4_i1", "e4_i2", "e4_i0", "e8_i1", "e8_i2", "e8_i0"]
    assert [(p.index, p.name, p.seed) for p in points] == (
        [(i, n, 3) for i, n in enumerate(names)] + [(6 + i, n, 5) for i, n in enumerate(names)])
    e8_i2 = points[4]
    m = e8_i2.config.model
    assert (m.pn_channels, m.ig_channels, m.og_channels, m.time_steps) == (
        [8, 16], [2, 4], [2, 4], 2)
    assert e8_i2.overrides == {"model.pn_channels": [8, 16], "model.ig_channels": [2, 4],
                               "model.og_channels": [2, 4]}
    # Each point is one complete run with its own name and run directory.
    assert e8_i2.config.name == "grid__e8_i2"
    assert e8_i2.config.seeds == [3, 5] and e8_i2.config.sweep == {}
    assert str(e8_i2.run_dir("out")) == "out/grid__e8_i2/seed_3"
    assert len({p.run_dir("out") for p in points}) == len(points)


def test_config_without_sweep_has_one_point_per_seed(tmp_path):
    points = load_points(write(tmp_path, "seeds: [0, 1, 2]\n", "plain.yaml"))
    assert [(p.name, p.seed, p.config.name) for p in points] == [
        ("", 0, "plain"), ("", 1, "plain"), ("", 2, "plain")]
    assert str(points[1].run_dir("runs")) == "runs/plain/seed_1"


def test_seed_option_and_set_pairs(tmp_path):
    path = write(tmp_path, GRID)
    points = load_points(path, seed=9)
    assert [p.seed for p in points] == [9] * 6
    assert points[0].config == load_points(path)[0].config  # the run's config.yaml is the same
    # --set is applied after the point's overrides: the command line wins.
    points = load_points(path, ["model.pn_channels=[6, 12]", "training.epochs=2"])
    assert all(p.config.model.pn_channels == [6, 12] for p in points)
    assert all(p.config.training.epochs == 2 for p in points)
    assert points[2].config.model.ig_channels == [0, 0]


def test_select_by_index(tmp_path):
    points = load_points(write(tmp_path, GRID))
    assert select(points, 7).name == "e4_i2" and select(points, 7).seed == 5
    for bad in (12, -1):
        with pytest.raises(SweepError, match=rf"--index {bad} is out of range: .* 12 points "
                                             r"\(indices 0-11"):
            select(points, bad, "grid.yaml")


def test_expand_a_config_object():
    cfg = load_config(sets=['sweep={"axes": [{"a": {"training.epochs": 1}, "b": null}]}'])
    points = expand(cfg)
    assert [(p.name, p.config.training.epochs) for p in points] == [("a", 1), ("b", 250)]


@pytest.mark.parametrize("sweep, message", [
    ("sweep: [1, 2]", r"sweep: value \[1, 2\] is not allowed; expected a mapping"),
    ("sweep:\n  grid: {}", "sweep: unknown key 'grid' .known keys: axes"),
    ("sweep:\n  axes: []", r"sweep.axes must be a non-empty list"),
    ("sweep:\n  axes: [{}]", r"sweep.axes\[0\] must be a non-empty mapping"),
    ("sweep:\n  axes: [{a: {}}, []]", r"sweep.axes\[1\] must be a non-empty mapping"),
    ("sweep:\n  axes: [{a b: {}}]", "point name 'a b' is not allowed"),
    ("sweep:\n  axes: [{a__b: {}}]", "point name 'a__b' is not allowed"),
    ("sweep:\n  axes: [{a: 3}]", r"sweep.axes\[0\].a must be a mapping of config keys"),
    ("sweep:\n  axes: [{a: {seeds: [1]}}]", "'seeds' cannot be set per point"),
    ("sweep:\n  axes: [{a: {model.colour: red}}]",
     "sweep point 'a': unknown config key 'model.colour'"),
    ("sweep:\n  axes: [{a: {model.time_steps: 0}}]",
     "sweep point 'a': model.time_steps: value 0 is out of range"),
    ("sweep:\n  axes: [{a: {model.pn_channels: [8, 16, 32]}}]",
     "sweep point 'a': model.ig_channels has 2 entries"),
    ("sweep:\n  axes: [{a_b: {}, a: {}}, {c: {}, b_c: {}}]", "two points the name 'a_b_c'"),
])
def test_bad_sweeps_are_one_line_errors(tmp_path, sweep, message):
    path = write(tmp_path, sweep + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_points(path)
    assert "\n" not in str(err.value) and "grid.yaml" in str(err.value)


def test_cli_list_read_in_part_is_not_an_error(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    # More lines than a pipe buffers, so that the writer sees the reader go away.
    path = write(tmp_path, f"seeds: {list(range(3000))}\n")
    root = Path(__file__).resolve().parent.parent
    piped = subprocess.run(f"{sys.executable} train.py --config {path} --out {tmp_path} --list "
                           f"| head -1; exit ${{PIPESTATUS[0]}}", shell=True, cwd=root,
                           executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert len(piped.stdout.splitlines()) == 1


def test_cli_list_prints_every_point(tmp_path, capsys):
    path = write(tmp_path, GRID)
    out = tmp_path / "runs"
    assert train_main(["--config", str(path), "--out", str(out), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    for point, line in zip(load_points(path), lines):
        index, name, _, seed, run_dir, status = line.split()
        assert (int(index), name, int(seed), run_dir, status) == (
            point.index, point.name, point.seed, str(point.run_dir(out)), "-")
    assert lines[4].split()[:4] == ["4", "e8_i2", "seed", "3"]
    assert train_main(["--config", str(path), "--list", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6
    assert train_main(["--config", str(path), "--out", str(out), "--list", "--index", "7"]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [lines[7].split()]


@pytest.mark.parametrize("args, message", [
    (["--index", "12"], "--index 12 is out of range: .*grid.yaml has 12 points"),
    (["--index", "-3"], "--index -3 is out of range"),
    (["--seed", "-1", "--list"], "--seed -1: a seed is >= 0"),
])
def test_cli_bad_index_is_one_line_error(tmp_path, capsys, args, message):
    path = write(tmp_path, GRID)
    assert train_main(["--config", str(path), "--out", str(tmp_path)] + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert re.search(message, err), err


def test_cli_bad_sweep_is_one_line_error(tmp_path, capsys):
    path = write(tmp_path, "sweep:\n  axes: [{a: {model.colour: red}}]\n")
    assert train_main(["--config", str(path), "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sweep point 'a': unknown config key 'model.colour'" in err


@pytest.fixture
def recorded_train(monkeypatch):
    """``ei_tf.training.train`` replaced by a recorder that marks the run complete."""
    import ei_tf.training
    calls = []

    def fake_train(cfg, seed, out="runs", force=False, **kwargs):
        calls.append((cfg, seed))
        run_dir = layout.run_dir(out, cfg.name, seed)
        run_dir.mkdir(parents=True)
        if cfg.name.endswith("e8_i1") and seed == 3:
            raise FloatingPointError(f"training of {run_dir} stopped: the loss became NaN")
        (run_dir / "completed.json").write_text(json.dumps({"test_accuracy": 0.5}))

    monkeypatch.setattr(ei_tf.training, "train", fake_train)
    return calls


@pytest.mark.tf
def test_cli_index_trains_exactly_that_point(tmp_path, capsys, recorded_train):
    path = write(tmp_path, GRID)
    out = tmp_path / "runs"
    args = ["--config", str(path), "--out", str(out)]
    assert train_main(args + ["--index", "8", "--smoke"]) == 0
    [(cfg, seed)] = recorded_train
    assert (cfg.name, seed, cfg.model.ig_channels, cfg.training.epochs) == (
        "grid__e4_i0", 5, [0, 0], 1)
    capsys.readouterr()
    assert train_main(args + ["--list"]) == 0
    statuses = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert statuses == ["-"] * 8 + ["done"] + ["-"] * 3


@pytest.mark.tf
def test_cli_runs_every_point_in_turn_past_a_diverged_one(tmp_path, capsys, recorded_train):
    path = write(tmp_path, GRID)
    assert train_main(["--config", str(path), "--out", str(tmp_path / "runs")]) == 2
    assert [(cfg.name, seed) for cfg, seed in recorded_train] == [
        (p.config.name, p.seed) for p in load_points(path)]
    captured = capsys.readouterr()
    assert "[12/12] point 11: e8_i0 seed 5" in captured.out
    assert captured.err.splitlines()[-1] == (
        "error: 1 of 12 runs failed (indices 3); the others completed")

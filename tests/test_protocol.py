"""The workstation-scale protocol: its configs, its file and its runner (``ei_tf.protocol``)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ei_tf import protocol
from ei_tf.config import ConfigError, load_config
from ei_tf.files import write_json
from ei_tf.provenance import ONEDNN_ISA, describe_cpu

ROOT = Path(__file__).resolve().parent.parent
WORKSTATION = ROOT / "configs" / "workstation"
PROTOCOL = WORKSTATION / "protocol.yaml"
CONFIGS = sorted(p for p in WORKSTATION.glob("*.yaml") if p.name != "protocol.yaml")


def _seeds(entries, config: str) -> list:
    return sorted(s for e in entries if e.config.stem == config for s in e.seeds)


def test_tier_one_holds_the_runs_every_claim_needs():
    entries = protocol.load_protocol(PROTOCOL)
    tier1 = [e for e in entries if e.tier == 1]
    expected = {"fig2_standard": [0, 1, 2], "fig4_standard_ei": [0, 1],
                "fig7_standard_inhpn": [0, 1], "fig7_standard_noconstraint": [0, 1],
                "fig17_standard_no_inh": [0, 1], "fig17_standard_ei_no_inh": [0, 1],
                "appA_standard_no_weight_decay": [0, 1], "fig16_standard_shuffled_l2": [0, 1]}
    assert {c: _seeds(tier1, c) for c in expected} == expected
    assert {e.config.stem for e in tier1} == set(expected)
    # Standard and StandardEI come first.
    assert [e.config.stem for e in entries[:4]] == ["fig2_standard", "fig4_standard_ei"] * 2
    # Every config of the directory is in the protocol, and the reverse.
    assert {e.config.stem for e in entries} == {p.stem for p in CONFIGS}


def test_the_status_names_each_sweep_point_by_its_run(tmp_path):
    lines = protocol.status_lines(protocol.load_protocol(PROTOCOL), tmp_path, tmp_path / "results")
    grid = [line for line in lines if "channel_grid" in line]
    assert len(grid) == 8
    assert all(line.split()[2] == Path(line.split()[-1]).parent.name for line in grid)
    assert "fig6_standard_channel_grid__e16_i4" in grid[0]


def test_the_status_counts_the_epochs_of_a_started_run(tmp_path):
    entries = protocol.load_protocol(PROTOCOL)
    run_dir = entries[0].points()[0].run_dir(tmp_path)
    run_dir.mkdir(parents=True)

    def state():
        return protocol.status_lines(entries, tmp_path, tmp_path / "results")[0].split()[5]

    assert state() == "started:0/30"
    (run_dir / "history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                                         "0,0.3,1.9,0.4,1.7\n1,0.4,1.6,,\n")
    assert state() == "started:2/30"
    (run_dir / "history.csv").write_text("epoch,accuracy\n1,0.4\n0,0.3\n")
    assert state() == "started:?/30"


def test_the_summary_counts_runs_per_tier_and_their_wall_time(tmp_path):
    entries = protocol.load_protocol(PROTOCOL)
    first, second, third = (e.points()[0].run_dir(tmp_path) for e in entries[:3])
    for run_dir, hours in ((first, 1), (second, 3)):
        run_dir.mkdir(parents=True)
        (run_dir / "completed.json").write_text("{}")
        (run_dir / "launches.json").write_text(json.dumps([
            {"started_utc": "2026-12-02T10:00:00+00:00", "ended_utc": "2026-12-02T10:30:00+00:00"},
            {"started_utc": "2026-12-02T12:00:00+00:00",
             "ended_utc": f"2026-12-02T{11 + hours}:30:00+00:00"}]))
    third.mkdir(parents=True)
    total = {t: sum(len(e.points()) for e in entries if e.tier == t) for t in (1, 2)}
    assert protocol.summary_lines(entries, tmp_path, tmp_path / "results") == [
        f"tier 1: 2 of {total[1]} runs done, 1 started",
        f"tier 2: 0 of {total[2]} runs done",
        f"2 finished runs took 4.0 h of wall time, 1.00-3.00 h each (median 2.00 h); at that "
        f"median the {total[1] + total[2] - 2} unfinished runs need about "
        f"{2 * (total[1] + total[2] - 2)} h more"]
    assert protocol.summary_lines(entries, tmp_path / "none", tmp_path / "results") == [
        f"tier 1: 0 of {total[1]} runs done", f"tier 2: 0 of {total[2]} runs done"]


PAPER_CONFIGS = [p for p in CONFIGS if not p.stem.startswith("diag_")]


def test_the_decay_matched_diagnostic_differs_from_standard_only_in_weight_decay():
    diag = load_config(WORKSTATION / "diag_standard_decay_matched.yaml")
    standard = load_config(WORKSTATION / "fig2_standard.yaml")
    assert (diag.model, diag.data, diag.export) == (standard.model, standard.data,
                                                    standard.export)
    t, s = diag.training, standard.training
    # the paper's sum of the learning rate over its 250 epochs, reached in 30
    assert t.weight_decay == pytest.approx(s.weight_decay * 250 / 30)
    assert replace(t, weight_decay=s.weight_decay) == s
    entries = protocol.load_protocol(PROTOCOL)
    (entry,) = [e for e in entries if e.config.stem == "diag_standard_decay_matched"]
    assert entry.tier == 2 and entry.seeds == [0, 1]
    assert entries.index(entry) == min(i for i, e in enumerate(entries) if e.tier == 2)


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_workstation_configs_compress_the_papers_schedule(path):
    cfg = load_config(path)
    full = load_config(ROOT / "configs" / path.name)
    t = cfg.training
    if cfg.data.shuffled_labels:  # 250 epochs of 40 steps: the paper's own schedule
        assert (t.epochs, t.lr_boundaries) == (full.training.epochs, full.training.lr_boundaries)
    else:
        assert t.epochs >= 30
        assert t.lr_boundaries == [round(t.epochs * f) for f in (0.4, 0.6, 0.8)]
        assert {0, 1, 2, 3, 5, 10, 15, 20}.issubset(cfg.export.epochs)
    # Everything but the schedule, the exports, the seeds and the sweep is the paper's.
    same = {k for k in ("model", "data") if getattr(cfg, k) == getattr(full, k)}
    assert same == {"model", "data"} or cfg.sweep
    assert cfg.model.bn_momentum == 0.997
    assert (t.learning_rate, t.weight_decay, t.momentum) == (
        full.training.learning_rate, full.training.weight_decay, full.training.momentum)
    text = path.read_text()
    assert text.startswith("# python -m ei_tf.protocol") and "# Wall time per seed:" in text


@pytest.mark.parametrize("text, message", [
    ("runs: []", "top-level 'runs' list"),
    ("runs:\n  - {config: fig2_standard, seeds: [0]}", "needs config, seeds and tier"),
    ("runs:\n  - {config: fig2_standard, seeds: [0], tier: 1, when: now}",
     r"unknown key\(s\) when"),
    ("runs:\n  - {config: nope, seeds: [0], tier: 1}", "no config"),
    ("runs:\n  - {config: fig2_standard, seeds: [-1], tier: 1}", "seeds must be"),
    ("runs:\n  - {config: fig2_standard, seeds: [0], tier: 3}", "tier must be 1 or 2"),
])
def test_a_bad_protocol_file_is_one_line_naming_the_entry(tmp_path, text, message):
    (tmp_path / "fig2_standard.yaml").write_text((WORKSTATION / "fig2_standard.yaml").read_text())
    path = tmp_path / "protocol.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        protocol.load_protocol(path)
    assert "\n" not in str(err.value)


def _finished_run(root: Path, name: str, seed: int) -> Path:
    run_dir = root / name / f"seed_{seed}"
    for sub in ("analysis", "backup", "export/ei_model/1"):
        (run_dir / sub).mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: x\n")
    (run_dir / "history.csv").write_text("epoch,accuracy\n0,0.5\n")
    (run_dir / "completed.json").write_text(json.dumps({"test_accuracy": 0.5}))
    (run_dir / "analysis" / "epoch_1.json").write_text("{}")
    (run_dir / "export/ei_model/1/saved_model.pb").write_bytes(b"model")
    (run_dir / "model.keras").write_bytes(b"model")
    return run_dir


def test_collect_copies_text_results_only(tmp_path):
    run_dir = _finished_run(tmp_path / "runs", "fig2_standard", 0)
    stale = tmp_path / "results" / "fig2_standard" / "seed_0" / "analysis" / "epoch_250.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # recorded from an earlier run of another config: replaced
    target = protocol.collect(run_dir, tmp_path / "runs", tmp_path / "results")
    assert target == tmp_path / "results" / "fig2_standard" / "seed_0"
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["analysis/epoch_1.json", "completed.json", "config.yaml", "history.csv"]


def test_runner_collects_finished_runs_and_trains_the_first_unfinished_in_order(
        tmp_path, monkeypatch, capsys):
    for name in ("fig2_standard", "fig4_standard_ei"):
        (tmp_path / f"{name}.yaml").write_text((WORKSTATION / f"{name}.yaml").read_text())
    path = tmp_path / "protocol.yaml"
    path.write_text("runs:\n"
                    "  - {config: fig2_standard, seeds: [0], tier: 1}\n"
                    "  - {config: fig4_standard_ei, seeds: [0], tier: 1, hold: not yet}\n"
                    "  - {config: fig2_standard, seeds: [1, 2], tier: 2}\n")
    runs, results = tmp_path / "runs", tmp_path / "results"
    _finished_run(runs, "fig2_standard", 0)
    calls = []

    def fake_python(module, *args):  # training "finishes" its run; analysis succeeds
        calls.append((module, [str(a) for a in args]))
        if module == "ei_tf.cli":
            seed = int(args[args.index("--seed") + 1])
            if seed == 1:
                return 2  # a failing run is reported and skipped, the next one trained
            _finished_run(runs, "fig2_standard", seed)
        return 0

    monkeypatch.setattr(protocol, "_python", fake_python)
    monkeypatch.setattr(protocol, "record_launch", lambda run_dir, point: None)
    report = tmp_path / "report"
    assert protocol.run(protocol.load_protocol(path), runs, results, report=report) == 2
    trained = [a[a.index("--seed") + 1] for m, a in calls if m == "ei_tf.cli"]
    analysed = [a[a.index("--run") + 1] for m, a in calls if "--run" in a]
    # the report and figures are rebuilt from the results after each pass that collected runs
    rebuilt = [a for m, a in calls if "--runs" in a]
    assert [a[0] for a in rebuilt] == ["--report", "--all"] * 2
    assert all(a[a.index("--runs") + 1] == str(results)
               and a[a.index("--configs") + 1] == str(tmp_path) for a in rebuilt)
    assert [a[a.index("--out") + 1] for a in rebuilt[:2]] == [str(report), str(report / "figures")]
    assert sorted(analysed) == sorted(str(runs / "fig2_standard" / f"seed_{s}") for s in (0, 2))
    assert trained == ["1", "2"]  # the held StandardEI entry is skipped
    assert (results / "fig2_standard" / "seed_0" / "completed.json").is_file()
    assert (results / "fig2_standard" / "seed_2" / "completed.json").is_file()
    assert not (results / "fig2_standard" / "seed_1").exists()
    lines = protocol.status_lines(protocol.load_protocol(path), runs, results)
    assert "done" in lines[0] and "(hold: not yet)" in lines[1] and "-" in lines[2]
    # each line of the runner's log carries its UTC time
    log = capsys.readouterr()
    stamp = r"protocol \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00: "
    assert re.search(stamp + r"training fig2_standard seed 2\n", log.out)
    assert re.fullmatch(stamp + r"1 run\(s\) failed: \S+seed_1\n", log.err)


def _record(results: Path, point, config=None) -> Path:
    """Results of ``point`` as the runner collects them, trained with ``config``."""
    from ei_tf.config import dump_config

    target = results / point.config.name / f"seed_{point.seed}"
    target.mkdir(parents=True)
    (target / "config.yaml").write_text(dump_config(config or point.config))
    (target / "completed.json").write_text(json.dumps({"test_accuracy": 0.7}))
    (target / "launches.json").write_text(json.dumps([
        {"started_utc": "2026-12-02T10:00:00+00:00", "ended_utc": "2026-12-02T11:30:00+00:00"}]))
    return target


def test_recorded_results_are_not_trained_again_when_the_run_directories_are_gone(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "fig2_standard.yaml").write_text((WORKSTATION / "fig2_standard.yaml").read_text())
    path = tmp_path / "protocol.yaml"
    path.write_text("runs:\n  - {config: fig2_standard, seeds: [0, 1, 2], tier: 1}\n")
    entries = protocol.load_protocol(path)
    first, second, third = entries[0].points()
    runs, results = tmp_path / "runs", tmp_path / "results"
    _record(results, first)  # the run directory is gone (a new machine)
    # trained with another config: the recorded results do not stand for this run
    other = replace(second.config, training=replace(second.config.training, epochs=20))
    _record(results, second, other)
    (results / "fig2_standard" / "seed_2").mkdir(parents=True)  # no completion record
    assert protocol.recorded(first, runs, results)
    assert not protocol.recorded(second, runs, results)
    assert not protocol.recorded(third, runs, results)
    assert [line.split()[5] for line in protocol.status_lines(entries, runs, results)] == [
        "recorded", "-", "-"]
    assert protocol.summary_lines(entries, runs, results) == [
        "tier 1: 1 of 3 runs done",
        "1 finished runs took 1.5 h of wall time, 1.50-1.50 h each (median 1.50 h); at that "
        "median the 2 unfinished runs need about 3 h more"]
    trained = []

    def fake_python(module, *args):
        if module == "ei_tf.cli":
            trained.append(int(args[args.index("--seed") + 1]))
            return 2
        return 0

    monkeypatch.setattr(protocol, "_python", fake_python)
    monkeypatch.setattr(protocol, "record_launch", lambda run_dir, point: None)
    assert protocol.run(entries, runs, results) == 2
    assert trained == [1, 2]
    out = capsys.readouterr().out
    assert "seed_1 holds this run trained with another (or an unreadable) config" in out
    assert "seed_2 holds" not in out
    # a recorded config that cannot be read is no record of this run
    (results / "fig2_standard" / "seed_0" / "config.yaml").write_text("model: [\n")
    assert not protocol.recorded(first, runs, results)


def test_the_cpu_is_named_with_its_instruction_sets():
    assert describe_cpu({"cpu": "AMD EPYC", "cpu_isa": ["AVX2", "AVX-512"]}) == \
        "AMD EPYC (AVX2, AVX-512)"
    assert describe_cpu({"cpu": "AMD EPYC", "cpu_isa": []}) == "AMD EPYC (no AVX2)"
    assert describe_cpu({"cpu": "AMD EPYC"}) == "AMD EPYC"  # recorded before the ISA was kept


def test_the_runs_root_defaults_to_ei_tf_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("EI_TF_RUNS", str(tmp_path))
    assert protocol.default_runs_root() == tmp_path
    monkeypatch.delenv("EI_TF_RUNS")
    assert protocol.default_runs_root() == Path.home() / "ei-tf-runs"


def test_a_runs_root_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert protocol.main(["--out", str(tmp_path / "f"), "--list"]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.tf
def test_record_launch_names_the_code_and_the_model(tmp_path):
    from ei_tf.sweep import load_points

    (point,) = load_points(ROOT / "configs" / "quickstart.yaml", seed=0)
    protocol.record_launch(tmp_path, point)
    protocol.record_launch(tmp_path, point)
    launches = json.loads((tmp_path / protocol.LAUNCHES).read_text())
    assert len(launches) == 2
    from importlib import metadata

    assert launches[0]["software"]["tensorflow"] == metadata.version("tensorflow")
    assert launches[0]["devices"]["cpu_cores"] == os.cpu_count()
    assert set(launches[0]["devices"]["cpu_isa"]) <= set(ONEDNN_ISA.values())
    fingerprint = launches[0]["model_fingerprint"]
    assert len(fingerprint["initial"]) == len(fingerprint["redrawn"]) == (
        2 * 2 * point.config.data.num_classes)
    assert launches[0]["model_fingerprint"] == launches[1]["model_fingerprint"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left


@pytest.mark.tf
def test_the_fingerprint_tells_models_apart():
    from ei_tf.model import model_fingerprint, same_model

    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    base = model_fingerprint(cfg)
    assert same_model(base, model_fingerprint(cfg))
    for change in ("model.sign_constraint=none", "model.principal=inhibitory",
                   "model.readout=sum"):
        other = model_fingerprint(load_config(ROOT / "configs" / "quickstart.yaml", [change]))
        assert not same_model(base, other), change
    # What does not change the network leaves the fingerprint alone.
    assert same_model(base, model_fingerprint(load_config(
        ROOT / "configs" / "quickstart.yaml", ["training.learning_rate=0.05"])))
    # A launch recorded before the fingerprint had more than its initial logits compares on
    # those.
    assert same_model(base["initial"], base) and same_model(base, base["initial"])


@pytest.mark.tf
def test_the_fingerprint_sees_the_pn_equations_where_the_initial_pn_are_silent():
    """Without BatchNorm the Standard network's initial logits are all 0 (every PN silent), so
    a change of the PN equations alone shows only in the redrawn network."""
    from ei_tf.model import model_fingerprint, same_model

    no_bn = ["model.normalization=none"]
    base = model_fingerprint(load_config(ROOT / "configs" / "quickstart.yaml", no_bn))
    assert not any(base["initial"]) and any(base["redrawn"])
    other = model_fingerprint(load_config(ROOT / "configs" / "quickstart.yaml",
                                          no_bn + ["model.simple_subtraction=true"]))
    assert other["initial"] == base["initial"] and other["weights"] == base["weights"]
    assert not same_model(base, other)
    assert same_model(base["initial"], other["initial"])  # what launches once recorded


@pytest.mark.slow
@pytest.mark.tf
def test_the_fingerprint_is_the_same_on_other_cpu_kernels(tmp_path):
    """Machines differ in the kernels TensorFlow runs (oneDNN's, for AVX2 or AVX-512, or
    Eigen's): a network keeps its fingerprint across them, the redrawn part included."""
    import subprocess
    import sys

    from ei_tf.model import model_fingerprint, same_model

    config, sets = ROOT / "configs" / "quickstart.yaml", ["model.normalization=none"]
    out = tmp_path / "fingerprint.json"
    code = ("import json, sys; from ei_tf.config import load_config; "
            "from ei_tf.model import model_fingerprint; json.dump(model_fingerprint("
            "load_config(sys.argv[1], sys.argv[3:])), open(sys.argv[2], 'w'))")
    subprocess.run([sys.executable, "-c", code, str(config), str(out), *sets], check=True,
                   env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}, capture_output=True)
    assert same_model(model_fingerprint(load_config(config, sets)),
                      json.loads(out.read_text()))


def test_a_launch_ends_when_the_runner_sees_it_end_or_at_the_last_completed_epoch(tmp_path):
    from ei_tf.provenance import wall_seconds

    start = "2026-12-01T10:00:00+00:00"
    write_json(tmp_path / protocol.LAUNCHES, [{"started_utc": start}])
    history = tmp_path / "history.csv"
    history.write_text("epoch\n0\n")
    end = 1796119200.0 + 5400  # 11:30 UTC: the session stopped after this epoch
    os.utime(history, (end, end))
    protocol.close_launches(tmp_path)  # the session was stopped: no end was recorded
    (launch,) = json.loads((tmp_path / protocol.LAUNCHES).read_text())
    assert launch["ended_utc"] == "2026-12-01T11:30:00+00:00" and launch["returncode"] is None
    assert wall_seconds([launch]) == 5400
    write_json(tmp_path / protocol.LAUNCHES, [launch, {"started_utc": start}])
    protocol.close_launches(tmp_path, returncode=0)
    second = json.loads((tmp_path / protocol.LAUNCHES).read_text())[1]
    assert second["returncode"] == 0 and second["ended_utc"] > start

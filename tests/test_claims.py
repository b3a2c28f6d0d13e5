"""The claims report (``analyze.py --report``) on run directories holding stored analyses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ei_tf.analysis import claims
from ei_tf.analysis.pipeline import SCHEMA
from ei_tf.analysis.runs import Context
from ei_tf.analyze_cli import analyze_main
from ei_tf.layout import LAUNCHES

WORKSTATION_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "workstation"
AREAS = ("area3", "area4")


def _pop(mean):
    entry = {"mean": mean, "n_excluded": 0, "values": [mean, mean]}
    return {m: dict(entry) for m in ("gosi", "orientation_skewness", "image_skewness")}


def _result(epoch, pn, inter, pn_pn, int_pn, family="standard"):
    """An epoch analysis where principal cells have selectivity ``pn``, interneurons
    ``inter``, and the densities are ``pn_pn`` / ``int_pn`` (the rest 1)."""
    if family == "standard":
        pops = {"PN": pn, "IG": inter, "OG": inter}
        conns = {"PN_to_PN": pn_pn, "IG_to_PN": int_pn, "OG_to_PN": int_pn,
                 "PN_to_IG": 1.0, "PN_to_OG": 1.0}
    else:
        pops = {"E": pn, "I": inter}
        conns = {"E_to_E": pn_pn, "I_to_E": int_pn, "E_to_I": 1.0, "I_to_I": 1.0}
    return {"schema": SCHEMA, "epoch": epoch,
            "populations": {f"{a}_{p}": dict(_pop(v), area=a) for a in AREAS
                            for p, v in pops.items()},
            "connections": {f"{a}_{k}": {"density": d, "shape": [3, 3, 4, 4]}
                            for a in AREAS for k, d in conns.items()}}


def _run(root, config, seed, accuracy, results):
    run_dir = root / config / f"seed_{seed}"
    (run_dir / "analysis").mkdir(parents=True)
    (run_dir / "completed.json").write_text(json.dumps({"test_accuracy": accuracy}))
    for result in results:
        (run_dir / "analysis" / f"epoch_{result['epoch']}.json").write_text(
            json.dumps(result))
    return run_dir


def _by_id(found):
    return {c.id: c for c in found}


def test_verdicts_follow_the_measured_directions(tmp_path):
    for seed, shift in ((0, 0.0), (1, 0.1)):
        _run(tmp_path, "fig2_standard", seed, 0.4, [
            _result(0, 0.1, 0.1, 1.0, 1.0),
            _result(4, 2.0 + shift, 0.5, 0.3, 0.8 + shift)])
        _run(tmp_path, "fig4_standard_ei", seed, 0.4,  # E less selective than I: fails
             [_result(4, 0.2 + shift, 0.9, 0.3, 0.8, family="standard_ei")])
    _run(tmp_path, "fig7_standard_inhpn", 0, 0.4, [_result(4, 2.0, 0.5, 0.9, 0.6)])
    found = _by_id(claims.evaluate(Context(tmp_path, config_dir=WORKSTATION_CONFIGS, partial=True)))

    assert found["C2"].verdict == found["C4"].verdict == claims.HOLDS
    assert found["C5"].verdict == claims.HOLDS  # I->E > E->E in both families
    assert found["C10"].verdict == claims.FAILS
    assert found["C1"].verdict == claims.FAILS  # 40% is not ~85%
    assert found["C6"].verdict == claims.HOLDS  # density 1 at epoch 0, differences grow
    assert found["C8"].verdict == claims.TOO_FEW  # one InhPN seed
    # finished networks of the configs each claim reads (the workstation configs' seeds)
    assert found["C2"].progress == [("fig2_standard", 2, 3)]
    assert found["C8"].progress == [("fig7_standard_inhpn", 1, 2),
                                    ("fig7_standard_ei_inhpn", 0, 2)]
    assert found["C7"].progress == [("fig6_standard_channel_grid", 0, 8)]
    assert found["C5"].progress == [("fig2_standard", 2, 3), ("fig4_standard_ei", 2, 2)]
    assert "| C5 | holds | 4 of 5 |" in claims.report_markdown(list(found.values()), tmp_path,
                                                               WORKSTATION_CONFIGS)
    assert found["C9"].verdict == found["C11"].verdict == claims.TOO_FEW  # no runs
    # C13 shows the networks with weight decay beside it: fig2_standard's lowest density
    contrast = {r.quantity: r.summary() for r in found["C13"].rows}
    row = contrast["fig2_standard (with weight decay) area3 lowest connection density"]
    assert row[0] == pytest.approx(0.3) and row[3] is None
    assert found["C13"].verdict == claims.TOO_FEW
    f4 = {r.quantity: r.summary() for r in found["F4"].rows}
    assert len(f4) == 8 and found["F4"].verdict == claims.FAILS  # StandardEI: E < I
    pooled = f4["Standard image-skewness difference PN - Int, areas pooled"]
    assert pooled[0] == pytest.approx(1.55) and pooled[3] == claims.HOLDS
    mean = f4["StandardEI density difference Int->PN - PN->PN, areas mean of the areas"]
    assert mean[0] == pytest.approx(0.5) and mean[3] == claims.HOLDS
    row = found["C2"].rows[0]
    assert row.quantity == "area3 gOSI PN - IG"
    mean, low, high, verdict = row.summary()
    assert mean == pytest.approx(1.55) and low == pytest.approx(1.5)
    assert high == pytest.approx(1.6) and verdict == claims.HOLDS


def test_noconstraint_rows_compare_pn_with_each_interneuron_type_and_with_all(tmp_path):
    """C9 reads "PN > Int" both per interneuron type and as Figure 7 draws it (IG and OG
    pooled): an OG population more image-selective than PN fails its own row even when the
    pooled interneurons are less selective than PN."""
    for seed in (0, 1):
        result = _result(30, 2.0, 0.5, 0.99, 0.99)
        og = result["populations"]["area3_OG"]["image_skewness"]
        og.update(mean=3.0, values=[3.0, 3.0])
        _run(tmp_path, "fig7_standard_noconstraint", seed, 0.79, [result])
        _run(tmp_path, "fig7_standard_ei_noconstraint", seed, 0.78,
             [_result(30, 2.0, 0.5, 0.98, 0.99, family="standard_ei")])
    found = _by_id(claims.evaluate(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                           partial=True)))
    rows = {r.quantity: r.summary() for r in found["C9"].rows}
    pooled = rows["Standard: area3 image skewness PN - Int (Figure 7: interneuron types pooled)"]
    assert pooled[0] == pytest.approx(2.0 - (0.5 + 3.0) / 2) and pooled[3] == claims.HOLDS
    assert rows["Standard: area3 image skewness PN - OG"][3] == claims.FAILS
    assert rows["Standard: area4 image skewness PN - Int (Figure 7: interneuron types "
                "pooled)"][3] == claims.HOLDS
    # StandardEI NoConstraint (Figure 7's orange triangles): E - I and its densities
    assert rows["StandardEI: area3 image skewness E - I"][3] == claims.HOLDS
    assert rows["StandardEI: area4 lowest connection density"][0] == pytest.approx(0.98)
    accuracy = rows["StandardEI: test accuracy"]  # shown beside the verdicts, none of its own
    assert accuracy[0] == pytest.approx(0.78) and accuracy[3] is None
    assert found["C9"].verdict == claims.FAILS
    text = claims.report_markdown(list(found.values()), tmp_path, WORKSTATION_CONFIGS)
    assert "| C9 | fails | 4 of 4 |" in text
    assert "NoConstraint: PN remain more selective; connection densities near 1 | " \
           "Standard: area3 image skewness PN - OG |" in text


def test_inhpn_reads_both_families_and_waits_for_the_one_without_runs(tmp_path):
    """C8 covers Figure 7's green circles and triangles: with the Standard InhPN networks
    finished and no StandardEI InhPN network, the claim has too few networks, and the rows
    of the finished family still carry their own verdicts."""
    for seed in (0, 1):
        _run(tmp_path, "fig7_standard_inhpn", seed, 0.75, [_result(30, 2.0, 0.5, 0.95, 0.9)])
    ctx = Context(tmp_path, config_dir=WORKSTATION_CONFIGS, partial=True)
    c8 = _by_id(claims.evaluate(ctx))["C8"]
    rows = {r.quantity: r for r in c8.rows}
    assert rows["Standard: area3 density difference Int->PN - PN->PN"].summary()[3] == (
        claims.HOLDS)
    waiting = rows["StandardEI: area3 image skewness PN - Int (Figure 7: interneuron types "
                   "pooled)"]
    assert waiting.values == [] and waiting.summary()[3] == claims.TOO_FEW
    assert c8.verdict == claims.TOO_FEW
    assert c8.progress == [("fig7_standard_inhpn", 2, 2), ("fig7_standard_ei_inhpn", 0, 2)]
    for seed in (0, 1):  # E (the inhibitory PN) less selective than I: the claim fails
        _run(tmp_path, "fig7_standard_ei_inhpn", seed, 0.7,
             [_result(30, 0.4, 0.5, 0.95, 0.9, family="standard_ei")])
    c8 = _by_id(claims.evaluate(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                        partial=True)))["C8"]
    rows = {r.quantity: r.summary() for r in c8.rows}
    assert rows["StandardEI: area4 image skewness E - I"][3] == claims.FAILS
    assert rows["StandardEI: area4 density E_to_E"][0] == pytest.approx(0.95)
    assert c8.verdict == claims.FAILS and len(c8.runs) == 4


def test_the_decay_matched_diagnostic_is_reported_beside_standard(tmp_path):
    for seed in (0, 1):
        _run(tmp_path, "fig2_standard", seed, 0.74, [_result(30, 2.0, 0.5, 0.95, 0.96)])
        _run(tmp_path, claims.DECAY_MATCHED, seed, 0.7 + seed / 100,
             [_result(30, 2.0, 0.5, 0.3 + seed / 10, 0.8)])
    found = _by_id(claims.evaluate(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                           partial=True)))
    d1 = found["D1"]
    rows = {r.quantity: r.summary() for r in d1.rows}
    assert d1.verdict == claims.HOLDS
    assert rows["area3 density IG_to_PN - PN_to_PN"][0] == pytest.approx(0.45)
    assert rows["decay-matched area4 density PN_to_PN"][0] == pytest.approx(0.35)
    assert rows["Standard area3 density PN_to_PN"][0] == pytest.approx(0.95)
    assert rows["decay-matched test accuracy"][0] == pytest.approx(0.705)
    assert rows["Standard test accuracy"][3] is None  # informational
    assert all(str(tmp_path / claims.DECAY_MATCHED) in r for r in d1.runs)
    # the diagnostic enters no claim of the paper
    assert not any(claims.DECAY_MATCHED in r for c in found.values() if c.id != "D1"
                   for r in c.runs)


def test_a_difference_whose_interval_contains_zero_fails():
    row = claims.Row("x", [0.5, -0.2, 0.4], claims.Expectation("positive"))
    assert row.summary()[3] == claims.FAILS
    assert claims.Row("x", [0.5, 0.2], claims.Expectation("positive")).summary()[3] == (
        claims.HOLDS)
    assert claims.Row("x", [0.5], claims.Expectation("positive")).summary()[3] == (
        claims.TOO_FEW)
    assert claims.Row("x", [0.5, float("nan")], claims.Expectation("positive")).summary()[3] == (
        claims.UNDEFINED)


@pytest.mark.tf
def test_report_command_writes_and_prints_markdown(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _run(runs, "fig2_standard", seed, 0.4, [_result(0, 0.1, 0.1, 1.0, 1.0),
                                                 _result(4, 2.0, 0.5, 0.3, 0.8)])
    out = tmp_path / "out"
    assert analyze_main(["--report", "--runs", str(runs), "--configs", str(WORKSTATION_CONFIGS),
                         "--out", str(out), "--quiet"]) == 0
    text = (out / "report.md").read_text()
    assert text in capsys.readouterr().out
    assert "| C2 | holds |" in text and "| C8 | not enough runs |" in text
    assert "area4 density IG_to_PN - PN_to_PN" in text


@pytest.mark.tf
def test_report_names_paths_relative_to_itself_and_the_project(tmp_path):
    """A report committed beside its runs reads the same on every machine: its runs are named
    from the report's directory, the shipped configs from the project."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _run(runs, "fig2_standard", seed, 0.4, [_result(4, 2.0, 0.5, 0.3, 0.8)])
    assert analyze_main(["--report", "--runs", str(runs), "--configs", str(WORKSTATION_CONFIGS),
                         "--out", str(tmp_path), "--quiet"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "Runs under `runs`, configs from `configs/workstation`" in text
    assert "`runs/fig2_standard/seed_0`, `runs/fig2_standard/seed_1`" in text
    assert "| `runs/fig2_standard/seed_1` | no launch record |" in text
    assert str(tmp_path) not in text
    # a run outside the report's directory keeps the path it was given
    elsewhere = claims.shown_path(runs / "fig2_standard", tmp_path / "out")
    assert elsewhere == str(runs / "fig2_standard")


def test_report_rejects_a_missing_config_directory(tmp_path, capsys):
    assert analyze_main(["--report", "--configs", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err


def _silent_at_initialization(root):
    """Two Standard runs whose principal cells are all silent at epoch 0 (their skewness
    values stored as undefined, as before the reading of constant neurons was an option)."""
    for seed in (0, 1):
        _run(root, "fig2_standard", seed, 0.4, [
            _result(0, None, 0.1, 1.0, 1.0),  # every principal cell silent at initialization
            _result(1, 0.6 + seed, 0.5, 1.0, 1.0),
            _result(4, 2.0 + seed, 0.5, 1.0, 1.0)])  # densities stay 1: no growth


def _c6(root, **kwargs):
    (c6,) = [c for c in claims.evaluate(Context(root, config_dir=WORKSTATION_CONFIGS, partial=True,
                                                **kwargs)) if c.id == "C6"]
    return c6, {r.quantity: r.summary() for r in c6.rows}


def test_silent_cells_score_skewness_zero_by_default(tmp_path):
    _silent_at_initialization(tmp_path)
    c6, rows = _c6(tmp_path)
    growth = rows["area3 image-skewness difference PN - Int: epoch 4 minus epoch 0"]
    # PN - Int at epoch 0 is 0 - 0.1; at epoch 4 2.0 + seed - 0.5
    assert growth[0] == pytest.approx(1.5 + 0.1 + 0.5) and growth[3] == claims.HOLDS
    assert rows["area3 image-skewness difference PN - Int, epoch 0"][0] == pytest.approx(-0.1)
    assert "undefined" not in c6.note


def test_growth_counts_from_the_first_epoch_where_selectivity_is_defined(tmp_path):
    _silent_at_initialization(tmp_path)
    c6, summaries = _c6(tmp_path, constant_skewness="undefined")
    rows = {quantity: summary[3] for quantity, summary in summaries.items()}
    assert rows["area3 image-skewness difference PN - Int: epoch 4 minus epoch 1"] == (
        claims.HOLDS)
    assert rows["area3 image-skewness difference PN - Int, epoch 0"] is None  # shown only
    assert rows["area3 density difference Int->PN - PN->PN: epoch 4 minus epoch 0"] == (
        claims.FAILS)
    assert "growth counted from epoch 1" in c6.note and c6.verdict == claims.FAILS


def test_channel_numbers_compare_grid_corners_seed_by_seed(tmp_path):
    # PN skewness grows with E (not I), PN->PN sparser with E, Int->PN sparser with I.
    for seed in (0, 1):
        for e, i in ((16, 4), (16, 16), (64, 4), (64, 16)):
            _run(tmp_path, f"fig6_standard_channel_grid__e{e}_i{i}", seed, 0.7, [
                _result(30, e / 8 + 0.1 * seed, 0.5, 1.0 - e / 100, 1.0 - i / 100)])
    ctx = Context(tmp_path, config_dir=WORKSTATION_CONFIGS, partial=True)
    c7 = claims.c7_channel_numbers(ctx)
    rows = {r.quantity: r for r in c7.rows}
    pn = rows["PN image skewness e64_i4 - e16_i4"]
    assert pn.values == pytest.approx([6.0, 6.0]) and pn.summary()[3] == claims.HOLDS
    assert rows["PN->PN density e64_i16 - e16_i16"].values == pytest.approx([-0.48, -0.48])
    assert rows["Int->PN density e16_i16 - e16_i4"].summary()[3] == claims.HOLDS
    assert rows["PN image skewness e64_i16 - e64_i4"].summary()[3] is None  # shown only
    accuracy = rows["e16_i4: test accuracy (Figure 6 draws networks above 0.6)"]
    assert accuracy.values == [0.7, 0.7] and accuracy.summary()[3] is None  # shown only
    assert c7.verdict == claims.HOLDS and len(c7.runs) == 8


def test_a_partial_grid_shows_every_declared_point(tmp_path):
    for seed in (0, 1):
        _run(tmp_path, "fig6_standard_channel_grid__e16_i4", seed, 0.68,
             [_result(30, 2.0, 0.5, 0.9, 0.95)])
    c7 = claims.c7_channel_numbers(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                           partial=True))
    rows = {r.quantity: r for r in c7.rows}
    assert rows["e16_i4: PN - Int image skewness"].summary()[3] == claims.HOLDS
    assert rows["e64_i16: PN - Int image skewness"].summary()[3] == claims.TOO_FEW
    assert rows["PN image skewness e64_i4 - e16_i4"].values == []  # e64_i4 not trained
    accuracy = rows["e16_i4: test accuracy (Figure 6 draws networks above 0.6)"]
    assert accuracy.values == [0.68, 0.68]
    assert c7.verdict == claims.TOO_FEW and len(c7.runs) == 2


def test_shuffled_labels_read_training_accuracy_from_the_history(tmp_path):
    for config, fits in (("fig16_standard_shuffled_l2", (0.45, 0.15)),
                         ("fig16_standard_ei_shuffled_l2", (0.25, 0.24))):
        family = "standard_ei" if "_ei_" in config else "standard"
        for seed, fit in enumerate(fits):
            run_dir = _run(tmp_path, config, seed, 0.1,
                           [_result(250, 2.0, 0.5, 0.3, 0.8, family=family)])
            (run_dir / "history.csv").write_text(f"epoch,accuracy,val_accuracy\n0,0.1,0.1\n"
                                                 f"249,{fit},0.1\n")
    c12 = claims.c12_shuffled_labels(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                             partial=True))
    rows = {r.quantity: r for r in c12.rows}
    fit = rows["Standard: training accuracy (shuffled labels)"]
    assert fit.values == [0.45, 0.15] and fit.summary()[3] == claims.FAILS  # one below 20%
    assert rows["Standard: test accuracy"].summary()[3] == claims.HOLDS
    assert rows["Standard: area3 image skewness PN - IG"].summary()[3] == claims.HOLDS
    # EI_Shuffled_L2 (the paper: 24.6% training accuracy)
    fit = rows["StandardEI: training accuracy (shuffled labels)"]
    assert fit.values == [0.25, 0.24] and fit.summary()[3] == claims.HOLDS
    assert rows["StandardEI: area4 density I_to_E - E_to_E"].summary()[3] == claims.HOLDS
    assert c12.verdict == claims.FAILS and len(c12.runs) == 4


def test_no_inhibition_compares_with_and_without_batchnorm(tmp_path):
    for seed in (0, 1):
        _run(tmp_path, "fig17_standard_no_inh", seed, 0.7, [])
        _run(tmp_path, "fig17_standard_nonorm_no_inh", seed, 0.1 + 0.01 * seed, [])
    c11 = claims.c11_no_inhibition(Context(tmp_path, config_dir=WORKSTATION_CONFIGS,
                                           partial=True))
    rows = {r.quantity: r.summary()[3] for r in c11.rows}
    assert rows["fig17_standard_no_inh test accuracy"] == claims.HOLDS
    assert rows["fig17_standard_nonorm_no_inh test accuracy"] == claims.HOLDS
    assert rows["fig17_standard_ei_no_inh test accuracy"] == claims.TOO_FEW
    assert rows["fig2_standard test accuracy"] is None  # the reference, shown only


@pytest.mark.tf
def test_report_names_the_code_that_trained_each_run(tmp_path):
    from ei_tf.config import dump_config, load_config
    from ei_tf.model import model_fingerprint

    cfg = load_config(WORKSTATION_CONFIGS / "fig2_standard.yaml")
    no_bn = load_config(WORKSTATION_CONFIGS / "fig9c_no_pn_cell_bn.yaml")
    current = model_fingerprint(cfg)
    dirs = []
    # Seed 1's model differs only where the initial logits show nothing (silent PN); seed 2's
    # launch recorded the initial logits alone, as launches did before the other parts; seed
    # 3's recorded all-0 logits that Standard's training mode does not give, and the network
    # without BatchNorm does: there they cannot tell models apart.
    redrawn = {**current, "redrawn": [v + 1.0 for v in current["redrawn"]]}
    silent = [0.0] * len(current["initial"])
    for name, config, seed, fingerprint in (
            ("fig2_standard", cfg, 0, current), ("fig2_standard", cfg, 1, redrawn),
            ("fig2_standard", cfg, 2, current["initial"]), ("fig2_standard", cfg, 3, silent),
            ("fig9c_no_pn_cell_bn", no_bn, 4, silent)):
        run_dir = _run(tmp_path, name, seed, 0.5, [])
        (run_dir / "config.yaml").write_text(dump_config(config))
        launch = {"code": {"commit": f"{seed}" * 40, "dirty": bool(seed)},
                  "model_fingerprint": fingerprint, "devices": {"cpu": "X"},
                  "started_utc": "2026-12-01T10:00:00+00:00",
                  "ended_utc": "2026-12-01T11:30:00+00:00"}
        (run_dir / LAUNCHES).write_text(json.dumps([launch]))
        dirs.append(run_dir)
    dirs.append(_run(tmp_path, "fig4_standard_ei", 0, 0.5, []))
    lines = claims.model_provenance(dirs)
    assert lines[2] == f"| `{dirs[0]}` | 0000000 | current | 1.50 | X |"
    assert lines[3] == f"| `{dirs[1]}` | 1111111+ | **differs from the current code** | 1.50 | X |"
    assert lines[4] == f"| `{dirs[2]}` | 2222222+ | current (by the initial logits) | 1.50 | X |"
    assert lines[5] == f"| `{dirs[3]}` | 3333333+ | **differs from the current code** | 1.50 | X |"
    assert lines[6] == (f"| `{dirs[4]}` | 4444444+ | unknown (a launch recorded initial "
                        f"logits alone, all 0) | 1.50 | X |")
    assert lines[7] == f"| `{dirs[5]}` | no launch record | unknown | | |"

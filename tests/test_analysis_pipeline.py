"""End-to-end analysis of exported SavedModels: recording, metrics, JSON cache, CLI errors,
statistics across networks.

One small Standard network (and, when it exports, one small StandardEI network) is built and
exported once per session; the analyses use few test images (``--images``) to stay fast.
Image skewness needs CIFAR10: tests that use it skip unless ``EI_TF_DATA_DIR`` is set.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf  # before ei_tf.analyze_cli: the CLI then leaves TF's settings alone

from ei_tf.analysis.pipeline import (CONNECTION_METRICS, LOG_WEIGHT_BINS, POPULATION_METRICS,
                                     analyze_run, load_stored, result_path)
from ei_tf.analysis.recording import savedmodel_fingerprint
from ei_tf.analysis.summary import across_networks, aggregate, mean_ci
from ei_tf.analyze_cli import analyze_main
from ei_tf.files import write_json
from ei_tf.stimuli import make_gratings

pytestmark = pytest.mark.tf

REPO = Path(__file__).resolve().parents[1]
N_IMAGES = 200
SMALL_STANDARD = ["model.pn_channels=[8,16]", "model.ig_channels=[2,4]",
                  "model.og_channels=[2,4]", "export.model_name=small"]
SMALL_EI = ["model.family=standard_ei", "model.normalization=e_current_bn",
            "model.pn_channels=[8,16]", "model.i_channels=[2,4]", "export.model_name=small"]
STANDARD_POPS = {f"area{a}_{p}" for a in (3, 4) for p in ("PN", "IG", "OG")}
STANDARD_CONNS = {f"area{a}_{c}" for a in (3, 4)
                  for c in ("PN_to_PN", "IG_to_PN", "OG_to_PN", "PN_to_IG", "PN_to_OG")}
EI_POPS = {f"area{a}_{p}" for a in (3, 4) for p in ("E", "I")}
EI_CONNS = {f"area{a}_{c}" for a in (3, 4) for c in ("E_to_E", "I_to_E", "E_to_I", "I_to_I")}


def _data_dir() -> str:
    path = os.environ.get("EI_TF_DATA_DIR", "")
    if not path:
        pytest.skip("EI_TF_DATA_DIR is not set (CIFAR10 test images needed for image skewness)")
    return path


def _export_run(run_dir: Path, sets) -> Path:
    from ei_tf.config import dump_config, load_config
    from ei_tf.export import export_savedmodel
    from ei_tf.model import build_model

    cfg = load_config(sets=sets)
    model = build_model(cfg)
    export_savedmodel(model, run_dir / "export" / cfg.export.model_name / "0", cfg, 0)
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    return run_dir


@pytest.fixture(scope="session")
def standard_run(tmp_path_factory) -> Path:
    return _export_run(tmp_path_factory.mktemp("standard") / "seed_0", SMALL_STANDARD)


@pytest.fixture(scope="session")
def ei_run(tmp_path_factory) -> Path:
    try:
        return _export_run(tmp_path_factory.mktemp("standard_ei") / "seed_0", SMALL_EI)
    except Exception as err:  # the analysis is not at fault: report and skip
        pytest.skip(f"a StandardEI model cannot be exported here: {type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200]}")


@pytest.fixture(scope="session")
def analysed(standard_run):
    """The Standard run analysed once through the CLI with N_IMAGES test images."""
    data_dir = _data_dir()
    run = Path(str(standard_run) + "_analysed")
    shutil.copytree(standard_run, run)
    rc = analyze_main(["--run", str(run), "--images", str(N_IMAGES), "--data-dir", data_dir,
                       "--quiet"])
    assert rc == 0
    return run, json.loads(result_path(run, 0).read_text())


def _centre_responses(savedmodel_dir: Path, images: np.ndarray) -> dict:
    """Time-averaged centre unit from the raw activity signature, computed independently."""
    loaded = tf.saved_model.load(str(savedmodel_dir))
    maps = loaded.signatures["activity"](image=tf.constant(images, tf.float32))
    out = {}
    for key, value in maps.items():
        value = value.numpy()  # [B, T, H, W, C]
        out[key] = value[:, :, value.shape[2] // 2, value.shape[3] // 2, :].mean(axis=1)
    return out, {k: v.numpy() for k, v in loaded.signatures["connectivity"]().items()}


def _as_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _check_measure(measure: dict, n_neurons: int):
    values = _as_array(measure["values"])
    assert values.shape == (n_neurons,)
    n_nan = int(np.isnan(values).sum())
    assert measure["n_excluded"] == n_nan
    if n_nan < n_neurons:
        assert math.isclose(measure["mean"], float(np.nanmean(values)), rel_tol=1e-12)
    else:
        assert measure["mean"] is None


# --------------------------------------------------------------------------------------------
# End to end


def test_json_holds_every_population_and_connection(analysed):
    run, result = analysed
    assert result["schema"] == 1 and result["epoch"] == 0
    assert result["family"] == "standard"
    assert result["settings"]["n_images"] == N_IMAGES
    assert result["settings"]["n_gratings"] == 432  # Appendix C
    assert result["fingerprint"] == savedmodel_fingerprint(run / "export/small/0")
    assert set(result["populations"]) == STANDARD_POPS
    assert set(result["connections"]) == STANDARD_CONNS
    for key, entry in result["populations"].items():
        assert key == f"{entry['area']}_{entry['cell_type']}"
        n = entry["n_neurons"]
        for metric in POPULATION_METRICS:
            _check_measure(entry[metric], n)
        assert len(entry["tuning"]) == n and all(len(t) == 18 for t in entry["tuning"])
        assert entry["n_silent_gratings"] <= entry["gosi"]["n_excluded"]
    for key, entry in result["connections"].items():
        assert key == f"{entry['area']}_{entry['pre']}_to_{entry['post']}"
        k, _, c_in, c_out = entry["shape"]
        for metric in CONNECTION_METRICS:
            assert 0.0 <= entry[metric] <= 1.0
        hist, hist_all = entry["log_weight_hist"], entry["log_weight_hist_all"]
        assert len(hist["counts"]) == len(LOG_WEIGHT_BINS) - 1
        total = sum(hist["counts"]) + hist["below"] + hist["above"] + hist["zero"]
        assert total == c_in * c_out
        total_all = (sum(hist_all["counts"]) + hist_all["below"] + hist_all["above"]
                     + hist_all["zero"])
        assert total_all == k * k * c_in * c_out
    # some population of the untrained network responds, so the comparison below is not vacuous
    assert any(e["orientation_skewness"]["n_excluded"] < e["n_neurons"]
               for e in result["populations"].values())


def test_metrics_equal_direct_computation(analysed):
    from ei_tf.data import load_cifar10

    run, result = analysed
    gratings = make_gratings(32)
    natural = np.asarray(load_cifar10(_data_dir())[2][:N_IMAGES], np.float32)
    grating_resp, kernels = _centre_responses(run / "export/small/0", gratings.images)
    image_resp, _ = _centre_responses(run / "export/small/0", natural)
    theta = np.deg2rad(np.arange(18) * 10.0)
    for key, entry in result["populations"].items():
        g = grating_resp[key].astype(np.float64)  # [432, C]
        # orientation skewness over all 432 gratings, eq. 4 (a constant response scores 0)
        expected = np.array([scipy.stats.skew(g[:, j]) if np.ptp(g[:, j]) > 0 else 0.0
                             for j in range(g.shape[1])])
        got = _as_array(entry["orientation_skewness"]["values"])
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3, equal_nan=True)
        # gOSI at the preferred frequency and phase, eq. 3 (frequency-major grating order)
        grid = g.reshape(6, 4, 18, -1)
        for j in range(g.shape[1]):
            if g[:, j].max() <= 0:
                assert entry["gosi"]["values"][j] is None
                continue
            f, p, _ = np.unravel_index(np.argmax(g[:, j]), (6, 4, 18))
            r = grid[f, p, :, j]
            want = abs(np.sum(r * np.exp(2j * theta)) / np.sum(r))
            assert entry["gosi"]["values"][j] == pytest.approx(want, rel=1e-3, abs=1e-3)
            np.testing.assert_allclose(entry["tuning"][j], r, rtol=1e-3, atol=1e-4)
        # image skewness over the test images
        im = image_resp[key].astype(np.float64)
        expected = np.array([scipy.stats.skew(im[:, j]) if np.ptp(im[:, j]) > 0 else 0.0
                             for j in range(im.shape[1])])
        got = _as_array(entry["image_skewness"]["values"])
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3, equal_nan=True)
    for key, entry in result["connections"].items():
        channel = np.abs(kernels[key].astype(np.float64)).mean(axis=(0, 1))
        assert entry["density"] == pytest.approx(float(np.mean(channel > math.exp(-10))))
        assert entry["density_all"] == pytest.approx(
            float(np.mean(np.abs(kernels[key]) > math.exp(-10))))


def test_cli_prints_tables_and_reuses_stored_result(analysed, capsys):
    run, result = analysed
    path = result_path(run, 0)
    mtime = path.stat().st_mtime_ns
    rc = analyze_main(["--run", str(run), "--images", str(N_IMAGES), "--data-dir", _data_dir(),
                       "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "stored result reused" in out
    assert path.stat().st_mtime_ns == mtime
    for key in STANDARD_POPS | STANDARD_CONNS:
        assert key in out
    assert "gOSI" in out and "density" in out and "all-entries" in out


def test_cache_is_invalidated_when_the_savedmodel_changes(standard_run, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    run = tmp_path / "seed_0"
    shutil.copytree(standard_run, run)
    first, = analyze_run(run, n_images=0, verbose=False)
    assert not first.cached and first.path == result_path(run, 0)
    assert first.result["settings"]["n_images"] == 0
    assert all(e["image_skewness"]["mean"] is None for e in first.result["populations"].values())
    again, = analyze_run(run, 0, n_images=0, verbose=False)
    assert again.cached and again.result["created"] == first.result["created"]

    # change the SavedModel (a harmless field of its graph) -> the result is recomputed
    pb = run / "export/small/0/saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(pb.read_bytes())
    proto.meta_graphs[0].meta_info_def.tensorflow_git_version += "-modified"
    pb.write_bytes(proto.SerializeToString())
    changed, = analyze_run(run, n_images=0, verbose=False)
    assert not changed.cached
    assert changed.result["fingerprint"] != first.result["fingerprint"]
    assert changed.result["fingerprint"] == savedmodel_fingerprint(pb.parent)
    stored = json.loads(changed.path.read_text())
    assert stored["fingerprint"] == changed.result["fingerprint"]
    for key, entry in changed.result["populations"].items():  # same weights, same values
        assert entry["orientation_skewness"] == first.result["populations"][key][
            "orientation_skewness"]
    assert not list(changed.path.parent.glob(".*tmp*"))  # no temporary file left behind


def test_constant_skewness_readings_are_counted_and_stored_apart(standard_run, tmp_path):
    run = tmp_path / "seed_0"
    shutil.copytree(standard_run, run)
    zero, = analyze_run(run, n_images=0, verbose=False)
    undefined, = analyze_run(run, n_images=0, verbose=False, constant_skewness="undefined")
    assert zero.path == result_path(run, 0) == run / "analysis" / "epoch_0.json"
    assert undefined.path == run / "analysis" / "constant_undefined" / "epoch_0.json"
    assert zero.result["settings"]["constant_skewness"] == "zero"
    assert undefined.result["settings"]["constant_skewness"] == "undefined"
    n_constant = 0
    grating_resp, _ = _centre_responses(run / "export/small/0", make_gratings(32).images)
    for key, entry in zero.result["populations"].items():
        a, b = entry["orientation_skewness"], undefined.result["populations"][key][
            "orientation_skewness"]
        # the neurons whose centre unit answers every grating alike, counted directly
        assert a["n_constant"] == int(np.sum(np.ptp(grating_resp[key], axis=0) == 0))
        assert a["n_constant"] == b["n_constant"]
        assert a["n_excluded"] == 0 and b["n_excluded"] == b["n_constant"]
        assert [0.0 if v is None else v for v in b["values"]] == a["values"]
        n_constant += a["n_constant"]
    assert n_constant > 0  # the untrained network has constant (silent) neurons
    # each reading reuses its own file
    assert analyze_run(run, 0, n_images=0, verbose=False)[0].cached
    assert analyze_run(run, 0, n_images=0, verbose=False,
                       constant_skewness="undefined")[0].cached

    # a result stored before the reading was recorded (constant neurons NaN, in epoch_0.json)
    legacy = json.loads(undefined.path.read_text())
    del legacy["settings"]["constant_skewness"]
    for entry in legacy["populations"].values():
        for metric in ("orientation_skewness", "image_skewness"):
            entry[metric].pop("n_constant", None)
    shutil.rmtree(run / "analysis")
    result_path(run, 0).parent.mkdir()
    write_json(result_path(run, 0), legacy)
    as_zero = load_stored(run, 0, "zero")
    for key, entry in as_zero["populations"].items():
        assert entry["orientation_skewness"] == zero.result["populations"][key][
            "orientation_skewness"]
    assert load_stored(run, 0, "undefined") == legacy
    assert not analyze_run(run, 0, n_images=0, verbose=False)[0].cached  # recomputed


def test_standard_ei_populations_and_connections(ei_run, tmp_path):
    (analysis,) = analyze_run(ei_run, n_images=0, verbose=False)
    result = analysis.result
    assert result["family"] == "standard_ei"
    assert set(result["populations"]) == EI_POPS
    assert set(result["connections"]) == EI_CONNS
    for entry in result["populations"].values():
        _check_measure(entry["gosi"], entry["n_neurons"])
        _check_measure(entry["orientation_skewness"], entry["n_neurons"])


# --------------------------------------------------------------------------------------------
# Errors: one line on stderr, exit code 2


def _one_line_error(capsys, *needles):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_missing_run_dir(tmp_path, capsys):
    assert analyze_main(["--run", str(tmp_path / "nowhere")]) == 2
    _one_line_error(capsys, "nowhere", "does not exist")


def test_run_without_export(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert analyze_main(["--run", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, "no exported SavedModel")


def test_savedmodel_without_activity_signature(tmp_path, capsys):
    class Serving(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
        def serve(self, image):
            return {"logits": tf.reduce_mean(image, axis=[1, 2])}

    module = Serving()
    path = tmp_path / "run" / "export" / "ei_model" / "3"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    assert analyze_main(["--run", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, "'activity'", str(path))


def test_epoch_not_exported(standard_run, capsys):
    assert analyze_main(["--run", str(standard_run), "--epoch", "7"]) == 2
    _one_line_error(capsys, "epoch 7", "exported: 0")


def test_script_reports_missing_run(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(REPO / "analyze.py"), "--run",
                           str(tmp_path / "absent")], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "absent" in lines[0], \
        proc.stderr


# --------------------------------------------------------------------------------------------
# Across networks


def _fake_result(run: str, gosi_pn: float, density_pn: float, gosi_ig=None) -> dict:
    def measure(mean):
        return {"mean": mean, "n_excluded": 0 if mean is not None else 4, "values": []}

    pops = {"area3_PN": {m: measure(gosi_pn + i) for i, m in enumerate(POPULATION_METRICS)},
            "area3_IG": {m: measure(gosi_ig) for m in POPULATION_METRICS}}
    conns = {"area3_PN_to_PN": {"density": density_pn, "density_all": density_pn / 2}}
    return {"schema": 1, "epoch": 250, "run_dir": run, "populations": pops,
            "connections": conns}


def test_bootstrap_across_two_fake_networks(tmp_path):
    results = [_fake_result("seed_0", 0.2, 0.3, gosi_ig=0.1),
               _fake_result("seed_1", 0.4, 0.5, gosi_ig=None)]
    for i, r in enumerate(results):  # through JSON, as stored on disk
        (tmp_path / f"epoch_{i}.json").write_text(json.dumps(r))
    loaded = [json.loads((tmp_path / f"epoch_{i}.json").read_text()) for i in range(2)]
    out = aggregate(loaded)
    assert out["n_networks"] == 2 and out["runs"] == ["seed_0", "seed_1"]
    gosi = out["populations"]["area3_PN"]["gosi"]
    mean, low, high = mean_ci(np.array([0.2, 0.4]))
    assert (gosi["mean"], gosi["low"], gosi["high"]) == pytest.approx((mean, low, high))
    assert gosi["mean"] == pytest.approx(0.3) and gosi["low"] <= 0.3 <= gosi["high"]
    assert gosi["values"] == [0.2, 0.4] and gosi["n_networks"] == 2
    skew = out["populations"]["area3_PN"]["image_skewness"]
    assert skew["mean"] == pytest.approx(2.3)
    dens = out["connections"]["area3_PN_to_PN"]
    assert dens["density"]["mean"] == pytest.approx(0.4)
    assert dens["density_all"]["mean"] == pytest.approx(0.2)
    assert 0.3 <= dens["density"]["low"] <= dens["density"]["high"] <= 0.5
    # an undefined value in one network is left out: the interval collapses to the other one
    ig = out["populations"]["area3_IG"]["gosi"]
    assert ig["n_networks"] == 1 and ig["values"] == [0.1, None]
    assert (ig["mean"], ig["low"], ig["high"]) == pytest.approx((0.1, 0.1, 0.1))


def test_across_networks_from_run_dirs(standard_run, tmp_path):
    runs = []
    for seed in range(2):
        run = tmp_path / f"seed_{seed}"
        shutil.copytree(standard_run, run)
        runs.append(run)
    first, = analyze_run(runs[0], n_images=0, verbose=False)
    shutil.copytree(runs[0] / "analysis", runs[1] / "analysis")  # same SavedModel: reused
    out = across_networks(runs, epoch=None, n_images=0, verbose=False)
    assert out["n_networks"] == 2 and out["runs"] == [str(r) for r in runs]
    assert set(out["populations"]) == STANDARD_POPS
    assert set(out["connections"]) == STANDARD_CONNS
    density = out["connections"]["area3_PN_to_PN"]["density"]
    value = first.result["connections"]["area3_PN_to_PN"]["density"]
    assert density["values"] == [value, value]
    assert (density["mean"], density["low"], density["high"]) == pytest.approx((value,) * 3)


def test_imagenet_validation_images_through_the_eval_pipeline():
    """Image skewness of ImageNet runs reads the validation split (tfds mock data here)."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from ei_tf.analysis.pipeline import load_test_images
    config = {"data": {"dataset": "imagenet", "image_size": 64, "num_classes": 1000,
                       "batch_size": 4}}
    with tfds.testing.mock_data(num_examples=6):
        images, source = load_test_images(config, 5)
        everything, _ = load_test_images(config)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    assert everything.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(everything[:5], images)
    assert "imagenet validation set (first 5 of 6)" == source

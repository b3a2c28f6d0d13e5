"""SavedModel export: TF Serving layout, signatures, and loading without ei_tf."""

import json
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from ei_tf.layout import ACTIVITY, CONNECTIVITY, SERVING, export_dir, read_metadata, versions


def images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 32, 32, 3)).astype("float32")


def last_export(run):
    return run.run_dir / "export" / run.cfg.export.model_name / str(run.cfg.training.epochs)


def test_versions_follow_the_export_schedule(smoke_run):
    root = smoke_run.run_dir / "export" / smoke_run.cfg.export.model_name
    assert root == export_dir(smoke_run.run_dir, smoke_run.cfg.export.model_name)
    assert list(versions(root)) == [0, 1]
    assert sorted(p.name for p in root.iterdir()) == ["0", "1"]  # no temporary leftovers
    assert read_metadata(root / "1")["epoch"] == 1
    assert read_metadata(root / "1")["config"]["model"]["pn_channels"] == [64, 128]


def test_signatures_outputs_and_shapes(smoke_run):
    loaded = tf.saved_model.load(str(last_export(smoke_run)))
    assert set(loaded.signatures) == {SERVING, ACTIVITY, CONNECTIVITY}
    x = tf.constant(images())
    served = loaded.signatures[SERVING](image=x)
    assert set(served) == {"logits", "probabilities"}
    np.testing.assert_allclose(tf.reduce_sum(served["probabilities"], -1), 1.0, rtol=1e-5)
    activity = loaded.signatures[ACTIVITY](image=x)
    assert {k: tuple(v.shape) for k, v in activity.items()} == {
        "area3_PN": (4, 4, 16, 16, 64), "area3_IG": (4, 4, 16, 16, 16),
        "area3_OG": (4, 4, 16, 16, 16), "area4_PN": (4, 4, 8, 8, 128),
        "area4_IG": (4, 4, 8, 8, 32), "area4_OG": (4, 4, 8, 8, 32)}
    for name in ("area3_IG", "area4_OG", "area4_PN"):
        assert float(tf.reduce_min(activity[name])) >= 0.0  # after ReLU
    kernels = loaded.signatures[CONNECTIVITY]()
    assert tuple(kernels["area3_PN_to_PN"].shape) == (3, 3, 64, 64)
    assert tuple(kernels["area4_IG_to_PN"].shape) == (3, 3, 32, 128)
    assert set(kernels) == {f"area{a}_{k}" for a in (3, 4) for k in
                            ("PN_to_PN", "IG_to_PN", "OG_to_PN", "PN_to_IG", "PN_to_OG")}


FRESH = """
import sys, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = m.signatures["serving_default"](image=tf.constant(x))
np.save(sys.argv[3], out["logits"].numpy())
assert not any(name.startswith("ei_tf") for name in sys.modules), "ei_tf was imported"
"""


def test_savedmodel_in_fresh_process_matches_in_memory_model(smoke_run, tmp_path):
    x = images(5, seed=3)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", FRESH, str(last_export(smoke_run)),
                    str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], check=True,
                   cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    model = keras.models.load_model(smoke_run.run_dir / "model.keras")
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_saved_model_cli_reports_serve_tag_and_predict_method(smoke_run):
    out = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir",
         str(last_export(smoke_run)), "--all"], capture_output=True, text=True, check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}).stdout
    assert "tag-set: 'serve'" in out
    assert "signature_def['serving_default']" in out
    assert "Method name is: tensorflow/serving/predict" in out
    assert "inputs['image']" in out and "outputs['probabilities']" in out


def test_tf1_session_loader_runs_serving_default_by_tensor_name(smoke_run):
    x = images(2, seed=5)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(last_export(smoke_run)))
        sig = meta.signature_def["serving_default"]
        logits = sess.run(sig.outputs["logits"].name, {sig.inputs["image"].name: x})
    expected = tf.saved_model.load(str(last_export(smoke_run))).signatures[SERVING](
        image=tf.constant(x))["logits"]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_completion_record(smoke_run):
    record = json.loads((smoke_run.run_dir / "completed.json").read_text())
    data = smoke_run.cfg.data
    assert 0.0 <= record["test_accuracy"] <= 1.0 and record["epochs"] == 1
    correct = record["test_accuracy"] * data.test_examples  # a whole number of the 16 images
    assert abs(correct - round(correct)) < 1e-4, correct
    # The epoch's 32 training images, timed over its training batches, took less than the
    # whole session (which also built, validated and exported).
    assert record["train_images_per_second"] > data.train_examples / record["seconds_this_session"]

"""Run directories, resume after interruption, and multi-device training."""

import csv
import subprocess
import sys

import keras
import pytest

from conftest import CONFIGS, ROOT
from ei_tf import layout
from ei_tf.config import ConfigError, load_config, smoke
from ei_tf.training import TrainThroughput, train

pytestmark = pytest.mark.tf


def test_run_directory_layout(smoke_run):
    names = {p.name for p in smoke_run.run_dir.iterdir()}
    assert {"config.yaml", "history.csv", "export", "tensorboard", "model.keras",
            "completed.json"} <= names
    assert "backup" not in names  # resume state is removed once the run completes
    assert load_config(smoke_run.run_dir / "config.yaml").to_dict() | {"name": None} == (
        smoke_run.cfg.to_dict() | {"name": None})
    with open(smoke_run.run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0"]
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])


def test_reported_test_accuracy_is_the_final_models(smoke_run):
    """The record's test accuracy (the last epoch's validation) is what the saved final model
    scores on the test set."""
    from ei_tf.data import load_datasets

    model = keras.models.load_model(smoke_run.run_dir / "model.keras")
    model.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    test = load_datasets(smoke_run.cfg.data, 0).test()
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    assert smoke_run.record["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    with open(smoke_run.run_dir / "history.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert float(last["val_accuracy"]) == pytest.approx(accuracy, abs=1e-6)


def test_completed_run_is_reported_not_retrained(smoke_run, capsys):
    record = train(smoke_run.cfg, 0, out=smoke_run.out, verbose=0)
    assert record == smoke_run.record
    assert "already complete" in capsys.readouterr().out


def test_a_longer_seed_list_does_not_change_the_run(smoke_run, capsys):
    more_seeds = load_config(smoke_run.run_dir / "config.yaml", ["seeds=[0, 1, 2]"])
    assert train(more_seeds, 0, out=smoke_run.out, verbose=0) == smoke_run.record
    assert "already complete" in capsys.readouterr().out


def test_different_config_in_run_directory_is_refused(smoke_run):
    changed = load_config(smoke_run.run_dir / "config.yaml", ["training.learning_rate=0.05"])
    changed.name = smoke_run.cfg.name
    with pytest.raises(ConfigError, match="different config.*training.learning_rate"):
        train(changed, 0, out=smoke_run.out, verbose=0)


def test_throughput_times_each_epoch_whether_or_not_it_is_tested():
    """One rate per epoch: up to the test set's evaluation, or up to the end of an epoch
    without one (training.validation_freq)."""
    throughput = TrainThroughput(images_per_epoch=100)
    for tested in (True, False, True):
        throughput.on_epoch_begin(0)
        if tested:
            throughput.on_test_begin()
        throughput.on_epoch_end(0)
    throughput.on_test_begin()  # an evaluation outside an epoch is not timed
    assert len(throughput.rates) == 3 and all(rate > 0 for rate in throughput.rates)


class PoisonAt(keras.callbacks.Callback):
    """Records the epochs it sees; at ``epoch`` sets every weight to NaN (a diverged run)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.seen = epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)
        if epoch == self.epoch:
            for w in self.model.trainable_weights:
                w.assign(w * float("nan"))


def test_nan_stops_the_run_and_running_again_resumes(tmp_path):
    cfg = smoke(load_config(CONFIGS / "fig2_standard.yaml", [
        "data.dataset=synthetic", "model.pn_channels=[8, 16]", "model.ig_channels=[2, 4]",
        "model.og_channels=[2, 4]"]))
    cfg.training.epochs = 3
    cfg.export.epochs = [1]
    with pytest.raises(FloatingPointError, match="NaN or Inf.*last completed epoch is kept"):
        train(cfg, 1, out=tmp_path, verbose=0, callbacks=[PoisonAt(2)])
    run_dir = layout.run_dir(tmp_path, cfg.name, 1)
    versions = run_dir / "export" / cfg.export.model_name
    assert (run_dir / "backup").is_dir() and not (run_dir / "completed.json").exists()
    assert sorted(p.name for p in versions.iterdir()) == ["1"]  # nothing exported after NaN
    second = PoisonAt(-1)
    record = train(cfg, 1, out=tmp_path, verbose=0, callbacks=[second])
    assert second.seen == [2]  # continues with the interrupted epoch
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    # The record is the resumed epoch's validation, after a finite loss: epoch 2 trained from
    # the backed-up weights, not from the poisoned ones.
    assert record["test_accuracy"] == pytest.approx(float(rows[-1]["val_accuracy"]), abs=1e-6)
    assert abs(float(rows[-1]["loss"])) < float("inf")  # neither NaN nor Inf
    assert sorted(p.name for p in versions.iterdir()) == ["1", "3"]
    assert not (run_dir / "backup").exists()


MIRRORED = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ei_tf.config import load_config, smoke
from ei_tf.training import train
cfg = smoke(load_config(sys.argv[1], ["data.dataset=synthetic", "training.distribute=mirrored",
                                      "model.pn_channels=[8, 16]", "model.ig_channels=[2, 4]",
                                      "model.og_channels=[2, 4]"]))
cfg.export.epochs = []
record = train(cfg, 0, out=sys.argv[2], verbose=0)
print("REPLICAS", record["replicas"])
"""


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(CONFIGS / "fig2_standard.yaml"), str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env={"TF_CPP_MIN_LOG_LEVEL": "2",
                                                       "PATH": "/usr/bin:/bin",
                                                       "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS 2" in result.stdout
    assert "\ndevices: CPU:0, CPU:1 (" in result.stdout  # printed before training starts


def test_unwritable_output_is_a_one_line_error_naming_the_path(tmp_path, capsys):
    from ei_tf.cli import train_main
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    code = train_main(["--config", str(CONFIGS / "quickstart.yaml"), "--out", str(blocker),
                       "--smoke"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "cannot create run directory" in err and str(blocker) in err

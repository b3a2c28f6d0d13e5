"""Runs are never mixed or lost, and each says what made it.

``--force`` moves the old run aside whole; a backup resumes only the run that wrote it (and a
backup without a fingerprint resumes when ``config.yaml`` matches); a Keras backup this code
cannot read is an error, not a restart from epoch 0; ``completed.json``, SavedModel metadata
and analysis JSON carry the provenance, and the analysis cache is keyed on the data's identity;
JSON, CSV and YAML files appear whole or not at all, even when the analysis is SIGKILLed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from ei_tf import layout
from ei_tf.backup import (FINGERPRINT, METADATA, WEIGHTS, BackupError, fingerprint, restore_point,
                          write_fingerprint)
from ei_tf.cli import train_main
from ei_tf.config import ConfigError, config_from_dict, dump_config, load_config, parse_yaml
from ei_tf.files import write_text
from ei_tf.history import HistoryError, read_history
from ei_tf.layout import COMPLETED, HISTORY
from ei_tf.sweep import load_points
from ei_tf.training import HistoryCSV, ResumedEpochCheck, prepare_run_dir, train

pytestmark = pytest.mark.tf

REPO = Path(__file__).resolve().parents[1]

# A network small enough to train an epoch on 32 synthetic images in seconds.
TINY = """\
seeds: [0]
model: {ff_channels: [4, 4], pn_channels: [4, 4], ig_channels: [2, 2], og_channels: [2, 2],
        time_steps: 1}
data: {dataset: synthetic, train_examples: 32, test_examples: 16, batch_size: 16}
training: {epochs: 2, distribute: none, unroll: false}
export: {epochs: [0]}
"""
PROVENANCE_KEYS = {"code", "software", "devices", "data"}


def _tiny(tmp_path, *sets):
    path = tmp_path / "tiny.yaml"
    if not path.exists():
        path.write_text(TINY)
    return load_config(path, sets=list(sets))


def _tree(root: Path) -> dict:
    """{relative path: bytes} of every file under root."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """Interrupts training once epoch 0 is backed up (the built-in callbacks run first)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def _interrupted_run(tmp_path, cfg):
    out = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, 0, out=out, verbose=0, callbacks=[StopAfterFirstEpoch()])
    run_dir = layout.run_dir(out, cfg.name, 0)
    assert restore_point(run_dir / "backup").epoch == 1
    return out, run_dir


# --------------------------------------------------------------------------------------------
# 1. --force moves the old run aside


@pytest.mark.slow
def test_force_moves_the_old_run_aside_and_starts_clean(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    out = tmp_path / "runs"
    assert train_main(["--config", str(config), "--out", str(out)]) == 0
    run_dir = out / "tiny" / "seed_0"
    old = _tree(run_dir)
    capsys.readouterr()

    assert train_main(["--config", str(config), "--out", str(out),
                       "--set", "training.learning_rate=0.05", "--force"]) == 0

    printed = capsys.readouterr().out
    moved = [line for line in printed.splitlines() if "previous run is moved to" in line]
    assert len(moved) == 1, printed
    aside = Path(moved[0].rsplit(" ", 1)[1])
    assert aside.parent == run_dir.parent and aside.name.startswith("seed_0.replaced-")
    assert _tree(aside) == old  # the old run intact, where the message says
    assert [r["epoch"] for r in read_history(run_dir / HISTORY)] == ["0", "1"]
    assert not (run_dir / "backup").exists()
    assert config_from_dict(parse_yaml((run_dir / "config.yaml").read_text())) \
        .training.learning_rate == 0.05
    for version in (run_dir / "export" / "ei_model").iterdir():  # only the new run's exports
        meta = json.loads((version / "assets.extra" / "ei_tf.json").read_text())
        assert meta["config"]["training"]["learning_rate"] == 0.05
    # The provenance of the new run, in its completion record and its SavedModels.
    record = json.loads((run_dir / COMPLETED).read_text())
    assert set(record["provenance"]) == PROVENANCE_KEYS
    assert record["provenance"]["data"] == {"dataset": "synthetic"}
    assert record["provenance"]["software"]["keras"] == keras.__version__
    assert meta["provenance"] == record["provenance"]


def test_force_moves_a_sweep_point_aside(tmp_path, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text(TINY + "sweep:\n  axes:\n    - {a: {model.time_steps: 1}, "
                      "b: {model.time_steps: 2}}\n")
    point = load_points(config)[1]
    run_dir = point.run_dir(tmp_path)
    prepare_run_dir(run_dir, point.config)
    (run_dir / HISTORY).write_text("epoch,loss\n0,1.5\n")
    capsys.readouterr()

    prepare_run_dir(run_dir, point.config, force=True)

    aside = Path(capsys.readouterr().out.strip().rsplit(" ", 1)[1])
    assert aside.name.startswith("seed_0.replaced-") and aside.parent.name == "grid__b"
    assert (aside / HISTORY).read_text() == "epoch,loss\n0,1.5\n"
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]


# --------------------------------------------------------------------------------------------
# 2. A backup resumes only the run that wrote it


@pytest.mark.slow
def test_backup_without_fingerprint_resumes_when_config_matches(tmp_path):
    """A backup written before fingerprints existed: config.yaml decides, then it is stored;
    the resumed run keeps epoch 0's history row and logs epoch 1 once."""
    cfg = _tiny(tmp_path)
    out, run_dir = _interrupted_run(tmp_path, cfg)
    (run_dir / "backup" / FINGERPRINT).unlink()
    assert [r["epoch"] for r in read_history(run_dir / HISTORY)] == ["0"]

    record = train(cfg, 0, out=out, verbose=0)

    assert [r["epoch"] for r in read_history(run_dir / HISTORY)] == ["0", "1"]
    assert record["epochs"] == 2 and not (run_dir / "backup").exists()


@pytest.mark.slow
def test_backup_of_another_config_is_refused(tmp_path):
    cfg = _tiny(tmp_path)
    out, run_dir = _interrupted_run(tmp_path, cfg)
    other = _tiny(tmp_path, "training.learning_rate=0.05", "model.time_steps=2")
    # config.yaml says the other config (e.g. the backup was copied in): the fingerprint decides
    (run_dir / "config.yaml").write_text(dump_config(other))
    before = _tree(run_dir)

    with pytest.raises(BackupError, match=r"seed_0: its backup was written by a run with a "
                       r"different config \(fields: model\.time_steps, "
                       r"training\.learning_rate\)"):
        train(other, 0, out=out, verbose=0)
    assert _tree(run_dir) == before


def test_fingerprint_ignores_labels_and_export(tmp_path):
    cfg = _tiny(tmp_path)
    same = _tiny(tmp_path, "description=x", "seeds=[3]", "export.epochs=[1]",
                 "training.validation_freq=5")
    assert fingerprint(cfg) == fingerprint(same)
    assert fingerprint(cfg) != fingerprint(_tiny(tmp_path, "data.augment=false"))


def test_a_run_resumes_with_another_test_frequency(tmp_path):
    """How often the test set is evaluated does not change what the run computes: a run that
    tested epoch 1 resumes testing only after epoch 3 of 3 (every 3rd and the last), and
    history.csv shows which epochs were tested."""
    cfg = _tiny(tmp_path, "training.epochs=3")
    out, run_dir = _interrupted_run(tmp_path, cfg)

    record = train(_tiny(tmp_path, "training.epochs=3", "training.validation_freq=3"), 0,
                   out=out, verbose=0)

    rows = read_history(run_dir / HISTORY)
    assert [(r["epoch"], r["val_accuracy"] != "", r["accuracy"] != "") for r in rows] == [
        ("0", True, True), ("1", False, True), ("2", True, True)]
    assert record["test_accuracy"] == float(rows[-1]["val_accuracy"])
    assert record["train_images_per_second"] > 0
    saved = config_from_dict(parse_yaml((run_dir / "config.yaml").read_text()))
    assert saved.training.validation_freq == 3


# --------------------------------------------------------------------------------------------
# 3. Keras' backup format


def _weights_file(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("w", data=np.zeros(2))


@pytest.mark.parametrize("files, message", [
    ({"checkpoint.keras": b"x", "state.json": b"{}"}, r"holds checkpoint\.keras, state\.json "
     r"but no readable latest\.weights\.h5; expected Keras 3\.15's BackupAndRestore layout"),
    ({WEIGHTS: None, METADATA: b'{"step": 3}'}, r"training_metadata\.json holds .*step.*not "
     r"an epoch; expected Keras 3\.15's"),
    ({WEIGHTS: None, METADATA: b'{"epoch": 3, "bat'}, r"training_metadata\.json cannot be "
     r"read \(JSONDecodeError\)"),
    ({WEIGHTS: None}, r"latest\.weights\.h5 has no training_metadata\.json"),
])
def test_unreadable_keras_backup_is_an_error(tmp_path, files, message):
    backup = tmp_path / "backup"
    backup.mkdir()
    for name, content in files.items():
        if content is None:
            _weights_file(backup / name)
        else:
            (backup / name).write_bytes(content)
    with pytest.raises(BackupError, match=message):
        restore_point(backup)


def test_restore_point_falls_back_as_keras_does(tmp_path):
    backup = tmp_path / "backup"
    assert restore_point(backup) == (None, 0)  # no backup: a fresh start
    backup.mkdir()
    write_fingerprint(backup, _tiny(tmp_path))
    assert restore_point(backup) == (None, 0)  # only the fingerprint: no epoch backed up yet
    _weights_file(backup / (WEIGHTS + ".bkp"))
    (backup / (METADATA + ".bkp")).write_text('{"epoch": 4, "batch": 0}')
    (backup / WEIGHTS).write_bytes(b"cut off")  # the current copy cannot be opened
    (backup / METADATA).write_text('{"epoch": 5, "batch": 0}')
    assert restore_point(backup) == (backup / (WEIGHTS + ".bkp"), 4)
    _weights_file(backup / WEIGHTS)
    assert restore_point(backup) == (backup / WEIGHTS, 5)


def test_resumed_epoch_check():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    check = ResumedEpochCheck(3)
    check.set_model(model)
    model._initial_epoch = 3
    check.on_train_begin()
    model._initial_epoch = None  # Keras restored nothing where the files say epoch 3
    with pytest.raises(BackupError, match=r"resumed from epoch 0 but its files say 3"):
        check.on_train_begin()


# --------------------------------------------------------------------------------------------
# 4. Provenance and the analysis cache keyed on the data's identity


def _fake_cifar10(directory: Path, seed: int) -> Path:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    batch = {b"labels": [int(x) for x in rng.integers(0, 10, 8)],
             b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8)}
    (directory / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    return directory


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory) -> Path:
    """An untrained small CIFAR10 network exported as epoch 0 of a run."""
    from ei_tf.export import export_savedmodel
    from ei_tf.model import build_model

    cfg = load_config(sets=["model.pn_channels=[4,4]", "model.ig_channels=[2,2]",
                            "model.og_channels=[2,2]", "model.ff_channels=[4,4]"])
    run_dir = tmp_path_factory.mktemp("cifar_run") / "seed_0"
    export_savedmodel(build_model(cfg), run_dir / "export" / "ei_model" / "0", cfg, 0)
    write_text(run_dir / "config.yaml", dump_config(cfg))
    return run_dir


def test_analysis_records_provenance_and_recomputes_on_other_data(cifar_run, tmp_path):
    from ei_tf.analysis.pipeline import analyze_run, load_result

    copy_a = _fake_cifar10(tmp_path / "a", 0)
    copy_b = _fake_cifar10(tmp_path / "b", 1)
    first, = analyze_run(cifar_run, n_images=4, data_dir=str(copy_a), verbose=False)
    again, = analyze_run(cifar_run, n_images=4, data_dir=str(copy_a), verbose=False)
    other, = analyze_run(cifar_run, n_images=4, data_dir=str(copy_b), verbose=False)

    assert not first.cached and again.cached and not other.cached
    provenance = load_result(other.path)["provenance"]
    assert set(provenance) == PROVENANCE_KEYS
    assert provenance["data"] == {"dataset": "cifar10", "sha256": {
        "test_batch": hashlib.sha256((copy_b / "test_batch").read_bytes()).hexdigest()}}
    assert first.result["provenance"]["data"] != provenance["data"]
    meta = json.loads((cifar_run / "export/ei_model/0/assets.extra/ei_tf.json").read_text())
    assert set(meta["provenance"]) == {"code", "software", "devices"}


# --------------------------------------------------------------------------------------------
# 5. Whole files


def test_write_text_leaves_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_text(path, '{"old": 1}')

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_text(path, '{"new": 2}')
    assert path.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_history_keeps_earlier_epochs_once(tmp_path):
    path = tmp_path / HISTORY
    path.write_text("epoch,loss\n0,2.5\n1,2.0\n2,1.5\n")  # epoch 2 logged after the backup
    history = HistoryCSV(path, initial_epoch=2)
    history.on_train_begin()
    history.on_epoch_end(2, {"loss": 1.25})
    assert path.read_text() == "epoch,loss\n0,2.5\n1,2.0\n2,1.25\n"


@pytest.mark.parametrize("text, message", [
    ("epoch,loss,val_loss\n0,2.5,2.6\n1,2.", r"line 3 has 2 values for 3 columns"),
    ("epoch,loss\n0,2.5\n0,2.4\n", r"line 3 repeats or goes back to epoch 0"),
    ("epoch,loss\n0,2.5\n1,abc\n", r"line 3 holds a value that is not a number"),
    ("loss\n2.5\n", r"header 'loss' does not start with 'epoch'"),
])
def test_damaged_history_is_refused(tmp_path, text, message):
    (tmp_path / HISTORY).write_text(text)
    with pytest.raises(HistoryError, match=message):
        read_history(tmp_path / HISTORY)


KILLED_ANALYSIS = """
import os, signal, sys
from ei_tf.analysis.pipeline import analyze_run

replace = os.replace
def die_before_rename(src, dst):  # the analysis JSON is complete under its temporary name
    if str(dst).endswith("epoch_0.json"):
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
os.replace = die_before_rename
analyze_run(sys.argv[1], n_images=4, data_dir=sys.argv[2], force=True, verbose=False)
"""


@pytest.mark.slow
def test_analysis_killed_mid_way_leaves_no_half_file(cifar_run, tmp_path):
    from ei_tf.analysis.pipeline import analyze_run, load_result, result_path

    data = _fake_cifar10(tmp_path / "data", 0)
    run = tmp_path / "run"
    # The run's exports only: another test of this module analyses cifar_run in place.
    shutil.copytree(cifar_run, run, ignore=shutil.ignore_patterns("analysis"))
    path = result_path(run, 0)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")

    def killed():
        proc = subprocess.run([sys.executable, "-c", KILLED_ANALYSIS, str(run), str(data)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == -9, proc.stderr[-2000:]

    killed()  # the first analysis: nothing appears under the result's name
    assert not path.exists() and load_result(path) is None
    done, = analyze_run(run, n_images=4, data_dir=str(data), verbose=False)
    assert not done.cached and load_result(path) == done.result
    stored = path.read_bytes()
    killed()  # a recomputation: the previous result stays whole
    assert path.read_bytes() == stored
    again, = analyze_run(run, n_images=4, data_dir=str(data), verbose=False)
    assert again.cached


# --------------------------------------------------------------------------------------------
# 6. (the bad inputs are in test_bad_inputs.py); the YAML loader itself


def test_duplicate_key_is_an_error_merge_keys_are_not(tmp_path):
    import yaml

    with pytest.raises(yaml.YAMLError, match="duplicate key 'time_steps'"):
        parse_yaml("model:\n  time_steps: 2\n  time_steps: 4\n")
    assert parse_yaml("a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n") == {"a": {"k": 1}, "b": {"k": 2}}
    (tmp_path / "seeds.yaml").write_text("seeds: [0]\nseeds: [1]\n")
    with pytest.raises(ConfigError, match=r"seeds\.yaml: not valid YAML: line 2, column 1: "
                       r"duplicate key 'seeds'"):
        load_config(tmp_path / "seeds.yaml")

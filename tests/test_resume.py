"""Crash safety: a run killed with SIGKILL mid-epoch or mid-export, then rerun with the same
command, ends bit-identical to an uninterrupted run; two runs of one seed are identical."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tf

REPO = Path(__file__).resolve().parents[1]

# One run of a smoke-sized Standard network on synthetic data: 3 epochs of 2 steps (half the
# 32 training images, so a resume lands inside a data epoch), exports after epochs 2 and 3.
# argv: out directory, where to die ("none", "epoch": after the first batch of epoch 1,
# "export": after the SavedModel of epoch 2 is written but before it is renamed into place).
WORKER = """
import os, signal, sys
import keras
from ei_tf.config import load_config, smoke
from ei_tf.training import train

out, die = sys.argv[1], sys.argv[2]
cfg = smoke(load_config("configs/fig2_standard.yaml", sets=["data.dataset=synthetic"]))
cfg.training.epochs, cfg.training.steps_per_epoch = 3, 2
cfg.training.deterministic = True
cfg.export.epochs = [2]

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

class DieMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 0:
            kill()

if die == "export":
    replace = os.replace
    def replace_or_die(src, dst):  # export_savedmodel's rename of the written version
        if os.path.basename(src).startswith(".tmp-2-"):
            kill()
        replace(src, dst)
    os.replace = replace_or_die
train(cfg, 0, out=out, verbose=0, callbacks=[DieMidEpoch()] if die == "epoch" else [])
"""


def _run(out: Path, die: str) -> int:
    # Bit-exact runs: op determinism (in the config) and TensorFlow's own kernels in place of
    # oneDNN's, whose results were seen to differ in the last bits between processes.
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_ENABLE_ONEDNN_OPTS="0")
    proc = subprocess.run([sys.executable, "-c", WORKER, str(out), die], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    if die == "none" and proc.returncode:
        pytest.fail(proc.stderr[-3000:])
    return proc.returncode


def _weights(run_dir: Path) -> list:
    import keras

    import ei_tf.model  # noqa: F401  (registers the custom layers)

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return [np.asarray(w) for w in model.weights]


def _history(run_dir: Path) -> str:
    return (run_dir / "history.csv").read_text()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    _run(out, "none")
    return out / "fig2_standard" / "seed_0"


@pytest.mark.slow
@pytest.mark.parametrize("die", ["epoch", "export"])
def test_killed_run_resumes_bit_identical(uninterrupted, tmp_path, die):
    assert _run(tmp_path, die) == -9  # SIGKILL
    run_dir = tmp_path / "fig2_standard" / "seed_0"
    assert not (run_dir / "completed.json").exists()
    if die == "export":
        exports = run_dir / "export" / "ei_model"
        assert not (exports / "2").exists() and list(exports.glob(".tmp-2-*"))
    _run(tmp_path, "none")  # the same command again
    assert (run_dir / "completed.json").exists()
    assert _history(run_dir) == _history(uninterrupted)
    for got, want in zip(_weights(run_dir), _weights(uninterrupted), strict=True):
        np.testing.assert_array_equal(got, want)
    # Epoch 2 and the final epoch 3, and no half-written version left behind.
    names = sorted(p.name for p in (run_dir / "export" / "ei_model").iterdir())
    assert names == ["2", "3"]


@pytest.mark.slow
def test_two_runs_of_one_seed_are_identical(uninterrupted, tmp_path):
    _run(tmp_path, "none")
    run_dir = tmp_path / "fig2_standard" / "seed_0"
    assert _history(run_dir) == _history(uninterrupted)
    for got, want in zip(_weights(run_dir), _weights(uninterrupted), strict=True):
        np.testing.assert_array_equal(got, want)

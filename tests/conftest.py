"""Shared fixtures: one smoke-trained Standard run reused by the model, export and CLI tests."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``train.py --config configs/fig2_standard.yaml --smoke`` on the synthetic dataset."""
    from ei_tf.config import load_config, smoke
    from ei_tf.training import run_dir_for, train

    cfg = smoke(load_config(CONFIGS / "fig2_standard.yaml", sets=["data.dataset=synthetic"]))
    out = tmp_path_factory.mktemp("runs")
    record = train(cfg, 0, out=out, verbose=0)
    return SimpleNamespace(cfg=cfg, out=out, run_dir=run_dir_for(out, cfg, 0), record=record)


@pytest.fixture(scope="session")
def quickstart_smoke(tmp_path_factory):
    """``train.py --config configs/quickstart.yaml --smoke`` (synthetic data) through the
    command line, so with its TensorBoard analysis summaries; returns the run directory."""
    from ei_tf.cli import train_main

    out = tmp_path_factory.mktemp("runs")
    assert train_main(["--config", str(CONFIGS / "quickstart.yaml"), "--smoke", "--out",
                       str(out), "--set", "data.dataset=synthetic"]) == 0
    return out / "quickstart" / "seed_0"

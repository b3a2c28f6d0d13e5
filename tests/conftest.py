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

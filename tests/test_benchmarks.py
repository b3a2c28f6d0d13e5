"""The benchmarks run end to end on a tiny budget (a smoke check: no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ei_tf.provenance import has_bfloat16_units

pytestmark = pytest.mark.tf

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    env = dict(os.environ)
    env.pop("EI_TF_DATA_DIR", None)  # random / synthetic images stand in
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_bench_train_reports_rates_peak_and_input_cost():
    out = _run("bench_train.py", "--family", "standard_ei", "--batch-size", "8", "--steps", "1",
               "--warmup", "1", "--rounds", "1", "--precision", "float32", "mixed_bfloat16")
    assert "GFLOP/s" in out and "MFLOP per training image" in out
    assert "ei-tf" in out and "images/s" in out and "input pipeline (synthetic" in out
    assert re.match(r".+, \d+ cores, ISA: .+\nTensorFlow [\d.]+, PyTorch ", out)
    if has_bfloat16_units():
        assert "ratio ei-tf mixed_bfloat16 / ei-tf:" in out
    else:
        assert "mixed_bfloat16 skipped" in out and "mixed_bfloat16 / ei-tf" not in out
    mflop = float(re.search(r"(\d+) MFLOP per training image", out).group(1))
    peak, ceiling = re.search(r"matmul \(2048\^2\): ([\d.]+) GFLOP/s .*ceiling at that rate: "
                              r"(\d+) images/s", out).groups()
    assert abs(float(ceiling) - float(peak) * 1e3 / mflop) <= 0.01 * float(ceiling) + 1


@pytest.mark.slow
def test_bench_analysis_reports_seconds():
    out = _run("bench_analysis.py", "--images", "64", "--throughput-images", "64")
    assert "full analysis (432 gratings, 64 test images" in out

"""The benchmarks run end to end on a tiny budget (a smoke check: no timing is asserted)."""

from __future__ import annotations

import importlib.util
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


def _onednn_profile():
    spec = importlib.util.spec_from_file_location("onednn_profile",
                                                  BENCHMARKS / "onednn_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_onednn_profile_sums_the_timed_primitives_by_kind_isa_pass_and_type():
    prof = _onednn_profile()
    lines = [
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core,backward_data,"
        "src:f32::blocked:acdb::f0 wei:f32::blocked:Abcde16a::f0,,alg:x,"
        "g16mb8_ic16oc16_ih16oh8kh3sh2dh0ph1_iw16ow8kw3sw2dw0pw1,9.0",
        prof.MARK,
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core,backward_data,"
        "src:f32::blocked:acdb::f0 wei:f32::blocked:Abcde16a::f0,,alg:x,"
        "g16mb8_ic16oc16_ih16oh8kh3sh2dh0ph1_iw16ow8kw3sw2dw0pw1,0.5",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core,backward_data,"
        "src:f32::blocked:acdb::f0 wei:f32::blocked:Abcde16a::f0,,alg:x,"
        "g16mb8_ic16oc16_ih16oh8kh3sh2dh0ph1_iw16ow8kw3sw2dw0pw1,0.25",
        "onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_bf16::blocked:ab:f0 "
        "wei_bf16::blocked:ab:f0,,,4096x32:32x16,1.5",
        "onednn_verbose,v1,primitive,create:cache_hit,cpu,gemm_api,,undef,src_bf16,,,1x1,0.1",
        "WALL 0.010000",
    ]
    groups, wall = prof.parse(lines)
    assert wall == 0.01
    # two executions of a stride-2 depthwise map: 9 multiply-adds per output, in + out maps
    depthwise = [2 * 2.0 * 8 * 16 * 8 * 8 * 9, 2 * 4.0 * 8 * 16 * (16 * 16 + 8 * 8)]
    assert groups == {
        ("convolution", "jit_dw:avx512_core", "backward_data", "f32"): [0.75, 2, *depthwise],
        ("gemm_api", "-", "undef", "bf16"): [1.5, 1, 2.0 * 4096 * 32 * 16,
                                              2.0 * (4096 * 32 + 32 * 16 + 4096 * 16)]}
    assert prof.cost("inner_product", "mb4096ic64oc16", "f32") == (
        2.0 * 4096 * 64 * 16, 4.0 * (4096 * 64 + 64 * 16 + 4096 * 16))
    assert prof.cost("matmul", "2048x32:32x64", "f32")[0] == 2.0 * 2048 * 32 * 64
    # regular convolutions, reorders, BatchNorm: not counted
    assert prof.cost("convolution", "mb16_ic3oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1",
                     "f32") == (0.0, 0.0)
    assert prof.cost("reorder", "16x3x3x3", "f32") == (0.0, 0.0)


@pytest.mark.slow
def test_onednn_profile_reports_where_the_step_goes():
    out = _run("onednn_profile.py", "--family", "standard_ei", "--batch-size", "4", "--steps",
               "1", "--warmup", "1", "--top", "3")
    assert re.search(r"standard_ei, float32: [\d.]+ ms per step \(verbose on\); oneDNN's "
                     r"primitives sum to [\d.]+ ms \(\d+% of the step", out)
    for label in (r"GEMMs \(pointwise kernels, readout\)", "depthwise convolutions"):
        assert re.search(label + r": [\d.]+ ms per step at [\d.]+ GFLOP/s \(\d+% of the fp32 "
                         r"matmul peak\) and [\d.]+ GB/s \(\d+% of the element-wise", out)
    assert re.search(r"element-wise x \* c on 8 MB .*: [\d.]+ GB/s", out)
    assert "convolution / " in out and "more groups" in out
    assert ("standard_ei, mixed_bfloat16:" in out) == has_bfloat16_units()

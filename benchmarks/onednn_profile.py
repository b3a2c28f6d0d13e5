#!/usr/bin/env python
"""Where a training step's time goes: oneDNN's primitives against the whole step.

    python benchmarks/onednn_profile.py [--family standard standard_ei] [--steps 5]
                                        [--batch-size 128] [--precision float32 mixed_bfloat16]

For each network and precision policy it runs ei-tf's real training step (the one
``bench_train.py`` times) in a child process with ``ONEDNN_VERBOSE=1``, and sums the execution
times oneDNN reports for every primitive over ``--steps`` steps after warm-up, grouped by
primitive kind, implementation (which names the ISA: ``avx512_core``, ``avx512_core_bf16``,
``avx512_core_amx``, a generic ``gemm:jit``, ...), pass and source data type. It prints each
group's milliseconds per step, share of the step's wall time, calls per step and, for the GEMMs
(the pointwise kernels' MatMuls and the readout), their GFLOP/s; then the sum of oneDNN's times
and the GEMMs' rate against the fp32 matmul peak measured at the start (``bench_train.py``'s).
TensorFlow runs independent ops concurrently, so the sum of the primitives' times can exceed
the step; what oneDNN does not run (element-wise gate math, casts, the executor) fills the
rest. The verbose log itself costs a little time, so the wall time here is a bit above
``bench_train.py``'s; compare groups within one run. On a CPU without bfloat16 units the
mixed_bfloat16 policy is skipped, as oneDNN would emulate it. Measurements, no thresholds.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

MARK = "=== timed steps ==="
STREAM_MB = 8  # 128 images x 16 x 16 pixels x 64 channels x 4 bytes
CHILD = "--child"


def child(family: str, precision: str, batch_size: int, warmup: int, steps: int) -> int:
    """Runs in the child process (``ONEDNN_VERBOSE=1``): warm-up, the mark, the timed steps."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_train import tf_trainer

    _, _, step = tf_trainer(family, batch_size, precision)
    for _ in range(warmup):
        step()
    print(MARK, flush=True)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"WALL {time.perf_counter() - start:.6f}", flush=True)
    return 0


def _dtype(mds: str) -> str:
    """The source data type of a primitive's memory descriptors (``src:f32::...`` or
    ``src_f32::...``)."""
    for md in mds.split():
        if md.startswith("src"):
            return md[4:].split(":")[0]
    return "-"


_GEMM_SHAPE = re.compile(r"^(\d+)x(\d+):(\d+)x(\d+)")  # gemm_api / matmul: MxK:KxN
_INNER_PRODUCT_SHAPE = re.compile(r"^mb(\d+)ic(\d+)oc(\d+)$")  # M, K, N
_DEPTHWISE_SHAPE = re.compile(  # g<C>mb<N>_ic<C>oc<C>_ih<H>oh<OH>kh<k>..._iw<W>ow<OW>kw<k>...
    r"^g(\d+)mb(\d+)_ic\d+oc\d+_ih(\d+)oh(\d+)kh(\d+)\D.*_iw(\d+)ow(\d+)kw(\d+)")
BYTES = {"f32": 4, "bf16": 2}


def cost(kind: str, shape: str, dtype: str) -> tuple[float, float]:
    """``(FLOPs, bytes)`` one execution of a GEMM (``gemm_api``, ``matmul``,
    ``inner_product``: ``2 M K N``; its three matrices read or written once) or of a
    depthwise convolution (``2 k^2`` per output value; its input and output maps once, the
    kernel not counted; any pass), from its verbose shape; ``(0, 0)`` for the others."""
    size = BYTES.get(dtype, 4)
    if kind in ("gemm_api", "matmul", "inner_product"):
        m = (_GEMM_SHAPE if kind != "inner_product" else _INNER_PRODUCT_SHAPE).match(shape)
        if not m:
            return 0.0, 0.0
        rows, inner, cols = (int(m[1]), int(m[2]), int(m[4] if kind != "inner_product"
                                                         else m[3]))
        return 2.0 * rows * inner * cols, size * (rows * inner + inner * cols + rows * cols)
    m = _DEPTHWISE_SHAPE.match(shape) if kind == "convolution" else None
    if not m:
        return 0.0, 0.0
    channels, batch, ih, oh, kh, iw, ow, kw = map(int, m.groups())
    return (2.0 * batch * channels * oh * ow * kh * kw,
            size * batch * channels * (ih * iw + oh * ow))


def parse(lines) -> tuple[dict, float]:
    """``({(kind, implementation, pass, dtype): [milliseconds, count, FLOPs, bytes]}, wall
    seconds)`` of the verbose lines after the mark; FLOPs and bytes of :func:`cost`."""
    groups: dict = collections.defaultdict(lambda: [0.0, 0, 0.0, 0.0])
    wall, timed = float("nan"), False
    for line in lines:
        if line.startswith(MARK):
            timed = True
        elif line.startswith("WALL "):
            wall = float(line.split()[1])
        elif timed and line.startswith("onednn_verbose,") and ",exec,cpu," in line:
            fields = line.rstrip().split(",")
            at = fields.index("exec")
            kind, impl, prop, mds = fields[at + 2:at + 6]
            dtype = _dtype(mds)
            group = groups[(kind, impl or "-", prop, dtype)]
            flops, nbytes = cost(kind, fields[-2], dtype)
            group[0] += float(fields[-1])
            group[1] += 1
            group[2] += flops
            group[3] += nbytes
    return dict(groups), wall


def profile(family: str, precision: str, batch_size: int, warmup: int, steps: int) -> tuple:
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")}
    proc = subprocess.run([sys.executable, __file__, CHILD, family, precision, str(batch_size),
                           str(warmup), str(steps)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the profiled step failed: {proc.stderr.strip()[-2000:]}")
    return parse(proc.stdout.splitlines())


def stream_gbps(megabytes: float, repeats: int = 30) -> float:
    """GB/s of TensorFlow's element-wise ``x * c`` (eager, multi-threaded) on a float32 tensor
    of ``megabytes`` (read once, written once): the memory rate a one-pass op reaches at that
    size."""
    import tensorflow as tf

    x = tf.random.normal((int(megabytes * 2 ** 20 / 4),))
    y = x * 1.5  # eager: the op has run when it returns
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        y = x * 1.5
        times.append(time.perf_counter() - start)
    del y
    return 2 * megabytes * 2 ** 20 / statistics.median(times) / 1e9


def report(family: str, precision: str, groups: dict, wall: float, steps: int, top: int,
           peak: float, stream: float) -> None:
    """One network's table: each group's ms per step, share of the step's wall time, calls per
    step and, for GEMMs and depthwise convolutions, GFLOP/s and GB/s (:func:`cost`); then their
    rates against the matmul peak ``peak`` and the element-wise memory rate ``stream``."""
    step_ms = wall * 1e3 / steps
    onednn = sum(g[0] for g in groups.values()) / steps
    print(f"\n{family}, {precision}: {step_ms:.1f} ms per step (verbose on); oneDNN's "
          f"primitives sum to {onednn:.1f} ms ({onednn / step_ms:.0%} of the step: TensorFlow "
          "runs independent ops concurrently, so the sum can exceed it)")
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])
    print(f"  {'ms/step':>8} {'share':>6} {'calls':>6} {'GFLOP/s':>8} {'GB/s':>6}  "
          "kind / implementation / pass / dtype")
    for (kind, impl, prop, dtype), (ms, count, flops, nbytes) in ranked[:top]:
        rates = (f"{flops / ms / 1e6:8.1f} {nbytes / ms / 1e6:6.1f}" if flops
                 else f"{'':8} {'':6}")
        print(f"  {ms / steps:8.2f} {ms / steps / step_ms:6.1%} {count // steps:6d} {rates}  "
              f"{kind} / {impl} / {prop} / {dtype}")
    if len(ranked) > top:
        rest = sum(g[0] for _, g in ranked[top:]) / steps
        print(f"  {rest:8.2f} {rest / step_ms:6.1%} {'':6} {'':8} {'':6}  "
              f"{len(ranked) - top} more groups")
    for label, kinds in (("GEMMs (pointwise kernels, readout)",
                          ("gemm_api", "matmul", "inner_product")),
                         ("depthwise convolutions", ("convolution",))):
        chosen = [g for (kind, *_), g in groups.items() if kind in kinds and g[2]]
        ms = sum(g[0] for g in chosen)
        if ms:
            flops, nbytes = sum(g[2] for g in chosen), sum(g[3] for g in chosen)
            print(f"  {label}: {ms / steps:.1f} ms per step at {flops / ms / 1e6:.1f} GFLOP/s "
                  f"({flops / ms / 1e6 / peak:.0%} of the fp32 matmul peak) and "
                  f"{nbytes / ms / 1e6:.1f} GB/s ({nbytes / ms / 1e6 / stream:.0%} of the "
                  "element-wise memory rate)")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD]:
        family, precision, batch, warmup, steps = argv[1:]
        return child(family, precision, int(batch), int(warmup), int(steps))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ei_tf.provenance import has_bfloat16_units

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", nargs="+", default=["standard", "standard_ei"],
                   choices=["standard", "standard_ei"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=5, help="profiled steps per network")
    p.add_argument("--top", type=int, default=12, help="groups listed per network")
    p.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"],
                   choices=["float32", "mixed_bfloat16"])
    args = p.parse_args(argv)
    if min(args.batch_size, args.steps, args.top) < 1 or args.warmup < 0:
        p.error("--batch-size, --steps and --top must be positive, --warmup not negative")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_train import machine, matmul_gflops

    print(f"{machine()}, batch {args.batch_size}")
    peak, stream = matmul_gflops(), stream_gbps(STREAM_MB)
    print(f"fp32 matmul (2048^2): {peak:.1f} GFLOP/s; element-wise x * c on {STREAM_MB} MB "
          f"(an area-3 map of a batch): {stream:.1f} GB/s read + written")
    if "mixed_bfloat16" in args.precision and not has_bfloat16_units():
        print("no bfloat16 units (AVX512_BF16 or AMX) on this CPU: mixed_bfloat16 skipped")
        args.precision = [p for p in args.precision if p != "mixed_bfloat16"]
    for family in args.family:
        for precision in args.precision:
            groups, wall = profile(family, precision, args.batch_size, args.warmup, args.steps)
            report(family, precision, groups, wall, args.steps, args.top, peak, stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())

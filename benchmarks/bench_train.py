#!/usr/bin/env python
"""Training speed: ei-tf's training step against a PyTorch baseline, in one process.

    python benchmarks/bench_train.py [--family standard standard_ei] [--steps 10]
                                     [--warmup 3] [--rounds 3] [--data-dir DIR]
                                     [--precision float32 mixed_bfloat16]

For each network (CIFAR10 Standard, StandardEI; batch 128) it reports

* training images per second of ei-tf's real training step (``build_model`` +
  ``compile_model``, Keras' train function, as ``model.fit`` runs it) on a cached batch, and of
  the same network in PyTorch eager with channels_last (``torch_baseline.py``; needs the
  ``bench`` extra, ``pip install -e ".[bench]"``), timed alternately in rounds; medians of the
  per-step times after warm-up; their ratio, and its lowest and highest value over the
  rounds (the machine's speed drifts, and the two implementations do not drift alike); with
  ``--precision float32 mixed_bfloat16`` also ei-tf under the mixed bfloat16 policy
  (``training.precision``) and its ratio to float32, on CPUs with bfloat16 units (AVX512_BF16
  or AMX; elsewhere it is skipped, as oneDNN would emulate it);
* the machine's fp32 matmul GFLOP/s (2048 x 2048, measured at the start of every round, so
  it follows the machine's drift; the median over the rounds) and each implementation's
  fraction of it, counting the network's convolution and dense FLOPs as the
  network defines them, every connection at every step (forward x 3 for a training step;
  element-wise work not counted). Both implementations are credited with the same count:
  ei-tf computes the first recurrent area's input currents once rather than at every step,
  and no convolution of the zero initial state, so it executes fewer. The images/s at which
  the counted FLOPs would run at the full matmul rate are printed as the ceiling;
* the input pipeline's cost: ``model.fit`` over real augmented CIFAR10 batches
  (``Datasets.train_for_fit``) against ``model.fit`` over one cached batch: median per-batch
  times, alternating in rounds, each fit's warm-up batches left out.
  Without ``--data-dir`` / ``EI_TF_DATA_DIR``, synthetic images stand in (same augmentation).

The output starts with the machine: CPU model, cores, ISA extensions, TensorFlow and PyTorch.
These are measurements, not tests: nothing here has a threshold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ei_tf.config import load_config  # noqa: E402
from ei_tf.data import load_datasets  # noqa: E402
from ei_tf.layers import DaleConv, RecurrentArea  # noqa: E402
from ei_tf.model import build_model  # noqa: E402
from ei_tf.provenance import cpu_isa, cpu_model, has_bfloat16_units  # noqa: E402
from ei_tf.training import compile_model  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CONFIG_OF = {"standard": "fig2_standard.yaml", "standard_ei": "fig4_standard_ei.yaml"}


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(a, b)))
    matmul()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul().numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def training_flops_per_image(model) -> float:
    """3 x the forward FLOPs of the convolutions and the dense readout (multiply-add = 2)."""
    flops = 0.0
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k = layer.kernel.shape
            flops += 2 * h * w * k[0] * k[1] * k[2] * c_out
        elif isinstance(layer, tf.keras.layers.Dense):
            flops += 2 * np.prod(layer.kernel.shape)
        elif isinstance(layer, RecurrentArea):
            _, steps, h, w, _ = layer.output[0].shape
            for conv in layer.cell._flatten_layers(include_self=False):
                if not isinstance(conv, DaleConv):
                    continue
                c_in, c_out, k = conv.in_channels, conv.filters, conv.kernel_size
                per_pixel = (k * k * c_in + c_in * c_out) if conv.separable else (
                    k * k * c_in * c_out)
                flops += 2 * steps * h * w * per_pixel
    return 3 * flops


def tf_trainer(family: str, batch_size: int, precision: str = "float32"):
    cfg = load_config(CONFIGS / CONFIG_OF[family], [f"data.batch_size={batch_size}",
                                                    f"training.precision={precision}"])
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    compile_model(model, cfg, 391)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.integers(0, 256, (batch_size, 32, 32, 3)).astype("float32"))
    labels = tf.constant(rng.integers(0, 10, (batch_size,)).astype("int32"))
    return model, cfg, lambda: model.train_on_batch(images, labels)


def machine() -> str:
    """The machine and software the figures below belong to: CPU model, cores, the ISA
    extensions oneDNN picks its kernels by, TensorFlow's and PyTorch's versions."""
    try:
        import torch
        pytorch = torch.__version__
    except ImportError:
        pytorch = "not installed"
    return (f"{cpu_model()}, {os.cpu_count()} cores, ISA: {' '.join(cpu_isa()) or 'unknown'}\n"
            f"TensorFlow {tf.__version__}, PyTorch {pytorch}, TF_ENABLE_ONEDNN_OPTS="
            f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")


def torch_trainer(family: str, batch_size: int):
    try:
        import torch
        from torch_baseline import trainer
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    return trainer(family, batch_size)


def timed(step, n: int) -> list:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


class StepTimes(keras.callbacks.Callback):
    """Wall time of every training batch of a ``fit``."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def input_pipeline_cost(model, cfg, data_dir: str, steps: int, warmup: int,
                        rounds: int) -> tuple:
    """Median seconds per step of ``model.fit`` on real augmented batches and on one cached
    batch, alternating in rounds, each fit's first ``warmup`` steps left out."""
    data_cfg = cfg.data
    if data_dir:
        data_cfg.data_dir = data_dir
    else:
        data_cfg.dataset = "synthetic"
    data = load_datasets(data_cfg, 0)
    real = data.train_for_fit()
    cached = tf.data.Dataset.from_tensors(next(iter(real))).repeat()
    times = {"real": [], "cached": []}
    for _ in range(rounds):
        for name, ds in (("real", real), ("cached", cached)):
            clock = StepTimes()
            model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, shuffle=False,
                      callbacks=[clock])
            times[name] += clock.times[warmup:]
    return (statistics.median(times["real"]), statistics.median(times["cached"]),
            "CIFAR10" if data_dir else "synthetic")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", nargs="+", default=["standard", "standard_ei"],
                   choices=sorted(CONFIG_OF))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed steps per round and network")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="alternations ei-tf / PyTorch")
    p.add_argument("--data-dir", default=os.environ.get("EI_TF_DATA_DIR", ""))
    p.add_argument("--precision", nargs="+", default=["float32"],
                   choices=["float32", "mixed_bfloat16"],
                   help="ei-tf's training.precision, each timed (the first is the reference)")
    args = p.parse_args(argv)

    print(f"{machine()}, batch {args.batch_size}")
    if "mixed_bfloat16" in args.precision[1:] and not has_bfloat16_units():
        print("no bfloat16 units (AVX512_BF16 or AMX) on this CPU: mixed_bfloat16 skipped")
        args.precision.remove("mixed_bfloat16")
    for family in args.family:
        steps = {}
        for precision in args.precision:
            name = "ei-tf" if precision == args.precision[0] else f"ei-tf {precision}"
            trainer, trainer_cfg, steps[name] = tf_trainer(family, args.batch_size, precision)
            if name == "ei-tf":
                model, cfg = trainer, trainer_cfg
        torch_step = torch_trainer(family, args.batch_size)
        if torch_step:
            steps["PyTorch"] = torch_step
        flops = training_flops_per_image(model)
        for step in steps.values():
            timed(step, args.warmup)
        rounds, peaks = [], []
        for _ in range(args.rounds):
            peaks.append(matmul_gflops())
            rounds.append({name: timed(step, args.steps) for name, step in steps.items()})
        times = {name: [t for r in rounds for t in r[name]] for name in steps}
        peak = statistics.median(peaks)
        print(f"\n{family}: {flops / 1e6:.0f} MFLOP per training image (convs + dense)")
        print(f"  fp32 matmul (2048^2): {peak:.1f} GFLOP/s (per round {min(peaks):.1f}-"
              f"{max(peaks):.1f}); ceiling at that rate: {peak * 1e9 / flops:.0f} images/s")
        rates = {}
        for name, values in times.items():
            rates[name] = args.batch_size / statistics.median(values)
            print(f"  {name:20s} {rates[name]:7.1f} images/s  "
                  f"({rates[name] * flops / 1e9 / peak:5.1%} of matmul peak)")
        if "PyTorch" in rates:
            per_round = sorted(statistics.median(r["PyTorch"]) / statistics.median(r["ei-tf"])
                               for r in rounds)
            print(f"  ratio ei-tf / PyTorch: {rates['ei-tf'] / rates['PyTorch']:.2f} "
                  f"(per round {per_round[0]:.2f}-{per_round[-1]:.2f})")
        else:
            print("  PyTorch not installed (pip install -e \".[bench]\"): no baseline")
        for name in rates:
            if name.startswith("ei-tf "):
                print(f"  ratio {name} / ei-tf: {rates[name] / rates['ei-tf']:.2f}")
        real, cached, source = input_pipeline_cost(model, cfg, args.data_dir, args.steps,
                                                   args.warmup, args.rounds)
        print(f"  input pipeline ({source}, augmented): {real * 1e3:.0f} ms/step vs cached "
              f"batch {cached * 1e3:.0f} ms/step: cost {(real - cached) / real:+.1%} of the "
              f"step")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Analysis throughput: full analysis of one CIFAR10 Standard network from its SavedModel.

    python benchmarks/bench_analysis.py [--images N] [--batch-size B] [--data-dir DIR]

Builds the default (CIFAR10 Standard) model, untrained, exports it to a temporary run
directory, then reports

* images per second of the raw ``activity`` signature (full maps copied to numpy) and of the
  centre-unit recording (centre unit and time average inside a tf.function);
* seconds of the full analysis (432 gratings, the CIFAR10 test images, connectivity, metrics,
  JSON) as ``analyze.py --run`` runs it, wall-clock and process CPU time (the latter divided
  by the number of cores estimates the wall time on a machine not shared with other work),
  and of a second, cached call.

CIFAR10 comes from ``--data-dir`` or ``EI_TF_DATA_DIR``; without either, random images of the
same shape stand in (the timing is the same). Like ``analyze.py``, oneDNN kernels are enabled
unless ``TF_ENABLE_ONEDNN_OPTS`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ei_tf.analysis import pipeline  # noqa: E402
from ei_tf.analysis.pipeline import analyze_run  # noqa: E402
from ei_tf.analysis.recording import DEFAULT_BATCH_SIZE, LoadedModel  # noqa: E402
from ei_tf.config import dump_config, load_config  # noqa: E402
from ei_tf.export import export_savedmodel  # noqa: E402
from ei_tf.model import build_model  # noqa: E402


def _throughput(fn, images: np.ndarray, batch_size: int) -> float:
    fn(images[:batch_size])  # trace / warm up
    start = time.perf_counter()
    for lo in range(0, len(images), batch_size):
        fn(images[lo:lo + batch_size])
    return len(images) / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000, help="test images (default 10,000)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--data-dir", default=os.environ.get("EI_TF_DATA_DIR", ""))
    p.add_argument("--throughput-images", type=int, default=1024,
                   help="images for the signature throughput measurements")
    args = p.parse_args(argv)

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs visible, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"batch size {args.batch_size}")
    with tempfile.TemporaryDirectory(prefix="bench_analysis_") as tmp:
        run_dir = Path(tmp) / "seed_0"
        cfg = load_config(sets=[f"data.data_dir={args.data_dir}"] if args.data_dir else [])
        start = time.perf_counter()
        model = build_model(cfg)
        sm_dir = export_savedmodel(model, run_dir / "export" / cfg.export.model_name / "0",
                                   cfg, 0)
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        print(f"build + export (not counted): {time.perf_counter() - start:.1f} s, "
              f"{model.count_params():,} parameters")

        loaded = LoadedModel(sm_dir)
        rng = np.random.default_rng(0)
        probe = rng.integers(0, 256, (args.throughput_images, 32, 32, 3)).astype(np.float32)
        raw = _throughput(loaded.activity_maps, probe, args.batch_size)
        centre = _throughput(lambda x: loaded.record(x, args.batch_size), probe,
                             args.batch_size)
        print(f"activity signature, full maps to numpy: {raw:8.0f} images/s")
        print(f"centre-unit recording (in tf.function): {centre:8.0f} images/s")

        if not args.data_dir:
            fake = rng.integers(0, 256, (args.images, 32, 32, 3)).astype(np.uint8)
            pipeline.load_test_images = lambda config, n, d=None: (fake, "random images")
            print(f"no CIFAR10 directory (--data-dir / EI_TF_DATA_DIR): {args.images} random "
                  f"images stand in")
        n_images = None if args.images == 10_000 else args.images
        start, cpu_start = time.perf_counter(), time.process_time()
        (first,) = analyze_run(run_dir, 0, n_images=n_images, batch_size=args.batch_size,
                               force=True, verbose=False)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        start = time.perf_counter()
        (second,) = analyze_run(run_dir, 0, n_images=n_images, verbose=False)
        cached = time.perf_counter() - start
        timing = first.result["timing"]
        n = first.result["settings"]["n_images"]
        print(f"full analysis ({first.result['settings']['n_gratings']} gratings, {n} test "
              f"images, {len(first.result['connections'])} connection types): {total:.1f} s "
              f"wall, {cpu:.1f} s CPU (user + system, all threads)")
        print(f"  data + JSON {total - timing['total_s']:.1f} s, load SavedModel "
              f"{timing['load_s']:.1f} s, gratings {timing['gratings_s']:.1f} s, test images "
              f"{timing['images_s']:.1f} s ({n / max(timing['images_s'], 1e-9):.0f} images/s), "
              f"metrics + connectivity {timing['metrics_s']:.1f} s")
        print(f"second call (stored result reused: {second.cached}): {cached:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

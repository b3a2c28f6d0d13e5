"""Command-line entry points (``train.py`` / ``ei-train``)."""

from __future__ import annotations

import argparse
import sys


def _train_parser():
    p = argparse.ArgumentParser(
        prog="train.py", description="Train the networks of one config (one YAML per paper "
        "figure variant): every point of its sweep and every seed in turn, skipping finished "
        "runs, unless --index or --seed picks some. Running the same command again resumes an "
        "interrupted run.")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("--out", default="runs", help="root of run directories (default: runs/)")
    p.add_argument("--seed", type=int, help="train only this seed (instead of the config's seeds)")
    p.add_argument("--index", type=int, metavar="K",
                   help="train only point K of the config (a sweep point with one seed; "
                   "numbering as --list prints it, e.g. a cluster job array's task id)")
    p.add_argument("--list", action="store_true",
                   help="print the points (index, name, seed, run directory, status) and exit; "
                   "one line per point (with --index: that point's line)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set training.epochs=10 (applied to "
                   "every point, after the sweep's overrides)")
    p.add_argument("--smoke", action="store_true",
                   help="same architecture, tiny data and one epoch (for tests and CI)")
    p.add_argument("--force", action="store_true",
                   help="reuse a run directory that holds a different or finished run")
    return p


def train_main(argv=None) -> int:
    args = _train_parser().parse_args(argv)
    from .config import ConfigError, smoke
    from .sweep import format_points, load_points, select
    try:  # no TensorFlow import up to here: --list answers at once
        points = load_points(args.config, args.set, seed=args.seed)
        if args.index is not None:
            points = [select(points, args.index, args.config)]
        if args.list:
            print("\n".join(format_points(points, args.out)))
            return 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from .analysis.summaries import AnalysisSummaries
    from .data import DataError
    from .training import run_dir_for, train
    failed = []
    try:
        for n, point in enumerate(points):
            cfg = smoke(point.config) if args.smoke else point.config
            if len(points) > 1:
                print(f"[{n + 1}/{len(points)}] point {point.index}: {point.label} seed "
                      f"{point.seed}", flush=True)
            try:
                summaries = AnalysisSummaries(run_dir_for(args.out, cfg, point.seed), cfg)
                train(cfg, point.seed, out=args.out, force=args.force, on_export=[summaries])
            except FloatingPointError as err:  # a diverged network: go on with the others
                if len(points) == 1:
                    raise
                print(f"error: {err}", file=sys.stderr)
                failed.append(point)
    except (ConfigError, DataError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # full disk, unwritable directory: name the path
        print(f"error: cannot write {err.filename or args.out}: {err.strerror or err}",
              file=sys.stderr)
        return 2
    if failed:
        print(f"error: {len(failed)} of {len(points)} runs failed (indices "
              f"{', '.join(str(p.index) for p in failed)}); the others completed",
              file=sys.stderr)
        return 2
    return 0

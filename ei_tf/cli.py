"""Command-line entry points (``train.py`` / ``ei-train``)."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _train_parser():
    p = argparse.ArgumentParser(
        prog="train.py", description="Train the networks of one config (one YAML per paper "
        "figure variant); every seed of the config in turn unless --seed is given. Running the "
        "same command again resumes an interrupted run.")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("--out", default="runs", help="root of run directories (default: runs/)")
    p.add_argument("--seed", type=int, help="train only this seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set training.epochs=10")
    p.add_argument("--smoke", action="store_true",
                   help="same architecture, tiny data and 2 epochs (for tests and CI)")
    p.add_argument("--force", action="store_true",
                   help="reuse a run directory that holds a different or finished run")
    return p


def train_main(argv=None) -> int:
    args = _train_parser().parse_args(argv)
    from .config import ConfigError, load_config, smoke
    from .data import DataError
    try:
        cfg = load_config(args.config, args.set)
        if args.smoke:
            cfg = smoke(cfg)
        seeds = [args.seed] if args.seed is not None else cfg.seeds
        from .training import train
        for seed in seeds:
            train(cfg, seed, out=args.out, force=args.force)
    except (ConfigError, DataError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0

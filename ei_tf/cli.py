"""Command-line entry points (``train.py`` / ``ei-train``)."""

from __future__ import annotations

import argparse
import os
import sys

ENV_RUNS = "EI_TF_RUNS"


def runs_root(given):
    """The root of the run directories: ``given`` (``--out`` / ``--runs``), else the
    ``EI_TF_RUNS`` environment variable, else ``runs``. An ``EI_TF_RUNS`` that names something
    other than a directory is a ConfigError."""
    from .config import ConfigError

    if given:
        return given
    env = os.environ.get(ENV_RUNS, "")
    if not env:
        return "runs"
    if os.path.exists(env) and not os.path.isdir(env):
        raise ConfigError(f"{ENV_RUNS}={env} is not a directory; point it at the root of the "
                          f"run directories, or unset it")
    return env


def default_verbosity(stream=None) -> int:
    """Keras' ``verbose`` for ``fit``: the progress bar (1) on a terminal, else one line per
    epoch (2), which suits a log file (no carriage returns or terminal codes)."""
    stream = sys.stdout if stream is None else stream
    try:
        return 1 if stream.isatty() else 2
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return 2


def _train_parser():
    p = argparse.ArgumentParser(
        description="Train the networks of one config (one YAML per paper "
        "figure variant): every point of its sweep and every seed in turn, skipping finished "
        "runs, unless --index or --seed picks some. Running the same command again resumes an "
        "interrupted run.")
    p.add_argument("--config", required=True,
                   help="a YAML config file, or the name of a config shipped with ei-tf "
                   "(e.g. quickstart, fig2_standard, workstation/fig2_standard; see configs/)")
    p.add_argument("--out", help=f"root of run directories (default: ${ENV_RUNS}, else runs/)")
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
                   help="start afresh where a run directory exists (a different, unfinished or "
                   "finished run): it is moved aside whole to <run>.replaced-<UTC time>/")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras' progress output: 0 none, 1 a progress bar, 2 one line per "
                   "epoch (default: 1 on a terminal, 2 when the output goes to a file)")
    return p


def train_main(argv=None) -> int:
    args = _train_parser().parse_args(argv)
    from .config import ConfigError, smoke
    from .sweep import format_points, load_points, select
    try:  # no TensorFlow import up to here: --list answers at once
        args.out = runs_root(args.out)
        points = load_points(args.config, args.set, seed=args.seed)
        if args.index is not None:
            points = [select(points, args.index, args.config)]
        if args.list:
            print("\n".join(format_points(points, args.out)), flush=True)
            return 0
    except BrokenPipeError:  # --list read in part (e.g. | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from .runtime import import_tensorflow
    import_tensorflow()  # before any other TensorFlow import: its start-up notices filtered
    from .analysis.summaries import AnalysisSummaries
    from .data import DataError
    from .layout import run_dir
    from .training import train
    verbose = default_verbosity() if args.verbose is None else args.verbose
    failed = []
    try:
        for n, point in enumerate(points):
            cfg = smoke(point.config) if args.smoke else point.config
            if len(points) > 1:
                print(f"[{n + 1}/{len(points)}] point {point.index}: {point.label} seed "
                      f"{point.seed}", flush=True)
            try:
                summaries = AnalysisSummaries(run_dir(args.out, cfg.name, point.seed), cfg)
                train(cfg, point.seed, out=args.out, force=args.force, verbose=verbose,
                      on_export=[summaries])
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


if __name__ == "__main__":
    sys.exit(train_main())

"""Command-line entry point of the analysis (``analyze.py`` / ``ei-analyze``).

``python analyze.py --run RUN_DIR [--epoch E] [--images N] [--data-dir DIR]`` analyses every
exported epoch of a run (or one), writes ``RUN_DIR/analysis/epoch_<E>.json`` and prints a table
per area x cell type and per connection type.  Stored results are reused while the SavedModel
and the test data are unchanged.

``python analyze.py --figure N [--runs DIR] [--out DIR] [--seeds S,...]`` (N = 2-17) or
``--all`` draws paper figures from the runs under ``--runs`` (default ``$EI_TF_RUNS``, else
``runs/``) into ``<out>/figN.png`` and ``.pdf`` (default ``figures/``).  When a figure's runs
are missing it prints the training commands that make them (``python train.py ...`` in a
source checkout, else ``ei-train ...``; on stdout) and exits with status 3.
"""

from __future__ import annotations

import argparse
import os
import sys

from .cli import ENV_RUNS, runs_root


def _analyze_parser():
    p = argparse.ArgumentParser(
        description="Selectivity (gOSI, orientation and image skewness) and "
        "connectivity (density) of trained networks, from their exported SavedModels. Results "
        "go to RUN_DIR/analysis/epoch_<E>.json and are reused while the SavedModel is unchanged.")
    p.add_argument("--run", metavar="RUN_DIR", help="a run directory (holding export/)")
    p.add_argument("--figure", type=int, action="append", metavar="N",
                   help="draw paper figure N (2-17) from the runs under --runs; repeatable")
    p.add_argument("--all", action="store_true", help="draw every paper figure (2-17)")
    p.add_argument("--report", action="store_true",
                   help="measure the paper's claims on the finished runs under --runs and write "
                   "OUT/report.md (also printed)")
    p.add_argument("--runs", metavar="DIR",
                   help="root of the run directories for --figure/--all/--report "
                   f"(default: ${ENV_RUNS}, else runs)")
    p.add_argument("--configs", metavar="DIR",
                   help="the configs the runs were trained from (default: the configs that "
                   "come with ei-tf; e.g. configs/workstation for the workstation-scale "
                   "protocol)")
    p.add_argument("--partial", action="store_true",
                   help="with --figure/--all: draw from the finished runs there are instead of "
                   "asking for the missing ones (always so for --report)")
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="where --figure/--all/--report write their files (default: figures)")
    p.add_argument("--seeds", metavar="S,...",
                   help="with --figure/--all/--report: use only these seeds of every config")
    p.add_argument("--epoch", type=int, metavar="E",
                   help="analyse only this exported epoch (default: all)")
    p.add_argument("--images", type=int, metavar="N",
                   help="use only the first N test images for the image skewness (default: all "
                   "10,000 CIFAR10 test images; 0 skips the image skewness)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="CIFAR10 directory (cifar-10-batches-py or its parent); default: the "
                   "run's data.data_dir, else $EI_TF_DATA_DIR, else tensorflow-datasets")
    p.add_argument("--batch-size", type=int, default=256, metavar="B",
                   help="images per call of the activity signature (default 256)")
    p.add_argument("--constant-skewness", choices=("zero", "undefined"), default="zero",
                   help="skewness (eq. 4) of a neuron whose response is the same for every "
                   "stimulus, silent ones included: 'zero' scores it 0, as scipy.stats.skew "
                   "before SciPy 1.9 did for the paper (default); 'undefined' excludes it, as "
                   "SciPy >= 1.9. Results are stored per choice; the tables count such neurons")
    p.add_argument("--force", action="store_true", help="recompute stored results")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _error(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def analyze_main(argv=None) -> int:
    parser = _analyze_parser()
    args = parser.parse_args(argv)
    if args.run and (args.figure or args.all or args.report):
        return _error("give either --run RUN_DIR or --figure N / --all / --report, not both")
    if not args.run and not args.figure and not args.all and not args.report:
        return _error("nothing to do: give --run RUN_DIR, --figure N, --all or --report")
    if args.configs:
        from .config import find_config
        args.configs = str(find_config(args.configs))
    if args.configs and not os.path.isdir(args.configs):
        return _error(f"--configs {args.configs}: no such directory")
    if args.images is not None and args.images < 0:
        return _error(f"--images must be >= 0, got {args.images}")
    if args.batch_size < 1:
        return _error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.figure or args.all or args.report:
        from .config import ConfigError
        try:
            args.runs = runs_root(args.runs)
        except ConfigError as err:
            return _error(err)
        return _figures_main(args)

    from .runtime import import_tensorflow
    import_tensorflow()  # its start-up notices filtered
    from .analysis.pipeline import analyze_run
    from .analysis.recording import AnalysisError
    from .analysis.report import format_header, format_tables
    from .data import DataError

    try:
        results = analyze_run(args.run, args.epoch, n_images=args.images,
                              data_dir=args.data_dir, batch_size=args.batch_size,
                              force=args.force, verbose=not args.quiet,
                              constant_skewness=args.constant_skewness)
    except (AnalysisError, DataError) as err:
        return _error(err)
    except OSError as err:  # e.g. the analysis directory is not writable
        return _error(f"{err.filename or args.run}: {err.strerror or err}")
    for item in results:
        print(format_header(item.result, item.cached))
        print(format_tables(item.result))
        print(f"({item.path})")
        print()
    return 0


def _figures_main(args) -> int:
    """``--figure N`` / ``--all`` / ``--report``: 0 when every file was written, 3 when runs
    are missing (their training commands are printed on stdout), 2 on another error."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from .analysis.recording import AnalysisError
    from .config import ConfigError
    from .figures import NUMBERS, Context, FigureError, MissingRuns, make_figure

    def errors():  # DataError only once ei_tf.data (which imports TensorFlow) is loaded
        data = sys.modules.get("ei_tf.data")
        return (FigureError, AnalysisError, ConfigError) + ((data.DataError,) if data else ())

    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            return _error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    numbers = list(NUMBERS) if args.all else list(dict.fromkeys(args.figure or []))
    bad = [n for n in numbers if n not in NUMBERS]
    if bad:
        return _error(f"there is no figure {bad[0]}: figures are {NUMBERS[0]}-{NUMBERS[-1]} "
                      f"(Figure 1 is the architecture diagram)")
    def context(partial: bool) -> Context:
        return Context(args.runs, seeds=seeds, n_images=args.images, data_dir=args.data_dir,
                       verbose=not args.quiet, config_dir=args.configs, partial=partial,
                       constant_skewness=args.constant_skewness)

    ctx = context(args.partial)
    missing_commands, status = [], 0
    if args.report:  # from whichever runs are finished
        status = _report(args, context(True), errors())
    for number in numbers:
        try:
            paths = make_figure(number, ctx, args.out)
        except MissingRuns as err:
            print(f"figure {number}: {len(err.missing)} run(s) missing under {args.runs}",
                  file=sys.stderr)
            missing_commands.extend(err.commands)
            status = status or 3
            continue
        except errors() as err:
            _error(f"figure {number}: {err}")
            status = 2
            continue
        except OSError as err:
            _error(f"figure {number}: {err.filename or ''}: {err.strerror or err}")
            status = 2
            continue
        print(f"figure {number}: " + ", ".join(str(p) for p in paths))
    if missing_commands:
        commands = list(dict.fromkeys(missing_commands))
        print(f"error: missing runs; {len(commands)} command(s) make them (printed on stdout):",
              file=sys.stderr)
        for command in commands:
            print(command)
    return status


def _report(args, ctx, errors) -> int:
    """``--report``: the claims report of ``ctx``'s runs, written to ``OUT/report.md``."""
    from pathlib import Path

    from .analysis.claims import write_report

    path = Path(args.out) / "report.md"
    try:
        text = write_report(ctx, path)
    except errors as err:
        return _error(f"report: {err}")
    except OSError as err:
        return _error(f"report: {err.filename or ''}: {err.strerror or err}")
    print(text)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(analyze_main())

"""Command-line entry point of the analysis (``analyze.py`` / ``ei-analyze``).

``python analyze.py --run RUN_DIR [--epoch E] [--images N] [--data-dir DIR]`` analyses every
exported epoch of a run (or one), writes ``RUN_DIR/analysis/epoch_<E>.json`` and prints a table
per area x cell type and per connection type.  Stored results are reused while the SavedModel
is unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys


def _analyze_parser():
    p = argparse.ArgumentParser(
        prog="analyze.py", description="Selectivity (gOSI, orientation and image skewness) and "
        "connectivity (density) of trained networks, from their exported SavedModels. Results "
        "go to RUN_DIR/analysis/epoch_<E>.json and are reused while the SavedModel is unchanged.")
    p.add_argument("--run", metavar="RUN_DIR", help="a run directory (holding export/)")
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
    p.add_argument("--force", action="store_true", help="recompute stored results")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 silenced, so that the C++ start-up notices
    (e.g. "oneDNN custom operations are on") do not bury the analysis output.  Python
    exceptions are unaffected: a failed import is re-raised after stderr is restored."""
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable file descriptor 2
        import tensorflow  # noqa: F401
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _error(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def analyze_main(argv=None) -> int:
    parser = _analyze_parser()
    args = parser.parse_args(argv)
    if not args.run:
        return _error("nothing to do: give --run RUN_DIR")
    if args.images is not None and args.images < 0:
        return _error(f"--images must be >= 0, got {args.images}")
    if args.batch_size < 1:
        return _error(f"--batch-size must be >= 1, got {args.batch_size}")

    _import_tensorflow_quietly()
    from .analysis.pipeline import analyze_run
    from .analysis.recording import AnalysisError
    from .analysis.report import format_header, format_tables
    from .data import DataError

    try:
        results = analyze_run(args.run, args.epoch, n_images=args.images,
                              data_dir=args.data_dir, batch_size=args.batch_size,
                              force=args.force, verbose=not args.quiet)
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

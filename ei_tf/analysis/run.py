"""One training run, opened for reading in a notebook or a script.

:class:`RunData` gathers what a run directory holds (design.md section 5): the resolved config
(through the schema of :mod:`ei_tf.config`), the per-epoch history, the exported epochs, the
SavedModel of an epoch and its analysis (paper section 2, Appendix C; computed by
:func:`ei_tf.analysis.pipeline.analyze_run`, or read from its cache). Nothing is loaded before
it is asked for, and TensorFlow is imported only to load a SavedModel or compute an analysis.
The figure panels of one run are added on top of it by :mod:`ei_tf.figures.run`.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Optional

import numpy as np

from ei_tf.analysis.pipeline import (ANALYSIS_DIR, EXPORT_DIR, analyze_run, find_exports,
                                     load_result, result_path)
from ei_tf.analysis.recording import AnalysisError
from ei_tf.config import Config, ConfigError, config_from_dict, parse_yaml

CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.csv"
COMPLETED_FILE = "completed.json"


def read_history(run_dir) -> dict[str, np.ndarray]:
    """``history.csv`` as columns (float arrays, one entry per epoch); ``{}`` when absent."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    out = {}
    for key in rows[0]:
        try:
            out[key] = np.array([float(r[key]) for r in rows])
        except (TypeError, ValueError):
            continue
    return out


class RunData:
    """A run directory ``<out>/<config name>/seed_<N>/``.

    Args:
        run_dir: the run directory; it must hold ``config.yaml``.
        n_images: the analysis' image skewness uses the first ``n_images`` test images (None:
            all 10,000 CIFAR10 test images; 0: no image skewness), as ``analyze.py --images``.
        data_dir: CIFAR10 directory for the analysis (default: the run's ``data.data_dir``,
            else ``EI_TF_DATA_DIR``, else tensorflow-datasets).

    Raises:
        AnalysisError: ``run_dir`` is not a run directory.
    """

    def __init__(self, run_dir, n_images: Optional[int] = None,
                 data_dir: Optional[str] = None):
        if n_images is not None and n_images < 0:
            raise AnalysisError(f"n_images must be >= 0 or None (all), got {n_images}")
        self.n_images = n_images
        self.data_dir = data_dir
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            why = "is not a directory" if self.run_dir.exists() else "does not exist"
            raise AnalysisError(f"run directory {self.run_dir} {why}")
        if not (self.run_dir / CONFIG_FILE).is_file():
            raise AnalysisError(f"{self.run_dir} is not a run directory (no {CONFIG_FILE})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.run_dir)!r})"

    @functools.cached_property
    def config(self) -> Config:
        """The resolved config the run was trained with, validated by the schema."""
        path = self.run_dir / CONFIG_FILE
        try:
            return config_from_dict(parse_yaml(path.read_text()) or {}, str(path))
        except ConfigError as err:
            raise AnalysisError(f"{err} (a config written by another version of ei-tf?)") \
                from None

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Per-epoch columns of ``history.csv`` (``epoch``, ``loss``, ``accuracy``, test
        ``val_loss``, ``val_accuracy``, ``learning_rate``); re-read at each access, so a run
        still training shows its latest epochs."""
        return read_history(self.run_dir)

    @property
    def completed(self) -> Optional[dict]:
        """``completed.json`` (test accuracy, timing) of a finished run, else None."""
        try:
            return json.loads((self.run_dir / COMPLETED_FILE).read_text())
        except (OSError, ValueError):
            return None

    @property
    def epochs(self) -> list[int]:
        """Exported epochs, ascending (0 = the initial network); ``[]`` when none is."""
        if not (self.run_dir / EXPORT_DIR).is_dir():
            return []
        return list(find_exports(self.run_dir))

    def _epoch(self, epoch: Optional[int]) -> int:
        epochs = self.epochs or self.analysed_epochs
        if not epochs:
            raise AnalysisError(f"{self.run_dir} has neither exported SavedModels nor "
                                f"analysis results")
        if epoch is None:
            return epochs[-1]
        if int(epoch) not in epochs:
            raise AnalysisError(f"epoch {epoch} is not exported in {self.run_dir} (exported: "
                                f"{', '.join(map(str, epochs))})")
        return int(epoch)

    @property
    def analysed_epochs(self) -> list[int]:
        """Epochs with a stored analysis result (``analysis/epoch_<E>.json``), ascending."""
        paths = (self.run_dir / ANALYSIS_DIR).glob("epoch_*.json")
        stems = (p.stem[len("epoch_"):] for p in paths)
        return sorted(int(s) for s in stems if s.isdigit())

    def savedmodel_path(self, epoch: Optional[int] = None) -> Path:
        """The SavedModel directory of ``epoch`` (default: the last exported)."""
        exports = find_exports(self.run_dir)
        return exports[self._epoch(epoch)]

    def savedmodel(self, epoch: Optional[int] = None):
        """``tf.saved_model.load`` of ``epoch`` (default: the last exported); its
        ``signatures`` are ``serving_default``, ``activity`` and ``connectivity``."""
        import tensorflow as tf

        return tf.saved_model.load(str(self.savedmodel_path(epoch)))

    def analysis(self, epoch: Optional[int] = None, force: bool = False,
                 verbose: bool = False) -> dict:
        """The analysis of ``epoch`` (default: the last exported) as the dict of
        ``analysis/epoch_<E>.json`` (layout in :mod:`ei_tf.analysis.pipeline`).

        Computed by :func:`~ei_tf.analysis.pipeline.analyze_run` (the 432 gratings and
        ``n_images`` test images; progress on stderr when ``verbose``) unless a stored result
        for the same SavedModel and image count exists (``force`` recomputes it). A run whose
        exports were removed returns its stored result.
        """
        epoch = self._epoch(epoch)
        if self.epochs:
            return analyze_run(self.run_dir, epoch, n_images=self.n_images,
                               data_dir=self.data_dir, force=force, verbose=verbose)[0].result
        result = load_result(result_path(self.run_dir, epoch))
        if result is None:
            raise AnalysisError(f"{result_path(self.run_dir, epoch)} is unreadable and "
                                f"{self.run_dir} has no export to recompute it from")
        return result


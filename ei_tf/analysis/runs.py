"""Runs on disk: which runs a figure or claim needs, where they are, and what they hold.

A figure or claim declares :class:`Need` entries (a config of ``configs/``, optionally a subset
of its sweep points, and which analysis it reads: the final epoch, every exported epoch, or
none for accuracy-only panels). :class:`Context` turns them into run directories under the
runs root (:func:`ei_tf.layout.run_dir`), reports missing runs with the training commands that
produce them (:class:`MissingRuns`), and loads each run's analysis: through
:func:`ei_tf.analysis.pipeline.analyze_run` when the run has its SavedModels (stored results
are reused, missing ones computed), or from ``<run>/analysis/epoch_<E>.json`` when the exports
were removed. :class:`RunData` opens one run directory for a notebook. A run's
``config.yaml`` is read through the config schema only (:func:`ei_tf.layout.run_config`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ei_tf import layout
from ei_tf.analysis.pipeline import (analyze_run, find_exports, load_result, load_stored,
                                     result_path, run_config, stored_epochs)
from ei_tf.analysis.recording import AnalysisError
from ei_tf.analysis.selectivity import CONSTANT_SKEWNESS, DEFAULT_CONSTANT_SKEWNESS
from ei_tf.config import Config, find_config, shipped_configs
from ei_tf.history import history_columns, read_history

_GRID_POINT = re.compile(r"^e(\d+)_i(\d+)$")  # a channel-grid sweep point: e<E>_i<I>


class MissingRuns(AnalysisError):
    """Runs a figure or the claims report needs are absent; ``commands`` are the ``train.py``
    lines that make them."""

    def __init__(self, figure: int, missing: list, commands: list[str]):
        self.figure = figure
        self.missing = missing
        self.commands = commands
        super().__init__(f"figure {figure}: {len(missing)} run(s) missing")



@dataclass(frozen=True)
class Need:
    """Runs of one config that a figure reads.

    Attributes:
        config: the config file's stem in ``configs/`` (e.g. ``fig2_standard``).
        analysis: ``"final"`` (the last exported epoch's analysis), ``"all"`` (every exported
            epoch) or None (only ``completed.json`` / ``history.csv``).
        points: sweep point names to use (None: every point of the sweep).
        same_as: stems of configs that train the same network under another name (e.g.
            ``fig7_standard_inhpn`` for the point ``standard`` of ``fig7_inhpn``); only for a
            need of one network. For each seed the first finished run counts, in the order
            ``config``, then ``same_as``; a run of the same network and seed under a later
            name is then left out (and logged), so no network is counted twice.
    """

    config: str
    analysis: Optional[str] = "final"
    points: Optional[tuple] = None
    same_as: tuple = ()


@dataclass(frozen=True)
class Run:
    config: str
    point: str  # "" for a config without a sweep
    seed: int
    index: int  # the point's index in ``train.py --config ... --list`` (file's seeds)
    run_dir: Path
    sweep: bool

    @property
    def network(self) -> str:
        """The network's name: the point name, else the config's stem."""
        return self.point or self.config

    @property
    def channels(self) -> Optional[tuple[int, int]]:
        """``(E, I)`` channels in area 3 of a channel-grid point named ``e<E>_i<I>`` (the
        Figure 6 and 17 grids), else None."""
        m = _GRID_POINT.match(self.point)
        return (int(m.group(1)), int(m.group(2))) if m else None


@functools.lru_cache(maxsize=None)
def _points(config_path: str):
    from ei_tf.sweep import load_points

    return tuple(load_points(config_path))


def variant_need(variant: str, family: str) -> Need:
    """The runs of one Figure 7 variant (``inhpn``, ``noconstraint``) of one family
    (``standard``, ``standard_ei``): the point ``family`` of ``fig7_<variant>``, also found
    under the single-family name ``fig7_<family>_<variant>``."""
    return Need(f"fig7_{variant}", points=(family,), same_as=(f"fig7_{family}_{variant}",))


def run_history(run_dir) -> dict[str, np.ndarray]:
    """A run's ``history.csv`` as columns (float arrays, one entry per epoch; ``epoch``,
    ``loss``, ``accuracy``, test ``val_loss``, ``val_accuracy``, ``learning_rate``); ``{}``
    before the first epoch."""
    return history_columns(read_history(Path(run_dir) / layout.HISTORY))


class Context:
    """Where runs live and how to analyse them; caches loaded results across figures."""

    def __init__(self, runs="runs", seeds: Optional[Sequence[int]] = None,
                 n_images: Optional[int] = None, data_dir: Optional[str] = None,
                 verbose: bool = False, config_dir=None, partial: bool = False,
                 constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS):
        """``partial``: draw from the finished runs there are, leaving out configs absent
        from ``config_dir`` and unfinished runs, instead of asking for the missing ones.
        ``constant_skewness``: the analysis' reading of constant responses (``"zero"`` or
        ``"undefined"``, :data:`ei_tf.analysis.selectivity.CONSTANT_SKEWNESS`)."""
        self.runs = Path(runs)
        self.partial = partial
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self.n_images = n_images
        self.data_dir = data_dir
        self.verbose = verbose
        self.config_dir = find_config(config_dir) if config_dir else shipped_configs()
        if constant_skewness not in CONSTANT_SKEWNESS:
            raise AnalysisError(f"constant_skewness={constant_skewness!r} is not one of "
                                f"{', '.join(map(repr, CONSTANT_SKEWNESS))}")
        self.constant_skewness = constant_skewness
        self._results: dict = {}
        self._exports: dict = {}
        self._noted: set = set()
        self._asked: Optional[list] = None  # see recording()

    # ---- run directories

    def config_path(self, config: str) -> Path:
        path = self.config_dir / f"{config}.yaml"
        if not path.is_file():
            raise AnalysisError(f"config {path} does not exist")
        return path

    @contextlib.contextmanager
    def recording(self):
        """``with ctx.recording() as needs:`` collects every Need given to :meth:`runs_for`
        inside the block (nested blocks collect separately)."""
        previous, self._asked = self._asked, []
        try:
            yield self._asked
        finally:
            self._asked = previous

    def runs_for(self, need: Need) -> list[Run]:
        if self._asked is not None:
            self._asked.append(need)
        if not need.same_as:
            return [run for run in self.declared(need)
                    if not self.partial or self._usable(run, need)]
        names = [need.config, *need.same_as]
        present = [c for c in names if (self.config_dir / f"{c}.yaml").is_file()]
        if not present and not self.partial:
            self.config_path(need.config)  # raises: the config does not exist
        by_seed: dict = {}
        for config in present:
            source = need if config == need.config else Need(config, need.analysis)
            runs = self.declared(source)
            if len({run.seed for run in runs}) != len(runs):
                raise AnalysisError(f"{config} declares several networks per seed; same_as "
                                  f"names configs of one network")
            for run in runs:
                by_seed.setdefault(run.seed, []).append(run)
        out = []
        for seed in sorted(by_seed):
            run = self._choose(by_seed[seed])
            if not self.partial or self._usable(run, need):
                out.append(run)
        return out

    def planned(self, need: Need) -> int:
        """How many networks ``need`` names in the configs of ``config_dir`` (its points x
        seeds), finished or not; with ``same_as``, one per seed, as :meth:`runs_for` counts."""
        if not need.same_as:
            return len(self.declared(need))
        seeds = set()
        for config in (need.config, *need.same_as):
            if (self.config_dir / f"{config}.yaml").is_file():
                source = need if config == need.config else Need(config, need.analysis)
                seeds |= {run.seed for run in self.declared(source)}
        return len(seeds)

    def declared(self, need: Need) -> list[Run]:
        """The runs ``need.config`` declares (its points and seeds), finished or not."""
        if self.partial and not (self.config_dir / f"{need.config}.yaml").is_file():
            return []
        points = _points(str(self.config_path(need.config)))
        out = []
        for p in points:
            if need.points is not None and p.name not in need.points:
                continue
            if self.seeds is not None and p.seed not in self.seeds:
                continue
            out.append(Run(need.config, p.name, p.seed, p.index, p.run_dir(self.runs),
                           bool(p.name)))
        if need.points is not None:
            known = {p.name for p in points}
            unknown = [n for n in need.points if n not in known]
            if unknown:
                raise AnalysisError(f"{need.config}: no sweep point named {unknown[0]}")
        return out

    def _choose(self, runs: list[Run]) -> Run:
        """Of the runs of one network and seed under several names: the first finished, else
        the first started (to be resumed), else the first name's (to be trained)."""
        finished = [r for r in runs if layout.is_finished(r.run_dir)]
        started = [r for r in runs if r.run_dir.exists()]
        chosen = (finished or started or runs)[0]
        for other in finished[1:]:
            if (chosen.run_dir, other.run_dir) not in self._noted:
                self._noted.add((chosen.run_dir, other.run_dir))
                print(f"{other.run_dir} trains the same network and seed as "
                      f"{chosen.run_dir}; using the latter", file=sys.stderr, flush=True)
        return chosen

    def command(self, run: Run) -> str:
        """The training command of ``run``: ``python train.py --config configs/...`` in a
        source checkout (``train.py`` in the working directory), else ``ei-train --config``
        with the name of a shipped config (or the config's path)."""
        config = self.config_path(run.config)
        if Path("train.py").is_file():
            try:
                shown = str(config.relative_to(Path.cwd()))
            except ValueError:
                shown = str(config)
            cmd = f"python train.py --config {shlex.quote(str(shown))}"
        else:
            try:
                shown = str(config.relative_to(shipped_configs()).with_suffix(""))
            except ValueError:
                shown = str(config)
            cmd = f"ei-train --config {shlex.quote(str(shown))}"
        cmd += f" --index {run.index}" if run.sweep else f" --seed {run.seed}"
        if self.runs != Path("runs"):
            cmd += f" --out {shlex.quote(str(self.runs))}"
        return cmd

    def missing(self, needs: Sequence[Need]) -> list[tuple[Run, str]]:
        """``[(run, why)]`` for every needed run that is not finished or cannot be analysed."""
        out, seen = [], set()
        for need in needs:
            for run in self.runs_for(need):
                key = (run.run_dir, need.analysis)
                if key in seen:
                    continue
                seen.add(key)
                if not layout.is_finished(run.run_dir):
                    out.append((run, "not trained" if not run.run_dir.exists() else
                                "not finished"))
                elif need.analysis and not self._analysable(run.run_dir):
                    out.append((run, "finished, but holds neither exports nor analysis results"))
        return out

    def _usable(self, run: Run, need: Need) -> bool:
        return layout.is_finished(run.run_dir) and (
            not need.analysis or self._analysable(run.run_dir))

    def _analysable(self, run_dir: Path) -> bool:
        return (bool(self._exports_of(run_dir))
                or bool(stored_epochs(run_dir, self.constant_skewness)))

    def check(self, figure: int, needs: Sequence[Need]) -> None:
        if self.partial:
            if not any(self.runs_for(need) for need in needs):
                raise AnalysisError(f"figure {figure}: none of its runs is finished under "
                                  f"{self.runs} (configs: "
                                  f"{', '.join(dict.fromkeys(n.config for n in needs))})")
            return
        for need in needs:
            if not self.runs_for(need):
                raise AnalysisError(f"config {need.config} has no run with "
                                  f"seeds {self.seeds}")
        missing = self.missing(needs)
        if missing:
            commands = list(dict.fromkeys(self.command(run) for run, _ in missing))
            raise MissingRuns(figure, missing, commands)

    # ---- results

    def _stored_epochs(self, run_dir: Path) -> list[int]:
        exports = self._exports_of(run_dir)
        if exports:
            return list(exports)
        return stored_epochs(run_dir, self.constant_skewness)

    def _load(self, run: Run, epochs: list[int]) -> dict[int, dict]:
        todo = [e for e in epochs if (run.run_dir, e) not in self._results]
        if todo:
            if self._exports_of(run.run_dir):
                from ei_tf.runtime import import_tensorflow

                import_tensorflow()  # its start-up notices filtered
                for item in analyze_run(run.run_dir, todo, n_images=self.n_images,
                                        data_dir=self.data_dir, verbose=self.verbose,
                                        constant_skewness=self.constant_skewness):
                    self._results[(run.run_dir, item.epoch)] = item.result
            else:
                for e in todo:
                    result = load_stored(run.run_dir, e, self.constant_skewness)
                    if result is None:
                        path = result_path(run.run_dir, e, self.constant_skewness)
                        raise AnalysisError(f"{path} is missing, unreadable or of another "
                                          f"reading of constant responses, and "
                                          f"{run.run_dir} has no export to recompute it from")
                    self._results[(run.run_dir, e)] = result
        return {e: self._results[(run.run_dir, e)] for e in epochs}

    def final(self, run: Run) -> dict:
        """The analysis of the run's last exported (or, without exports, last analysed) epoch."""
        epochs = self._stored_epochs(run.run_dir)
        if not epochs:
            raise AnalysisError(f"{run.run_dir} has neither exports nor analysis results")
        return self._load(run, [epochs[-1]])[epochs[-1]]

    def all_epochs(self, run: Run) -> dict[int, dict]:
        return self._load(run, self._stored_epochs(run.run_dir))

    def finals(self, need: Need) -> list[dict]:
        return [self.final(run) for run in self.runs_for(need)]

    # ---- training records

    @staticmethod
    def accuracy(run: Run) -> float:
        """Test accuracy of the finished run (``completed.json``), else the last one in its
        history (epochs without a test evaluation, ``training.validation_freq``, are skipped)."""
        record = layout.completed(run.run_dir)  # None, or a record with its test accuracy
        if record is not None:
            return record["test_accuracy"]
        values = run_history(run.run_dir).get("val_accuracy", np.array([]))
        tested = values[np.isfinite(values)]
        return float(tested[-1]) if len(tested) else float("nan")

    def accuracies(self, need: Need) -> list[float]:
        return [self.accuracy(run) for run in self.runs_for(need)]

    def _exports_of(self, run_dir: Path) -> dict:
        """``{epoch: SavedModel}`` of a run, empty when it has no usable export; looked up once
        per run (it reads the run's ``config.yaml``)."""
        if run_dir not in self._exports:
            try:
                found = find_exports(run_dir) if layout.model_names(run_dir) else {}
            except AnalysisError:
                found = {}
            self._exports[run_dir] = found
        return self._exports[run_dir]

    @staticmethod
    def lr_boundaries(run: Run) -> list[int]:
        """The epochs where the run's learning rate drops (its ``config.yaml``)."""
        return list(layout.run_config(run.run_dir).training.lr_boundaries)


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
        if not (self.run_dir / layout.CONFIG).is_file():
            raise AnalysisError(f"{self.run_dir} is not a run directory (no {layout.CONFIG})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.run_dir)!r})"

    @functools.cached_property
    def config(self) -> Config:
        """The resolved config the run was trained with, validated by the schema."""
        return run_config(self.run_dir)

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Per-epoch columns of ``history.csv`` (``epoch``, ``loss``, ``accuracy``, test
        ``val_loss``, ``val_accuracy``, ``learning_rate``); re-read at each access, so a run
        still training shows its latest epochs."""
        return run_history(self.run_dir)

    @property
    def completed(self) -> Optional[dict]:
        """``completed.json`` (test accuracy, timing) of a finished run, else None."""
        return layout.completed(self.run_dir)

    @property
    def epochs(self) -> list[int]:
        """Exported epochs, ascending (0 = the initial network); ``[]`` when none is."""
        if not layout.model_names(self.run_dir):
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
        return layout.analysed_epochs(self.run_dir)

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


"""Training one run: optimizer, schedule, strategy, callbacks, ``model.fit``, resume, export.

Paper section 2 / Appendix A (design.md section 3): SGD with momentum 0.9, learning rate 0.1
divided by 10 at epochs 100, 150 and 200 of 250, weight decay ``2e-4 * 0.5 * sum(w**2)`` (as
Keras L2 regularizers on every weight, built into the model). A run directory
``<out>/<config name>/seed_<N>/`` holds ``config.yaml``, ``history.csv`` (per-epoch train and test
loss/accuracy; Keras' ``val_*`` columns are the test set; :mod:`ei_tf.history`),
``tensorboard/``, ``backup/`` (resume state and the fingerprint of the config that wrote it,
removed when the run completes; :mod:`ei_tf.backup`), ``model.keras``, ``export/``
(SavedModels) and ``completed.json`` (the result and its provenance). Every JSON, CSV and YAML
file is written whole (:mod:`ei_tf.files`); a directory is never shared by two runs: ``force``
moves the one there aside.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from . import layout
from .backup import BackupError, check_fingerprint, keras_files, restore_point, write_fingerprint
from .config import Config, ConfigError, dump_config, run_config_changes, yaml_problem
from .data import load_datasets
from .distributed import (RestoreBackup, describe_devices, fit_multi_worker, is_chief,
                          is_multi_worker, make_strategy)
from .export import EpochExport, SavedModelWriter
from .files import write_json, write_text
from .history import format_history, read_history
from .model import build_model
from .provenance import provenance


def learning_rate_schedule(cfg: Config, steps_per_epoch: int):
    """Piecewise-constant learning rate: ``lr * decay**i`` after the i-th epoch boundary."""
    t = cfg.training
    boundaries = [b * steps_per_epoch for b in t.lr_boundaries]
    values = [t.learning_rate * t.lr_decay ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def compile_model(model: keras.Model, cfg: Config, steps_per_epoch: int):
    """SGD with momentum on the piecewise schedule, cross-entropy on logits, accuracy.

    The optimizer's momentum slots are created here: left to the first training step, their
    creation inside the traced step makes ``tf.function`` trace the whole step a second time.
    """
    t = cfg.training
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate_schedule(cfg, steps_per_epoch),
                                       momentum=t.momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=t.jit_compile)
    model.optimizer.build(model.trainable_variables)


class TrainThroughput(keras.callbacks.Callback):
    """Training images per second of each epoch, timed over its training batches only: up to
    the test set's evaluation when the epoch has one (``training.validation_freq``), else up
    to the epoch's end."""

    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.rates = []
        self.start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def _timed(self):
        if self.start is not None:
            self.rates.append(self.images_per_epoch / (time.perf_counter() - self.start))
            self.start = None

    def on_test_begin(self, logs=None):  # validation follows the epoch's last training batch
        self._timed()

    def on_epoch_end(self, epoch, logs=None):
        self._timed()


class HistoryCSV(keras.callbacks.Callback):
    """Writes ``history.csv`` whole after each epoch (:mod:`ei_tf.history`), keeping the rows
    of the epochs before ``initial_epoch`` (the epoch training starts from)."""

    def __init__(self, path, initial_epoch: int = 0):
        super().__init__()
        self.path = Path(path)
        self.initial_epoch = initial_epoch
        self.rows = []

    def on_train_begin(self, logs=None):
        self.rows = [row for row in read_history(self.path)
                     if int(row["epoch"]) < self.initial_epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": str(epoch)}
        row.update((key, repr(float(value))) for key, value in (logs or {}).items())
        self.rows.append(row)
        write_text(self.path, format_history(self.rows))


class ResumedEpochCheck(keras.callbacks.Callback):
    """Fails the run when Keras' ``BackupAndRestore`` restored another epoch than the one read
    from its files (:func:`ei_tf.backup.restore_point`), on which the batch stream was placed.

    Reads ``model._initial_epoch``, the private attribute through which the callback hands
    the restored epoch to ``fit`` (Keras 3.15); a Keras that hands it over otherwise fails here
    instead of training on a shifted batch stream. Goes after ``BackupAndRestore``.
    """

    def __init__(self, expected: int):
        super().__init__()
        self.expected = expected

    def on_train_begin(self, logs=None):
        restored = getattr(self.model, "_initial_epoch", None) or 0
        if restored != self.expected:
            raise BackupError(
                f"Keras' BackupAndRestore resumed from epoch {restored} but its files say "
                f"{self.expected}: the installed Keras {keras.__version__} handles its backup "
                f"otherwise than Keras 3.15, for which this code is written")


def move_aside(run_dir: Path) -> Path:
    """Rename ``run_dir`` to ``<run_dir>.replaced-<UTC time>`` (a free name) and return it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    try:
        os.rename(run_dir, aside)
    except OSError as err:
        raise ConfigError(f"cannot move {run_dir} aside to {aside}: {err.strerror}") from None
    return aside


def read_completed(run_dir: Path):
    """:func:`ei_tf.layout.completed`, with what to do about a damaged record."""
    try:
        return layout.completed(run_dir)
    except ConfigError as err:
        raise ConfigError(f"{err}; move {run_dir} aside, or use --force (moves it aside)") \
            from None


def _check_run_dir(run_dir: Path, cfg: Config) -> None:
    """Refuse a run directory that holds another config's run or a damaged file (reads only)."""
    saved = run_dir / layout.CONFIG
    if saved.exists():
        try:
            previous = layout.run_config(run_dir)
        except yaml.YAMLError as err:  # e.g. cut off by a crash while it was written
            raise ConfigError(f"{saved} is not valid YAML ({yaml_problem(err)}); repair it, "
                              f"or use --force (moves the run aside)") from None
        differing = run_config_changes(previous, cfg)
        if differing:
            raise ConfigError(
                f"{run_dir} holds a run with a different config (fields: "
                f"{', '.join(differing)}); use --out for a new location or --force (moves the "
                f"run aside)")
    read_completed(run_dir)
    try:
        read_history(run_dir / layout.HISTORY)
    except ConfigError as err:
        raise ConfigError(f"{err}; repair it, or use --force (moves the run aside)") from None
    backup = run_dir / layout.BACKUP
    check_fingerprint(backup, cfg, run_dir, config_matches=saved.exists())
    restore_point(backup)  # a backup this code cannot read stops the run here


def prepare_run_dir(run_dir: Path, cfg: Config, force: bool = False):
    """Create the run directory, or check the one there, and write ``config.yaml``.

    With ``force`` an existing directory is moved aside whole, to
    ``<run_dir>.replaced-<UTC time>/`` (printed), and the run starts in a new one. Otherwise it
    must hold a run of this config: a different ``config.yaml``, a damaged ``completed.json``
    or ``history.csv``, or a backup written by another config or in a format this code cannot
    read is a :class:`ConfigError`, and nothing is written.
    """
    if force and run_dir.exists():
        print(f"{run_dir}: the previous run is moved to {move_aside(run_dir)}", flush=True)
    elif run_dir.is_dir():
        _check_run_dir(run_dir, cfg)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create run directory {run_dir}: {err.strerror}") from None
    saved = run_dir / layout.CONFIG
    try:
        write_text(saved, dump_config(cfg))
    except OSError as err:
        raise ConfigError(f"cannot write {saved}: {err.strerror}") from None


def train(cfg: Config, seed: int, out="runs", force=False, verbose="auto", callbacks=(),
          on_export=()) -> dict:
    """Train (or resume, or report) one seed of ``cfg``; returns the completion record.

    ``callbacks`` are extra Keras callbacks, run after the built-in ones. ``on_export`` are
    callables ``(savedmodel_dir, epoch)`` run after each export (``train.py`` passes
    :class:`ei_tf.analysis.summaries.AnalysisSummaries`). Under a multi-worker
    strategy every worker calls this with the same arguments (``out`` on a file system they
    share, so that all resume from the chief's backup); only the chief writes into the run
    directory.
    """
    strategy = make_strategy(cfg)  # first: a multi-worker strategy must precede other TF ops
    chief = is_chief(strategy)
    run_dir = layout.run_dir(out, cfg.name, seed)
    if chief:
        prepare_run_dir(run_dir, cfg, force)
    done_file = run_dir / layout.COMPLETED
    record = None if force and not chief else read_completed(run_dir)
    if record is not None:
        print(f"{run_dir}: already complete (test accuracy {record['test_accuracy']:.4f})")
        return record
    print(f"run directory: {run_dir}{'' if chief else ' (written by the chief)'}\n"
          f"devices: {describe_devices(strategy)}", flush=True)

    keras.utils.set_random_seed(seed)
    if cfg.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    data = load_datasets(cfg.data, seed)
    made_by = {**provenance(), "data": data.identity}
    steps = cfg.training.steps_per_epoch or math.ceil(data.train_size / cfg.data.batch_size)
    with strategy.scope():
        model = build_model(cfg)
        compile_model(model, cfg, steps)

    backup = run_dir / layout.BACKUP
    # With force the chief has moved the run aside: the other workers start afresh too.
    resumed_epoch = 0 if force and not chief else restore_point(backup).epoch
    throughput = TrainThroughput(steps * cfg.data.batch_size)
    # Raising (not a graceful stop) keeps the last completed epoch's backup and exports.
    common = [throughput, keras.callbacks.TerminateOnNaN(raise_error=True)]
    if chief:
        write_fingerprint(backup, cfg)
        writer = SavedModelWriter(model, cfg, made_by, after_write=on_export)
        initial = layout.export_dir(run_dir, cfg.export.model_name) / "0"
        if 0 in cfg.export.epochs and not initial.exists():
            writer.write(initial, 0)
        role = [
            EpochExport(run_dir, writer),
            # Kept when training stops on NaN; removed below once the run has completed. The
            # previous epoch's copy is kept while the next is written (a kill mid-write).
            keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False,
                                             double_checkpoint=True),
            ResumedEpochCheck(resumed_epoch),
            HistoryCSV(run_dir / layout.HISTORY, resumed_epoch),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
        ]
    else:
        role = [] if force else [RestoreBackup(backup)]
    callbacks = [*common, *role, *callbacks]
    # The batch stream resumes where the backed-up epoch left it.
    train_data = data.train_from_batch(resumed_epoch * steps)
    start = time.time()
    try:
        if is_multi_worker(strategy):
            evaluate = fit_multi_worker(
                model, strategy, train_data, data.test(), epochs=cfg.training.epochs,
                initial_epoch=resumed_epoch, steps_per_epoch=steps, callbacks=callbacks,
                validation_epochs=cfg.training.validation_epochs(),
                verbose=verbose if chief else 0)
        else:
            model.fit(train_data, epochs=cfg.training.epochs, steps_per_epoch=steps,
                      validation_data=data.test(),
                      validation_freq=cfg.training.validation_epochs(), callbacks=callbacks,
                      shuffle=False, verbose=verbose)
            evaluate = functools.partial(model.evaluate, data.test(), verbose=0,
                                         return_dict=True)
    except RuntimeError as err:
        if "NaN or Inf loss" not in str(err):
            raise
        kept = (f"the last completed epoch is kept in {backup} (rerun to retry from it)"
                if keras_files(backup) else "no epoch had completed (a rerun starts afresh)")
        raise FloatingPointError(
            f"training of {run_dir} stopped: the loss became NaN or Inf; {kept}") from None
    seconds = time.time() - start
    # The last epoch's test accuracy (Keras' History of this session; the last epoch is always
    # tested) is the final model's; the test set is evaluated again only when no epoch ran in
    # this session.
    tested = model.history.history.get("val_accuracy")
    test_accuracy = tested[-1] if tested else evaluate()["accuracy"]
    record = {"test_accuracy": float(test_accuracy), "epochs": cfg.training.epochs,
              "replicas": strategy.num_replicas_in_sync,
              "seconds_this_session": seconds,
              "train_images_per_second": statistics.median(throughput.rates)
              if throughput.rates else None,
              "provenance": made_by}
    if chief:
        model.save(run_dir / "model.keras")
        shutil.rmtree(backup, ignore_errors=True)
        write_json(done_file, record, indent=1)
    print(f"{run_dir}: test accuracy {test_accuracy:.4f}")
    return record

"""Training one run: optimizer, schedule, strategy, callbacks, ``model.fit``, resume, export.

Paper section 2 / Appendix A (design.md section 3): SGD with momentum 0.9, learning rate 0.1
divided by 10 at epochs 100, 150 and 200 of 250, weight decay ``2e-4 * 0.5 * sum(w**2)`` (as
Keras L2 regularizers on every weight, built into the model). A run directory
``<out>/<config name>/seed_<N>/`` holds ``config.yaml``, ``history.csv`` (per-epoch train and test
loss/accuracy; Keras' ``val_*`` columns are the test set), ``tensorboard/``, ``backup/`` (resume
state, removed when the run completes), ``model.keras`` and ``export/`` (SavedModels).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import statistics
import time
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from .config import (Config, ConfigError, config_diff, config_from_dict, dump_config,
                     parse_yaml, yaml_problem)
from .data import load_datasets
from .distributed import (RestoreBackup, fit_multi_worker, is_chief, is_multi_worker,
                          make_strategy)
from .export import EpochExport, SavedModelWriter, export_dir
from .model import build_model

COMPLETED = "completed.json"


def run_dir_for(out, cfg: Config, seed: int) -> Path:
    return Path(out) / cfg.name / f"seed_{seed}"


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
    """Training images per second of each epoch, timed over its training batches only."""

    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_test_begin(self, logs=None):  # validation follows the epoch's last training batch
        self.rates.append(self.images_per_epoch / (time.perf_counter() - self.start))


def backed_up_epoch(backup: Path) -> int:
    """Epochs completed according to a ``BackupAndRestore`` directory (0 when there is none).

    Reads the metadata the callback restores from: ``training_metadata.json``, or its previous
    copy when the current one is unreadable (as the callback falls back to it).
    """
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(json.loads((backup / name).read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0


def prepare_run_dir(run_dir: Path, cfg: Config, force: bool = False):
    """Create the run directory; refuse to reuse one that holds a different config."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create run directory {run_dir}: {err.strerror}") from None
    saved = run_dir / "config.yaml"
    if saved.exists() and not force:
        try:
            previous = config_from_dict(parse_yaml(saved.read_text()), str(saved))
        except yaml.YAMLError as err:  # e.g. cut off by a crash while it was written
            raise ConfigError(f"{saved} is not valid YAML ({yaml_problem(err)}); repair it, "
                              f"or use --force to overwrite it") from None
        # The seed list, description and TensorBoard summaries do not change what this one
        # run computes.
        differing = [k for k in config_diff(previous, cfg)
                     if not k.startswith(("seeds", "description", "export.tensorboard_"))]
        if differing:
            raise ConfigError(
                f"{run_dir} holds a run with a different config (fields: "
                f"{', '.join(differing)}); use --out for a new location or --force to "
                f"overwrite")
    try:
        saved.write_text(dump_config(cfg))
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
    run_dir = run_dir_for(out, cfg, seed)
    if chief:
        prepare_run_dir(run_dir, cfg, force)
    done_file = run_dir / COMPLETED
    if done_file.exists() and not force:
        record = json.loads(done_file.read_text())
        print(f"{run_dir}: already complete (test accuracy {record['test_accuracy']:.4f})")
        return record

    keras.utils.set_random_seed(seed)
    if cfg.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    data = load_datasets(cfg.data, seed)
    steps = cfg.training.steps_per_epoch or math.ceil(data.train_size / cfg.data.batch_size)
    with strategy.scope():
        model = build_model(cfg)
        compile_model(model, cfg, steps)

    backup = run_dir / "backup"
    resumed_epoch = backed_up_epoch(backup)
    throughput = TrainThroughput(steps * cfg.data.batch_size)
    # Raising (not a graceful stop) keeps the last completed epoch's backup and exports.
    common = [throughput, keras.callbacks.TerminateOnNaN(raise_error=True)]
    if chief:
        writer = SavedModelWriter(model, cfg, after_write=on_export)
        if 0 in cfg.export.epochs and not (export_dir(run_dir, cfg) / "0").exists():
            writer.write(export_dir(run_dir, cfg) / "0", 0)
        role = [
            EpochExport(run_dir, writer),
            # Kept when training stops on NaN; removed below once the run has completed. The
            # previous epoch's copy is kept while the next is written (a kill mid-write).
            keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False,
                                             double_checkpoint=True),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
        ]
    else:
        role = [RestoreBackup(str(backup))]
    callbacks = [*common, *role, *callbacks]
    # The batch stream resumes where the backed-up epoch left it.
    train_data = data.train_from_batch(resumed_epoch * steps)
    start = time.time()
    try:
        if is_multi_worker(strategy):
            evaluate = fit_multi_worker(
                model, strategy, train_data, data.test(), epochs=cfg.training.epochs,
                initial_epoch=resumed_epoch, steps_per_epoch=steps, callbacks=callbacks,
                verbose=verbose if chief else 0)
        else:
            model.fit(train_data, epochs=cfg.training.epochs, steps_per_epoch=steps,
                      validation_data=data.test(), callbacks=callbacks, shuffle=False,
                      verbose=verbose)
            evaluate = functools.partial(model.evaluate, data.test(), verbose=0,
                                         return_dict=True)
    except RuntimeError as err:
        if "NaN or Inf loss" not in str(err):
            raise
        kept = (f"the last completed epoch is kept in {backup} (rerun to retry from it)"
                if backup.is_dir() else "no epoch had completed (a rerun starts afresh)")
        raise FloatingPointError(
            f"training of {run_dir} stopped: the loss became NaN or Inf; {kept}") from None
    seconds = time.time() - start
    # The last epoch's test accuracy (Keras' History of this session) is the final model's;
    # the test set is evaluated again only when no epoch ran in this session.
    tested = model.history.history.get("val_accuracy")
    test_accuracy = tested[-1] if tested else evaluate()["accuracy"]
    record = {"test_accuracy": float(test_accuracy), "epochs": cfg.training.epochs,
              "replicas": strategy.num_replicas_in_sync,
              "seconds_this_session": seconds,
              "train_images_per_second": statistics.median(throughput.rates)
              if throughput.rates else None}
    if chief:
        model.save(run_dir / "model.keras")
        shutil.rmtree(backup, ignore_errors=True)
        done_file.write_text(json.dumps(record, indent=1))
    print(f"{run_dir}: test accuracy {test_accuracy:.4f}")
    return record

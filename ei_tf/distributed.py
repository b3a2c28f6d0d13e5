"""Distribution strategies and the multi-worker training loop (``training.distribute``).

* ``auto``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster of more than
  one task, else ``MirroredStrategy`` over all GPUs when several are visible, else the default
  strategy;
* ``mirrored``: ``MirroredStrategy`` over all GPUs, or all logical CPU devices when there is no
  GPU;
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` (the cluster from ``TF_CONFIG``; without it
  a one-worker cluster);
* ``none``: the default strategy.

Keras 3's ``fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585: it
reduces the per-replica scalar logs along an axis they do not have). :func:`fit_multi_worker`
therefore drives the model's own ``train_step`` and ``test_step`` through ``strategy.run``
(the one definition of the step, with its gradient all-reduce in the optimizer), reduces the
logs across workers, and calls the same Keras callbacks as ``fit``. The caller gives only the
chief (:func:`is_chief`) the callbacks that write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import tensorflow as tf

from .backup import restore_point
from .config import Config, ConfigError

_MULTI_WORKER = None  # a process holds at most one (its collective ops are set up once)


def tf_config_tasks() -> int:
    """Number of tasks in the ``TF_CONFIG`` cluster (0 when the variable is not set)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return 0
    try:
        cluster = json.loads(raw)["cluster"]
        return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError("TF_CONFIG is not a JSON object with a 'cluster' of 'worker' (and "
                          "optionally 'chief') address lists and a 'task'") from None


def make_strategy(cfg: Config) -> tf.distribute.Strategy:
    """The strategy ``cfg.training.distribute`` asks for (module docstring).

    Call it before any other TensorFlow operation of the process: a multi-worker strategy
    configures the collective ops, which TensorFlow allows only at start-up.
    """
    global _MULTI_WORKER
    mode = cfg.training.distribute
    tasks = tf_config_tasks()
    if mode == "multi_worker" or (mode == "auto" and tasks > 1):
        if _MULTI_WORKER is None:
            _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy()
        return _MULTI_WORKER
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "none" or (mode == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the one task that writes: the ``chief``, else worker 0, else a lone process."""
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type or resolver.task_type == "chief":
        return True
    roles = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in roles


class RestoreBackup(keras.callbacks.Callback):
    """``BackupAndRestore``'s restore without its writes, for the workers other than the chief
    (which owns the directory): loads the weights the callback itself would restore
    (:func:`ei_tf.backup.restore_point`: the current copy, else the previous one). The run
    resumes from the epoch the caller reads from the same files."""

    def __init__(self, backup):
        super().__init__()
        self.backup = Path(backup)

    def on_train_begin(self, logs=None):
        weights = restore_point(self.backup).weights
        if weights is not None:
            self.model.load_weights(str(weights))


def _sharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Every worker builds the same batch stream (a function of seed and epoch); each takes
    its replicas' share of every global batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _replicated(strategy: tf.distribute.Strategy, step):
    """``step`` (the model's ``train_step`` or ``test_step``) on every replica; its logs are the
    mean over replicas, the same on every worker."""

    @tf.function(autograph=False)  # Keras steps need no conversion
    def run(batch):
        logs = strategy.run(step, args=(batch,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    return run


def build_for_steps(model: keras.Model, strategy: tf.distribute.Strategy,
                    dataset: tf.data.Dataset) -> None:
    """Create every variable the steps use (compiled loss and metrics, optimizer slots) in the
    strategy's scope, from one batch, as ``fit`` does before its first step; metrics are reset
    afterwards."""
    x, y = next(iter(dataset.take(1)))
    with strategy.scope():
        y_pred = model(x, training=False)
        model.compute_loss(x, y, y_pred)
        model.compute_metrics(x, y, y_pred, sample_weight=None)
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def evaluate_multi_worker(model, strategy, test_step, test_data, callbacks=None) -> dict:
    """The test-set metrics (``model.evaluate``'s logs), every worker taking part."""
    model.reset_metrics()
    if callbacks is not None:
        callbacks.on_test_begin()
    logs = {}
    for batch in strategy.experimental_distribute_dataset(_sharded(test_data)):
        logs = test_step(batch)
    logs = {k: float(v) for k, v in logs.items()}
    if callbacks is not None:
        callbacks.on_test_end(logs)
    return logs


def fit_multi_worker(model: keras.Model, strategy: tf.distribute.Strategy,
                     train_data: tf.data.Dataset, test_data: tf.data.Dataset, *, epochs: int,
                     initial_epoch: int, steps_per_epoch: int, callbacks, verbose="auto"):
    """``model.fit(train_data, epochs, initial_epoch, steps_per_epoch, validation_data=test_data,
    callbacks)`` under a multi-worker strategy (module docstring). Returns the evaluation
    function for the test set (``() -> logs``)."""
    build_for_steps(model, strategy, train_data)
    train_step = _replicated(strategy, model.train_step)
    test_step = _replicated(strategy, model.test_step)
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model,
        verbose=1 if verbose == "auto" else verbose, epochs=epochs, steps=steps_per_epoch)
    batches = iter(strategy.experimental_distribute_dataset(_sharded(train_data)))
    model.stop_training = False
    callbacks.on_train_begin()
    epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callbacks.on_train_batch_begin(step)
            logs = {k: float(v) for k, v in train_step(next(batches)).items()}
            callbacks.on_train_batch_end(step, logs)
        validation = evaluate_multi_worker(model, strategy, test_step, test_data, callbacks)
        epoch_logs = {**logs, **{f"val_{k}": v for k, v in validation.items()}}
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callbacks.on_train_end(epoch_logs)
    return lambda: evaluate_multi_worker(model, strategy, test_step, test_data)

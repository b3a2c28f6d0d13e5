"""Distribution strategies and the multi-worker training loop (``training.distribute``).

* ``auto``: ``MultiWorkerMirroredStrategy`` when the cluster (``training.cluster``) has more
  than one task, else ``MirroredStrategy`` over all GPUs when several are visible, else the
  default strategy;
* ``mirrored``: ``MirroredStrategy`` over all GPUs, or all logical CPU devices when there is no
  GPU;
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` (without a cluster, a one-worker one);
* ``none``: the default strategy.

The cluster comes from TensorFlow's cluster resolvers (``training.cluster``):
``TFConfigClusterResolver`` reads ``TF_CONFIG``; ``SlurmClusterResolver`` reads the job step of
``srun`` (one task per worker; hosts from ``SLURM_STEP_NODELIST``, rank from ``SLURM_PROCID``).
``auto`` takes ``TF_CONFIG`` when it is set, else SLURM when the job step has more than one
task (so a one-task job, e.g. a job array's task, trains alone).

Keras 3's ``fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585: it
reduces the per-replica scalar logs along an axis they do not have). :func:`fit_multi_worker`
therefore drives the model's own ``train_step`` and ``test_step`` through ``strategy.run``
(the one definition of the step, with its gradient all-reduce in the optimizer), reduces the
logs across workers, and calls the same Keras callbacks as ``fit``. The caller gives only the
chief (:func:`is_chief`) the callbacks that write.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import tensorflow as tf

from .backup import restore_point
from .config import Config, ConfigError
from .provenance import describe_cpu, devices as machine_devices

_MULTI_WORKER = None  # a process holds at most one (its collective ops are set up once)
resolvers = tf.distribute.cluster_resolver


def slurm_port_base() -> int:
    """The first port of the workers' addresses under SLURM: derived from the job id, so that
    two jobs sharing a node do not collide (tasks of one node take consecutive ports)."""
    return 20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000


def _slurm_tasks() -> int:
    """Tasks of the current SLURM job step (0 outside ``srun``)."""
    try:
        return int(os.environ.get("SLURM_STEP_NUM_TASKS", "0"))
    except ValueError:
        raise ConfigError(f"SLURM_STEP_NUM_TASKS is not a number: "
                          f"{os.environ['SLURM_STEP_NUM_TASKS']!r}") from None


def cluster_resolver(cfg: Config):
    """The cluster resolver ``cfg.training.cluster`` asks for (module docstring), or None when
    there is no cluster to join."""
    kind = cfg.training.cluster
    if kind == "auto":
        kind = ("tf_config" if os.environ.get("TF_CONFIG", "").strip() else
                "slurm" if _slurm_tasks() > 1 else None)
    if kind == "slurm":
        tasks = _slurm_tasks()
        if tasks < 1:
            raise ConfigError("training.cluster is 'slurm' but this process is not a task of a "
                              "SLURM job step (no SLURM_STEP_NUM_TASKS; start it with srun)")
        # GPUs are left to SLURM (--gres, --gpus-per-task): the resolver does not set
        # CUDA_VISIBLE_DEVICES, and its GPU counts only have to admit one task per slot.
        try:
            resolver = resolvers.SlurmClusterResolver(
                port_base=slurm_port_base(), gpus_per_node=tasks, gpus_per_task=1,
                auto_set_gpu=False)
            resolver.cluster_spec()
        except (RuntimeError, ValueError) as err:
            raise ConfigError(f"cannot resolve the SLURM cluster: {err}") from None
        return resolver
    if kind == "tf_config":
        resolver = resolvers.TFConfigClusterResolver()
        try:
            resolver.cluster_spec()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError("TF_CONFIG is not a JSON object with a 'cluster' of 'worker' (and "
                              "optionally 'chief') address lists and a 'task'") from None
        return resolver
    return None


def cluster_tasks(resolver) -> int:
    """Number of chief and worker tasks of the resolver's cluster (0 without a cluster)."""
    if resolver is None:
        return 0
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(role, [])) for role in ("chief", "worker"))


def make_strategy(cfg: Config) -> tf.distribute.Strategy:
    """The strategy ``cfg.training.distribute`` asks for (module docstring).

    Call it before any other TensorFlow operation of the process: a multi-worker strategy
    configures the collective ops, which TensorFlow allows only at start-up.
    """
    global _MULTI_WORKER
    mode = cfg.training.distribute
    resolver = cluster_resolver(cfg) if mode in ("auto", "multi_worker") else None
    if mode == "multi_worker" or (mode == "auto" and cluster_tasks(resolver) > 1):
        if _MULTI_WORKER is None:
            _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=resolver or resolvers.TFConfigClusterResolver())
        return _MULTI_WORKER
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "none" or (mode == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    """The devices this process trains on, e.g. ``CPU:0 (Intel Xeon, 2 cores)`` or
    ``GPU:0, GPU:1 (NVIDIA A100)``, and a worker's place in a multi-worker cluster."""
    try:
        names = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: TensorFlow's first GPU, else the CPU
        names = [(tf.config.list_logical_devices("GPU")
                  or tf.config.list_logical_devices("CPU"))[0].name]
    specs = [tf.DeviceSpec.from_string(name) for name in names]
    text = ", ".join(f"{s.device_type}:{s.device_index}" for s in specs)
    machine = machine_devices()
    if any(s.device_type == "GPU" for s in specs):
        text += f" ({', '.join(dict.fromkeys(machine['gpus'])) or 'GPU'})"
    else:
        text += f" ({describe_cpu(machine)}, {machine['cpu_cores']} cores)"
    resolver = strategy.cluster_resolver if is_multi_worker(strategy) else None
    if resolver is not None and resolver.task_type:
        text += (f"; {resolver.task_type} {resolver.task_id} of a cluster of "
                 f"{cluster_tasks(resolver)} tasks")
    return text


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
                     initial_epoch: int, steps_per_epoch: int, callbacks,
                     validation_epochs=None, verbose="auto"):
    """``model.fit(train_data, epochs, initial_epoch, steps_per_epoch, validation_data=test_data,
    validation_freq=validation_epochs, callbacks)`` under a multi-worker strategy (module
    docstring): the test set is evaluated after the (1-based) epochs of ``validation_epochs``
    (``None``: after each). Returns the evaluation function for the test set
    (``() -> logs``)."""
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
        epoch_logs = dict(logs)
        if validation_epochs is None or epoch + 1 in validation_epochs:
            validation = evaluate_multi_worker(model, strategy, test_step, test_data, callbacks)
            epoch_logs.update((f"val_{k}", v) for k, v in validation.items())
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callbacks.on_train_end(epoch_logs)
    return lambda: evaluate_multi_worker(model, strategy, test_step, test_data)

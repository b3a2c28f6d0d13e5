"""Multi-worker training: two worker processes on 127.0.0.1 under TF_CONFIG."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import CONFIGS, ROOT
from ei_tf.history import read_history

pytestmark = pytest.mark.tf

WORKER = """
import sys
import keras
import numpy as np
from ei_tf.config import load_config, smoke
from ei_tf.training import train

class Losses(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("LOSS", repr(logs["loss"]), flush=True)

    def on_train_end(self, logs=None):
        total = sum(float(np.abs(np.asarray(w, np.float64)).sum())
                    for w in self.model.trainable_weights)
        print("WEIGHTS", repr(total), flush=True)

cfg = smoke(load_config(sys.argv[1], [
    "data.dataset=synthetic", "training.distribute=multi_worker", "model.pn_channels=[8, 16]",
    "model.ig_channels=[2, 4]", "model.og_channels=[2, 4]"]))
cfg.training.epochs, cfg.training.validation_freq = 2, 2  # the test set after epoch 2 only
record = train(cfg, 0, out=sys.argv[2], verbose=0, callbacks=[Losses()])
print("RECORD", record["replicas"], record["test_accuracy"], flush=True)
"""


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_in_step_and_only_the_chief_writes(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    outs = [tmp_path / "chief", tmp_path / "worker1"]
    procs = []
    for index, out in enumerate(outs):
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(CONFIGS / "fig2_standard.yaml"), str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-3000:]
    losses = [[line for line in stdout.splitlines() if line.startswith("LOSS")]
              for stdout, _ in results]
    # 2 epochs of 32 images in global batches of 8
    assert len(losses[0]) == 8 and losses[0] == losses[1]
    # Each worker trained on its half of every batch: equal weights mean all-reduced gradients.
    # (BatchNorm's moving statistics are each worker's own, as under MirroredStrategy.)
    for tag in ("WEIGHTS", "RECORD"):
        lines = [[line for line in stdout.splitlines() if line.startswith(tag)]
                 for stdout, _ in results]
        assert len(lines[0]) == 1 and lines[0] == lines[1]
    assert "RECORD 2 " in results[0][0]

    run_dir = outs[0] / "fig2_standard" / "seed_0"
    assert (run_dir / "completed.json").is_file()
    rows = read_history(run_dir / "history.csv")
    assert [(r["epoch"], r["val_accuracy"] != "") for r in rows] == [("0", False), ("1", True)]
    assert f"RECORD 2 {float(rows[-1]['val_accuracy'])}" in results[0][0]
    assert not outs[1].exists()  # the other worker wrote nothing

    loader = subprocess.run(
        [sys.executable, "-c", "import sys, numpy as np, tensorflow as tf\n"
         "m = tf.saved_model.load(sys.argv[1])\n"
         "out = m.signatures['serving_default'](image=tf.zeros([2, 32, 32, 3]))\n"
         "print(out['probabilities'].numpy().sum(axis=1))",
         str(run_dir / "export" / "ei_model" / "2")],  # the last epoch
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert loader.returncode == 0, loader.stderr[-3000:]
    np.testing.assert_allclose(np.array(loader.stdout.strip(" []\n").split(), float), 1.0,
                               rtol=1e-5)


SLURM_TWO_NODES = {"SLURM_JOB_ID": "4242", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2",
                   "SLURM_STEP_NODELIST": "node[07-08]", "SLURM_STEP_TASKS_PER_NODE": "1(x2)"}


@pytest.fixture
def no_cluster(monkeypatch):
    for name in ("TF_CONFIG", "CUDA_VISIBLE_DEVICES", *SLURM_TWO_NODES):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _config(**training):
    from ei_tf.config import load_config

    return load_config("quickstart", [f"training.{k}={v}" for k, v in training.items()])


def test_slurm_job_step_of_two_tasks_is_a_two_worker_cluster(no_cluster):
    from ei_tf.distributed import cluster_resolver, cluster_tasks, slurm_port_base

    for name, value in SLURM_TWO_NODES.items():
        no_cluster.setenv(name, value)
    resolver = cluster_resolver(_config())  # auto: SLURM, as the step has two tasks
    port = slurm_port_base()
    assert port == 20000 + 4242
    assert resolver.cluster_spec().as_dict() == {"worker": [f"node07:{port}", f"node08:{port}"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    assert cluster_tasks(resolver) == 2
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # GPUs are left to SLURM


def test_tf_config_wins_over_slurm_and_one_task_is_no_cluster(no_cluster):
    from ei_tf.config import ConfigError
    from ei_tf.distributed import cluster_resolver

    no_cluster.setenv("SLURM_STEP_NUM_TASKS", "1")  # e.g. one task of a job array
    assert cluster_resolver(_config()) is None
    assert cluster_resolver(_config(cluster="tf_config")).cluster_spec().as_dict() == {}
    with pytest.raises(ConfigError, match="not a task of a SLURM job step"):
        no_cluster.delenv("SLURM_STEP_NUM_TASKS")
        cluster_resolver(_config(cluster="slurm"))
    for name, value in SLURM_TWO_NODES.items():
        no_cluster.setenv(name, value)
    no_cluster.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1", "c:1"]},
                                               "task": {"type": "worker", "index": 2}}))
    resolver = cluster_resolver(_config())
    assert resolver.cluster_spec().as_dict() == {"worker": ["a:1", "b:1", "c:1"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 2)

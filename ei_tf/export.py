"""SavedModel export in TF Serving's layout (design.md section 5).

``<run>/export/<model_name>/<epoch>/`` holds a SavedModel with tag ``serve`` and signatures

* ``serving_default``: ``image`` float32 ``[None, H, W, 3]`` in 0-255 -> ``logits``,
  ``probabilities``;
* ``activity``: ``image`` -> ``area{k}_{POP}`` ``[None, T, H_k, W_k, C]`` for every recurrent
  area and population (PN/E before pooling; IG, OG, I after their ReLU), every time step;
* ``connectivity``: no input -> ``area{k}_{PRE}_to_{POST}`` effective kernels ``[k, k, C_in,
  C_out]`` (after the sign constraint, before the population's sign).

The names of the layout and of the signatures are :mod:`ei_tf.layout`'s.
``assets.extra/ei_tf.json`` records the resolved config, the epoch and the provenance (code,
software, devices and data; :func:`ei_tf.provenance.provenance`), so analysis needs only the
SavedModel. A version is written under a temporary name and renamed into place, so a
half-written SavedModel never appears as a version.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from .config import Config
from .files import write_json
from .layout import ACTIVITY, CONNECTIVITY, METADATA, SERVING, export_dir
from .model import activity_outputs, connectivity_kernels
from .provenance import provenance


class SavedModelWriter:
    """The model's three signatures, traced once and written out at every exported epoch.

    Tracing the forward pass is most of an export's time, so the signatures are traced into
    concrete functions here, once; saving a concrete function never traces it again. They read
    the model's variables, so each write saves their current values.
    """

    def __init__(self, model: keras.Model, cfg: Config, made_by: dict | None = None,
                 after_write=()):
        """``made_by``: the provenance recorded in each SavedModel's metadata (the trainer's
        adds the data's identity); ``after_write``: callables ``(path, epoch)`` run after each
        SavedModel is in place (e.g. :class:`ei_tf.analysis.summaries.AnalysisSummaries`)."""
        self.cfg = cfg
        self.made_by = made_by or provenance()
        self.after_write = list(after_write)
        size = cfg.data.image_size
        spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="image")
        # One traced forward pass serves both image signatures.
        combined = keras.Model(model.inputs,
                               {"logits": model.outputs[0], **activity_outputs(model)})

        @tf.function(autograph=False)
        def forward(image):
            return combined(image, training=False)

        def serve(image):
            logits = forward(image)["logits"]
            return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

        def activity(image):  # float32 under every dtype policy
            return {k: tf.cast(v, tf.float32) for k, v in forward(image).items()
                    if k != "logits"}

        def connectivity():
            return connectivity_kernels(model)

        self.signatures = {
            SERVING: tf.function(serve, autograph=False).get_concrete_function(spec),
            ACTIVITY: tf.function(activity, autograph=False).get_concrete_function(spec),
            CONNECTIVITY: tf.function(connectivity, autograph=False).get_concrete_function(),
        }
        # The saved object graph: every variable the signatures read (weights and BatchNorm
        # moving statistics), as the TensorFlow variables they capture.
        self.root = tf.Module()
        self.root.model_variables = [v.value for v in model.variables]

    def write(self, path, epoch: int, extra=None) -> Path:
        """Write the SavedModel at ``path`` (atomically: temp dir, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{path.name}-{os.getpid()}"
        for stale in path.parent.glob(f".tmp-{path.name}-*"):  # left by a killed process
            shutil.rmtree(stale, ignore_errors=True)
        tf.saved_model.save(self.root, str(tmp), signatures=self.signatures)

        meta = {"epoch": int(epoch), "config": self.cfg.to_dict(),
                "provenance": self.made_by, **(extra or {})}
        (tmp / "assets.extra").mkdir(exist_ok=True)
        write_json(tmp / METADATA, meta, indent=1)
        if path.exists():  # re-export of the same epoch after a resume: replace it whole
            old = path.parent / f".old-{path.name}-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        for hook in self.after_write:
            hook(path, epoch)
        return path


def export_savedmodel(model: keras.Model, path, cfg: Config, epoch: int, extra=None,
                      made_by: dict | None = None) -> Path:
    """Write ``model`` as a SavedModel at ``path`` (one export; see :class:`SavedModelWriter`)."""
    return SavedModelWriter(model, cfg, made_by).write(path, epoch, extra)


class EpochExport(keras.callbacks.Callback):
    """Export after each epoch of ``cfg.export.epochs`` and after the last one."""

    def __init__(self, run_dir, writer: SavedModelWriter):
        super().__init__()
        self.root = export_dir(run_dir, writer.cfg.export.model_name)
        self.writer = writer
        self.schedule = set(writer.cfg.export.epochs) | {writer.cfg.training.epochs}

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1  # version = number of completed epochs; 0 is the initial model
        if done in self.schedule:
            self.writer.write(self.root / str(done), done,
                              extra={"logs": {k: float(v) for k, v in (logs or {}).items()}})

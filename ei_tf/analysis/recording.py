"""Recording model neurons from an exported SavedModel (paper section 2, Appendix C).

Works from the SavedModel alone (``tf.saved_model.load``; no ei_tf model code): the
``activity`` signature gives ``area{k}_{POP}`` maps ``[B, T, H, W, C]`` and the
``connectivity`` signature the effective kernels ``area{k}_{PRE}_to_{POST}``
``[k, k, C_in, C_out]`` (design.md sections 5-6).

A model neuron is one channel at the centre position ``(H // 2, W // 2)`` of its area's map;
its response to an image is the activation averaged over the T time steps.  The centre unit
and the time average are taken inside a ``tf.function`` around the signature, so only
``[B, C]`` arrays reach numpy and memory stays bounded by one batch of activity maps.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np

from ei_tf.layout import ACTIVITY, CONNECTIVITY

REQUIRED_SIGNATURES = (ACTIVITY, CONNECTIVITY)
DEFAULT_BATCH_SIZE = 256


class AnalysisError(ValueError):
    """A problem the user can fix (missing run, export, signature or data); one-line message."""


# --------------------------------------------------------------------------------------------
# SavedModel files


def _signature_defs(savedmodel_dir) -> dict:
    """The ``serve`` MetaGraph's signature definitions, read from ``saved_model.pb`` without
    loading the model (fast enough to validate every epoch before any computation)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(savedmodel_dir) / "saved_model.pb"
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist (not a SavedModel directory)")
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(path.read_bytes())
    except Exception:  # a truncated or foreign file
        raise AnalysisError(f"{path} is not a readable SavedModel") from None
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags or not meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    return {}


def savedmodel_signatures(savedmodel_dir) -> list[str]:
    """Signature names of the ``serve`` MetaGraph (see :func:`_signature_defs`)."""
    return sorted(_signature_defs(savedmodel_dir))


def savedmodel_image_size(savedmodel_dir) -> Optional[int]:
    """Height of the images the ``activity`` signature takes ``[None, H, W, 3]``, from
    ``saved_model.pb`` (None when the signature or its shape is missing)."""
    signature = _signature_defs(savedmodel_dir).get(ACTIVITY)
    if signature is None or len(signature.inputs) != 1:
        return None
    (tensor,) = signature.inputs.values()
    dims = [d.size for d in tensor.tensor_shape.dim]
    return dims[1] if len(dims) == 4 and dims[1] > 0 else None


def check_signatures(savedmodel_dir, required=REQUIRED_SIGNATURES) -> None:
    """Raise :class:`AnalysisError` naming the first required signature the SavedModel lacks."""
    present = savedmodel_signatures(savedmodel_dir)
    for name in required:
        if name not in present:
            raise AnalysisError(
                f"SavedModel {savedmodel_dir} has no '{name}' signature (it has: "
                f"{', '.join(present) or 'none'}); re-export it with ei_tf.export")


def savedmodel_fingerprint(savedmodel_dir) -> str:
    """SHA-256 of ``saved_model.pb`` and ``variables/variables.index``.

    The variables index stores a checksum of every saved tensor, so a change of the graph or
    of any weight changes the fingerprint without hashing the (possibly large) data shards.
    """
    root = Path(savedmodel_dir)
    digest = hashlib.sha256()
    for rel in ("saved_model.pb", "variables/variables.index"):
        path = root / rel
        digest.update(rel.encode() + b"\0")
        if path.is_file():
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A one-line progress report on ``stream`` (stderr by default) for long recordings.

    On a terminal the line is rewritten in place; otherwise a line is printed at most every
    ``interval`` seconds and at the end.  ``enabled=False`` prints nothing.
    """

    def __init__(self, label: str, total: int, stream=None, enabled: bool = True,
                 interval: float = 5.0):
        self.label, self.total = label, int(total)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interval = interval
        self.start = self.last = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        final = done >= self.total
        if not final and now - self.last < (0.5 if self.tty else self.interval):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        line = (f"  {self.label}: {done}/{self.total} images, {elapsed:.1f} s "
                f"({done / elapsed:.0f} images/s)")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# The loaded model


class LoadedModel:
    """A SavedModel loaded for analysis: centre-unit recording and connectivity kernels.

    Args:
        savedmodel_dir: ``<run>/export/<model_name>/<epoch>``.
    """

    def __init__(self, savedmodel_dir):
        import tensorflow as tf

        self.path = Path(savedmodel_dir)
        check_signatures(self.path)
        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(str(self.path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            first = (str(err).strip().splitlines() or [""])[0]
            raise AnalysisError(f"cannot load SavedModel {self.path}: {type(err).__name__}: "
                                f"{first}") from None
        self._activity = self._loaded.signatures[ACTIVITY]
        self._connectivity = self._loaded.signatures[CONNECTIVITY]
        _, inputs = self._activity.structured_input_signature
        if len(inputs) != 1:
            raise AnalysisError(f"the '{ACTIVITY}' signature of {self.path} must take one image "
                                f"input, it takes {sorted(inputs)}")
        (self.input_name, spec), = inputs.items()
        self.input_shape = tuple(spec.shape.as_list()[1:])  # (H, W, 3)
        self.populations = sorted(self._activity.structured_outputs)
        self.activity_shapes = {k: tuple(v.shape.as_list()[1:])
                                for k, v in self._activity.structured_outputs.items()}
        activity, name = self._activity, self.input_name

        @tf.function(input_signature=[tf.TensorSpec([None, *self.input_shape], tf.float32)],
                     autograph=False)
        def centre(images):
            maps = activity(**{name: images})
            out = {}
            for key, value in maps.items():  # [B, T, H, W, C]
                shape = tf.shape(value)
                unit = value[:, :, shape[2] // 2, shape[3] // 2, :]
                out[key] = tf.reduce_mean(unit, axis=1)
            return out

        self._centre = centre

    @property
    def image_size(self) -> Optional[int]:
        return self.input_shape[0]

    def activity_maps(self, images) -> dict:
        """The raw activity signature on one batch (float32 0-255 pixels): full maps."""
        images = self._tf.convert_to_tensor(np.asarray(images, np.float32))
        return {k: v.numpy() for k, v in self._activity(**{self.input_name: images}).items()}

    def record(self, images, batch_size: int = DEFAULT_BATCH_SIZE,
               progress: Optional[Callable[[int], None]] = None) -> dict[str, np.ndarray]:
        """Time-averaged centre-unit responses ``{'area3_PN': [N, C], ...}`` (float64).

        ``images`` are raw pixels ``[N, H, W, 3]`` (any numeric dtype, 0-255); they are
        converted to float32 one batch at a time.  ``progress(done)`` is called after each batch.
        """
        n = len(images)
        if n == 0:
            return {k: np.zeros((0, shape[-1])) for k, shape in self.activity_shapes.items()}
        chunks: dict[str, list] = {k: [] for k in self.populations}
        for start in range(0, n, batch_size):
            batch = np.asarray(images[start:start + batch_size], dtype=np.float32)
            out = self._centre(self._tf.constant(batch))
            for key, value in out.items():
                chunks[key].append(value.numpy())
            if progress is not None:
                progress(min(start + batch_size, n))
        return {k: np.concatenate(v).astype(np.float64) for k, v in chunks.items()}

    def connectivity(self) -> dict[str, np.ndarray]:
        """Effective kernels ``{'area3_PN_to_PN': [k, k, C_in, C_out], ...}`` (float64)."""
        return {k: v.numpy().astype(np.float64) for k, v in self._connectivity().items()}


def record_responses(model: LoadedModel, images, label: str = "images",
                     batch_size: int = DEFAULT_BATCH_SIZE, verbose: bool = True,
                     stream=None) -> Mapping[str, np.ndarray]:
    """:meth:`LoadedModel.record` with a progress line labelled ``label``."""
    bar = Progress(label, len(images), stream=stream, enabled=verbose)
    return model.record(images, batch_size=batch_size, progress=bar.update)

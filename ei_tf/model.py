"""``build_model(config)``: the convolutional recurrent network of paper Figure 1.

Raw RGB -> input normalization -> feedforward areas (conv, BatchNorm, ReLU, max-pool 3x3 'same',
computed once) -> recurrent areas (``RecurrentArea`` RNNs over T steps; area k+1 at step t is
driven by area k's pooled PN output of the same step) -> readout (max-pool of the last area's
PN, global average pooling, dense) from the last step (LastT) or the sum over steps (SumT).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .cells import CELLS, cell_arguments
from .config import Config
from .layers import PACKAGE, InputNormalization, PoolInTime, RecurrentArea, choice, l2, slice_axis


def area_name(index: int) -> str:
    """Paper numbering: feedforward areas are 1-2, so recurrent area ``index`` is ``area{3+i}``."""
    return f"area{index + 3}"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimeReadout(keras.layers.Layer):
    """LastT (the final step) or SumT (the sum over steps) of a ``[B, T, ...]`` sequence."""

    def __init__(self, mode="last", **kwargs):
        super().__init__(**kwargs)
        self.mode = choice(self, "mode", mode, ("last", "sum"))

    def call(self, sequence):
        if self.mode == "sum":
            return ops.sum(sequence, axis=1)
        return ops.squeeze(slice_axis(sequence, 1, sequence.shape[1] - 1, 1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _feedforward(x, cfg, decay, bn_decay):
    m = cfg.model
    for i, (channels, kernel, stride, pool) in enumerate(zip(
            m.ff_channels, m.ff_kernel_sizes, m.ff_conv_strides, m.ff_pool_strides)):
        name = f"area{i + 1}"
        if stride > 1:  # fixed padding, as the TF ResNet conv2d_fixed_padding
            total = kernel - 1
            x = layers.ZeroPadding2D(((total // 2, total - total // 2),) * 2,
                                     name=f"{name}_pad")(x)
        x = layers.Conv2D(channels, kernel, strides=stride,
                          padding="same" if stride == 1 else "valid", use_bias=False,
                          kernel_initializer=keras.initializers.VarianceScaling(
                              1.0, "fan_in", "truncated_normal"),
                          kernel_regularizer=l2(decay), name=f"{name}_conv")(x)
        x = layers.BatchNormalization(momentum=m.bn_momentum, epsilon=m.bn_epsilon,
                                      gamma_regularizer=l2(bn_decay),
                                      beta_regularizer=l2(bn_decay), name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(3, pool, padding="same", name=f"{name}_pool")(x)
    return x


def build_model(cfg: Config) -> keras.Model:
    """The Keras functional model ``image [B, H, W, 3] (0-255) -> logits [B, classes]``.

    Built under the dtype policy ``training.precision``; the input normalization and the
    readout are float32 in every policy. Layer names: ``area{k}`` is recurrent area k's RNN
    (output: ``[B, T, H, W, C]`` per population), ``area{k}_pool`` the pooling of its principal
    population (PN or E) that drives the next area or the readout.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.training.precision)
    try:
        return _build(cfg)
    finally:
        keras.config.set_dtype_policy(previous)


def _build(cfg: Config) -> keras.Model:
    m, d = cfg.model, cfg.data
    decay = cfg.training.weight_decay
    bn_decay = 0.0 if cfg.training.weight_decay_exclude_bn else decay
    image = keras.Input((d.image_size, d.image_size, 3), name="image")
    x = InputNormalization(m.preprocessing, m.channel_mean, dtype="float32",
                           name="input_normalization")(image)
    x = _feedforward(x, cfg, decay, bn_decay)
    sequence = x  # the first recurrent area's input: the same map at every step
    for i in range(m.n_areas):
        name = area_name(i)
        cell = CELLS[m.family](**cell_arguments(m, i), weight_decay=decay,
                               bn_weight_decay=bn_decay, name=f"{name}_cell")
        principal, *_ = RecurrentArea(cell, steps=m.time_steps if i == 0 else None,
                                      unroll=cfg.training.unroll, name=name)(sequence)
        sequence = PoolInTime(m.recurrent_pool_stride, name=f"{name}_pool")(principal)
    x = TimeReadout(m.readout, name=f"readout_{m.readout}")(sequence)
    x = layers.GlobalAveragePooling2D(name="readout_gap")(x)
    logits = layers.Dense(d.num_classes, kernel_regularizer=l2(decay),
                          bias_regularizer=l2(decay), dtype="float32", name="readout")(x)
    return keras.Model(image, logits, name=cfg.name.replace("-", "_"))


def recurrent_areas(model: keras.Model) -> list[RecurrentArea]:
    """The model's recurrent area layers in order (area3, area4, ...)."""
    return [layer for layer in model.layers if isinstance(layer, RecurrentArea)]


def activity_outputs(model: keras.Model) -> dict:
    """Symbolic ``{'area3_PN': [B, T, H, W, C], ...}`` for every area and population.

    PN (E) before pooling; IG, OG, I after their ReLU (design.md section 5).
    """
    return {f"{area.name}_{pop}": sequence for area in recurrent_areas(model)
            for (pop, _), sequence in zip(area.cell.populations, area.output)}


def connectivity_kernels(model: keras.Model) -> dict:
    """``{'area3_PN_to_PN': effective kernel [k, k, C_in, C_out], ...}`` (design.md section 6)."""
    return {f"{area.name}_{kind}": conv.effective_kernel()
            for area in recurrent_areas(model)
            for kind, conv in area.cell.connections().items()}


def model_fingerprint(cfg: Config, images: int = 2) -> dict:
    """What ``cfg``'s network computes, as numbers: ``{"initial", "redrawn", "weights"}``.

    ``initial``: the logits of the network built with seed 0 on fixed pseudo-random images, in
    inference mode, then in training mode (batch statistics, dropout on). ``redrawn``: the same
    logits once every trainable weight is redrawn from a fixed draw, each kernel uniformly with
    its initial values' root mean square, each vector (biases, BatchNorm scales and offsets,
    gate parameters) with unit variance. At initialization every PN of the Standard network is
    silent (its gates' inhibition exceeds its input, Appendix D), so ``initial`` holds no trace
    of the PN equations, and without BatchNorm it is all zeros; in the redrawn network PN
    respond in every area. ``weights``: the sum of squares of every initial weight, in
    ``model.weights`` order.

    Two versions of the code give the same fingerprint (within float32 round-off) exactly when
    they build the same network with the same initial weights and compute the same function
    of it: a result trained by code with another fingerprint was trained by another model.
    """
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    size = cfg.data.image_size
    x = np.random.default_rng(0).uniform(0, 255, (images, size, size, 3)).astype("float32")

    def logits() -> list[float]:
        return [float(v) for mode in (False, True)
                for v in ops.convert_to_numpy(model(x, training=mode)).ravel()]

    weights = [float(np.sum(np.square(ops.convert_to_numpy(w).astype(np.float64))))
               for w in model.weights]
    initial = logits()
    draw = np.random.default_rng(1)
    for weight in model.trainable_weights:
        value = ops.convert_to_numpy(weight)
        # a kernel of a population with no channels (e.g. ig_channels 0) has nothing to draw
        scale = float(np.sqrt(np.mean(np.square(value)))) if value.ndim > 1 and value.size else 1.0
        weight.assign((draw.uniform(-np.sqrt(3), np.sqrt(3), value.shape) * scale)
                      .astype(value.dtype))
    return {"initial": initial, "redrawn": logits(), "weights": weights}


def fingerprint_parts(fingerprint) -> dict:
    """A recorded :func:`model_fingerprint` as a dict of its parts: one recorded as a list of
    numbers (before ``redrawn`` and ``weights`` were recorded) is the ``initial`` part alone."""
    return {"initial": fingerprint} if isinstance(fingerprint, (list, tuple)) else fingerprint


def same_model(a, b) -> bool:
    """Whether two :func:`model_fingerprint` values describe the same model (round-off aside),
    compared on the parts both hold (:func:`fingerprint_parts`)."""
    a, b = fingerprint_parts(a), fingerprint_parts(b)
    shared = a.keys() & b.keys()
    return "initial" in shared and all(
        np.shape(a[k]) == np.shape(b[k]) and np.allclose(a[k], b[k], rtol=1e-3, atol=1e-4)
        for k in shared)

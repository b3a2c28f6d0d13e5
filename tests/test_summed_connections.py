"""The currents into one target population summed in one GEMM (``summed_connections``) against
the per-connection sum they replace: same values and gradients, same variables."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ei_tf import cells, layers
from ei_tf.config import load_config
from ei_tf.layers import DaleConv, summed_connections
from ei_tf.model import activity_outputs, build_model

SMALL = ["model.pn_channels=[8, 16]", "model.ig_channels=[2, 4]", "model.og_channels=[2, 4]",
         "model.i_channels=[2, 4]", "model.time_steps=3"]
EI = ["model.family=standard_ei", "model.normalization=e_current_bn"]
# Every variant in which a target population sums the currents of two recurrent sources.
VARIANTS = {
    "standard_ei": EI,
    "standard_ei_inhpn": EI + ["model.principal=inhibitory"],
    "standard_ei_no_constraint": EI + ["model.sign_constraint=none"],
    "standard_ei_relu_constraint": EI + ["model.sign_constraint=relu"],
    "standard_ei_regular_conv": EI + ["model.separable=false"],
    "standard_ei_i_current_bn": EI + ["model.i_current_bn=true"],
    "standard_ei_no_norm_no_i": ["model.family=standard_ei", "model.normalization=none",
                                 "model.i_channels=[0, 0]"],
    "standard_recurrent_ig": ["model.input_gate=sub", "model.recurrent_ig=true"],
    "standard_recurrent_ig_inhpn": ["model.input_gate=sub", "model.recurrent_ig=true",
                                    "model.principal=inhibitory"],
}


def per_connection(connections, training=False):
    """The sum as the cells computed it before: one connection (one GEMM) at a time."""
    return sum(conv(x, training=training) for conv, x in connections)


def connection(filters, in_channels, separable, constraint, sign, use_bias, seed):
    conv = DaleConv(filters, separable=separable, sign_constraint=constraint, sign=sign,
                    use_bias=use_bias)
    conv.build((None, 6, 6, in_channels))
    rng = np.random.default_rng(seed)
    for w in conv.weights:
        w.assign(rng.uniform(-0.3, 0.3, w.shape).astype("float32"))  # glorot's scale here
    return conv


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("constraint", ["abs", "relu", "none"])
@pytest.mark.parametrize("training", [True, False])
def test_one_gemm_computes_the_sum_of_the_connections(separable, constraint, training):
    """Three sources (one excitatory with a bias, two inhibitory, one of them without channels)
    into 5 channels: the fused sum and its gradients (inputs and every kernel and bias) equal
    the per-connection sum's within 1e-5."""
    rng = np.random.default_rng(0)
    convs = [connection(5, 4, separable, constraint, 1.0, True, 1),
             connection(5, 3, separable, constraint, -1.0, False, 2),
             connection(5, 0, separable, constraint, -1.0, True, 3)]
    inputs = [tf.constant(rng.normal(size=(2, 6, 6, conv.in_channels)), tf.float32)
              for conv in convs]
    weights = [w for conv in convs for w in conv.trainable_weights]
    results = []
    for currents in (summed_connections, per_connection):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = currents(list(zip(convs, inputs)), training=training)
            loss = tf.reduce_mean(tf.square(out) * tf.range(5.0))  # a mean, as the loss
        grads = tape.gradient(loss, inputs + [w.value for w in weights])
        results.append([out] + [tf.zeros_like(v) if g is None else g
                                for g, v in zip(grads, inputs + weights)])
    for fused, reference in zip(*results):
        assert fused.shape == reference.shape
        np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-5)
    assert np.any(np.abs(results[1][0]) > 0.5)


def test_the_sources_go_through_one_gemm(monkeypatch):
    """Two separable sources of 4 and 3 channels: one depthwise kernel [3, 3, 7, 1] and one
    pointwise kernel [1, 1, 7, C_out], the signs folded in; mismatched targets are refused."""
    calls = []
    apply = layers.apply_kernels
    monkeypatch.setattr(layers, "apply_kernels",
                        lambda x, kernels, *a: calls.append([k.shape for k in kernels])
                        or apply(x, kernels, *a))
    convs = [connection(5, 4, True, "abs", 1.0, True, 1),
             connection(5, 3, True, "abs", -1.0, False, 2)]
    x = [tf.ones((1, 6, 6, 4)), tf.ones((1, 6, 6, 3))]
    summed_connections(list(zip(convs, x)), training=True)
    assert calls == [[(3, 3, 7, 1), (1, 1, 7, 5)]]
    with pytest.raises(ValueError, match="filters"):
        summed_connections([(convs[0], x[0]), (connection(6, 3, True, "abs", 1.0, True, 3),
                                               x[1])])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fused_network_step_matches_the_per_connection_step(variant, monkeypatch):
    """The whole network, same weights, with the cells' sums fused and per connection: logits,
    every activity map (inference and training mode) and every gradient within 1e-5; the
    variables (names and shapes) are the same."""
    keras.utils.set_random_seed(0)
    model = build_model(load_config(sets=SMALL + VARIANTS[variant]))
    model = keras.Model(model.inputs, [model.outputs[0], *activity_outputs(model).values()])
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:  # away from the initial values (biases 0, BN 1 and 0)
        w.assign(w.numpy() + rng.uniform(-0.1, 0.1, w.shape).astype("float32"))
    images = tf.constant(rng.uniform(0, 255, (3, 32, 32, 3)), tf.float32)

    def step():
        with tf.GradientTape() as tape:
            outputs = [model(images, training=False), model(images, training=True)]
            loss = tf.reduce_sum(tf.square(outputs[1][0]))
        grads = tape.gradient(loss, model.trainable_weights)
        return [o for out in outputs for o in out] + [
            tf.zeros(w.shape) if g is None else tf.convert_to_tensor(g)
            for g, w in zip(grads, model.trainable_weights)]

    statistics = [w.numpy() for w in model.non_trainable_weights]
    fused = step()
    for w, value in zip(model.non_trainable_weights, statistics):  # as before the fused step
        w.assign(value)
    monkeypatch.setattr(cells, "summed_connections", per_connection)
    reference = step()
    assert len(fused) == len(reference)
    for a, b in zip(fused, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert any(np.any(np.asarray(g) != 0) for g in fused[-len(model.trainable_weights):])

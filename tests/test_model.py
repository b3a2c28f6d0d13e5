"""The network as a whole: size, Dale's law, per-step BatchNorm, weight decay, every variant."""

import keras
import numpy as np
import pytest

from conftest import CONFIGS
from ei_tf.cells import AreaCell
from ei_tf.config import ConfigError, load_config
from ei_tf.layers import CellDropout, StepBatchNorm
from ei_tf.model import build_model, connectivity_kernels, recurrent_areas
from ei_tf.training import compile_model, learning_rate_schedule

SMALL = ["model.pn_channels=[8, 16]", "model.ig_channels=[2, 4]", "model.og_channels=[2, 4]",
         "model.i_channels=[2, 4]", "model.time_steps=2"]


# Trainable parameters of the CIFAR10 networks, counted from the architecture (design.md 2).
# A separable k x k conv from C_in to C_out channels has k*k*C_in + C_in*C_out weights (k = 3),
# plus C_out biases where it has a bias (every conv from PN / E, and IG->PN, OG->PN).
# Feedforward areas 1-2 (conv without bias, BatchNorm gamma and beta):
#   3*3*3*16 + 2*16 + 3*3*16*32 + 2*32 = 432 + 32 + 4,608 + 64 = 5,136.
# Readout: 128*10 + 10 = 1,290.
# Standard area (input x, PN p, IG = OG = g; T = 4 steps of cell-state BatchNorm):
#   PN->IG 9p + pg + g, X->IG 9x + xg, IG->PN 9g + gp + p, the same three for OG,
#   PN->forget and PN->PN 9p + p*p + p each, X->forget and X->PN 9x + xp each, BN 2*T*p.
#   area 3 (x 32, p 64, g 16):  2*(1,616 + 800 + 1,232) + 2*(4,736 + 2,336) + 512 = 21,952
#   area 4 (x 64, p 128, g 32): 2*(5,280 + 2,624 + 4,512) + 2*(17,664 + 8,768) + 1,024 = 78,720
#   Standard: 5,136 + 21,952 + 78,720 + 1,290 = 107,098 (Appendix K: ~107K).
# StandardEI area (input x, E e, I i; T = 4 steps of E-current BatchNorm): forget logits e + i,
#   E->E 9e + e*e + e, E->I 9e + ei + i, I->E 9i + ie, I->I 9i + i*i, X->E 9x + xe,
#   X->I 9x + xi, BN 2*T*e.
#   area 3 (x 32, e 64, i 16):  80 + 4,736 + 1,616 + 1,168 + 400 + 2,336 + 800 + 512 = 11,648
#   area 4 (x 64, e 128, i 32): 160 + 17,664 + 5,280 + 4,384 + 1,312 + 8,768 + 2,624 + 1,024
#                               = 41,216
#   StandardEI: 5,136 + 11,648 + 41,216 + 1,290 = 59,290.
PARAMETERS = {"fig2_standard": 107_098, "fig4_standard_ei": 59_290}


@pytest.mark.parametrize("config", sorted(PARAMETERS))
def test_cifar10_parameter_count_is_the_architectures(config):
    """Appendix K: the Standard CIFAR10 network has ~107K trainable parameters; exactly the
    count above, for both families."""
    model = build_model(load_config(CONFIGS / f"{config}.yaml"))
    n = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert n == PARAMETERS[config]


@pytest.mark.parametrize("family", ["standard", "standard_ei"])
def test_dales_law_standard_inhpn_noconstraint(family):
    base = [f"model.family={family}"] + (
        ["model.normalization=e_current_bn"] if family == "standard_ei" else [])
    standard = build_model(load_config(sets=base))
    inhpn = build_model(load_config(sets=base + ["model.principal=inhibitory"]))
    free = build_model(load_config(sets=base + ["model.sign_constraint=none"]))
    pn = "PN" if family == "standard" else "E"
    for name, kernel in connectivity_kernels(standard).items():
        assert np.all(np.asarray(kernel) >= 0), name
    for area in recurrent_areas(standard):
        assert (area.cell.sign_pn, area.cell.sign_int) == (1.0, -1.0)
    for name, kernel in connectivity_kernels(inhpn).items():
        assert np.all(np.asarray(kernel) >= 0), name
    for area in recurrent_areas(inhpn):  # PN now inhibits, interneurons excite
        assert (area.cell.sign_pn, area.cell.sign_int, area.cell.sign_x) == (-1.0, 1.0, 1.0)
    mixed = [np.any(np.asarray(k) < 0) and np.any(np.asarray(k) > 0)
             for k in connectivity_kernels(free).values()]
    assert all(mixed)
    assert f"area3_{pn}_to_{pn}" in connectivity_kernels(standard)


def test_weight_decay_covers_every_trainable_variable():
    """CIFAR10: 2e-4 * 0.5 * sum(w^2) over all variables; ImageNet excludes BatchNorm."""
    model = build_model(load_config(sets=SMALL))
    want = 1e-4 * sum(float(np.sum(np.square(w.numpy()))) for w in model.trainable_weights)
    assert float(sum(model.losses)) == pytest.approx(want, rel=1e-5)
    model = build_model(load_config(sets=SMALL + ["training.weight_decay_exclude_bn=true"]))
    bn_like = [w for w in model.trainable_weights if "bn" in w.path]
    assert bn_like
    want = 1e-4 * sum(float(np.sum(np.square(w.numpy()))) for w in model.trainable_weights
                      if "bn" not in w.path)
    assert float(sum(model.losses)) == pytest.approx(want, rel=1e-5)


def test_learning_rate_is_piecewise_by_epoch():
    cfg = load_config()
    schedule = learning_rate_schedule(cfg, steps_per_epoch=10)
    got = [float(schedule(step)) for step in (0, 999, 1001, 1499, 1501, 2001, 2499)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-4, 1e-4])


VARIANTS = {
    "readout_sum": ["model.readout=sum"],
    "sub_mul": ["model.input_gate=sub", "model.output_gate=mul"],
    "sub_sub": ["model.input_gate=sub"],
    "mul_mul": ["model.output_gate=mul"],
    "noog_ecurrbn": ["model.output_gate=none", "model.og_channels=[0, 0]",
                     "model.normalization=e_current_bn"],
    "noog_ecurrbn_ssub": ["model.output_gate=none", "model.og_channels=[0, 0]",
                          "model.normalization=e_current_bn", "model.input_gate=sub",
                          "model.simple_subtraction=true"],
    "noog_ecurrbn_ssub_sfg_recurri": [
        "model.output_gate=none", "model.og_channels=[0, 0]",
        "model.normalization=e_current_bn", "model.input_gate=sub",
        "model.simple_subtraction=true", "model.forget_gate=scalar", "model.recurrent_ig=true"],
    "no_pn_cell_bn": ["model.normalization=none"],
    "pn_cell_dropout": ["model.normalization=cell_dropout"],
    "layer_norm": ["model.normalization=layer_norm"],
    "add_ig_curr_bn": ["model.ig_current_bn=true"],
    "add_og_curr_bn": ["model.og_current_bn=true"],
    "pn_cell_dropout_og_dropout": ["model.normalization=cell_dropout", "model.og_dropout=true"],
    "inhpn": ["model.principal=inhibitory"],
    "no_constraint": ["model.sign_constraint=none"],
    "relu_constraint": ["model.sign_constraint=relu"],
    "regular_conv": ["model.separable=false"],
    "no_interneurons": ["model.ig_channels=[0, 0]", "model.og_channels=[0, 0]"],
    "ei": ["model.family=standard_ei", "model.normalization=e_current_bn"],
    "ei_icurrbn": ["model.family=standard_ei", "model.normalization=e_current_bn",
                   "model.i_current_bn=true"],
    "ei_inhpn": ["model.family=standard_ei", "model.normalization=e_current_bn",
                 "model.principal=inhibitory"],
    "ei_inhpn_inhibitory_input": ["model.family=standard_ei", "model.normalization=e_current_bn",
                                  "model.principal=inhibitory",
                                  "model.inhibitory_area_input=true"],
    "ei_no_norm_no_i": ["model.family=standard_ei", "model.normalization=none",
                        "model.i_channels=[0, 0]"],
    "channel_mean_input": ["model.preprocessing=channel_mean"],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_builds_and_trains_a_step(variant):
    cfg = load_config(sets=SMALL + VARIANTS[variant])
    model = build_model(cfg)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 4)
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert sum(changed) > len(changed) // 2


def test_batchnorm_statistics_are_per_time_step_after_training(smoke_run):
    model = keras.models.load_model(smoke_run.run_dir / "model.keras")
    norms = [layer for area in recurrent_areas(model)
             for layer in area.cell._flatten_layers(include_self=False)
             if isinstance(layer, StepBatchNorm)]
    assert len(norms) == 2  # cell-state BN in areas 3 and 4
    for norm in norms:
        mean = norm.moving_mean.numpy()
        assert mean.shape == (4, norm.gamma.shape[1])
        assert not np.allclose(mean[0], 0)  # updated by training
        for t in range(1, 4):
            assert not np.allclose(mean[t], mean[0]), t


def test_keras_file_round_trip(tmp_path):
    cfg = load_config(sets=SMALL)
    model = build_model(cfg)
    compile_model(model, cfg, 1)
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    model.train_on_batch(x, np.array([1, 2, 3]))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert all(isinstance(a.cell, AreaCell) for a in recurrent_areas(loaded))


@pytest.mark.parametrize("family", ["standard", "standard_ei"])
def test_unrolled_time_steps_compute_what_the_loop_computes(family):
    """``training.unroll`` (the faster path) against the RNN's while loop, same weights: logits,
    every activity map and every gradient agree within 1e-5, in inference and training mode,
    and training updates every time step's BatchNorm moving statistics once in both."""
    import tensorflow as tf

    from ei_tf.model import activity_outputs

    sets = SMALL + [f"model.family={family}"] + (
        ["model.normalization=e_current_bn"] if family == "standard_ei" else [])
    models = []
    for unroll in (False, True):
        keras.utils.set_random_seed(0)
        model = build_model(load_config(sets=sets + [f"training.unroll={str(unroll).lower()}"]))
        models.append(keras.Model(model.inputs, [model.outputs[0],
                                                 *activity_outputs(model).values()]))
    loop, unrolled = models
    unrolled.set_weights(loop.get_weights())
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)), tf.float32)
    for training in (False, True):
        for a, b in zip(loop(images, training=training), unrolled(images, training=training)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    def gradients(model):
        # A weight with no path to the logits (I -> I at the last of 2 steps) has no gradient
        # in the unrolled graph and a zero one through the while loop.
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(images, training=True)[0]))
        grads = tape.gradient(loss, model.trainable_weights)
        return [tf.zeros(w.shape) if g is None else g
                for g, w in zip(grads, model.trainable_weights)]

    for a, b in zip(gradients(loop), gradients(unrolled)):  # per-step BN rows: IndexedSlices
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-5,
                                   atol=1e-5)
    for a, b in zip(loop.non_trainable_weights, unrolled.non_trainable_weights):
        assert a.path.split("/", 1)[1] == b.path.split("/", 1)[1]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_time_step_plumbing_matches_its_straightforward_form():
    """PoolInTime and TimeReadout (written for cheap gradients) give exactly what
    TimeDistributed(MaxPooling2D) and ``x[:, -1]`` give."""
    from ei_tf.layers import PoolInTime
    from ei_tf.model import TimeReadout

    x = np.random.default_rng(0).normal(size=(2, 4, 9, 9, 5)).astype("float32")
    reference = keras.layers.TimeDistributed(keras.layers.MaxPooling2D(3, 2, padding="same"))
    np.testing.assert_array_equal(PoolInTime(2)(x), reference(x))
    assert PoolInTime(2).compute_output_shape((None, 4, 9, 9, 5)) == (None, 4, 5, 5, 5)
    np.testing.assert_array_equal(TimeReadout("last")(x), x[:, -1])
    np.testing.assert_array_equal(TimeReadout("sum")(x), x.sum(axis=1))


@pytest.mark.parametrize("family", ["standard", "standard_ei"])
def test_mixed_bfloat16_computes_the_float32_network_in_bfloat16(family, tmp_path):
    """``training.precision=mixed_bfloat16``: float32 variables, BatchNorm statistics and
    logits, bfloat16 areas. With the float32 network's weights, its logits and activity maps
    (training mode: an untrained network's inference PN are all zero) agree with the float32
    ones to bfloat16 precision without being identical: relative RMS error under 10% (8-bit
    mantissa, 0.4% per rounding, amplified where the gates subtract similar currents). It
    trains; the policy survives a ``.keras`` round trip and is not left set globally."""
    from ei_tf.model import activity_outputs

    sets = SMALL + [f"model.family={family}"] + (
        ["model.normalization=e_current_bn"] if family == "standard_ei" else [])
    full = build_model(load_config(sets=sets))
    cfg = load_config(sets=sets + ["training.precision=mixed_bfloat16"])
    mixed = build_model(cfg)
    assert keras.config.dtype_policy().name == "float32"
    mixed.set_weights(full.get_weights())
    assert {w.dtype for w in mixed.weights} == {"float32"}
    assert {a.compute_dtype for a in recurrent_areas(mixed)} == {"bfloat16"}
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    assert mixed(x).dtype == "float32"
    outputs = [keras.Model(m.inputs, [m.outputs[0], *activity_outputs(m).values()])(
        [x], training=True) for m in (full, mixed)]
    for expected, value in zip(*outputs):
        expected, value = np.asarray(expected), np.asarray(value).astype("float32")
        error = np.linalg.norm(value - expected) / np.linalg.norm(expected)
        assert 0 < error < 0.1, error

    compile_model(mixed, cfg, 1)
    assert np.all(np.isfinite(mixed.train_on_batch(x, rng.integers(0, 10, 8))))
    mixed.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert {a.compute_dtype for a in recurrent_areas(loaded)} == {"bfloat16"}
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), mixed.predict(x, verbose=0))


def test_cell_dropout_at_inference_only_when_asked():
    x = np.ones((2, 4, 4, 8), "float32")
    np.testing.assert_array_equal(CellDropout(0.5)(x, training=False), x)
    always = CellDropout(0.5, at_inference=True, seed=1)
    y = np.asarray(always(x, training=False))
    assert set(np.unique(y)) == {0.0, 2.0}  # dropped, and the kept units scaled by 1 / 0.5
    assert CellDropout.from_config(always.get_config()).at_inference


@pytest.mark.parametrize("at_inference", [False, True])
def test_dropout_at_inference_switch(at_inference):
    """PNCellDrpt_AddOGDrpt: inference is deterministic unless model.dropout_at_inference
    keeps the dropouts on, as the authors' tf.nn.dropout did."""
    sets = SMALL + ["model.normalization=cell_dropout", "model.og_dropout=true",
                    f"model.dropout_at_inference={str(at_inference).lower()}"]
    model = build_model(load_config(sets=sets))
    drops = [layer for area in recurrent_areas(model)
             for layer in (area.cell.cell_state_norm, area.cell.og_drop)]
    assert all(isinstance(d, CellDropout) and d.at_inference == at_inference for d in drops)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    first, second = (np.asarray(model(x, training=False)) for _ in range(2))
    assert np.array_equal(first, second) != at_inference


def test_dropout_at_inference_needs_a_dropout():
    with pytest.raises(ConfigError, match="dropout_at_inference needs a dropout"):
        load_config(sets=["model.dropout_at_inference=true"])

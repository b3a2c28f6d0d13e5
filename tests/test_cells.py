"""Golden tests: each cell equation against an independent NumPy computation (design.md 2).

Weights are small fixed values drawn from a seeded generator; BatchNorm runs in inference mode
with per-step moving statistics set to different values for each step, so the per-step indexing
is checked too.
"""

import dataclasses

import numpy as np
import pytest

from ei_tf.cells import StandardCell, StandardEICell, cell_arguments
from ei_tf.config import ModelConfig
from ei_tf.layers import DaleConv, InputNormalization, RecurrentArea, StepBatchNorm
from ei_tf.model import TimeReadout

H = W = 5
CIN = 3
T = 3
BATCH = 2


def np_conv_same(x, kernel):
    """Stride-1 'same' 2-D convolution, x [B,H,W,Cin], kernel [k,k,Cin,Cout]."""
    k = kernel.shape[0]
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for i in range(k):
        for j in range(k):
            out += np.einsum("bhwc,cd->bhwd", xp[:, i:i + x.shape[1], j:j + x.shape[2]],
                             kernel[i, j])
    return out


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def relu(v):
    return np.maximum(v, 0.0)


class Reference:
    """Sets every weight of a built cell and evaluates the design equations of its model config
    ``cfg`` in NumPy."""

    def __init__(self, cell, rng, cfg):
        self.cell, self.cfg = cell, cfg
        self.convs = {}
        self.bias = {}
        for layer in cell._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, DaleConv):
                for w in layer.weights:
                    w.assign(rng.uniform(-0.5, 0.5, w.shape).astype("float32"))
                self.convs[layer.name] = layer
            if isinstance(layer, StepBatchNorm):
                steps, ch = layer.gamma.shape
                layer.gamma.assign(rng.uniform(0.5, 1.5, (steps, ch)).astype("float32"))
                layer.beta.assign(rng.uniform(-0.2, 0.2, (steps, ch)).astype("float32"))
                layer.moving_mean.assign(
                    (np.arange(steps)[:, None] * 0.3 + rng.uniform(-0.1, 0.1, (steps, ch)))
                    .astype("float32"))
                layer.moving_variance.assign(
                    rng.uniform(0.5, 2.0, (steps, ch)).astype("float32"))
        for w in cell.weights:
            if "forget_logit" in w.name:
                w.assign(rng.uniform(-1, 1, w.shape).astype("float32"))

    def constrained(self, w):
        mode = self.cfg.sign_constraint
        if mode == "abs":
            return np.abs(w)
        if mode == "relu":
            return relu(w)
        return w

    def conv(self, name, x):
        layer = self.convs[name]
        if layer.separable:
            d = self.constrained(layer.depthwise.numpy())
            p = self.constrained(layer.pointwise.numpy())
            kernel = d * p[0, 0][None, None]
        else:
            kernel = self.constrained(layer.kernel.numpy())
        out = np_conv_same(x, kernel) if x.shape[-1] and kernel.shape[-1] else np.zeros(
            x.shape[:3] + (layer.filters,))
        if layer.bias is not None:
            out = out + layer.bias.numpy()
        return out

    def bn(self, name, value, t):
        for layer in self.cell._flatten_layers(include_self=False, recursive=True):
            if layer.name == name:
                g, b = layer.gamma.numpy()[t], layer.beta.numpy()[t]
                m, v = layer.moving_mean.numpy()[t], layer.moving_variance.numpy()[t]
                return (value - m) / np.sqrt(v + layer.epsilon) * g + b
        raise KeyError(name)

    def forget_logit(self, name):
        return [w.numpy() for w in self.cell.weights if w.name == name][0]


def standard_reference(ref, x_seq):
    """design.md section 2, Standard cell, every switch."""
    cell, cfg = ref.cell, ref.cfg
    inhpn = cfg.principal == "inhibitory"
    sp, sx = (-1.0 if inhpn else 1.0), 1.0  # first area: its input stays excitatory
    si = -sp
    c = np.zeros((BATCH, H, W, cell.pn))
    h = np.zeros_like(c)
    ig_prev = np.zeros((BATCH, H, W, cell.n_ig))
    outs = []
    for t in range(T):
        x = x_seq[:, t]
        ig_cur = sp * ref.conv("PN_to_IG", h) + sx * ref.conv("X_to_IG", x)
        if cfg.recurrent_ig:
            ig_cur = ig_cur + si * ref.conv("IG_to_IG", ig_prev)
            if cfg.ig_current_bn:
                ig_cur = ref.bn("IG_current_bn", ig_cur, t)
            g = sigmoid(ref.forget_logit("IG_forget_logit") + 1.0)
            IG = g * ig_prev + (1 - g) * relu(ig_cur)
            ig = ref.conv("IG_to_PN", ig_prev)
        else:
            if cfg.ig_current_bn:
                ig_cur = ref.bn("IG_current_bn", ig_cur, t)
            IG = relu(ig_cur)
            ig = ref.conv("IG_to_PN", IG)
        if cell.has_og:
            og_cur = sp * ref.conv("PN_to_OG", h) + sx * ref.conv("X_to_OG", x)
            if cfg.og_current_bn:
                og_cur = ref.bn("OG_current_bn", og_cur, t)
            OG = relu(og_cur)
            og = ref.conv("OG_to_PN", OG)
        if cfg.forget_gate == "conv":
            f = sigmoid(sp * ref.conv("PN_to_forget", h) + sx * ref.conv("X_to_forget", x) + 1)
        else:
            f = sigmoid(ref.forget_logit("PN_forget_logit") + 1.0)
        u = sp * ref.conv("PN_to_PN", h) + sx * ref.conv("X_to_PN", x)
        if cfg.input_gate == "mul":
            gate = sigmoid(ig) if inhpn else 1 - sigmoid(ig)
            if cfg.normalization == "e_current_bn":
                u = ref.bn("PN_current_bn", u, t)
            c = f * c + relu(u) * gate
        else:
            if cfg.simple_subtraction:
                u = u + ig if inhpn else u - ig
            else:
                u = u + relu(ig) - 1 if inhpn else u - relu(ig)
            if cfg.normalization == "e_current_bn":
                u = ref.bn("PN_current_bn", u, t)
            c = f * c + ((1 - f) * relu(u) if cfg.forget_gate == "scalar" else relu(u))
        if cfg.normalization == "cell_bn":
            c = ref.bn("PN_cell_bn", c, t)
        if not cell.has_og:
            h = relu(c) if cfg.normalization == "cell_bn" else c
        elif cfg.output_gate == "mul":
            h = relu(c) * (sigmoid(og) if inhpn else 1 - sigmoid(og))
        elif cfg.simple_subtraction:
            h = relu(c + og) if inhpn else relu(c - og)
        else:
            h = relu(c + relu(og) - 1) if inhpn else relu(c - relu(og))
        ig_prev = IG
        outs.append(np.concatenate([h, IG] + ([OG] if cell.has_og else []), axis=-1))
    return np.stack(outs, axis=1)


def ei_reference(ref, x_seq):
    """Paper eq. 1 (StandardEI): currents, BN on Curr_E (and Curr_I), leaky ReLU units."""
    cell, cfg = ref.cell, ref.cfg
    inhpn = cfg.principal == "inhibitory"
    sign = {"E": -1.0 if inhpn else 1.0, "I": 1.0 if inhpn else -1.0, "X": 1.0}
    state = {"E": np.zeros((BATCH, H, W, cell.pn)), "I": np.zeros((BATCH, H, W, cell.n_i))}
    outs = []
    for t in range(T):
        pre = {"E": state["E"], "I": state["I"], "X": x_seq[:, t]}
        new = {}
        for post in ("E", "I"):
            cur = sum(sign[p] * ref.conv(f"{p}_to_{post}", pre[p]) for p in ("E", "I", "X"))
            if (post == "E" and cfg.normalization == "e_current_bn") or (
                    post == "I" and cfg.i_current_bn):
                cur = ref.bn(f"{post}_current_bn", cur, t)
            g = sigmoid(ref.forget_logit(f"{post}_forget_logit") + 1.0)
            new[post] = g * state[post] + (1 - g) * relu(cur)
        state = new
        outs.append(np.concatenate([new["E"], new["I"]], axis=-1))
    return np.stack(outs, axis=1)


STANDARD = dict(pn_channels=[4], ig_channels=[2], og_channels=[3], time_steps=T)
EI = dict(family="standard_ei", pn_channels=[4], i_channels=[2], time_steps=T,
          normalization="e_current_bn")

CASES = {
    "standard": {},
    "sub_in_mul_out": dict(input_gate="sub", output_gate="mul"),
    "sub_sub": dict(input_gate="sub"),
    "mul_mul": dict(output_gate="mul"),
    "simple_subtraction": dict(input_gate="sub", simple_subtraction=True),
    "inhpn": dict(principal="inhibitory"),
    "inhpn_sub_sub": dict(principal="inhibitory", input_gate="sub"),
    "inhpn_simple_sub": dict(principal="inhibitory", input_gate="sub",
                             simple_subtraction=True),
    "no_constraint": dict(sign_constraint="none"),
    "relu_constraint": dict(sign_constraint="relu"),
    "regular_conv": dict(separable=False),
    "no_og_ecurrbn": dict(output_gate="none", og_channels=[0], normalization="e_current_bn"),
    "no_og_cell_bn": dict(output_gate="none", og_channels=[0]),
    "ssub_sfg_recurri": dict(output_gate="none", og_channels=[0],
                             normalization="e_current_bn", input_gate="sub",
                             simple_subtraction=True, forget_gate="scalar", recurrent_ig=True),
    "add_ig_og_bn": dict(ig_current_bn=True, og_current_bn=True),
    "no_norm": dict(normalization="none"),
    "no_interneurons": dict(ig_channels=[0], og_channels=[0]),
    "ei": dict(EI),
    "ei_icurrbn": dict(EI, i_current_bn=True),
    "ei_inhpn": dict(EI, principal="inhibitory"),
    "ei_no_norm": dict(EI, normalization="none"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cell_matches_numpy_equations(case):
    overrides = dict(STANDARD)
    overrides.update(CASES[case])
    cfg = ModelConfig(**overrides)
    cls = StandardEICell if cfg.family == "standard_ei" else StandardCell
    rng = np.random.default_rng(1)
    x_seq = rng.uniform(0, 1, (BATCH, T, H, W, CIN)).astype("float32")
    cell = cls(**cell_arguments(cfg, 0))
    area = RecurrentArea(cell)
    area.build(x_seq.shape)
    ref = Reference(cell, rng, cfg)
    got = np.concatenate([np.asarray(v) for v in area(x_seq, training=False)], axis=-1)
    want = (ei_reference if cls is StandardEICell else standard_reference)(ref, x_seq)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.abs(want).max() > 0.01  # the comparison is not between zeros


def test_second_area_input_sign_option():
    """InhPN with inhibitory_area_input makes the next area's input inhibitory (area > 0)."""
    base = dict(STANDARD, pn_channels=[4, 4], ig_channels=[2, 2], og_channels=[3, 3],
                principal="inhibitory")
    kept = StandardCell(**cell_arguments(ModelConfig(**base), 1))
    flipped = StandardCell(**cell_arguments(ModelConfig(**base, inhibitory_area_input=True), 1))
    first = StandardCell(**cell_arguments(ModelConfig(**base, inhibitory_area_input=True), 0))
    assert (kept.sign_x, flipped.sign_x, first.sign_x) == (1.0, -1.0, 1.0)
    assert flipped.pn_bias_init == 1.0 and kept.pn_bias_init == 0.0


@pytest.mark.parametrize("unroll", [True, False])
@pytest.mark.parametrize("case", ["inhpn_sub_sub", "ssub_sfg_recurri", "ei", "no_interneurons"])
def test_input_same_at_every_step_computes_the_repeated_sequence(case, unroll):
    """``RecurrentArea(steps=T)`` on one map (its input currents computed once) against the
    same cell on that map repeated T times (computed at every step): outputs, gradients and the
    per-step BatchNorm statistics after a training call agree within 1e-5."""
    import tensorflow as tf

    overrides = dict(STANDARD)
    overrides.update(CASES[case])
    cfg = ModelConfig(**overrides)
    cls = StandardEICell if cfg.family == "standard_ei" else StandardCell
    rng = np.random.default_rng(2)
    x = tf.constant(rng.uniform(0, 1, (BATCH, H, W, CIN)).astype("float32"))
    repeated = tf.repeat(x[:, None], T, axis=1)
    static = RecurrentArea(cls(**cell_arguments(cfg, 0)), steps=T, unroll=unroll)
    sequence = RecurrentArea(cls(**cell_arguments(cfg, 0)), unroll=unroll)
    static.build(x.shape)
    sequence.build(repeated.shape)
    Reference(static.cell, rng, cfg)
    sequence.set_weights(static.get_weights())

    def run(area, inputs, training):
        with tf.GradientTape() as tape:
            out = area(inputs, training=training)
            loss = sum(tf.reduce_sum(tf.square(v)) for v in out)
        return out, tape.gradient(loss, area.trainable_weights)

    for training in (False, True):
        (out_a, grad_a), (out_b, grad_b) = run(static, x, training), run(sequence, repeated,
                                                                        training)
        assert len(out_a) == len(static.cell.populations) == len(out_b)
        for a, b, (_, channels) in zip(out_a, out_b, static.cell.populations):
            assert a.shape == (BATCH, T, H, W, channels)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        assert [a is None for a in grad_a] == [b is None for b in grad_b]  # zero channels
        grad_a = [tf.convert_to_tensor(a) for a in grad_a if a is not None]
        grad_b = [tf.convert_to_tensor(b) for b in grad_b if b is not None]
        # A gradient that is zero in exact arithmetic (a bias followed by batch normalization)
        # is the rounding residue of cancelling terms as large as the largest gradients.
        scale = max(float(tf.reduce_max(tf.abs(b))) for b in grad_b)
        for a, b in zip(grad_a, grad_b):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=max(1e-5, 1e-6 * scale))
    for a, b in zip(static.non_trainable_weights, sequence.non_trainable_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("sign,use_bias", [(1.0, True), (-1.0, True), (-1.0, False)])
def test_dale_conv_training_path_computes_the_inference_path(separable, sign, use_bias):
    """The training-mode pointwise step (a MatMul over the pixels) gives the inference-mode
    separable convolution's values within 1e-5, and both equal ``sign * (conv+(x) + b)``."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (BATCH, H, W, CIN)).astype("float32")
    conv = DaleConv(6, separable=separable, use_bias=use_bias, sign=sign)
    conv.build(x.shape)
    for w in conv.weights:
        w.assign(rng.uniform(-0.5, 0.5, w.shape).astype("float32"))
    want = sign * np_conv_same(x, np.asarray(conv.effective_kernel()))
    if use_bias:
        want = want + sign * np.asarray(conv.bias)
    inference, training = np.asarray(conv(x, training=False)), np.asarray(conv(x, training=True))
    np.testing.assert_allclose(training, inference, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inference, want, rtol=1e-5, atol=1e-5)
    assert np.abs(want).max() > 0.1


@pytest.mark.parametrize("step", [0, 2])
def test_step_batch_norm_uses_batch_moments_in_training_and_its_step_row_after(step):
    """Training: ``(x - mean) / sqrt(var + eps) * gamma_t + beta_t`` with the batch's mean and
    (biased) variance over batch, height and width, and only row ``t`` of the moving statistics
    moves, by ``momentum``; inference then uses row ``t``. Against NumPy in float64."""
    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, (4, H, W, 6)).astype("float32")
    norm = StepBatchNorm(T, momentum=0.9, epsilon=1e-3)
    norm.build(x.shape)
    norm.gamma.assign(rng.uniform(0.5, 1.5, (T, 6)).astype("float32"))
    norm.beta.assign(rng.uniform(-0.5, 0.5, (T, 6)).astype("float32"))
    norm.moving_mean.assign(rng.uniform(-1, 1, (T, 6)).astype("float32"))
    norm.moving_variance.assign(rng.uniform(0.5, 2, (T, 6)).astype("float32"))
    gamma, beta = norm.gamma.numpy().astype("float64"), norm.beta.numpy().astype("float64")
    moving_mean, moving_var = norm.moving_mean.numpy(), norm.moving_variance.numpy()

    out = np.asarray(norm(x, np.int32(step), training=True))
    x64 = x.astype("float64")
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x64 - mean) / np.sqrt(var + 1e-3) * gamma[step] + beta[step],
                               rtol=1e-5, atol=1e-5)
    want_mean, want_var = moving_mean.astype("float64"), moving_var.astype("float64")
    want_mean[step] = 0.9 * want_mean[step] + 0.1 * mean
    want_var[step] = 0.9 * want_var[step] + 0.1 * var
    np.testing.assert_allclose(norm.moving_mean.numpy(), want_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), want_var, rtol=1e-6, atol=1e-6)

    inference = np.asarray(norm(x, np.int32(step), training=False))
    np.testing.assert_allclose(
        inference, (x64 - want_mean[step]) / np.sqrt(want_var[step] + 1e-3) * gamma[step]
        + beta[step], rtol=1e-5, atol=1e-5)


def small_cell_arguments(family="standard", area=0, **overrides):
    base = EI if family == "standard_ei" else STANDARD
    sizes = dict(pn_channels=[4, 4], ig_channels=[2, 2], og_channels=[3, 3], i_channels=[2, 2])
    return cell_arguments(ModelConfig(**{**base, **sizes, **overrides}), area)


def standard_cell(**changes):
    args = dict(small_cell_arguments(), **changes)
    return StandardCell(**dict(args, og_channels=0 if args["output_gate"] == "none" else 3))


STRING_OPTIONS = [
    (lambda v: DaleConv(4, sign_constraint=v), "sign_constraint", ["abs", "relu", "none"]),
    (lambda v: InputNormalization(mode=v), "mode", ["per_image_standardization", "channel_mean"]),
    (lambda v: TimeReadout(mode=v), "mode", ["last", "sum"]),
    *[(lambda v, name=name: standard_cell(**{name: v}), name, allowed) for name, allowed in [
        ("input_gate", ["mul", "sub"]), ("output_gate", ["mul", "sub", "none"]),
        ("forget_gate", ["conv", "scalar"]), ("principal", ["excitatory", "inhibitory"]),
        ("sign_constraint", ["abs", "relu", "none"]),
        ("normalization", ["cell_bn", "e_current_bn", "none", "layer_norm", "cell_dropout"])]],
    *[(lambda v, name=name: StandardEICell(**dict(small_cell_arguments("standard_ei"),
                                                  **{name: v})), name, allowed)
      for name, allowed in [("normalization", ["e_current_bn", "none", "layer_norm"]),
                            ("principal", ["excitatory", "inhibitory"]),
                            ("sign_constraint", ["abs", "relu", "none"])]],
]


@pytest.mark.parametrize("make,argument,allowed", STRING_OPTIONS,
                         ids=[f"{i}-{o[1]}" for i, o in enumerate(STRING_OPTIONS)])
def test_string_option_outside_its_choices_is_a_value_error_naming_them(make, argument,
                                                                        allowed):
    """No option falls through silently (e.g. sign_constraint 'ab' would have dropped Dale's
    law): the error names the argument, the value received and every allowed value."""
    for value in allowed:
        make(value)
    bad = "cell_bn" if "cell_bn" not in allowed and argument == "normalization" else "ab"
    with pytest.raises(ValueError) as err:
        make(bad)
    assert f"{argument}={bad!r}" in str(err.value)
    assert all(repr(value) in str(err.value) for value in allowed), str(err.value)


def test_og_channels_without_output_gate_is_a_value_error():
    with pytest.raises(ValueError, match="og_channels=3 with output_gate='none'"):
        StandardCell(**dict(small_cell_arguments(), output_gate="none"))


ROUND_TRIP = {
    "standard": ("standard", dict(principal="inhibitory", inhibitory_area_input=True,
                                  output_gate="none", og_channels=[0, 0], input_gate="sub",
                                  simple_subtraction=True, forget_gate="scalar",
                                  recurrent_ig=True, ig_current_bn=True,
                                  normalization="e_current_bn", recurrent_init_gain=0.5)),
    "standard_dropout": ("standard", dict(normalization="cell_dropout", og_dropout=True,
                                          dropout_keep=0.8, sign_constraint="relu",
                                          separable=False)),
    "standard_ei": ("standard_ei", dict(principal="inhibitory", inhibitory_area_input=True,
                                        i_current_bn=True, bn_momentum=0.9,
                                        bn_epsilon=1e-3)),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIP))
def test_cell_config_round_trip_gives_the_same_cell(case):
    """``from_config(get_config())`` gives an equal config and, with the built cell's weights,
    the same outputs (inference, then training mode: batch statistics)."""
    family, overrides = ROUND_TRIP[case]
    cls = StandardEICell if family == "standard_ei" else StandardCell
    cell = cls(**small_cell_arguments(family, 1, **overrides), weight_decay=2e-4,
               bn_weight_decay=0.0, name="area4_cell")
    clone = cls.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    assert cell.get_config()["inhibitory_input"] == (case != "standard_dropout")
    rng = np.random.default_rng(6)
    x_seq = rng.uniform(0, 1, (BATCH, T, H, W, CIN)).astype("float32")
    areas = [RecurrentArea(c) for c in (cell, clone)]
    for area in areas:
        area.build(x_seq.shape)
    Reference(cell, rng, None)
    areas[1].set_weights(areas[0].get_weights())
    modes = (False,) if "dropout" in case else (False, True)  # dropout: random in training
    for training in modes:
        for a, b in zip(*(area(x_seq, training=training) for area in areas)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", ["standard", "standard_ei"])
def test_cell_saved_with_the_model_config_and_area_loads_as_its_arguments(family):
    """Cells saved before they took their own arguments stored the whole model config and
    the area index (``.keras`` files of earlier versions); such a config gives the same cell."""
    cfg = ModelConfig(**dict(EI if family == "standard_ei" else STANDARD,
                             pn_channels=[4, 6], ig_channels=[2, 2], og_channels=[3, 3],
                             i_channels=[2, 3], principal="inhibitory",
                             inhibitory_area_input=True))
    cls = StandardEICell if family == "standard_ei" else StandardCell
    legacy = {"name": "area4_cell", "trainable": True, "dtype": "float32",
              "model_config": dataclasses.asdict(cfg), "area": 1, "weight_decay": 2e-4,
              "bn_weight_decay": 0.0}
    want = cls(**cell_arguments(cfg, 1), weight_decay=2e-4, bn_weight_decay=0.0,
               name="area4_cell")
    assert cls.from_config(legacy).get_config() == want.get_config()
    assert want.get_config()["inhibitory_input"] and want.pn == 6

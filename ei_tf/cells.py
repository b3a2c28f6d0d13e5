"""The recurrent cells of one area: *Standard* (PN, IG, OG) and *StandardEI* (E, I).

Each cell is configured by the model config (``ei_tf.config.ModelConfig`` as a dict) and its area
index; every variant of Appendix D (gating, normalization, NoOG, SSub, SFG, RecurrI, InhPN,
NoConstraint, regular convs, ReLU sign constraint, zero interneurons) is a switch of these two
classes. The state carries a step counter so per-time-step BatchNorm knows the step.

Notation (design.md section 2): ``x`` the area input, ``h`` the previous PN output, ``c`` the
previous cell state, ``conv+`` a :class:`~ei_tf.layers.DaleConv`.
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from .config import ModelConfig
from .layers import PACKAGE, CellDropout, DaleConv, SpatialLayerNorm, StepBatchNorm


class AreaCell(keras.layers.Layer):
    """What both cell families share: config, convs, per-step norms, state bookkeeping."""

    def __init__(self, model_config: dict, area: int, weight_decay: float = 0.0,
                 bn_weight_decay: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.model_config = dict(model_config)
        self.area = int(area)
        self.weight_decay = float(weight_decay)
        # ImageNet excludes normalization parameters from weight decay (design.md section 4).
        self.bn_weight_decay = self.weight_decay if bn_weight_decay is None else float(
            bn_weight_decay)
        self.cfg = ModelConfig(**self.model_config)
        cfg = self.cfg
        self.pn = cfg.pn_channels[area]
        inhibitory_principal = cfg.principal == "inhibitory"
        # Sign of the principal population's effect, and of the interneurons' (InhPN flips).
        self.sign_pn = -1.0 if inhibitory_principal else 1.0
        self.sign_int = 1.0 if inhibitory_principal else -1.0
        # Input from the previous area: excitatory, unless InhPN with inhibitory_area_input.
        self.sign_x = -1.0 if (cfg.inhibitory_area_input and area > 0) else 1.0
        # Authors' code: biases of PN-source convs start at 1.0 when both PN and input inhibit.
        self.pn_bias_init = 1.0 if (self.sign_pn < 0 and self.sign_x < 0) else 0.0

    # -- factories -------------------------------------------------------------------------
    def conv(self, filters, name, use_bias, bias_init=0.0, sign=1.0):
        """The Dale connection ``name``; ``sign`` is its source population's sign."""
        cfg = self.cfg
        return DaleConv(filters, cfg.kernel_size, separable=cfg.separable,
                        sign_constraint=cfg.sign_constraint, use_bias=use_bias, bias_init=bias_init,
                        weight_decay=self.weight_decay, sign=sign,
                        init_gain=cfg.recurrent_init_gain, dtype=self.dtype_policy, name=name)

    def batch_norm(self, name):
        return StepBatchNorm(self.cfg.time_steps, self.cfg.bn_momentum, self.cfg.bn_epsilon,
                             weight_decay=self.bn_weight_decay, dtype=self.dtype_policy, name=name)

    def forget_logit(self, channels, name):
        """Per-channel trainable forget-gate logit f~ (glorot-uniform, as tf.get_variable)."""
        return self.add_weight(shape=(channels,), initializer="glorot_uniform",
                               regularizer=keras.regularizers.L2(self.weight_decay / 2)
                               if self.weight_decay else None, name=name)

    # -- RNN cell protocol -----------------------------------------------------------------
    @property
    def state_channels(self) -> list[int]:
        raise NotImplementedError

    @property
    def populations(self) -> list[tuple[str, int]]:
        """Output populations ``[(name, channels)]`` in channel order; the first projects."""
        raise NotImplementedError

    @property
    def state_size(self):
        return self.state_channels + [1]

    def build(self, input_shape):
        self.spatial = (int(input_shape[1]), int(input_shape[2]))
        self.build_connections(input_shape)

    @staticmethod
    def from_state(conv, state, initial_step: bool):
        """``conv+(state)``. At the first step the state is the zero initial state (section 1),
        whose convolution is exactly 0: only the connection's signed bias remains, and the
        convolution is not computed."""
        return conv.zero_input_response() if initial_step else conv(state)

    @staticmethod
    def kept_plus(gate, state, new, initial_step: bool):
        """``gate() * state + new``: the part of the state a gate keeps, plus the new input. At
        the first step the state is zero (section 1), so this is ``new`` and the gate is not
        computed (``gate`` is a function)."""
        return new if initial_step else gate() * state + new

    def input_currents(self, x) -> dict:
        """The currents from the area input ``x`` (``[N, H, W, C_in]``) to each target population,
        signed: they do not depend on the state, so the area computes them outside the
        recurrence (:class:`~ei_tf.layers.RecurrentArea`) and passes each step's to ``call``."""
        raise NotImplementedError

    def get_initial_state(self, batch_size=None):
        states = [ops.zeros((batch_size,) + self.spatial + (c,), dtype=self.compute_dtype)
                  for c in self.state_channels]
        return states + [ops.zeros((batch_size, 1), dtype=self.compute_dtype)]

    def step_index(self, counter):
        return ops.cast(counter[0, 0], "int32")

    def get_config(self):
        return {**super().get_config(), "model_config": self.model_config, "area": self.area,
                "weight_decay": self.weight_decay, "bn_weight_decay": self.bn_weight_decay}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardCell(AreaCell):
    """The *Standard* cell (paper eq. 2, design.md section 2), output ``[PN, IG, OG]``.

    ``IG = relu(conv+(h) + b + conv+(x))``; ``ig = conv+(IG) + b``; ``OG``, ``og`` likewise;
    ``f = sigmoid(conv+(h) + b + conv+(x) + 1)``; ``u = conv+(h) + b + conv+(x)``;
    Mul input gate ``c' = f c + relu(u)(1 - sigmoid(ig))``, Sub ``c' = f c + relu(u - relu(ig))``;
    ``c' = BN_t(c')``; Sub output gate ``h' = relu(c' - relu(og))``, Mul
    ``h' = relu(c')(1 - sigmoid(og))``. Convs from PN carry the PN sign (-1 in InhPN), where
    the gates turn excitatory: ``sigmoid(ig)``, ``relu(u + relu(ig) - 1)``,
    ``relu(c' + relu(og) - 1)``.
    """

    def __init__(self, model_config, area, weight_decay=0.0, bn_weight_decay=None, **kwargs):
        super().__init__(model_config, area, weight_decay, bn_weight_decay, **kwargs)
        cfg = self.cfg
        self.n_ig = cfg.ig_channels[area]
        self.n_og = cfg.og_channels[area] if cfg.output_gate != "none" else 0
        self.has_og = cfg.output_gate != "none"
        # NoOG without a cell-state norm: h = c' (authors' 'remove_OG'); with one, h = relu(c').
        self.cell_norm = cfg.normalization in ("cell_bn", "layer_norm", "cell_dropout")

    @property
    def state_channels(self):
        channels = [self.pn, self.pn]
        if self.cfg.recurrent_ig:
            channels.append(self.n_ig)
        return channels

    @property
    def populations(self):
        pops = [("PN", self.pn), ("IG", self.n_ig)]
        if self.has_og:
            pops.append(("OG", self.n_og))
        return pops

    def build_connections(self, input_shape):
        cfg, pn_bias = self.cfg, self.pn_bias_init
        n_ig, pn, sp, sx = self.n_ig, self.pn, self.sign_pn, self.sign_x
        self.pn_to_ig = self.conv(n_ig, "PN_to_IG", True, pn_bias, sp)
        self.x_to_ig = self.conv(n_ig, "X_to_IG", False, sign=sx)
        ig_bias = not (cfg.simple_subtraction and cfg.input_gate == "sub")
        self.ig_to_pn = self.conv(pn, "IG_to_PN", ig_bias)  # its sign acts in the gate
        if cfg.recurrent_ig:
            self.ig_to_ig = self.conv(n_ig, "IG_to_IG", False, sign=self.sign_int)
            self.ig_forget = self.forget_logit(n_ig, "IG_forget_logit")
        if self.has_og:
            self.pn_to_og = self.conv(self.n_og, "PN_to_OG", True, pn_bias, sp)
            self.x_to_og = self.conv(self.n_og, "X_to_OG", False, sign=sx)
            self.og_to_pn = self.conv(pn, "OG_to_PN", True)
        if cfg.forget_gate == "conv":
            self.pn_to_forget = self.conv(pn, "PN_to_forget", True, pn_bias, sp)
            self.x_to_forget = self.conv(pn, "X_to_forget", False, sign=sx)
        else:
            self.pn_forget = self.forget_logit(pn, "PN_forget_logit")
        self.pn_to_pn = self.conv(pn, "PN_to_PN", True, pn_bias, sp)
        self.x_to_pn = self.conv(pn, "X_to_PN", False, sign=sx)
        self.ig_norm = self.batch_norm("IG_current_bn") if cfg.ig_current_bn else None
        self.og_norm = self.batch_norm("OG_current_bn") if cfg.og_current_bn else None
        self.e_norm = self.batch_norm("PN_current_bn") if (
            cfg.normalization == "e_current_bn") else None
        self.cell_state_norm = {
            "cell_bn": lambda: self.batch_norm("PN_cell_bn"),
            "layer_norm": lambda: SpatialLayerNorm(weight_decay=self.bn_weight_decay,
                                                   dtype=self.dtype_policy, name="PN_cell_ln"),
            "cell_dropout": lambda: CellDropout(1.0 - cfg.dropout_keep,
                                                cfg.dropout_at_inference,
                                                dtype=self.dtype_policy, name="PN_cell_dropout"),
        }.get(cfg.normalization, lambda: None)()
        self.og_drop = None
        if cfg.og_dropout:
            self.og_drop = CellDropout(1.0 - cfg.dropout_keep, cfg.dropout_at_inference,
                                       dtype=self.dtype_policy, name="OG_dropout")
        # Build every sub-layer now so their weights exist before the RNN traces.
        shape_x = tuple(input_shape)
        shape_h = shape_x[:-1] + (pn,)
        for layer, shape in [(self.pn_to_ig, shape_h), (self.x_to_ig, shape_x),
                             (self.ig_to_pn, shape_x[:-1] + (n_ig,)),
                             (self.pn_to_pn, shape_h), (self.x_to_pn, shape_x)]:
            layer.build(shape)
        if cfg.recurrent_ig:
            self.ig_to_ig.build(shape_x[:-1] + (n_ig,))
        if self.has_og:
            self.pn_to_og.build(shape_h)
            self.x_to_og.build(shape_x)
            self.og_to_pn.build(shape_x[:-1] + (self.n_og,))
        if cfg.forget_gate == "conv":
            self.pn_to_forget.build(shape_h)
            self.x_to_forget.build(shape_x)
        for norm, channels in [(self.ig_norm, n_ig), (self.og_norm, self.n_og),
                               (self.e_norm, pn), (self.cell_state_norm, pn)]:
            if norm is not None:
                norm.build(shape_x[:-1] + (channels,))

    def connections(self):
        """Connection type -> the DaleConv implementing it (paper Fig. 3 / design.md 6)."""
        conns = {"PN_to_PN": self.pn_to_pn, "IG_to_PN": self.ig_to_pn, "PN_to_IG": self.pn_to_ig}
        if self.has_og:
            conns.update({"OG_to_PN": self.og_to_pn, "PN_to_OG": self.pn_to_og})
        if self.cfg.recurrent_ig:
            conns["IG_to_IG"] = self.ig_to_ig
        return conns

    def input_currents(self, x):
        """``sx conv+(x)`` to IG, OG, the forget gate (with its +1 offset) and PN."""
        currents = {"IG": self.x_to_ig(x), "PN": self.x_to_pn(x)}
        if self.has_og:
            currents["OG"] = self.x_to_og(x)
        if self.cfg.forget_gate == "conv":
            currents["forget"] = self.x_to_forget(x) + 1.0
        return currents

    def _norm(self, norm, value, step, training):
        if norm is None:
            return value
        if isinstance(norm, StepBatchNorm):
            return norm(value, step, training=training)
        if isinstance(norm, keras.layers.Dropout):
            return norm(value, training=training)
        return norm(value)

    def call(self, x_currents, states, training=False, initial_step=False):
        """One step; ``x_currents`` are this step's :meth:`input_currents` (the signed
        ``sx conv+(x)`` terms), the ``sp conv+(h)`` terms are computed here (``initial_step``:
        the states are the zero initial state, see :meth:`from_state`)."""
        cfg = self.cfg
        c, h = states[0], states[1]
        counter = states[-1]
        step = self.step_index(counter)
        inhpn = cfg.principal == "inhibitory"
        relu, sigmoid = ops.relu, ops.sigmoid

        # Input-gating interneurons (IG) and the gate current they send to PN.
        ig_current = self.from_state(self.pn_to_ig, h, initial_step) + x_currents["IG"]
        if cfg.recurrent_ig:
            ig_prev = states[2]
            ig_current = ig_current + self.from_state(self.ig_to_ig, ig_prev, initial_step)
            ig_current = self._norm(self.ig_norm, ig_current, step, training)
            g = sigmoid(self.ig_forget + 1.0)
            ig_cells = self.kept_plus(lambda: g, ig_prev, (1.0 - g) * relu(ig_current),
                                      initial_step)
            # RecurrI: the previous step's IG gates PN.
            ig = self.from_state(self.ig_to_pn, ig_prev, initial_step)
        else:
            ig_current = self._norm(self.ig_norm, ig_current, step, training)
            ig_cells = relu(ig_current)
            ig = self.ig_to_pn(ig_cells)

        # Output-gating interneurons (OG).
        if self.has_og:
            og_current = self.from_state(self.pn_to_og, h, initial_step) + x_currents["OG"]
            og_current = self._norm(self.og_norm, og_current, step, training)
            if self.og_drop is not None:
                og_current = self.og_drop(og_current, training=training)
            og_cells = relu(og_current)
            og = self.og_to_pn(og_cells)

        # Forget gate (computed at most once, and not at all where nothing needs it) and the
        # candidate input of PN.
        @functools.cache
        def forget():
            if cfg.forget_gate == "conv":
                return sigmoid(self.from_state(self.pn_to_forget, h, initial_step)
                               + x_currents["forget"])
            return sigmoid(self.pn_forget + 1.0)

        u = self.from_state(self.pn_to_pn, h, initial_step) + x_currents["PN"]

        if cfg.input_gate == "mul":
            gate = sigmoid(ig) if inhpn else 1.0 - sigmoid(ig)
            u = self._norm(self.e_norm, u, step, training)
            new = relu(u) * gate
        else:
            if cfg.simple_subtraction:
                u = u + ig if inhpn else u - ig
            else:
                u = u + relu(ig) - 1.0 if inhpn else u - relu(ig)
            u = self._norm(self.e_norm, u, step, training)
            new = (1.0 - forget()) * relu(u) if cfg.forget_gate == "scalar" else relu(u)
        c_new = self.kept_plus(forget, c, new, initial_step)

        c_new = self._norm(self.cell_state_norm, c_new, step, training)

        if not self.has_og:
            h_new = relu(c_new) if self.cell_norm else c_new
        elif cfg.output_gate == "mul":
            h_new = relu(c_new) * (sigmoid(og) if inhpn else 1.0 - sigmoid(og))
        elif cfg.simple_subtraction:
            h_new = relu(c_new + og) if inhpn else relu(c_new - og)
        else:
            h_new = relu(c_new + relu(og) - 1.0) if inhpn else relu(c_new - relu(og))

        outputs = [h_new, ig_cells] + ([og_cells] if self.has_og else [])
        new_states = [c_new, h_new] + ([ig_cells] if cfg.recurrent_ig else []) + [counter + 1.0]
        return outputs, new_states


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardEICell(AreaCell):
    """The *StandardEI* cell (paper eq. 1), output ``[E, I]``; E is the principal population.

    ``Curr_E = conv+(x) + conv+(E) - conv+(I) + b_E``, ``Curr_I`` likewise (bias only on the
    convs from E); BN_t on ``Curr_E`` (and on ``Curr_I`` with ``i_current_bn``);
    ``r = g r_prev + (1 - g) relu(Curr)``, ``g = sigmoid(f~ + 1)`` per channel. InhPN swaps the
    E and I signs.
    """

    def __init__(self, model_config, area, weight_decay=0.0, bn_weight_decay=None, **kwargs):
        super().__init__(model_config, area, weight_decay, bn_weight_decay, **kwargs)
        self.n_i = self.cfg.i_channels[area]

    @property
    def state_channels(self):
        return [self.pn, self.n_i]

    @property
    def populations(self):
        return [("E", self.pn), ("I", self.n_i)]

    def build_connections(self, input_shape):
        cfg = self.cfg
        shape_x = tuple(input_shape)
        sizes = {"E": self.pn, "I": self.n_i}
        signs = {"E": self.sign_pn, "I": self.sign_int, "X": self.sign_x}
        self.conns = {}
        for pre in ("E", "I", "X"):
            for post in ("E", "I"):
                conv = self.conv(sizes[post], f"{pre}_to_{post}", use_bias=pre == "E",
                                 sign=signs[pre])
                conv.build(shape_x if pre == "X" else shape_x[:-1] + (sizes[pre],))
                self.conns[f"{pre}_to_{post}"] = conv
        self.forget = {p: self.forget_logit(sizes[p], f"{p}_forget_logit") for p in ("E", "I")}
        use_norm = {"E": cfg.normalization != "none", "I": cfg.i_current_bn}
        self.norms = {}
        for post in ("E", "I"):
            norm = None
            if use_norm[post] and cfg.normalization == "layer_norm":
                norm = SpatialLayerNorm(weight_decay=self.bn_weight_decay, dtype=self.dtype_policy,
                                        name=f"{post}_current_ln")
            elif use_norm[post]:
                norm = self.batch_norm(f"{post}_current_bn")
            if norm is not None:
                norm.build(shape_x[:-1] + (sizes[post],))
            self.norms[post] = norm

    def connections(self):
        return {kind: conv for kind, conv in self.conns.items() if not kind.startswith("X_")}

    def input_currents(self, x):
        """``sx conv+(x)`` to E and I."""
        return {post: self.conns[f"X_to_{post}"](x) for post in ("E", "I")}

    def call(self, x_currents, states, training=False, initial_step=False):
        e_prev, i_prev, counter = states
        step = self.step_index(counter)
        new = {}
        for post, prev in (("E", e_prev), ("I", i_prev)):
            current = (self.from_state(self.conns[f"E_to_{post}"], e_prev, initial_step)
                       + self.from_state(self.conns[f"I_to_{post}"], i_prev, initial_step)
                       + x_currents[post])
            norm = self.norms[post]
            if isinstance(norm, StepBatchNorm):
                current = norm(current, step, training=training)
            elif norm is not None:
                current = norm(current)
            g = ops.sigmoid(self.forget[post] + 1.0)
            new[post] = self.kept_plus(lambda: g, prev, (1.0 - g) * ops.relu(current),
                                       initial_step)
        return [new["E"], new["I"]], [new["E"], new["I"], counter + 1.0]


CELLS = {"standard": StandardCell, "standard_ei": StandardEICell}

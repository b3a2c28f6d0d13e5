"""The recurrent cells of one area: *Standard* (PN, IG, OG) and *StandardEI* (E, I).

Each cell takes its own arguments, as Keras' ConvLSTM2D cell takes ``filters``: its channels
and the switches of every variant of Appendix D (gating, normalization, NoOG, SSub, SFG,
RecurrI, InhPN, NoConstraint, regular convs, ReLU sign constraint, zero interneurons), which
:func:`cell_arguments` reads from the model config. Both create their connections
from a table. The state carries a step counter so per-time-step BatchNorm knows the step.

Notation (design.md section 2): ``x`` the area input, ``h`` the previous PN output, ``c`` the
previous cell state, ``conv+`` a :class:`~ei_tf.layers.DaleConv`.
"""

from __future__ import annotations

import functools
import types
from collections import namedtuple

import keras
from keras import ops

from .layers import (PACKAGE, SIGN_CONSTRAINTS, CellDropout, DaleConv, SpatialLayerNorm,
                     StepBatchNorm, choice, l2)

# A connection ``{source}_to_{target}`` (sources: the populations and the area input X) whose
# output carries ``sign`` (its source's), with a bias starting at ``bias_init`` or none.
Connection = namedtuple("Connection", "source target sign bias bias_init", defaults=(0.0,))
COMMON = ("time_steps", "kernel_size", "separable", "sign_constraint", "principal",
          "inhibitory_input", "normalization", "recurrent_init_gain", "bn_momentum",
          "bn_epsilon", "weight_decay", "bn_weight_decay")


class AreaCell(keras.layers.Layer):
    """What both cell families share: arguments, connections, per-step norms, state bookkeeping.

    ``principal`` "inhibitory" is InhPN; ``inhibitory_input`` makes the area's input inhibit.
    ImageNet excludes normalization parameters from weight decay (``bn_weight_decay``).
    """

    normalizations: tuple = ()
    switches: tuple = ()  # the family's own arguments besides its channels
    built_first: tuple = ()  # connections built before the others (see :meth:`build`)

    def __init__(self, time_steps=4, kernel_size=3, separable=True, sign_constraint="abs",
                 principal="excitatory", inhibitory_input=False, normalization="none",
                 recurrent_init_gain=1.0, bn_momentum=0.997, bn_epsilon=1e-5, weight_decay=0.0,
                 bn_weight_decay=None, **kwargs):
        super().__init__(**kwargs)
        self.time_steps, self.kernel_size = int(time_steps), int(kernel_size)
        self.separable, self.inhibitory_input = bool(separable), bool(inhibitory_input)
        self.sign_constraint = choice(self, "sign_constraint", sign_constraint, SIGN_CONSTRAINTS)
        self.principal = choice(self, "principal", principal, ("excitatory", "inhibitory"))
        self.normalization = choice(self, "normalization", normalization, self.normalizations)
        self.recurrent_init_gain, self.bn_momentum = float(recurrent_init_gain), float(bn_momentum)
        self.bn_epsilon, self.weight_decay = float(bn_epsilon), float(weight_decay)
        self.bn_weight_decay = float(weight_decay if bn_weight_decay is None else bn_weight_decay)
        # Sign of the principal population's effect, and of the interneurons' (InhPN flips).
        self.sign_pn = -1.0 if self.principal == "inhibitory" else 1.0
        self.sign_int, self.sign_x = -self.sign_pn, -1.0 if self.inhibitory_input else 1.0
        # Authors' code: biases of PN-source convs start at 1.0 when both PN and input inhibit.
        self.pn_bias_init = 1.0 if (self.sign_pn < 0 and self.sign_x < 0) else 0.0

    # -- factories -------------------------------------------------------------------------
    def norm_layer(self, kind, prefix, input_shape, channels):
        """The layer ``{prefix}_{kind}`` built for ``channels`` channels: per-step BatchNorm
        (``bn``), LayerNorm (``ln``) or dropout (``dropout``); None for no ``kind``."""
        if not kind:
            return None
        named = {"dtype": self.dtype_policy, "name": f"{prefix}_{kind}"}
        layer = StepBatchNorm(self.time_steps, self.bn_momentum, self.bn_epsilon,
                              weight_decay=self.bn_weight_decay, **named) if kind == "bn" else (
            SpatialLayerNorm(weight_decay=self.bn_weight_decay, **named) if kind == "ln" else
            CellDropout(self.dropout_rate, self.dropout_at_inference, **named))
        layer.build(tuple(input_shape[:-1]) + (channels,))
        return layer

    def forget_logit(self, channels, name):
        """Per-channel trainable forget-gate logit f~ (glorot-uniform, as tf.get_variable)."""
        return self.add_weight(shape=(channels,), initializer="glorot_uniform",
                               regularizer=l2(self.weight_decay), name=name)

    # -- RNN cell protocol -----------------------------------------------------------------
    @property
    def state_channels(self) -> list[int]:
        """The channels of the states (the step counter aside)."""
        return [channels for _, channels in self.populations]

    @property
    def populations(self) -> list[tuple[str, int]]:
        """Output populations ``[(name, channels)]`` in channel order; the first projects."""
        raise NotImplementedError

    @property
    def state_size(self):
        return self.state_channels + [1]

    def build(self, input_shape):
        """Creates a :class:`DaleConv` for every :class:`Connection` of the family's
        ``connection_table()``, in its order (their weights' order), and builds them: those
        named in ``built_first`` first (the order in which their initial values are drawn)."""
        self.spatial = (int(input_shape[1]), int(input_shape[2]))
        channels = dict(self.populations, X=int(input_shape[-1]), forget=self.pn)
        table = {f"{c.source}_to_{c.target}": c for c in self.connection_table()}
        self._conns = {}
        for name, c in table.items():
            self._conns[name] = DaleConv(
                channels[c.target], self.kernel_size, separable=self.separable,
                sign_constraint=self.sign_constraint, use_bias=c.bias, bias_init=c.bias_init,
                weight_decay=self.weight_decay, sign=c.sign, init_gain=self.recurrent_init_gain,
                dtype=self.dtype_policy, name=name)
        for name in sorted(table, key=lambda name: name not in self.built_first):
            self._conns[name].build(tuple(input_shape[:-1]) + (channels[table[name].source],))

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

    @staticmethod
    def normalize(norm, value, step, training):
        """``value`` through a normalization layer (or unchanged for None)."""
        if isinstance(norm, StepBatchNorm):
            return norm(value, step, training=training)
        if isinstance(norm, keras.layers.Dropout):
            return norm(value, training=training)
        return value if norm is None else norm(value)

    def connections(self) -> dict:
        """Connection type -> the DaleConv implementing it (paper Fig. 3 / design.md 6): every
        connection between two populations."""
        return {name: conv for name, conv in self._conns.items()
                if not name.startswith("X_") and not name.endswith("_forget")}

    def input_currents(self, x) -> dict:
        """The currents from the area input ``x`` (``[N, H, W, C_in]``) to each target population,
        signed: they do not depend on the state, so the area computes them outside the
        recurrence (:class:`~ei_tf.layers.RecurrentArea`) and passes each step's to ``call``."""
        return {name[5:]: conv(x) for name, conv in self._conns.items() if name[:5] == "X_to_"}

    def get_initial_state(self, batch_size=None):
        states = [ops.zeros((batch_size,) + self.spatial + (c,), dtype=self.compute_dtype)
                  for c in self.state_channels]
        return states + [ops.zeros((batch_size, 1), dtype=self.compute_dtype)]

    def step_index(self, counter):
        return ops.cast(counter[0, 0], "int32")

    def get_config(self):
        names = COMMON + self.switches
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}

    @classmethod
    def from_config(cls, config):
        """Also a config saved before the cells took their own arguments (``.keras`` files of
        earlier versions: the whole model config and the area index)."""
        if "model_config" in config:
            rest = {k: v for k, v in config.items() if k not in ("model_config", "area")}
            model = types.SimpleNamespace(**config["model_config"])
            config = {**rest, **cell_arguments(model, config["area"])}
        return super().from_config(config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardCell(AreaCell):
    """The *Standard* cell (paper eq. 2, design.md section 2), output ``[PN, IG, OG]``.

    ``IG = relu(conv+(h) + b + conv+(x))``; ``ig = conv+(IG) + b``; ``OG``, ``og`` likewise;
    ``f = sigmoid(conv+(h) + b + conv+(x) + 1)``; ``u = conv+(h) + b + conv+(x)``;
    Mul input gate ``c' = f c + relu(u)(1 - sigmoid(ig))``, Sub ``c' = f c + relu(u - relu(ig))``;
    ``c' = BN_t(c')``; Sub output gate ``h' = relu(c' - relu(og))``, Mul
    ``h' = relu(c')(1 - sigmoid(og))``. Convs from PN carry the PN sign (-1 in InhPN), where
    the gates turn excitatory: ``sigmoid(ig)``, ``relu(u + relu(ig) - 1)``,
    ``relu(c' + relu(og) - 1)``. Appendix D.2: ``output_gate`` "none" is NoOG (and
    ``og_channels`` 0), ``simple_subtraction`` SSub, ``forget_gate`` "scalar" SFG,
    ``recurrent_ig`` RecurrI.
    """

    normalizations = ("cell_bn", "e_current_bn", "none", "layer_norm", "cell_dropout")
    # The connections of every variant first (the order of the initial values).
    built_first = ("PN_to_IG", "X_to_IG", "IG_to_PN", "PN_to_PN", "X_to_PN")
    switches = ("input_gate", "output_gate", "forget_gate", "ig_current_bn", "og_current_bn",
                "recurrent_ig", "simple_subtraction", "og_dropout", "dropout_rate",
                "dropout_at_inference")

    def __init__(self, pn_channels, ig_channels, og_channels=0, input_gate="mul",
                 output_gate="sub", forget_gate="conv", normalization="cell_bn",
                 ig_current_bn=False, og_current_bn=False, recurrent_ig=False,
                 simple_subtraction=False, og_dropout=False, dropout_rate=0.1,
                 dropout_at_inference=False, **kwargs):
        super().__init__(normalization=normalization, **kwargs)
        self.pn, self.n_ig, self.n_og = int(pn_channels), int(ig_channels), int(og_channels)
        self.input_gate = choice(self, "input_gate", input_gate, ("mul", "sub"))
        self.output_gate = choice(self, "output_gate", output_gate, ("mul", "sub", "none"))
        self.forget_gate = choice(self, "forget_gate", forget_gate, ("conv", "scalar"))
        self.has_og = output_gate != "none"
        if self.n_og and not self.has_og:
            raise ValueError(f"StandardCell: og_channels={og_channels} with output_gate='none' "
                             f"(no OG population); allowed: 0")
        self.ig_current_bn, self.og_current_bn = bool(ig_current_bn), bool(og_current_bn)
        self.recurrent_ig, self.simple_subtraction = bool(recurrent_ig), bool(simple_subtraction)
        self.og_dropout, self.dropout_rate = bool(og_dropout), float(dropout_rate)
        self.dropout_at_inference = bool(dropout_at_inference)

    @property
    def state_channels(self):
        return [self.pn, self.pn] + ([self.n_ig] if self.recurrent_ig else [])

    @property
    def populations(self):
        return [("PN", self.pn), ("IG", self.n_ig)] + ([("OG", self.n_og)] if self.has_og else [])

    def connection_table(self):
        sp, sx, b = self.sign_pn, self.sign_x, self.pn_bias_init
        ig_bias = not (self.simple_subtraction and self.input_gate == "sub")
        table = [Connection("PN", "IG", sp, True, b), Connection("X", "IG", sx, False),
                 Connection("IG", "PN", 1.0, ig_bias)]  # IG_to_PN: its sign acts in the gate
        if self.recurrent_ig:
            table.append(Connection("IG", "IG", self.sign_int, False))
        if self.has_og:
            table += [Connection("PN", "OG", sp, True, b), Connection("X", "OG", sx, False),
                      Connection("OG", "PN", 1.0, True)]
        if self.forget_gate == "conv":
            table += [Connection("PN", "forget", sp, True, b), Connection("X", "forget", sx, False)]
        return table + [Connection("PN", "PN", sp, True, b), Connection("X", "PN", sx, False)]

    def build(self, input_shape):
        """The forget logits and the dropouts' seeds are drawn before the connections' initial
        values. Each connection is kept as the attribute of its name in lower case
        (``pn_to_ig``), where saved weights (``.keras`` files, backups) address it; the norms
        after them."""
        if self.recurrent_ig:
            self.ig_forget = self.forget_logit(self.n_ig, "IG_forget_logit")
        if self.forget_gate == "scalar":
            self.pn_forget = self.forget_logit(self.pn, "PN_forget_logit")
        cell_kind = {"cell_bn": "bn", "layer_norm": "ln", "cell_dropout": "dropout"}
        norms = {  # in the order of their weights
            "ig_norm": ("IG_current", self.ig_current_bn and "bn", self.n_ig),
            "og_norm": ("OG_current", self.og_current_bn and "bn", self.n_og),
            "e_norm": ("PN_current", self.normalization == "e_current_bn" and "bn", self.pn),
            "cell_state_norm": ("PN_cell", cell_kind.get(self.normalization), self.pn),
            "og_drop": ("OG", self.og_dropout and "dropout", self.n_og)}
        norms = {attribute: self.norm_layer(kind, prefix, input_shape, channels)
                 for attribute, (prefix, kind, channels) in norms.items()}
        super().build(input_shape)
        for attribute, layer in [*((n.lower(), c) for n, c in self._conns.items()), *norms.items()]:
            setattr(self, attribute, layer)

    def input_currents(self, x):
        """``sx conv+(x)`` to IG, OG, the forget gate (with its +1 offset) and PN."""
        currents = super().input_currents(x)
        if "forget" in currents:
            currents["forget"] = currents["forget"] + 1.0
        return currents

    def call(self, x_currents, states, training=False, initial_step=False):
        """One step; ``x_currents`` are this step's :meth:`input_currents` (the signed
        ``sx conv+(x)`` terms), the ``sp conv+(h)`` terms are computed here (``initial_step``:
        the states are the zero initial state, see :meth:`from_state`)."""
        c, h = states[0], states[1]
        counter = states[-1]
        step = self.step_index(counter)
        inhpn = self.principal == "inhibitory"
        relu, sigmoid, norm = ops.relu, ops.sigmoid, self.normalize

        # Input-gating interneurons (IG) and the gate current they send to PN.
        ig_current = self.from_state(self.pn_to_ig, h, initial_step) + x_currents["IG"]
        if self.recurrent_ig:
            ig_prev = states[2]
            ig_current = ig_current + self.from_state(self.ig_to_ig, ig_prev, initial_step)
            ig_current = norm(self.ig_norm, ig_current, step, training)
            g = sigmoid(self.ig_forget + 1.0)
            ig_cells = self.kept_plus(lambda: g, ig_prev, (1.0 - g) * relu(ig_current),
                                      initial_step)
            # RecurrI: the previous step's IG gates PN.
            ig = self.from_state(self.ig_to_pn, ig_prev, initial_step)
        else:
            ig_current = norm(self.ig_norm, ig_current, step, training)
            ig_cells = relu(ig_current)
            ig = self.ig_to_pn(ig_cells)

        # Output-gating interneurons (OG).
        if self.has_og:
            og_current = self.from_state(self.pn_to_og, h, initial_step) + x_currents["OG"]
            og_current = norm(self.og_norm, og_current, step, training)
            if self.og_drop is not None:
                og_current = self.og_drop(og_current, training=training)
            og_cells = relu(og_current)
            og = self.og_to_pn(og_cells)

        # Forget gate (computed at most once, and not at all where nothing needs it) and the
        # candidate input of PN.
        @functools.cache
        def forget():
            if self.forget_gate == "conv":
                return sigmoid(self.from_state(self.pn_to_forget, h, initial_step)
                               + x_currents["forget"])
            return sigmoid(self.pn_forget + 1.0)

        u = self.from_state(self.pn_to_pn, h, initial_step) + x_currents["PN"]

        if self.input_gate == "mul":
            gate = sigmoid(ig) if inhpn else 1.0 - sigmoid(ig)
            u = norm(self.e_norm, u, step, training)
            new = relu(u) * gate
        else:
            if self.simple_subtraction:
                u = u + ig if inhpn else u - ig
            else:
                u = u + relu(ig) - 1.0 if inhpn else u - relu(ig)
            u = norm(self.e_norm, u, step, training)
            new = (1.0 - forget()) * relu(u) if self.forget_gate == "scalar" else relu(u)
        c_new = self.kept_plus(forget, c, new, initial_step)

        c_new = norm(self.cell_state_norm, c_new, step, training)

        if not self.has_og:  # without a cell-state norm h = c' (authors' 'remove_OG')
            h_new = c_new if self.cell_state_norm is None else relu(c_new)
        elif self.output_gate == "mul":
            h_new = relu(c_new) * (sigmoid(og) if inhpn else 1.0 - sigmoid(og))
        elif self.simple_subtraction:
            h_new = relu(c_new + og) if inhpn else relu(c_new - og)
        else:
            h_new = relu(c_new + relu(og) - 1.0) if inhpn else relu(c_new - relu(og))

        outputs = [h_new, ig_cells] + ([og_cells] if self.has_og else [])
        new_states = [c_new, h_new] + ([ig_cells] if self.recurrent_ig else []) + [counter + 1.0]
        return outputs, new_states

    def get_config(self):
        return {**super().get_config(), "pn_channels": self.pn, "ig_channels": self.n_ig,
                "og_channels": self.n_og}


@keras.saving.register_keras_serializable(package=PACKAGE)
class StandardEICell(AreaCell):
    """The *StandardEI* cell (paper eq. 1), output ``[E, I]``; E is the principal population.

    ``Curr_E = conv+(x) + conv+(E) - conv+(I) + b_E``, ``Curr_I`` likewise (bias only on the
    convs from E); BN_t on ``Curr_E`` (and on ``Curr_I`` with ``i_current_bn``);
    ``r = g r_prev + (1 - g) relu(Curr)``, ``g = sigmoid(f~ + 1)`` per channel. InhPN swaps the
    E and I signs. ``normalization`` "layer_norm" normalizes those currents by LayerNorm instead.
    """

    normalizations = ("e_current_bn", "none", "layer_norm")
    switches = ("i_current_bn",)

    def __init__(self, e_channels, i_channels, normalization="e_current_bn", i_current_bn=False,
                 **kwargs):
        super().__init__(normalization=normalization, **kwargs)
        self.pn, self.n_i, self.i_current_bn = int(e_channels), int(i_channels), bool(i_current_bn)

    @property
    def populations(self):
        return [("E", self.pn), ("I", self.n_i)]

    def connection_table(self):
        signs = {"E": self.sign_pn, "I": self.sign_int, "X": self.sign_x}
        return [Connection(pre, post, signs[pre], pre == "E")
                for pre in ("E", "I", "X") for post in ("E", "I")]

    def build(self, input_shape):
        super().build(input_shape)
        self.conns = dict(self._conns)  # where saved weights (.keras files, backups) address them
        self.forget = {p: self.forget_logit(n, f"{p}_forget_logit") for p, n in self.populations}
        use = {"E": self.normalization != "none", "I": self.i_current_bn}
        kind = "ln" if self.normalization == "layer_norm" else "bn"
        self.norms = {p: self.norm_layer(use[p] and kind, f"{p}_current", input_shape, n)
                      for p, n in self.populations}

    def call(self, x_currents, states, training=False, initial_step=False):
        e_prev, i_prev, counter = states
        step = self.step_index(counter)
        new = {}
        for post, prev in (("E", e_prev), ("I", i_prev)):
            current = (self.from_state(self._conns[f"E_to_{post}"], e_prev, initial_step)
                       + self.from_state(self._conns[f"I_to_{post}"], i_prev, initial_step)
                       + x_currents[post])
            current = self.normalize(self.norms[post], current, step, training)
            g = ops.sigmoid(self.forget[post] + 1.0)
            new[post] = self.kept_plus(lambda: g, prev, (1.0 - g) * ops.relu(current),
                                       initial_step)
        return [new["E"], new["I"]], [new["E"], new["I"], counter + 1.0]

    def get_config(self):
        return {**super().get_config(), "e_channels": self.pn, "i_channels": self.n_i}


CELLS = {"standard": StandardCell, "standard_ei": StandardEICell}


def cell_arguments(m, area: int) -> dict:
    """The arguments of recurrent area ``area``'s cell (0 is area 3) from the model config ``m``
    (:class:`ei_tf.config.ModelConfig`, or any object with its fields): the fields
    of the cell's argument names (``COMMON`` and the family's ``switches``), the area's
    channels, the dropout rate and whether its input inhibits (never area 3's)."""
    cls = CELLS[m.family]
    args = {name: getattr(m, name) for name in COMMON + cls.switches if hasattr(m, name)}
    if cls is StandardEICell:
        args.update(e_channels=m.pn_channels[area], i_channels=m.i_channels[area])
    else:
        args.update(pn_channels=m.pn_channels[area], ig_channels=m.ig_channels[area],
                    og_channels=m.og_channels[area], dropout_rate=1.0 - m.dropout_keep)
    return dict(args, inhibitory_input=m.inhibitory_area_input and area > 0)

"""Typed run configuration and its strict YAML override.

One dataclass schema holds every setting of a run. A YAML file (and then ``--set key=value``
pairs) overrides it field by field; an unknown key, a wrong type or an out-of-range value is a
:class:`ConfigError` naming the key, the value and what is allowed, and a key given twice in a
YAML mapping one naming its line. The defaults are the paper's
CIFAR10 *Standard* network trained as in section 2 / Appendix A.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml


class ConfigError(ValueError):
    """A configuration problem the user can fix; the message names what is wrong."""


def _range(lo=None, hi=None, *, lo_open=False):
    return {"min": lo, "max": hi, "min_open": lo_open}


@dataclass
class ModelConfig:
    """Architecture (paper section 1, Appendix A, D; design.md section 2).

    Per-area lists hold one entry per area. ``pn_channels`` are the principal neurons (PN, the
    E population of StandardEI); ``ig_channels``/``og_channels`` the input- and output-gating
    interneurons of the Standard cell; ``i_channels`` the I population of StandardEI.
    """

    family: Literal["standard", "standard_ei"] = "standard"
    # Feedforward areas 1-2: conv -> BatchNorm -> ReLU -> max-pool 3x3 'same'.
    ff_channels: list[int] = field(default_factory=lambda: [16, 32], metadata=_range(1))
    ff_kernel_sizes: list[int] = field(default_factory=lambda: [3, 3], metadata=_range(1))
    ff_conv_strides: list[int] = field(default_factory=lambda: [1, 1], metadata=_range(1))
    ff_pool_strides: list[int] = field(default_factory=lambda: [1, 2], metadata=_range(1))
    # Recurrent areas (3, 4, ...): each followed by max-pool 3x3 stride ``recurrent_pool_stride``.
    pn_channels: list[int] = field(default_factory=lambda: [64, 128], metadata=_range(1))
    ig_channels: list[int] = field(default_factory=lambda: [16, 32], metadata=_range(0))
    og_channels: list[int] = field(default_factory=lambda: [16, 32], metadata=_range(0))
    i_channels: list[int] = field(default_factory=lambda: [16, 32], metadata=_range(0))
    kernel_size: int = field(default=3, metadata=_range(1))
    recurrent_pool_stride: int = field(default=2, metadata=_range(1))
    time_steps: int = field(default=4, metadata=_range(1))
    # Readout: "last" = LastT (final time step), "sum" = SumT (sum over steps), Appendix D.1.
    readout: Literal["last", "sum"] = "last"
    # Gating of the Standard cell (Appendix D.1): Mul input gate, Sub output gate by default;
    # "none" as output gate removes the OG population (NoOG, Appendix D.2: h = c').
    input_gate: Literal["mul", "sub"] = "mul"
    output_gate: Literal["mul", "sub", "none"] = "sub"
    # "Simplified subtractive current" (SSub, Appendix D.2): u - ig without relu and IG bias.
    simple_subtraction: bool = False
    # Forget gate: "conv" = sigmoid(conv(h) + conv(x) + b + 1); "scalar" = per-channel (SFG).
    forget_gate: Literal["conv", "scalar"] = "conv"
    # Recurrent IG with self-inhibition whose previous step gates PN (RecurrI, Appendix D.2).
    recurrent_ig: bool = False
    # Normalization of the PN (E) population (Appendix D.2-D.3):
    #   cell_bn: BatchNorm per time step on the cell state C_t (Standard);
    #   e_current_bn: BatchNorm per time step on the E/PN input current (StandardEI, NoOG_ECurrBN);
    #   none (NoNorm / NoPNCellBN); layer_norm: LayerNorm on the cell state;
    #   cell_dropout: dropout (keep ``dropout_keep``) on the cell state (PNCellDrpt).
    normalization: Literal["cell_bn", "e_current_bn", "none", "layer_norm", "cell_dropout"] = (
        "cell_bn")
    ig_current_bn: bool = False  # AddIGCurrBN
    og_current_bn: bool = False  # AddOGCurrBN
    i_current_bn: bool = False  # EI_CurrBN_ICurrBN (StandardEI)
    og_dropout: bool = False  # PNCellDrpt_AddOGDrpt
    dropout_keep: float = field(default=0.9, metadata=_range(0.0, 1.0, lo_open=True))
    # Those dropouts also at inference (evaluation, export, analysis), as the authors'
    # tf.nn.dropout without a training flag; false: in training only (Keras' Dropout).
    dropout_at_inference: bool = False
    # Recurrent connections: depthwise-separable (default) or regular 3x3 convolutions.
    separable: bool = True
    # Dale's law: "abs" (W = |W~|, default), "relu" (W = relu(W~)), "none" (NoConstraint).
    sign_constraint: Literal["abs", "relu", "none"] = "abs"
    # Which population is the principal (projecting) one; "inhibitory" is InhPN (section 3).
    principal: Literal["excitatory", "inhibitory"] = "excitatory"
    # StandardEI InhPN only: whether the next area's input from the previous area becomes
    # inhibitory too (the paper keeps it excitatory: "flip the sign of all local recurrent
    # connections").
    inhibitory_area_input: bool = False
    # Gain on the initial values of every recurrent-area connection kernel (both factors of a
    # separable one): glorot-uniform draws times this gain. 1.0 is the authors' code. A
    # departure used by the Standard-family InhPN configs (0.5): with the authors'
    # initialization the InhPN cell starts in a period-2 oscillation whose odd steps, the
    # readout's last one included, are silent in area 4 (on a CIFAR10 batch at initialization:
    # area-4 PN mean 23.6, 0, 23.2, 0 over the 4 steps), so every loss gradient but the
    # readout bias is exactly zero (test accuracy 0.100 after two CIFAR10 epochs); with 0.5
    # the PN are active at every step (0.21, 0.17, 0.16, 0.15) and one epoch reaches 0.276
    # (Standard 0.310) (README, "InhPN initialization").
    recurrent_init_gain: float = field(default=1.0, metadata=_range(0.0, lo_open=True))
    bn_momentum: float = field(default=0.997, metadata=_range(0.0, 1.0))
    bn_epsilon: float = field(default=1e-5, metadata=_range(0.0, lo_open=True))
    # Input preprocessing inside the model: TF per_image_standardization (CIFAR10) or
    # per-channel mean subtraction (ImageNet, design.md section 4).
    preprocessing: Literal["per_image_standardization", "channel_mean"] = (
        "per_image_standardization")
    channel_mean: list[float] = field(default_factory=lambda: [123.68, 116.78, 103.94])

    @property
    def n_areas(self) -> int:
        return len(self.pn_channels)


@dataclass
class DataConfig:
    """Dataset and input pipeline (design.md sections 3-4)."""

    dataset: Literal["cifar10", "imagenet", "synthetic"] = "cifar10"
    # Directory of CIFAR10's official "python version" (cifar-10-batches-py) or tfds manual_dir
    # for ImageNet. Empty: the EI_TF_DATA_DIR environment variable, then tensorflow-datasets.
    data_dir: str = ""
    image_size: int = field(default=32, metadata=_range(8))
    num_classes: int = field(default=10, metadata=_range(2))
    batch_size: int = field(default=128, metadata=_range(1))
    augment: bool = True
    # Shuffled labels (Appendix K): a fraction of the training set with labels permuted by seed.
    shuffled_labels: bool = False
    shuffled_fraction: float = field(default=0.1, metadata=_range(0.0, 1.0, lo_open=True))
    # 0 = all; otherwise the first N examples (quick runs).
    train_examples: int = field(default=0, metadata=_range(0))
    test_examples: int = field(default=0, metadata=_range(0))


@dataclass
class TrainingConfig:
    """Optimization (paper section 2 and Appendix A; design.md section 3)."""

    epochs: int = field(default=250, metadata=_range(1))
    optimizer: Literal["sgd"] = "sgd"
    learning_rate: float = field(default=0.1, metadata=_range(0.0, lo_open=True))
    momentum: float = field(default=0.9, metadata=_range(0.0, 1.0))
    lr_boundaries: list[int] = field(default_factory=lambda: [100, 150, 200], metadata=_range(1))
    lr_decay: float = field(default=0.1, metadata=_range(0.0, 1.0, lo_open=True))
    # Loss += weight_decay * 0.5 * sum(w^2) (the TF ResNet convention the authors used).
    weight_decay: float = field(default=2e-4, metadata=_range(0.0))
    # CIFAR10 decays every trainable variable; ImageNet excludes BatchNorm's.
    weight_decay_exclude_bn: bool = False
    steps_per_epoch: int = field(default=0, metadata=_range(0))  # 0 = the whole training set
    # The test set is evaluated after every validation_freq-th epoch and always after the last
    # (validation_epochs); history.csv leaves the val_* columns of the other epochs empty. The
    # paper does not say how often it tested. It does not change what the run computes, so a
    # run may resume with another value (ei_tf.backup.NOT_COMPUTED).
    validation_freq: int = field(default=1, metadata=_range(1))
    jit_compile: bool = False  # XLA makes depthwise convs ~10x slower on CPU
    # Unroll the T time steps in the RNN layers: the same computation; one training step of the
    # CIFAR10 Standard network measured 7% faster unrolled on 2 CPU cores (benchmarks/).
    unroll: bool = True
    # tf.config.experimental.enable_op_determinism(): the same config and seed give identical
    # weights and history on one machine (some kernels run slower; benchmarks/bench_train.py).
    deterministic: bool = False
    # "auto": MultiWorkerMirroredStrategy when the cluster has several tasks, else
    # MirroredStrategy over all GPUs when several are visible; "mirrored": over all GPUs, or all
    # logical CPU devices when there is no GPU; "multi_worker": MultiWorkerMirroredStrategy;
    # "none": the default strategy (ei_tf.distributed).
    distribute: Literal["auto", "mirrored", "multi_worker", "none"] = "auto"
    # Where a multi-worker cluster comes from (TensorFlow's cluster resolvers): "tf_config"
    # (TF_CONFIG), "slurm" (the tasks of an srun job step), "auto": TF_CONFIG when set, else
    # SLURM when the job step has more than one task (ei_tf.distributed).
    cluster: Literal["auto", "tf_config", "slurm"] = "auto"
    # Keras dtype policy of the network. "mixed_bfloat16" (opt-in, for CPUs and GPUs with
    # bfloat16 units): convolutions, gates and cell states in bfloat16; variables, BatchNorm
    # (statistics and normalization), the input normalization, the readout's logits, the loss
    # and the exported signatures stay float32.
    precision: Literal["float32", "mixed_bfloat16"] = "float32"

    def validation_epochs(self) -> list[int]:
        """The epochs (1-based, as Keras' ``fit(validation_freq=...)`` counts them) after which
        the test set is evaluated: every ``validation_freq``-th, and the last."""
        return [epoch for epoch in range(1, self.epochs + 1)
                if epoch % self.validation_freq == 0 or epoch == self.epochs]


@dataclass
class ExportConfig:
    """SavedModel export (design.md section 5): the epochs to export, plus always the last."""

    model_name: str = "ei_model"
    epochs: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 5, 10, 20, 30, 50, 100, 150,
                                                       200], metadata=_range(0))
    # TensorBoard after each export (train.py; ei_tf.analysis.summaries): the density and
    # log-weight histogram of every connection type always; with tensorboard_analysis also
    # gOSI, orientation and image skewness of every population (the full analysis of section 2,
    # stored in analysis/ too) on the first tensorboard_images test images (null: all; 0: no
    # image skewness).
    tensorboard_analysis: bool = True
    tensorboard_images: int | None = field(default=None, metadata=_range(0))


@dataclass
class Config:
    """A whole run. ``name`` defaults to the YAML file's stem; ``seeds`` are trained in turn.

    ``sweep`` (empty: none) makes the file a grid of networks; its syntax, its check and its
    expansion into single runs are in :mod:`ei_tf.sweep`.
    """

    name: str = "default"
    description: str = ""
    seeds: list[int] = field(default_factory=lambda: [0], metadata=_range(0))
    sweep: dict = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# YAML: `1e-4` is a number (PyYAML's YAML 1.1 resolver reads it as a string).

class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *defaults' may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, typing.Hashable):
                    continue  # PyYAML's own error follows
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error on one line: "line L, column C: <problem>" (or the error text)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is None or not problem:
        return " ".join(str(err).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {' '.join(str(problem).split())}"


# --------------------------------------------------------------------------------------------
# Strict, typed override.

def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        item = _type_name(typing.get_args(tp)[0])
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}
        return f"a list of {plural.get(item, item)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if tp is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _bounds_text(meta) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('min_open') else '>='} {lo}")
    if hi is not None:
        parts.append(f"<= {hi}")
    return " and ".join(parts)


def _check_range(value, meta, where):
    lo, hi = meta.get("min"), meta.get("max")
    bad = (lo is not None and (value <= lo if meta.get("min_open") else value < lo)) or (
        hi is not None and value > hi)
    if bad:
        raise ConfigError(f"{where}: value {value!r} is out of range; allowed: "
                          f"{_bounds_text(meta)}")


def _coerce(value, tp, meta, where):
    """Return ``value`` as type ``tp`` or raise ConfigError naming field, value and allowed."""
    origin = typing.get_origin(tp)
    wrong = ConfigError(f"{where}: value {value!r} is not allowed; expected {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise wrong
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(value, inner[0], meta, where)
    if origin is list:
        if not isinstance(value, list):
            raise wrong
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, meta, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise wrong
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise wrong
    if tp in (int, float):
        _check_range(value, meta, where)
    return value


def _apply(obj, overrides: dict, source: str, prefix: str = ""):
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: '{prefix.rstrip('.') or 'top level'}' must be a mapping of "
                          f"keys to values, got {overrides!r}")
    hints = typing.get_type_hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in overrides.items():
        where = f"{prefix}{key}"
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown config key '{where}' (known keys here: "
                              f"{allowed})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, source, where + ".")
        else:
            setattr(obj, key, _coerce(value, hints[key], fields[key].metadata,
                                      f"{source}: {where}"))


def _validate(cfg: Config, source: str):
    """Cross-field checks: list lengths agree; switches that contradict each other."""
    m = cfg.model
    n_ff = len(m.ff_channels)
    for name in ("ff_kernel_sizes", "ff_conv_strides", "ff_pool_strides"):
        if len(getattr(m, name)) != n_ff:
            raise ConfigError(f"{source}: model.{name} has {len(getattr(m, name))} entries but "
                              f"model.ff_channels has {n_ff}; give one per feedforward area")
    names = ["ig_channels", "og_channels"] if m.family == "standard" else ["i_channels"]
    for name in names:
        if len(getattr(m, name)) != m.n_areas:
            raise ConfigError(f"{source}: model.{name} has {len(getattr(m, name))} entries but "
                              f"model.pn_channels has {m.n_areas}; give one per recurrent area")
    if m.family == "standard":
        if m.output_gate == "none" and any(m.og_channels):
            raise ConfigError(f"{source}: model.output_gate is 'none' (no OG population) but "
                              f"model.og_channels is {m.og_channels}; set og_channels to 0s")
        if m.output_gate == "none" and (m.og_current_bn or m.og_dropout):
            name = "og_current_bn" if m.og_current_bn else "og_dropout"
            raise ConfigError(f"{source}: model.{name} is true but needs an OG population, and "
                              f"model.output_gate is 'none' (no OG population)")
        if m.recurrent_ig and m.input_gate != "sub":
            raise ConfigError(f"{source}: model.recurrent_ig needs model.input_gate 'sub' "
                              f"(RecurrI follows SSub in Appendix D.2)")
        if m.i_current_bn:
            raise ConfigError(f"{source}: model.i_current_bn is a StandardEI switch; the "
                              f"Standard family uses ig_current_bn / og_current_bn")
    else:
        for name in ("ig_current_bn", "og_current_bn", "og_dropout", "recurrent_ig",
                     "simple_subtraction"):
            if getattr(m, name):
                raise ConfigError(f"{source}: model.{name} is a Standard-family switch; "
                                  f"model.family is 'standard_ei'")
        if m.normalization not in ("e_current_bn", "none", "layer_norm"):
            raise ConfigError(f"{source}: model.normalization '{m.normalization}' is not "
                              f"available for StandardEI; allowed: e_current_bn, none, "
                              f"layer_norm")
    if m.dropout_at_inference and not (m.normalization == "cell_dropout" or m.og_dropout):
        raise ConfigError(f"{source}: model.dropout_at_inference needs a dropout "
                          f"(model.normalization 'cell_dropout' or model.og_dropout)")
    if m.inhibitory_area_input and m.principal != "inhibitory":
        raise ConfigError(f"{source}: model.inhibitory_area_input needs model.principal "
                          f"'inhibitory' (InhPN)")
    if sorted(cfg.training.lr_boundaries) != cfg.training.lr_boundaries:
        raise ConfigError(f"{source}: training.lr_boundaries {cfg.training.lr_boundaries} must "
                          f"be increasing")
    if not cfg.seeds:
        raise ConfigError(f"{source}: seeds must list at least one seed")


def parse_set(item: str) -> tuple[list[str], object]:
    """Parse one ``--set key.sub=value`` (value in YAML syntax, so 1e-4 is a number)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. training.epochs=10")
    key, text = item.split("=", 1)
    try:
        value = parse_yaml(text) if text.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML "
                          f"({yaml_problem(err)})") from None
    return key.strip().split("."), value


def shipped_configs() -> Path:
    """The directory of the configs that come with ei-tf: ``ei_tf/configs/`` in an installed
    package (the packaging maps the project's ``configs/`` there), else the ``configs/`` of the
    source checkout this module is in."""
    package = Path(__file__).resolve().parent
    installed = package / "configs"
    return installed if installed.is_dir() else package.parent / "configs"


def find_config(path) -> Path:
    """A config file (or directory of configs) by path, else by name among
    :func:`shipped_configs`.

    ``configs/fig7_standard_inhpn.yaml`` is that file when it exists (e.g. in the checkout),
    else the shipped one; ``fig7_standard_inhpn`` and ``workstation/fig2_standard`` are names (the
    ``.yaml`` may be left out), ``configs/workstation`` a directory. A path that matches nothing is
    returned unchanged, for the caller to report.
    """
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
    for name in (relative, Path(f"{relative}.yaml")):
        shipped = shipped_configs() / name
        if shipped.exists():
            return shipped
    return path


def load_config(path=None, sets=(), name=None) -> Config:
    """Defaults <- YAML file <- ``--set`` pairs, then validated. ``name`` defaults to the stem.

    ``path`` is a file or the name of a shipped config (:func:`find_config`).
    """
    cfg = Config()
    source = "defaults"
    if path is not None:
        path = find_config(path)
        if not path.is_file():
            raise ConfigError(
                f"config file {path} is not a file" if path.exists() else
                f"config file {path} does not exist, nor is it the name of a config shipped "
                f"with ei-tf (the names of {shipped_configs()}, e.g. quickstart)")
        source = str(path)
        try:
            data = parse_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {yaml_problem(err)}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a YAML text file (not UTF-8)") from None
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
        _apply(cfg, data or {}, source)
        if not (data or {}).get("name"):
            cfg.name = path.stem
    _apply_sets(cfg, sets)
    if name:
        cfg.name = name
    _validate(cfg, source)
    return cfg


def _apply_sets(cfg: Config, sets):
    for item in sets:
        keys, value = parse_set(item)
        nested = value
        for k in reversed(keys):
            nested = {k: nested}
        _apply(cfg, nested, "--set")


def nest_keys(overrides: dict) -> dict:
    """``{"model.pn_channels": [8, 16], "training": {"epochs": 3}}`` as nested mappings."""
    out: dict = {}
    for key, value in overrides.items():
        keys = str(key).split(".")
        node = out
        for k in keys[:-1]:
            if not isinstance(node.get(k, {}), dict):
                raise ConfigError(f"override key {key!r} goes inside '{k}', which is also given "
                                  f"a plain value")
            node = node.setdefault(k, {})
        leaf = keys[-1]
        value = nest_keys(value) if isinstance(value, dict) and keys[0] != "sweep" else value
        if isinstance(node.get(leaf), dict) and isinstance(value, dict):
            merge_nested(node[leaf], value)
        else:
            node[leaf] = value
    return out


def merge_nested(into: dict, extra: dict):
    """Merge the nested mapping ``extra`` into ``into`` (``extra`` wins on plain values)."""
    for k, v in extra.items():
        if isinstance(into.get(k), dict) and isinstance(v, dict):
            merge_nested(into[k], v)
        else:
            into[k] = v


def with_overrides(cfg: Config, overrides: dict, source: str, sets=()) -> Config:
    """A validated copy of ``cfg`` with ``overrides`` (keys dotted, ``model.pn_channels``, or
    nested) applied, then the ``--set`` pairs ``sets`` (so the command line wins)."""
    cfg = copy.deepcopy(cfg)
    _apply(cfg, nest_keys(overrides), source)
    _apply_sets(cfg, sets)
    _validate(cfg, source)
    return cfg


def config_from_dict(data: dict, source="saved config") -> Config:
    cfg = Config()
    _apply(cfg, data, source)
    _validate(cfg, source)
    return cfg


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def config_diff(a: Config, b: Config) -> list[str]:
    """Dotted names of the fields whose values differ between two configs."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out
    fa, fb = flat(a.to_dict()), flat(b.to_dict())
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


# Fields that do not change what one run computes: the seed list, the description, the
# TensorBoard summaries and how often the test set is evaluated (``history.csv`` shows which
# epochs were tested).
RUN_NEUTRAL_FIELDS = ("seeds", "description", "export.tensorboard_", "training.validation_freq")


def run_config_changes(previous: Config, cfg: Config) -> list[str]:
    """:func:`config_diff` of a run's recorded config and ``cfg``, without the fields of
    :data:`RUN_NEUTRAL_FIELDS`: empty when ``cfg`` would train the same run."""
    return [k for k in config_diff(previous, cfg) if not k.startswith(RUN_NEUTRAL_FIELDS)]


def smoke(cfg: Config) -> Config:
    """Shrink data and steps only (``--smoke``): 32 training images in batches of 8, 16 test
    images, one epoch, exports of epochs 0 and 1; for images larger than 64 pixels (ImageNet's
    128, whose network costs ~15x more per image) 8 training and 8 test images in batches of 4
    and only the final export; the analysis summaries use those test images. Time steps are
    not unrolled (the same computation; tracing the unrolled steps would dominate a run this
    short). The architecture is untouched."""
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data),
                              training=dataclasses.replace(cfg.training),
                              export=dataclasses.replace(cfg.export))
    large = cfg.data.image_size > 64
    cfg.data.train_examples = 8 if large else 32
    cfg.data.test_examples = 8 if large else 16
    cfg.data.batch_size = 4 if large else 8
    cfg.training.epochs = 1
    cfg.training.steps_per_epoch = 0
    cfg.training.unroll = False
    cfg.export.epochs = [] if large else [0]
    cfg.export.tensorboard_images = cfg.data.test_examples
    return cfg

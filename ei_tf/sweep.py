"""Sweeps: one YAML file that describes a grid of networks and the seeds of each.

A config file may hold a ``sweep`` section. Its only key, ``axes``, is a list of axes; an axis
maps point names to the config overrides of that value (keys dotted, as ``--set`` takes them, or
nested mappings; values in YAML syntax). The networks of the file are every combination of one
entry from each axis, and every such network is trained once for each seed in ``seeds``::

    seeds: [0, 1]
    model:
      family: standard
    sweep:
      axes:
        - e2: {model.pn_channels: [2, 4]}          # axis 1: E channels (area 3, area 4)
          e4: {model.pn_channels: [4, 8]}
        - i2: {model.ig_channels: [2, 4], model.og_channels: [2, 4]}    # axis 2: I channels
          i4: {model.ig_channels: [4, 8], model.og_channels: [4, 8]}

A **point** is one training run: a combination of axis entries plus one seed. Its name joins the
entry names with ``_`` (``e4_i2``). The points are numbered seed by seed (all networks with the
first seed, then all with the second, ...), and within a seed with the last axis varying
fastest, so the example gives ``0: e2_i2 seed 0``, ``1: e2_i4 seed 0``, ``2: e4_i2 seed 0``,
``3: e4_i4 seed 0``, ``4: e2_i2 seed 1``, ... ``train.py --list`` prints this numbering and
``train.py --index K`` trains point K alone (one task of a cluster job array).

A point's config is the file's config with the point's overrides applied, then the command
line's ``--set`` pairs (which win), and no ``sweep``; it is validated like any config. Its
``seeds`` stay the file's list (the point's own seed is ``Point.seed``), so a run directory's
``config.yaml`` does not depend on ``--seed`` or ``--index``. Its name is
``<config name>__<point name>``, so its run directory is
``<out>/<config name>__<point name>/seed_<N>/``. A file without a sweep has one point per seed,
with an empty point name and the config's own name: ``<out>/<config name>/seed_<N>/``.
``train.py`` without ``--index`` trains the points in turn; a finished run is reported, not
retrained, and an interrupted one resumes.

Entry names are letters, digits, ``_`` and ``-`` (no ``__``, which separates config and point
names); point names must come out unique. Overrides may not set ``name``, ``seeds`` or
``sweep``. A single axis is a plain list of named variants. Every mistake (an unknown key in
``sweep``, an empty axis, a bad name, an unknown or ill-typed config key in a point, an index
out of range) is a :class:`SweepError`, a :class:`~ei_tf.config.ConfigError` with a one-line
message that names the file and the point; ``train.py`` prints it and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from . import layout
from .config import Config, ConfigError, load_config, merge_nested, nest_keys, with_overrides
from .history import HistoryError, read_history

SEPARATOR = "__"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SPEC_KEYS = ("axes",)
_RESERVED = ("name", "seeds", "sweep")


class SweepError(ConfigError):
    """A sweep specification or point selection the user can fix."""


@dataclass(frozen=True)
class Point:
    """One training run of a config: ``config`` (complete and validated) with ``seed``."""

    index: int
    name: str  # joined axis entry names, "" for a config without a sweep
    seed: int
    overrides: dict  # the point's overrides (dotted keys), before --set
    config: Config

    def run_dir(self, out) -> Path:
        """Where ``train`` puts this run (:func:`ei_tf.layout.run_dir`)."""
        return layout.run_dir(out, self.config.name, self.seed)

    @property
    def label(self) -> str:
        return self.name or self.config.name


def validate_spec(spec, source: str = "sweep"):
    """Check the shape of a ``sweep`` section; raise SweepError naming what is wrong."""
    where = f"{source}: sweep"
    if not isinstance(spec, dict):
        raise SweepError(f"{where} must be a mapping with the key 'axes', got {spec!r}")
    unknown = [k for k in spec if k not in _SPEC_KEYS]
    if unknown:
        raise SweepError(f"{where}: unknown key '{unknown[0]}' (known keys: "
                         f"{', '.join(_SPEC_KEYS)})")
    axes = spec.get("axes")
    if not isinstance(axes, list) or not axes:
        raise SweepError(f"{where}.axes must be a non-empty list of axes (each a mapping of "
                         f"point names to overrides), got {axes!r}")
    for a, axis in enumerate(axes):
        at = f"{where}.axes[{a}]"
        if not isinstance(axis, dict) or not axis:
            raise SweepError(f"{at} must be a non-empty mapping of point names to overrides, "
                             f"got {axis!r}")
        for entry, overrides in axis.items():
            entry = str(entry)
            if not _NAME.match(entry) or SEPARATOR in entry:
                raise SweepError(f"{at}: point name {entry!r} is not allowed; use letters, "
                                 f"digits, '_' and '-' (no '__'), starting with a letter or "
                                 f"digit")
            if overrides is None:
                continue
            if not isinstance(overrides, dict):
                raise SweepError(f"{at}.{entry} must be a mapping of config keys to values, "
                                 f"got {overrides!r}")
            for key in overrides:
                if str(key).split(".")[0] in _RESERVED:
                    raise SweepError(f"{at}.{entry}: '{key}' cannot be set per point (a point's "
                                     f"name, seed and sweep come from the sweep itself)")


def _flatten(nested: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in nested.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _combinations(spec: dict, source: str):
    """``[(point name, merged overrides as dotted keys)]`` in order, the last axis fastest."""
    axes = [[(str(name), overrides or {}) for name, overrides in axis.items()]
            for axis in spec["axes"]]
    out = []
    for combo in itertools.product(*axes):
        name = "_".join(n for n, _ in combo)
        merged: dict = {}
        for entry, overrides in combo:
            try:
                merge_nested(merged, nest_keys(overrides))
            except ConfigError as err:
                raise SweepError(f"{source}: sweep point '{name}' ({entry}): {err}") from None
        out.append((name, _flatten(merged)))
    return out


def expand(cfg: Config, sets=(), source: str | None = None, seeds=None) -> list[Point]:
    """Every point of ``cfg``: the sweep's networks times the seeds, seed by seed.

    ``seeds`` (default ``cfg.seeds``) are the seeds to train. ``sets`` are ``--set key=value``
    pairs applied after each point's overrides; ``cfg`` may already contain them (as
    ``load_config`` leaves it): applying them again changes nothing.
    """
    source = source or cfg.name
    base = dataclasses.replace(cfg, sweep={})
    if not cfg.sweep:
        networks = [("", {}, base)]
    else:
        validate_spec(cfg.sweep, source)
        networks, seen = [], {}
        for name, overrides in _combinations(cfg.sweep, source):
            if name in seen:
                raise SweepError(f"{source}: sweep gives two points the name '{name}'; make the "
                                 f"entry names of the axes distinct")
            seen[name] = True
            point_cfg = with_overrides(base, overrides, f"{source}: sweep point '{name}'", sets)
            point_cfg.name = f"{cfg.name}{SEPARATOR}{name}"
            networks.append((name, overrides, point_cfg))
    points = []
    for seed in cfg.seeds if seeds is None else seeds:
        for name, overrides, point_cfg in networks:
            points.append(Point(len(points), name, seed, overrides, point_cfg))
    return points


def load_points(path, sets=(), seed: int | None = None) -> list[Point]:
    """The points of a config file; ``seed`` trains that seed instead of the file's seeds."""
    cfg = load_config(path, sets)
    if seed is not None and seed < 0:
        raise SweepError(f"--seed {seed}: a seed is >= 0")
    return expand(cfg, sets, str(path), None if seed is None else [seed])


def select(points: list[Point], index: int, source: str = "config") -> Point:
    """Point ``index`` of ``points``, or a SweepError that says which indices exist."""
    if not 0 <= index < len(points):
        raise SweepError(f"--index {index} is out of range: {source} has {len(points)} "
                         f"point{'s' if len(points) != 1 else ''} (indices 0-{len(points) - 1}; "
                         f"see --list)")
    return points[index]


def status(point: Point, out) -> str:
    """``done`` (completed), ``started:E/N`` (the run directory exists and its
    ``history.csv`` holds E of the N epochs; ``?`` for E when it cannot be read) or ``-``."""
    run_dir = point.run_dir(out)
    if layout.is_finished(run_dir):
        return "done"
    if not run_dir.exists():
        return "-"
    try:
        epochs = str(len(read_history(run_dir / layout.HISTORY)))
    except HistoryError:
        epochs = "?"
    return f"started:{epochs}/{point.config.training.epochs}"


def format_points(points: list[Point], out) -> list[str]:
    """One line per point: index, point name, seed, run directory, status."""
    wi = len(str(max((p.index for p in points), default=0)))
    wn = max(len(p.label) for p in points) if points else 0
    return [f"{p.index:>{wi}}  {p.label:<{wn}}  seed {p.seed:<3}  {p.run_dir(out)}  "
            f"{status(p, out)}" for p in points]

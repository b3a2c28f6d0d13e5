"""What every figure module shares: the runs a figure needs, loading their results, the
summary quantities of the paper, and the plotting conventions.

A figure module declares :class:`Need` entries (a config of ``configs/``, optionally a subset
of its sweep points, and which analysis it reads: the final epoch, every exported epoch, or
none for accuracy-only panels). :class:`Context` turns them into run directories under the
runs root (``<runs>/<config>__<point>/seed_<N>/`` or ``<runs>/<config>/seed_<N>/``), reports
missing runs with the training commands that produce them, and loads each run's analysis:
through :func:`ei_tf.analysis.pipeline.analyze_run` when the run has its SavedModels (stored
results are reused, missing ones computed), or directly from ``<run>/analysis/epoch_<E>.json``
when the exports were removed.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ei_tf.analysis.pipeline import (EXPORT_DIR, find_exports, load_stored, result_path,
                                     stored_epochs)
from ei_tf.analysis.recording import AnalysisError
from ei_tf.analysis.run import read_history
from ei_tf.analysis.selectivity import DEFAULT_CONSTANT_SKEWNESS
from ei_tf.analysis.stats import bootstrap_ci
from ei_tf.config import find_config, shipped_configs

# Experimental estimates (Appendix E): image-skewness difference PV- minus PV+ (Znamenskiy et
# al. 2018); connection probability E->E (Song et al. 2005) and PV->E (Packer & Yuste 2011).
EXPERIMENT_SKEW_DIFF = 2.1
EXPERIMENT_P_EE = 0.11
EXPERIMENT_P_PVE = 0.42
EXPERIMENT_DENSITY_DIFF = EXPERIMENT_P_PVE - EXPERIMENT_P_EE

# Colours: cell types, and network variants (Figure 7: blue / green / orange).
CELL_COLORS = {"PN": "#1f5fa6", "E": "#1f5fa6", "IG": "#d1495b", "OG": "#edae49",
               "I": "#d1495b", "Int": "#d1495b"}
VARIANT_COLORS = {"original": "#1f77b4", "InhPN": "#2ca02c", "NoConstraint": "#ff7f0e"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]
METRIC_LABELS = {"gosi": "gOSI", "orientation_skewness": "Orientation skewness",
                 "image_skewness": "Image skewness", "density": "Connection density"}
SKEW_DIFF_LABEL = "Image skewness difference\n(PN - Int)"
DENSITY_DIFF_LABEL = "Connection density difference\n(Int→PN - PN→PN)"


class FigureError(Exception):
    """A figure cannot be made for a reason the user can fix (message says which)."""


class MissingRuns(FigureError):
    """Runs a figure needs are absent; ``commands`` are the ``train.py`` lines that make them."""

    def __init__(self, figure: int, missing: list, commands: list[str]):
        self.figure = figure
        self.missing = missing
        self.commands = commands
        super().__init__(f"figure {figure}: {len(missing)} run(s) missing")


# --------------------------------------------------------------------------------------------
# Runs a figure needs


@dataclass(frozen=True)
class Need:
    """Runs of one config that a figure reads.

    Attributes:
        config: the config file's stem in ``configs/`` (e.g. ``fig2_standard``).
        analysis: ``"final"`` (the last exported epoch's analysis), ``"all"`` (every exported
            epoch) or None (only ``completed.json`` / ``history.csv``).
        points: sweep point names to use (None: every point of the sweep).
        same_as: stems of configs that train the same network under another name (e.g.
            ``fig7_standard_inhpn`` for the point ``standard`` of ``fig7_inhpn``); only for a
            need of one network. For each seed the first finished run counts, in the order
            ``config``, then ``same_as``; a run of the same network and seed under a later
            name is then left out (and logged), so no network is counted twice.
    """

    config: str
    analysis: Optional[str] = "final"
    points: Optional[tuple] = None
    same_as: tuple = ()


@dataclass(frozen=True)
class Run:
    config: str
    point: str  # "" for a config without a sweep
    seed: int
    index: int  # the point's index in ``train.py --config ... --list`` (file's seeds)
    run_dir: Path
    sweep: bool

    @property
    def network(self) -> str:
        """The network's name: the point name, else the config's stem."""
        return self.point or self.config


@functools.lru_cache(maxsize=None)
def _points(config_path: str):
    from ei_tf.sweep import load_points

    return tuple(load_points(config_path))


def _shell_path(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


class Context:
    """Where runs live and how to analyse them; caches loaded results across figures."""

    def __init__(self, runs="runs", seeds: Optional[Sequence[int]] = None,
                 n_images: Optional[int] = None, data_dir: Optional[str] = None,
                 verbose: bool = False, config_dir=None, partial: bool = False,
                 constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS):
        """``partial``: draw from the finished runs there are, leaving out configs absent
        from ``config_dir`` and unfinished runs, instead of asking for the missing ones.
        ``constant_skewness``: the analysis' reading of constant responses (``"zero"`` or
        ``"undefined"``, :data:`ei_tf.analysis.selectivity.CONSTANT_SKEWNESS`)."""
        self.runs = Path(runs)
        self.partial = partial
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self.n_images = n_images
        self.data_dir = data_dir
        self.verbose = verbose
        self.config_dir = find_config(config_dir) if config_dir else shipped_configs()
        self.constant_skewness = constant_skewness
        self._results: dict = {}
        self._noted: set = set()

    # ---- run directories

    def config_path(self, config: str) -> Path:
        path = self.config_dir / f"{config}.yaml"
        if not path.is_file():
            raise FigureError(f"config {path} does not exist")
        return path

    def runs_for(self, need: Need) -> list[Run]:
        if not need.same_as:
            return [run for run in self._declared(need)
                    if not self.partial or self._usable(run, need)]
        names = [need.config, *need.same_as]
        present = [c for c in names if (self.config_dir / f"{c}.yaml").is_file()]
        if not present and not self.partial:
            self.config_path(need.config)  # raises: the config does not exist
        by_seed: dict = {}
        for config in present:
            source = need if config == need.config else Need(config, need.analysis)
            runs = self._declared(source)
            if len({run.seed for run in runs}) != len(runs):
                raise FigureError(f"{config} declares several networks per seed; same_as "
                                  f"names configs of one network")
            for run in runs:
                by_seed.setdefault(run.seed, []).append(run)
        out = []
        for seed in sorted(by_seed):
            run = self._choose(by_seed[seed])
            if not self.partial or self._usable(run, need):
                out.append(run)
        return out

    def _declared(self, need: Need) -> list[Run]:
        """The runs ``need.config`` declares (its points and seeds), finished or not."""
        if self.partial and not (self.config_dir / f"{need.config}.yaml").is_file():
            return []
        points = _points(str(self.config_path(need.config)))
        out = []
        for p in points:
            if need.points is not None and p.name not in need.points:
                continue
            if self.seeds is not None and p.seed not in self.seeds:
                continue
            out.append(Run(need.config, p.name, p.seed, p.index, p.run_dir(self.runs),
                           bool(p.name)))
        if need.points is not None:
            known = {p.name for p in points}
            unknown = [n for n in need.points if n not in known]
            if unknown:
                raise FigureError(f"{need.config}: no sweep point named {unknown[0]}")
        return out

    def _choose(self, runs: list[Run]) -> Run:
        """Of the runs of one network and seed under several names: the first finished, else
        the first started (to be resumed), else the first name's (to be trained)."""
        finished = [r for r in runs if (r.run_dir / "completed.json").is_file()]
        started = [r for r in runs if r.run_dir.exists()]
        chosen = (finished or started or runs)[0]
        for other in finished[1:]:
            if (chosen.run_dir, other.run_dir) not in self._noted:
                self._noted.add((chosen.run_dir, other.run_dir))
                log(f"{other.run_dir} trains the same network and seed as "
                    f"{chosen.run_dir}; using the latter")
        return chosen

    def command(self, run: Run) -> str:
        """The training command of ``run``: ``python train.py --config configs/...`` in a
        source checkout (``train.py`` in the working directory), else ``ei-train --config``
        with the name of a shipped config (or the config's path)."""
        config = self.config_path(run.config)
        if Path("train.py").is_file():
            try:
                shown = str(config.relative_to(Path.cwd()))
            except ValueError:
                shown = str(config)
            cmd = f"python train.py --config {_shell_path(shown)}"
        else:
            try:
                shown = str(config.relative_to(shipped_configs()).with_suffix(""))
            except ValueError:
                shown = str(config)
            cmd = f"ei-train --config {_shell_path(shown)}"
        cmd += f" --index {run.index}" if run.sweep else f" --seed {run.seed}"
        if self.runs != Path("runs"):
            cmd += f" --out {_shell_path(self.runs)}"
        return cmd

    def missing(self, needs: Sequence[Need]) -> list[tuple[Run, str]]:
        """``[(run, why)]`` for every needed run that is not finished or cannot be analysed."""
        out, seen = [], set()
        for need in needs:
            for run in self.runs_for(need):
                key = (run.run_dir, need.analysis)
                if key in seen:
                    continue
                seen.add(key)
                if not (run.run_dir / "completed.json").is_file():
                    out.append((run, "not trained" if not run.run_dir.exists() else
                                "not finished"))
                elif need.analysis and not self._analysable(run.run_dir):
                    out.append((run, "finished, but holds neither exports nor analysis results"))
        return out

    def _usable(self, run: Run, need: Need) -> bool:
        return (run.run_dir / "completed.json").is_file() and (
            not need.analysis or self._analysable(run.run_dir))

    def _analysable(self, run_dir: Path) -> bool:
        return bool(_exports(run_dir)) or bool(stored_epochs(run_dir, self.constant_skewness))

    def check(self, figure: int, needs: Sequence[Need]) -> None:
        if self.partial:
            if not any(self.runs_for(need) for need in needs):
                raise FigureError(f"figure {figure}: none of its runs is finished under "
                                  f"{self.runs} (configs: "
                                  f"{', '.join(dict.fromkeys(n.config for n in needs))})")
            return
        for need in needs:
            if not self.runs_for(need):
                raise FigureError(f"config {need.config} has no run with "
                                  f"seeds {self.seeds}")
        missing = self.missing(needs)
        if missing:
            commands = list(dict.fromkeys(self.command(run) for run, _ in missing))
            raise MissingRuns(figure, missing, commands)

    # ---- results

    def _stored_epochs(self, run_dir: Path) -> list[int]:
        exports = _exports(run_dir)
        if exports:
            return list(exports)
        return stored_epochs(run_dir, self.constant_skewness)

    def _load(self, run: Run, epochs: list[int]) -> dict[int, dict]:
        todo = [e for e in epochs if (run.run_dir, e) not in self._results]
        if todo:
            if _exports(run.run_dir):
                from ei_tf.runtime import import_tensorflow

                import_tensorflow()  # its start-up notices filtered
                from ei_tf.analysis.pipeline import analyze_run

                for item in analyze_run(run.run_dir, todo, n_images=self.n_images,
                                        data_dir=self.data_dir, verbose=self.verbose,
                                        constant_skewness=self.constant_skewness):
                    self._results[(run.run_dir, item.epoch)] = item.result
            else:
                for e in todo:
                    result = load_stored(run.run_dir, e, self.constant_skewness)
                    if result is None:
                        path = result_path(run.run_dir, e, self.constant_skewness)
                        raise FigureError(f"{path} is missing, unreadable or of another "
                                          f"reading of constant responses, and "
                                          f"{run.run_dir} has no export to recompute it from")
                    self._results[(run.run_dir, e)] = result
        return {e: self._results[(run.run_dir, e)] for e in epochs}

    def final(self, run: Run) -> dict:
        """The analysis of the run's last exported (or, without exports, last analysed) epoch."""
        epochs = self._stored_epochs(run.run_dir)
        if not epochs:
            raise FigureError(f"{run.run_dir} has neither exports nor analysis results")
        return self._load(run, [epochs[-1]])[epochs[-1]]

    def all_epochs(self, run: Run) -> dict[int, dict]:
        return self._load(run, self._stored_epochs(run.run_dir))

    def finals(self, need: Need) -> list[dict]:
        return [self.final(run) for run in self.runs_for(need)]

    # ---- training records

    @staticmethod
    def accuracy(run: Run) -> float:
        """Test accuracy of the finished run (``completed.json``, else history's last)."""
        try:
            return float(json.loads((run.run_dir / "completed.json").read_text())
                         ["test_accuracy"])
        except (OSError, ValueError, KeyError, TypeError):
            hist = read_history(run.run_dir)
            values = hist.get("val_accuracy", np.array([]))
            return float(values[-1]) if len(values) else float("nan")

    def accuracies(self, need: Need) -> list[float]:
        return [self.accuracy(run) for run in self.runs_for(need)]

    @staticmethod
    def lr_boundaries(run: Run) -> list[int]:
        try:
            import yaml

            data = yaml.safe_load((run.run_dir / "config.yaml").read_text()) or {}
            return [int(b) for b in data["training"]["lr_boundaries"]]
        except Exception:
            return [100, 150, 200]


def _exports(run_dir: Path) -> dict:
    """``{epoch: SavedModel}`` of a run; empty when it has no (usable) export."""
    if not (Path(run_dir) / EXPORT_DIR).is_dir():
        return {}
    try:
        return find_exports(run_dir)
    except AnalysisError:
        return {}


# --------------------------------------------------------------------------------------------
# Quantities of the paper


def _nan(value) -> float:
    return float("nan") if value is None else float(value)


def family_types(result: dict) -> dict:
    """Cell and connection names of a result's family: principal, interneurons, connections."""
    pops = result.get("populations", {})
    if any(k.endswith("_PN") for k in pops):
        return {"pn": "PN", "int": ("IG", "OG"), "pn_pn": "PN_to_PN",
                "int_pn": ("IG_to_PN", "OG_to_PN"),
                "connections": ("PN_to_PN", "IG_to_PN", "OG_to_PN", "PN_to_IG", "PN_to_OG")}
    return {"pn": "E", "int": ("I",), "pn_pn": "E_to_E", "int_pn": ("I_to_E",),
            "connections": ("E_to_E", "I_to_E", "E_to_I", "I_to_I")}


def recurrent_areas(result: dict) -> list[str]:
    areas = {v.get("area", k.rsplit("_", 1)[0]) for k, v in result.get("populations", {}).items()}
    return sorted(areas, key=lambda a: int(a[4:]) if a[4:].isdigit() else 0)


def pooled_values(result: dict, areas: Sequence[str], cell_types: Sequence[str],
                  metric: str) -> np.ndarray:
    """Per-neuron values of ``metric`` pooled over areas and cell types (NaN: undefined)."""
    values = []
    for area in areas:
        for cell in cell_types:
            entry = result.get("populations", {}).get(f"{area}_{cell}")
            if entry and entry.get(metric) and entry[metric].get("values") is not None:
                values.extend(_nan(v) for v in entry[metric]["values"])
    return np.asarray(values, np.float64)


def pooled_mean(result: dict, areas, cell_types, metric: str) -> float:
    values = pooled_values(result, areas, cell_types, metric)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def pooled_density(result: dict, areas: Sequence[str], kinds: Sequence[str],
                   metric: str = "density") -> float:
    """Fraction of strong weights over the pooled connections (weighted by their counts)."""
    strong = total = 0.0
    for area in areas:
        for kind in kinds:
            entry = result.get("connections", {}).get(f"{area}_{kind}")
            if not entry or entry.get(metric) is None:
                continue
            shape = entry.get("shape") or [1, 1, 1, 1]
            n = shape[2] * shape[3] if metric == "density" else int(np.prod(shape))
            strong += entry[metric] * n
            total += n
    return strong / total if total else float("nan")


def ei_difference(result: dict, areas: Optional[Sequence[str]] = None) -> tuple[float, float]:
    """Figure 4's summary of one network: (image-skewness difference PN - Int, density
    difference Int->PN - PN->PN), neurons and connections pooled over ``areas`` (all
    recurrent areas by default) and over the interneuron types (IG and OG, or I).

    Figures 4 and 9 show areas 3 and 4 "combined" (paper section 2) without saying how; here
    every neuron and every channel-to-channel connection counts once, so area 4, with twice
    the channels, weighs more than area 3. :func:`ei_difference_area_mean` is the other
    reading (each area once); the claims report gives both."""
    types = family_types(result)
    areas = list(areas) if areas is not None else recurrent_areas(result)
    skew = (pooled_mean(result, areas, [types["pn"]], "image_skewness")
            - pooled_mean(result, areas, types["int"], "image_skewness"))
    dens = (pooled_density(result, areas, types["int_pn"])
            - pooled_density(result, areas, [types["pn_pn"]]))
    return skew, dens


def ei_difference_area_mean(result: dict,
                            areas: Optional[Sequence[str]] = None) -> tuple[float, float]:
    """:func:`ei_difference` of each area alone, averaged over ``areas`` unweighted (NaN when
    an area's value is)."""
    areas = list(areas) if areas is not None else recurrent_areas(result)
    if not areas:
        return float("nan"), float("nan")
    per_area = np.array([ei_difference(result, [area]) for area in areas], np.float64)
    skew, dens = per_area.mean(axis=0)
    return float(skew), float(dens)


def population_mean(result: dict, key: str, metric: str) -> float:
    entry = result.get("populations", {}).get(key)
    return _nan(entry[metric]["mean"]) if entry and entry.get(metric) else float("nan")


def connection_density(result: dict, key: str) -> float:
    entry = result.get("connections", {}).get(key)
    return _nan(entry.get("density")) if entry else float("nan")


def mean_ci(values) -> tuple[float, float, float]:
    """Mean and 95% bootstrap confidence interval over networks (NaNs dropped)."""
    return bootstrap_ci(np.asarray(values, np.float64), 0.95, 2000, 0)


# --------------------------------------------------------------------------------------------
# Plotting


# The paper figures' style, in effect only while one is drawn and saved (:func:`style`).
STYLE = {"font.size": 8, "axes.spines.top": False, "axes.spines.right": False}


def style():
    """A context in which :data:`STYLE` holds (matplotlib's settings are restored after)."""
    return plt.rc_context(STYLE)


def new_figure(width: float, height: float):
    return plt.figure(figsize=(width, height))


def panel_label(ax, letter: str) -> None:
    ax.text(-0.18, 1.06, letter, transform=ax.transAxes, fontsize=11, fontweight="bold",
            va="bottom", ha="left")


def panel_axes(fig) -> list:
    """The data panels of a figure (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def bars(ax, groups: Sequence[str], series: Sequence[tuple], ylabel: str = "",
         title: str = "") -> None:
    """Grouped bars: one group per label in ``groups``; ``series`` is a list of ``(name,
    colour, [per-group list of per-network values])``. Bar = mean over networks, error bar =
    95% bootstrap CI, dots = individual networks."""
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    for s, (name, color, per_group) in enumerate(series):
        offs = x - 0.4 + width * (s + 0.5)
        means, lows, highs = [], [], []
        for values in per_group:
            m, lo, hi = mean_ci(values)
            means.append(m), lows.append(lo), highs.append(hi)
        means, lows, highs = map(np.asarray, (means, lows, highs))
        # clipped: with identical values the bootstrap bounds may differ from the mean by
        # rounding only
        err = np.clip(np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)]),
                      0.0, None)
        ax.bar(offs, np.nan_to_num(means), width * 0.9, color=color, alpha=0.85, label=name,
               yerr=err, capsize=2, error_kw={"elinewidth": 0.8})
        for xo, values in zip(offs, per_group):
            v = np.asarray(values, np.float64)
            v = v[np.isfinite(v)]
            ax.plot(np.full(v.shape, xo), v, "o", ms=2, color="k", alpha=0.35)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=0 if max(map(len, groups or [""])) < 8 else 35,
                       ha="center" if max(map(len, groups or [""])) < 8 else "right")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def summary_scatter(ax, entries: Sequence[tuple], experiment: bool = True,
                    legend: bool = True) -> None:
    """Figure 4 style: ``entries`` = ``[(label, colour, marker, [(x, y) per network])]``;
    light symbols are networks, dark symbols their average; the experimental estimate is a
    black star."""
    for label, color, marker, points in entries:
        pts = np.asarray([p for p in points if np.all(np.isfinite(p))], np.float64)
        if pts.size == 0:
            why = "undefined" if len(points) else "no runs"
            ax.plot([], [], marker, color=color, label=f"{label} ({why})")
            continue
        ax.plot(pts[:, 0], pts[:, 1], marker, color=color, alpha=0.3, ms=5, mec="none")
        mean = pts.mean(axis=0)
        ax.plot([mean[0]], [mean[1]], marker, color=color, ms=8, mec="k", mew=0.5,
                label=label)
    if experiment:
        ax.plot([EXPERIMENT_SKEW_DIFF], [EXPERIMENT_DENSITY_DIFF], "*", color="k", ms=11,
                label="Experiment")
    ax.axhline(0, color="0.7", lw=0.6, zorder=0)
    ax.axvline(0, color="0.7", lw=0.6, zorder=0)
    ax.set_xlabel(SKEW_DIFF_LABEL)
    ax.set_ylabel(DENSITY_DIFF_LABEL)
    if legend:
        ax.legend(fontsize=6, frameon=False, loc="best")


_GRID_NAME = re.compile(r"^e(\d+)_i(\d+)$")


def grid_axes(runs: Sequence[Run]) -> tuple[list[int], list[int]]:
    """Sorted E and I channel counts (area 3) of ``e<E>_i<I>`` sweep points."""
    es, is_ = set(), set()
    for run in runs:
        m = _GRID_NAME.match(run.point)
        if m:
            es.add(int(m.group(1)))
            is_.add(int(m.group(2)))
    return sorted(es), sorted(is_)


def grid_values(runs: Sequence[Run], value_of, reduce=np.nanmean) -> tuple:
    """``(E counts, I counts, [len(I), len(E)] array)`` of ``reduce`` over the seeds of each
    grid point of ``value_of(run)``."""
    es, is_ = grid_axes(runs)
    cells: dict = {}
    for run in runs:
        m = _GRID_NAME.match(run.point)
        if m:
            cells.setdefault((int(m.group(1)), int(m.group(2))), []).append(value_of(run))
    grid = np.full((len(is_), len(es)), np.nan)
    for (e, i), values in cells.items():
        values = np.asarray(values, np.float64)
        if np.isfinite(values).any():
            grid[is_.index(i), es.index(e)] = reduce(values)
    return es, is_, grid


def heatmap(fig, ax, es, is_, grid, title: str, cbar_label: str, mask=None,
            cmap: str = "viridis", vmin=None, vmax=None) -> None:
    """E channels on x, I channels on y; ``mask`` (same shape, True) marks cells with a cross
    (networks below the accuracy bar)."""
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, aspect="auto",
                      vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(es)))
    ax.set_xticklabels([str(e) for e in es], fontsize=6)
    ax.set_yticks(range(len(is_)))
    ax.set_yticklabels([str(i) for i in is_], fontsize=6)
    ax.set_xlabel("E channels (area 3)")
    ax.set_ylabel("I channels (area 3)")
    ax.set_title(title)
    if mask is not None:
        ys, xs = np.nonzero(mask)
        ax.plot(xs, ys, "x", color="w", ms=4, mew=0.8)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(cbar_label)


def weight_histogram(ax, results_entries: Sequence[dict], bins: Sequence[float], title: str,
                     color: str = "0.3") -> None:
    """Distribution of log connection weights (channel-to-channel, natural log) summed over
    connection entries; the threshold exp(-10) is a blue line."""
    edges = np.asarray(bins, np.float64)
    counts = np.zeros(len(edges) - 1)
    for entry in results_entries:
        counts += np.asarray(entry["log_weight_hist"]["counts"], np.float64)
    total = counts.sum()
    frac = counts / total if total else counts
    ax.stairs(frac, edges, fill=True, color=color, alpha=0.8)
    ax.axvline(-10.0, color="tab:blue", lw=1.2)
    ax.set_xlabel("log(connection weight)")
    ax.set_ylabel("Proportion")
    ax.set_title(title)
    finite = np.nonzero(counts)[0]
    if finite.size:
        lo, hi = edges[max(finite[0] - 2, 0)], edges[min(finite[-1] + 3, len(edges) - 1)]
        ax.set_xlim(min(lo, -14.0), max(hi, -6.0))


def save(fig, out_dir, number: int) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"fig{number}.png", out_dir / f"fig{number}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def arrow(pre: str, post: str) -> str:
    return f"{pre}→{post}"


def connection_label(kind: str) -> str:
    pre, post = kind.split("_to_")
    return arrow(pre, post)


def log(message: str) -> None:
    print(message, file=sys.stderr)
    sys.stderr.flush()


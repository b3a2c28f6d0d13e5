"""The paper's summary quantities of analysed networks, and statistics across networks.

One network's analysis result (the JSON dict of :mod:`ei_tf.analysis.pipeline`) gives pooled
means of selectivity over areas and cell types, pooled connection densities, and Figure 4's
E-I differences (:func:`ei_difference`). Across networks (seeds), every figure, table and claim
reports the mean with the 95% confidence interval of :func:`mean_ci`: percentile bootstrap,
"computed with bootstrapping across 5 networks" (paper Figure 2); the paper gives no resample
count, so :data:`N_RESAMPLES` = 10,000 (the Monte Carlo error of the 2.5% and 97.5% bounds is
then well below the spread of 5 networks), with a fixed :data:`SEED` so that tables and figures
are reproducible.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import scipy.stats

from ei_tf.analysis.pipeline import (CONNECTION_METRICS, POPULATION_METRICS, analyze_run,
                                     find_exports)

CONFIDENCE = 0.95
N_RESAMPLES = 10_000
SEED = 0

# Experimental estimates (Appendix E): image-skewness difference PV- minus PV+ (Znamenskiy et
# al. 2018); connection probability E->E (Song et al. 2005) and PV->E (Packer & Yuste 2011).
EXPERIMENT_SKEW_DIFF = 2.1
EXPERIMENT_P_EE = 0.11
EXPERIMENT_P_PVE = 0.42
EXPERIMENT_DENSITY_DIFF = EXPERIMENT_P_PVE - EXPERIMENT_P_EE


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


def mean_ci(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean over networks and the percentile-bootstrap confidence interval of that mean.

    ``scipy.stats.bootstrap`` with ``method="percentile"``, :data:`N_RESAMPLES` resamples and
    the fixed seed :data:`SEED`. NaNs (e.g. a network without any responsive neuron of a
    type) are dropped first. With a single remaining value the interval collapses to that
    value, ``(v, v, v)``; with none the result is ``(nan, nan, nan)``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size == 1:
        return mean, mean, mean
    interval = scipy.stats.bootstrap((values,), np.mean, n_resamples=N_RESAMPLES,
                                     confidence_level=confidence, method="percentile",
                                     rng=np.random.default_rng(SEED)).confidence_interval
    return mean, float(interval.low), float(interval.high)


def _summary(values: Sequence[float], confidence: float) -> dict:
    values = [_nan(v) for v in values]
    mean, low, high = mean_ci(values, confidence)
    clean = [v if math.isfinite(v) else None for v in (mean, low, high, *values)]
    return {"mean": clean[0], "low": clean[1], "high": clean[2], "values": clean[3:],
            "n_networks": sum(v is not None for v in clean[3:])}


def aggregate(results: Sequence[dict], confidence: float = CONFIDENCE) -> dict:
    """Per metric: mean over networks and percentile-bootstrap CI of that mean.

    Each network contributes its population mean (e.g. the mean gOSI of its area3 PN neurons)
    or its connection density.  A network lacking a population or connection type (or whose
    value is undefined) is left out of that metric only.

    Returns:
        ``{"n_networks", "epochs", "runs", "populations": {pop: {metric: {"mean", "low",
        "high", "values", "n_networks"}}}, "connections": {conn: {metric: {...}}}}``; None
        stands for NaN.
    """
    out = {"n_networks": len(results), "epochs": [r.get("epoch") for r in results],
           "runs": [r.get("run_dir") for r in results], "populations": {}, "connections": {}}
    pop_keys = list(dict.fromkeys(k for r in results for k in r.get("populations", {})))
    for key in pop_keys:
        out["populations"][key] = {}
        for metric in POPULATION_METRICS:
            values = [r["populations"][key][metric]["mean"] for r in results
                      if key in r.get("populations", {})]
            out["populations"][key][metric] = _summary(values, confidence)
    conn_keys = list(dict.fromkeys(k for r in results for k in r.get("connections", {})))
    for key in conn_keys:
        out["connections"][key] = {}
        for metric in CONNECTION_METRICS:
            values = [r["connections"][key][metric] for r in results
                      if key in r.get("connections", {})]
            out["connections"][key][metric] = _summary(values, confidence)
    return out


def across_networks(run_dirs: Iterable, epoch: Optional[int] = None, **analyze_kwargs) -> dict:
    """:func:`aggregate` over the runs (seeds) of one config at ``epoch``.

    ``epoch=None`` takes each run's last exported epoch.  Each run's analysis is read from its
    stored JSON when valid, else computed (``analyze_kwargs`` go to
    :func:`ei_tf.analysis.pipeline.analyze_run`, e.g. ``n_images``, ``data_dir``, ``verbose``).
    """
    results = []
    for run_dir in run_dirs:
        run_epoch = epoch if epoch is not None else list(find_exports(Path(run_dir)))[-1]
        results.extend(a.result for a in analyze_run(run_dir, run_epoch, **analyze_kwargs))
    return aggregate(results)

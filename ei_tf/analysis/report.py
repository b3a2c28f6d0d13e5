"""Tables of one epoch's analysis and statistics across networks (seeds) of one config.

:func:`aggregate` turns several epoch results (the JSON dicts of
:mod:`ei_tf.analysis.pipeline`, one per network) into per-metric means with 95% bootstrap
confidence intervals over networks (paper Figure 2); :func:`across_networks` does the same
from run directories, computing or reusing each run's stored analysis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ei_tf.analysis.pipeline import (CONNECTION_METRICS, LEGACY_CONSTANT_SKEWNESS,
                                     POPULATION_METRICS, SKEWNESS_METRICS, analyze_run,
                                     find_exports)
from ei_tf.analysis.stats import bootstrap_ci

POPULATION_HEADERS = {"gosi": "gOSI", "orientation_skewness": "ori.skew",
                      "image_skewness": "img.skew"}


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _fmt(value, width: int = 9, digits: int = 3) -> str:
    value = _num(value)
    text = "nan" if not math.isfinite(value) else f"{value:.{digits}f}"
    return text.rjust(width)


def format_tables(result: dict) -> str:
    """Two plain-text tables of one epoch: area x cell type, and connection type."""
    settings = result.get("settings", {})
    pops, conns = result.get("populations", {}), result.get("connections", {})
    width = max([len("population")] + [len(k) for k in pops])
    lines = [f"{'population'.ljust(width)}  neurons" +
             "".join(POPULATION_HEADERS[m].rjust(10) for m in POPULATION_METRICS) +
             "  excluded (gOSI/ori/img)  constant (ori/img)"]
    for key, entry in pops.items():
        excluded = "/".join(str(entry[m]["n_excluded"]) for m in POPULATION_METRICS)
        constant = "/".join(str(entry[m].get("n_constant", "?")) for m in SKEWNESS_METRICS)
        lines.append(f"{key.ljust(width)}  {entry['n_neurons']:7d}" +
                     "".join(" " + _fmt(entry[m]["mean"]) for m in POPULATION_METRICS) +
                     f"  {excluded:<23}  {constant}")
    reading = settings.get("constant_skewness", LEGACY_CONSTANT_SKEWNESS)
    lines.append(f"(constant neurons: skewness {'0' if reading == 'zero' else 'undefined'}, "
                 f"{'counted' if reading == 'zero' else 'excluded'}; gOSI of silent neurons "
                 f"undefined)")
    if not settings.get("n_images"):
        lines.append("(image skewness skipped: no test images)")
    width = max([len("connection")] + [len(k) for k in conns])
    lines.append("")
    lines.append(f"{'connection'.ljust(width)}  {'density':>9}  {'all-entries':>11}  shape")
    for key, entry in conns.items():
        shape = "x".join(str(s) for s in entry["shape"])
        lines.append(f"{key.ljust(width)}  {_fmt(entry['density'])}  "
                     f"{_fmt(entry['density_all'], 11)}  {shape}")
    return "\n".join(lines)


def format_header(result: dict, cached: bool) -> str:
    settings = result.get("settings", {})
    how = ("stored result reused" if cached else
           f"computed in {result.get('timing', {}).get('total_s', float('nan')):.1f} s")
    return (f"== {result.get('run_dir')}  epoch {result.get('epoch')}  "
            f"({result.get('savedmodel')}; {settings.get('n_images', 0)} test images, "
            f"{settings.get('n_gratings')} gratings; {how})")


# --------------------------------------------------------------------------------------------
# Across networks


def _summary(values: Sequence[float], confidence: float, n_resamples: int, seed: int) -> dict:
    values = [_num(v) for v in values]
    mean, low, high = bootstrap_ci(np.asarray(values), confidence, n_resamples, seed)
    clean = [v if math.isfinite(v) else None for v in values]
    finite = lambda v: v if math.isfinite(v) else None  # noqa: E731
    return {"mean": finite(mean), "low": finite(low), "high": finite(high), "values": clean,
            "n_networks": sum(v is not None for v in clean)}


def aggregate(results: Sequence[dict], confidence: float = 0.95, n_resamples: int = 10_000,
              seed: int = 0) -> dict:
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
            out["populations"][key][metric] = _summary(values, confidence, n_resamples, seed)
    conn_keys = list(dict.fromkeys(k for r in results for k in r.get("connections", {})))
    for key in conn_keys:
        out["connections"][key] = {}
        for metric in CONNECTION_METRICS:
            values = [r["connections"][key][metric] for r in results
                      if key in r.get("connections", {})]
            out["connections"][key][metric] = _summary(values, confidence, n_resamples, seed)
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

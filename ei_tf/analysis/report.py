"""Plain-text tables of one epoch's analysis (``analyze.py --run``); statistics across networks
are :mod:`ei_tf.analysis.summary`'s."""

from __future__ import annotations

import math

from ei_tf.analysis.pipeline import LEGACY_CONSTANT_SKEWNESS, POPULATION_METRICS, SKEWNESS_METRICS

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

"""The paper's claims measured on a set of runs: ``analyze.py --report`` writes ``report.md``.

Each claim (C1-C13 of the reproduction protocol, docs/reproduction.md; F4, Figure 4's
summary under both readings of "areas combined"; and D1, the protocol's diagnostic of its
densities, which is not a claim of the paper) is a list of rows; a row
is one quantity per network (seed), e.g. the area-3 gOSI difference PN - IG, with its mean and
95% percentile-bootstrap confidence interval over networks, and what the paper leads one to
expect of it. Verdicts:

* row: *holds* when the whole interval lies on the expected side (``> 0``, ``< 0``, ``>= t``,
  ``<= t``), or, for an expected value, when the mean lies within the stated tolerance;
  *fails* otherwise; *not enough runs* with fewer than two networks; *undefined* when there are
  enough networks but fewer than two give a value (e.g. all their principal cells are silent).
  Informational rows (no expectation) show a trajectory and carry no verdict.
* claim: *not enough runs* if any of its rows has too few networks, else *fails* if any row
  fails, else *undefined* if any row is, else *holds*.

The measured quantities are the analysis results of :mod:`ei_tf.analysis.pipeline` (paper
sections 2-3: gOSI, orientation and image skewness of the centre units, connection density at
the ``exp(-10)`` threshold), taken at each run's last exported epoch unless the claim is about
training time (C6). Thresholds the paper leaves open ("near 1", "near chance") are stated in
the row's expectation.
"""

from __future__ import annotations

import datetime
import functools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

from ei_tf.analysis.runs import Context, Need, run_history, variant_need
from ei_tf.analysis.summary import (connection_density, ei_difference, ei_difference_area_mean,
                                    family_types, mean_ci, pooled_density, pooled_mean,
                                    population_mean, recurrent_areas)
from ei_tf.config import shipped_configs
from ei_tf.files import write_text
from ei_tf.layout import CONFIG
from ei_tf.layout import launches as read_launches
from ei_tf.provenance import describe_cpu, wall_seconds

HOLDS, FAILS, TOO_FEW = "holds", "fails", "not enough runs"
UNDEFINED = "undefined"  # enough networks, but the quantity has no value (silent neurons)
MIN_NETWORKS = 2
NEAR_ONE = 0.9  # "densities near 1": every connection type's density at least this
CHANCE_MARGIN = 0.2  # CIFAR10 chance is 0.1: "near chance" below, "well above" over this
ACCURACY_TOLERANCE = 0.03  # C1: the mean within 3 points of the paper's accuracy

STANDARD, STANDARD_EI = "fig2_standard", "fig4_standard_ei"
# Figure 7 (C8, C9) and Figure 16 (C12) draw both families: circles (Standard) and triangles
# (StandardEI); each family's rows are labelled with its name.
FAMILIES = (("Standard", "standard"), ("StandardEI", "standard_ei"))
GRID = "fig6_standard_channel_grid"
GRID_ACCURACY = 0.6  # Figures 6 and 11: "All networks shown have accuracy above 60%"
# C12: Shuffled_L2 and EI_Shuffled_L2 (Appendix K, Figure 16).
SHUFFLED = {"standard": "fig16_standard_shuffled_l2",
            "standard_ei": "fig16_standard_ei_shuffled_l2"}
SHUFFLED_FIT = 0.2  # C12: "20-50% accuracy on the [shuffled] training set" (section 3)
CIFAR_AREAS = ("area3", "area4")  # the rows of a family that has no finished network yet
# The workstation protocol's diagnostic of its densities: fig2_standard with the paper's
# cumulative weight decay (configs/workstation/diag_standard_decay_matched.yaml).
DECAY_MATCHED = "diag_standard_decay_matched"
METRIC_NAMES = {"gosi": "gOSI", "orientation_skewness": "orientation skewness",
                "image_skewness": "image skewness"}


@dataclass
class Expectation:
    """``kind``: ``positive``, ``negative``, ``at_least``, ``at_most``, ``near`` or None."""

    kind: Optional[str] = None
    value: float = 0.0
    tolerance: float = 0.0

    def text(self) -> str:
        return {None: "",
                "positive": "> 0",
                "negative": "< 0",
                "at_least": f">= {self.value:g}",
                "at_most": f"<= {self.value:g}",
                "near": f"{self.value:g} +- {self.tolerance:g}"}[self.kind]

    def verdict(self, mean: float, low: float, high: float) -> Optional[str]:
        if self.kind is None:
            return None
        ok = {"positive": low > 0, "negative": high < 0,
              "at_least": low >= self.value, "at_most": high <= self.value,
              "near": abs(mean - self.value) <= self.tolerance}[self.kind]
        return HOLDS if ok else FAILS


@dataclass
class Row:
    quantity: str
    values: list
    expect: Expectation = field(default_factory=Expectation)

    @property
    def finite(self) -> list:
        return [v for v in self.values if v is not None and math.isfinite(v)]

    def summary(self) -> tuple:
        """``(mean, low, high, verdict)``; the verdict is None for an informational row.
        Bootstrapped once per row: the claim's verdict, the summary table and the row's
        table all read it (a row's values are not changed after it is made)."""
        return self._summary

    @functools.cached_property
    def _summary(self) -> tuple:
        mean, low, high = mean_ci(self.finite) if self.finite else (math.nan,) * 3
        if self.expect.kind is None:
            return mean, low, high, None
        if len(self.finite) < MIN_NETWORKS:
            return mean, low, high, UNDEFINED if len(self.values) >= MIN_NETWORKS else TOO_FEW
        return mean, low, high, self.expect.verdict(mean, low, high)


@dataclass
class Claim:
    id: str
    statement: str
    paper: str
    rows: list = field(default_factory=list)
    runs: list = field(default_factory=list)
    note: str = ""
    # (config, finished networks, networks its config declares) per config the claim reads
    progress: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = [r.summary()[3] for r in self.rows]
        verdicts = [v for v in verdicts if v is not None]
        if not verdicts or TOO_FEW in verdicts:
            return TOO_FEW
        for verdict in (FAILS, UNDEFINED):
            if verdict in verdicts:
                return verdict
        return HOLDS


# --------------------------------------------------------------------------------------------
# Per-network quantities


def _finals(ctx: Context, need):
    """The runs of ``need`` (a Need or a config stem) and their final analyses."""
    runs = ctx.runs_for(need if isinstance(need, Need) else Need(need))
    return runs, [ctx.final(run) for run in runs]


def _areas(results) -> list:
    return recurrent_areas(results[0]) if results else []


def _labelled(label: str, rows) -> list:
    """``rows`` with their quantities prefixed by ``label`` (a network or config name)."""
    return [Row(f"{label}: {r.quantity}", r.values, r.expect) for r in rows]


def _difference(result, area, a, b, metric) -> float:
    return population_mean(result, f"{area}_{a}", metric) - population_mean(
        result, f"{area}_{b}", metric)


def _min_density(result, area) -> float:
    types = family_types(result)["connections"]
    values = [connection_density(result, f"{area}_{kind}") for kind in types]
    values = [v for v in values if math.isfinite(v)]
    return min(values) if values else math.nan


def _selectivity_rows(results, metric: str) -> list:
    rows = []
    for area in _areas(results):
        types = family_types(results[0])
        for inter in types["int"]:
            rows.append(Row(f"{area} {METRIC_NAMES[metric]} {types['pn']} - {inter}",
                            [_difference(r, area, types["pn"], inter, metric)
                             for r in results], Expectation("positive")))
    return rows


def _figure7_rows(results) -> list:
    """Per area, Figure 7's image-skewness difference PN - Int: the interneuron types pooled
    (:func:`ei_difference` of the area alone), beside the per-type rows. Without results,
    the rows of the CIFAR10 areas with no values (so the claim has too few networks)."""
    return [Row(f"{area} image skewness PN - Int (Figure 7: interneuron types pooled)",
                [ei_difference(r, [area])[0] for r in results], Expectation("positive"))
            for area in _areas(results) or CIFAR_AREAS]


def _density_rows(results) -> list:
    rows = []
    for area in _areas(results):
        types = family_types(results[0])
        for int_pn in types["int_pn"]:
            pn_pn = f"{area}_{types['pn_pn']}"
            rows.append(Row(f"{area} density {int_pn} - {types['pn_pn']}",
                            [connection_density(r, f"{area}_{int_pn}")
                             - connection_density(r, pn_pn) for r in results],
                            Expectation("positive")))
    return rows


def _accuracy_row(ctx: Context, runs) -> Row:
    """Informational: the networks' test accuracy (InhPN "similar to that of the standard
    network", NoConstraint "slightly better": section 3, Appendix H, Figure 12)."""
    return Row("test accuracy", [ctx.accuracy(r) for r in runs])


def _run_dirs(runs) -> list:
    return [str(run.run_dir) for run in runs]


# --------------------------------------------------------------------------------------------
# The claims


def c1_accuracy(ctx: Context) -> Claim:
    claim = Claim("C1", "Test accuracy on CIFAR10 (full scale: 250 epochs)",
                  "Standard ~85%, StandardEI ~84% (section 2, Appendix K)")
    for label, config, paper in (("Standard", STANDARD, 0.85),
                                 ("StandardEI", STANDARD_EI, 0.84)):
        runs = ctx.runs_for(Need(config, analysis=None))
        claim.runs += _run_dirs(runs)
        claim.rows.append(Row(f"{label} test accuracy", [ctx.accuracy(r) for r in runs],
                              Expectation("near", paper, ACCURACY_TOLERANCE)))
    return claim


def c_selectivity(ctx: Context, cid: str, metric: str) -> Claim:
    runs, results = _finals(ctx, STANDARD)
    return Claim(cid, f"Standard: PN have higher {METRIC_NAMES[metric]} than IG and OG, "
                      f"areas 3 and 4", "PN > IG and OG (Figure 2)",
                 rows=_selectivity_rows(results, metric), runs=_run_dirs(runs))


def c5_density(ctx: Context) -> Claim:
    claim = Claim("C5", "Interneuron-to-PN connections are denser than PN-to-PN",
                  "IG->PN and OG->PN > PN->PN; I->E > E->E in StandardEI (Figures 3, 4)")
    for config in (STANDARD, STANDARD_EI):
        runs, results = _finals(ctx, config)
        claim.runs += _run_dirs(runs)
        claim.rows += _labelled(config, _density_rows(results))
    return claim


def f4_summary(ctx: Context) -> Claim:
    claim = Claim("F4", "Figure 4's summary: PN (E) more selective and less densely connected "
                        "than the interneurons, areas 3 and 4 combined",
                  "positive skewness and density differences for every network (Figures 4, 9)",
                  note="'pooled' counts every neuron and connection of both areas once, as "
                       "Figures 4 and 9 draw it (area 4, with twice the channels, weighs "
                       "more); the paper says only 'combined', so 'mean of the areas' gives "
                       "the unweighted mean of the per-area values too")
    for label, config in (("Standard", STANDARD), ("StandardEI", STANDARD_EI)):
        runs, results = _finals(ctx, config)
        claim.runs += _run_dirs(runs)
        for index, quantity in ((0, "image-skewness difference PN - Int"),
                                (1, "density difference Int->PN - PN->PN")):
            for how, summary in (("pooled", ei_difference),
                                 ("mean of the areas", ei_difference_area_mean)):
                claim.rows.append(Row(f"{label} {quantity}, areas {how}",
                                      [summary(r)[index] for r in results],
                                      Expectation("positive")))
    return claim


def c6_early_training(ctx: Context) -> Claim:
    claim = Claim("C6", "Differences are small at initialization and grow in early training",
                  "selectivity near 0 and density near 1 at first; differences substantial "
                  "after 5-30 epochs (Figure 5)")
    runs = ctx.runs_for(Need(STANDARD, analysis="all"))
    claim.runs = _run_dirs(runs)
    histories = [ctx.all_epochs(run) for run in runs]
    if not histories:
        claim.rows.append(Row("density at epoch 0", [], Expectation("at_least", NEAR_ONE)))
        return claim
    epochs = sorted(set.intersection(*(set(h) for h in histories)))
    first, last = epochs[0], epochs[-1]
    if first != 0:
        claim.note = f"no export of epoch 0 in every run (common epochs: {epochs})"
    for area in _areas([histories[0][last]]):
        claim.rows.append(Row(f"{area} lowest connection density, epoch {first}",
                              [_min_density(h[first], area) for h in histories],
                              Expectation("at_least", NEAR_ONE)))
        for index, label in ((0, "image-skewness difference PN - Int"),
                             (1, "density difference Int->PN - PN->PN")):
            values = {e: [ei_difference(h[e], [area])[index] for h in histories]
                      for e in epochs}
            for epoch in epochs:
                claim.rows.append(Row(f"{area} {label}, epoch {epoch}", values[epoch]))
            # From the first epoch where every network has a value (at initialization the
            # principal cells can all be silent, their selectivity undefined).
            defined = [e for e in epochs[:-1] if all(map(math.isfinite, values[e]))]
            base = defined[0] if defined else first
            if base != first:
                claim.note += (f"{'; ' if claim.note else ''}{area} {label} is undefined at "
                               f"epoch {first} in some network; growth counted from epoch "
                               f"{base}")
            claim.rows.append(Row(f"{area} {label}: epoch {last} minus epoch {base}",
                                  [a - b for a, b in zip(values[last], values[base])],
                                  Expectation("positive")))
    return claim


def _figure7_claim(ctx: Context, claim: Claim, variant: str, density_rows) -> Claim:
    """``claim`` with the rows of Figure 7's ``variant`` in both families: image skewness PN -
    Int per interneuron type and pooled, test accuracy, and ``density_rows(results)``."""
    for label, family in FAMILIES:
        runs, results = _finals(ctx, variant_need(variant, family))
        claim.runs += _run_dirs(runs)
        rows = (_selectivity_rows(results, "image_skewness") + _figure7_rows(results)
                + [_accuracy_row(ctx, runs)] + density_rows(results))
        claim.rows += _labelled(label, rows)
    return claim


def c8_inhpn(ctx: Context) -> Claim:
    def density_rows(results) -> list:
        rows = []
        for area in _areas(results):
            pn_pn = family_types(results[0])["pn_pn"]
            rows.append(Row(f"{area} density {pn_pn}",
                            [connection_density(r, f"{area}_{pn_pn}") for r in results]))
            rows.append(Row(f"{area} density difference Int->PN - PN->PN",
                            [ei_difference(r, [area])[1] for r in results],
                            Expectation("negative")))
        return rows

    claim = Claim("C8", "InhPN: the (inhibitory) PN stay more selective than the interneurons, "
                        "and PN->PN connections become dense",
                  "PN > Int in image skewness; PN->PN denser than Int->PN (Figure 7, green; "
                  "Standard and StandardEI)")
    return _figure7_claim(ctx, claim, "inhpn", density_rows)


def c9_noconstraint(ctx: Context) -> Claim:
    def density_rows(results) -> list:
        return [Row(f"{area} lowest connection density",
                    [_min_density(r, area) for r in results], Expectation("at_least", NEAR_ONE))
                for area in _areas(results)]

    claim = Claim("C9", "NoConstraint: PN remain more selective; connection densities near 1",
                  "PN > Int in image skewness; densities close to 1 (Figure 7, orange; "
                  "Standard and StandardEI)")
    return _figure7_claim(ctx, claim, "noconstraint", density_rows)


def c10_standard_ei(ctx: Context) -> Claim:
    runs, results = _finals(ctx, STANDARD_EI)
    rows = [row for metric in METRIC_NAMES for row in _selectivity_rows(results, metric)]
    return Claim("C10", "StandardEI shows the same E-I differences as Standard",
                 "E > I in gOSI, orientation and image skewness; I->E > E->E (Figure 4)",
                 rows=rows + _density_rows(results), runs=_run_dirs(runs))


def c11_no_inhibition(ctx: Context) -> Claim:
    claim = Claim("C11", "Without inhibitory channels accuracy drops moderately with "
                         "BatchNorm, to chance without it",
                  "with BN: Standard 0.855 -> 0.817, StandardEI 0.842 -> 0.728 (moderate); "
                  "without BN: Standard 0.837 -> 0.107, StandardEI 0.711 -> 0.122 (chance) "
                  "(Figure 17, Appendix L)")
    well_above = Expectation("at_least", CHANCE_MARGIN)
    for config, expect in (
            (STANDARD, None), ("fig17_standard_no_inh", well_above),
            (STANDARD_EI, None), ("fig17_standard_ei_no_inh", well_above),
            ("fig9c_no_pn_cell_bn", well_above),
            ("fig17_standard_nonorm_no_inh", Expectation("at_most", CHANCE_MARGIN)),
            ("fig17_standard_ei_nonorm", well_above),
            ("fig17_standard_ei_nonorm_no_inh", Expectation("at_most", CHANCE_MARGIN))):
        runs = ctx.runs_for(Need(config, analysis=None))
        claim.runs += _run_dirs(runs)
        claim.rows.append(Row(f"{config} test accuracy", [ctx.accuracy(r) for r in runs],
                              expect or Expectation()))
    return claim


def _grid_value(ctx: Context, run, quantity: str) -> float:
    result = ctx.final(run)
    areas = recurrent_areas(result)
    if quantity == "pn_skewness":
        return pooled_mean(result, areas, ["PN"], "image_skewness")
    if quantity == "int_skewness":
        return pooled_mean(result, areas, ["IG", "OG"], "image_skewness")
    if quantity == "pn_density":
        return pooled_density(result, areas, ["PN_to_PN"])
    return pooled_density(result, areas, ["IG_to_PN", "OG_to_PN"])


def c7_channel_numbers(ctx: Context) -> Claim:
    """Paper section 3, "Asymmetry in numbers" (Figure 6): the grid's corners, seed by seed;
    areas 3 and 4 pooled as in Figure 6. Every point the config declares has its rows, finished
    or not (a partial grid shows what it has); each point's test accuracy is shown beside them:
    Figure 6 draws only networks above ``GRID_ACCURACY``."""
    claim = Claim("C7", "More E (not I) channels make PN more selective and PN->PN sparser; "
                        "interneuron selectivity stays low",
                  "PN image skewness up and PN->PN density down with E; Int skewness low for "
                  "every E, I; Int->PN density falls moderately with I (Figure 6)")
    runs = ctx.runs_for(Need(GRID))
    claim.runs = _run_dirs(runs)
    channels = {run.point: run.channels for run in ctx.declared(Need(GRID)) + runs
                if run.channels}
    points = sorted(channels, key=channels.get)
    by_point = {point: {} for point in points}
    for run in runs:
        by_point[run.point][run.seed] = run
    es = sorted({e for e, _ in channels.values()})
    is_ = sorted({i for _, i in channels.values()})

    def pairs(a: str, b: str, quantity: str) -> list:
        seeds = sorted(set(by_point.get(a, {})) & set(by_point.get(b, {})))
        return [_grid_value(ctx, by_point[a][s], quantity)
                - _grid_value(ctx, by_point[b][s], quantity) for s in seeds]

    if len(es) < 2 or len(is_) < 2:
        claim.rows.append(Row("PN image skewness, most minus fewest E channels", [],
                              Expectation("positive")))
        return claim
    (e_lo, e_hi), (i_lo, i_hi) = (es[0], es[-1]), (is_[0], is_[-1])
    for i in (i_lo, i_hi):
        hi, lo = f"e{e_hi}_i{i}", f"e{e_lo}_i{i}"
        claim.rows.append(Row(f"PN image skewness {hi} - {lo}", pairs(hi, lo, "pn_skewness"),
                              Expectation("positive")))
        claim.rows.append(Row(f"PN->PN density {hi} - {lo}", pairs(hi, lo, "pn_density"),
                              Expectation("negative")))
    for e in (e_lo, e_hi):
        hi, lo = f"e{e}_i{i_hi}", f"e{e}_i{i_lo}"
        claim.rows.append(Row(f"PN image skewness {hi} - {lo}", pairs(hi, lo, "pn_skewness")))
        claim.rows.append(Row(f"Int->PN density {hi} - {lo}", pairs(hi, lo, "int_density"),
                              Expectation("negative")))
    for point in points:
        claim.rows.append(Row(f"{point}: PN - Int image skewness",
                              [_grid_value(ctx, r, "pn_skewness")
                               - _grid_value(ctx, r, "int_skewness")
                               for r in by_point[point].values()], Expectation("positive")))
    for point in points:  # a selection rule of the paper's figure, not a claim
        claim.rows.append(Row(f"{point}: test accuracy (Figure 6 draws networks above "
                              f"{GRID_ACCURACY:g})",
                              [ctx.accuracy(r) for r in by_point[point].values()]))
    return claim


def c12_shuffled_labels(ctx: Context) -> Claim:
    """Appendix K, Figure 16: training accuracy is measured on the shuffled training labels."""
    claim = Claim("C12", "On shuffled labels (5,000 images) the network fits part of the "
                         "training set, and PN still become more selective and sparser",
                  "20-50% training accuracy (Shuffled_L2: 43.9%, EI_Shuffled_L2: 24.6%), test "
                  "at chance; PN > Int in image skewness and Int->PN denser than PN->PN, less "
                  "consistently (Figure 16)")
    for label, family in FAMILIES:
        runs, results = _finals(ctx, SHUFFLED[family])
        claim.runs += _run_dirs(runs)
        train = []
        for run in runs:
            values = run_history(run.run_dir).get("accuracy", [])
            train.append(float(values[-1]) if len(values) else math.nan)
        rows = [Row("training accuracy (shuffled labels)", train,
                    Expectation("at_least", SHUFFLED_FIT)),
                Row("test accuracy", [ctx.accuracy(r) for r in runs],
                    Expectation("at_most", CHANCE_MARGIN))]
        rows += _selectivity_rows(results, "image_skewness") + _density_rows(results)
        claim.rows += _labelled(label, rows)
    return claim


def c13_no_weight_decay(ctx: Context) -> Claim:
    """The rows of the networks without weight decay carry the verdict; informational rows
    give the same quantity for fig2_standard (with it), the contrast the claim rests on."""
    runs, results = _finals(ctx, "appA_standard_no_weight_decay")
    claim = Claim("C13", "Without weight decay connection densities go to 1",
                  "densities close to 1 for E and I connections (Appendix A)",
                  runs=_run_dirs(runs))
    areas = _areas(results) or CIFAR_AREAS
    for area in areas:
        claim.rows.append(Row(f"{area} lowest connection density",
                              [_min_density(r, area) for r in results],
                              Expectation("at_least", NEAR_ONE)))
    _, with_decay = _finals(ctx, STANDARD)
    for area in _areas(with_decay):
        claim.rows.append(Row(f"{STANDARD} (with weight decay) {area} lowest connection "
                              f"density", [_min_density(r, area) for r in with_decay]))
    return claim


def d1_decay_matched(ctx: Context) -> Claim:
    """Not a claim of the paper: C5's density rows on the decay-matched diagnostic, with the
    accuracy and PN->PN densities of those networks and of fig2_standard's for comparison."""
    claim = Claim("D1", "Diagnostic, not a claim of the paper: with the paper's cumulative "
                        "weight decay, Interneuron-to-PN connections are denser than PN-to-PN",
                  "no such experiment; C5's differences (Figures 3, 4), here on the "
                  "Standard network with weight decay x 250/30 "
                  "(configs/workstation/diag_standard_decay_matched.yaml)",
                  note="the compressed schedule sums the learning rate to 30/250 of the "
                       "paper's, so unused weights decay by exp(-1) instead of exp(-8.2) "
                       "(docs/reproduction.md); this network's decay is the paper's, summed "
                       "over training. The informational rows compare it with fig2_standard")
    runs, results = _finals(ctx, DECAY_MATCHED)
    claim.runs = _run_dirs(runs)
    claim.rows = _density_rows(results)
    for label, config in (("decay-matched", DECAY_MATCHED), ("Standard", STANDARD)):
        runs, results = _finals(ctx, config)
        claim.rows.append(Row(f"{label} test accuracy", [ctx.accuracy(r) for r in runs]))
        for area in _areas(results):
            pn_pn = family_types(results[0])["pn_pn"]
            claim.rows.append(Row(f"{label} {area} density {pn_pn}",
                                  [connection_density(r, f"{area}_{pn_pn}") for r in results]))
    return claim


CLAIMS: list[Callable[[Context], Claim]] = [
    c1_accuracy,
    lambda ctx: c_selectivity(ctx, "C2", "gosi"),
    lambda ctx: c_selectivity(ctx, "C3", "orientation_skewness"),
    lambda ctx: c_selectivity(ctx, "C4", "image_skewness"),
    c5_density, f4_summary, c6_early_training, c7_channel_numbers, c8_inhpn,
    c9_noconstraint, c10_standard_ei, c11_no_inhibition, c12_shuffled_labels,
    c13_no_weight_decay, d1_decay_matched,
]


def evaluate(ctx: Context) -> list[Claim]:
    """Every claim, measured on the finished runs of ``ctx`` (which should be ``partial``),
    with how many of the networks its configs declare are finished."""
    out = []
    for make in CLAIMS:
        with ctx.recording() as needs:
            claim = make(ctx)
        claim.progress = _progress(ctx, needs)
        out.append(claim)
    return out


def _progress(ctx: Context, needs: Sequence[Need]) -> list[tuple[str, int, int]]:
    """``[(config, finished networks, declared networks)]`` of the configs ``needs`` read, in
    the order first read; configs ``ctx.config_dir`` does not hold are left out."""
    found: dict = {}
    for need in needs:
        key = (need.config, need.points, need.same_as)
        planned = 0 if key in found else ctx.planned(need)
        if planned:
            names = [c for c in (need.config, *need.same_as)
                     if (ctx.config_dir / f"{c}.yaml").is_file()]
            name = names[0] + (f" ({', '.join(need.points)})"
                               if need.points and names[0] == need.config else "")
            found[key] = (name, len(ctx.runs_for(replace(need, analysis=None))), planned)
    return list(found.values())


def _done(claim: Claim) -> str:
    """``"k of n"`` networks finished over the configs the claim reads."""
    return (f"{sum(d for _, d, _ in claim.progress)} of "
            f"{sum(n for _, _, n in claim.progress)}")


# --------------------------------------------------------------------------------------------
# Markdown


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.3f}"


def shown_path(path, base=None) -> str:
    """``path`` as the report names it, so that the report reads the same on any machine:
    relative to ``base`` (the report's directory) when it lies under it, else relative to the
    directory holding the shipped configs (the project: ``configs/workstation``) when it lies
    under that, else as given."""
    path = Path(path)
    for root in ([Path(base)] if base is not None else []) + [shipped_configs().parent]:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def _failing(claim: Claim) -> str:
    """The quantities of ``claim``'s rows that fail, ``"; "``-separated."""
    return "; ".join(row.quantity for row in claim.rows if row.summary()[3] == FAILS)


def claim_markdown(claim: Claim, base=None) -> str:
    lines = [f"### {claim.id}: {claim.statement}", "",
             f"Paper: {claim.paper}. **Verdict: {claim.verdict}.**", ""]
    if claim.progress:
        lines += ["Networks finished: " + ", ".join(f"{name} {done} of {planned}"
                                                    for name, done, planned in claim.progress)
                  + ".", ""]
    if claim.note:
        lines += [f"Note: {claim.note}.", ""]
    lines += ["| quantity | networks | mean | 95% CI | expected | verdict |",
              "|---|---|---|---|---|---|"]
    for row in claim.rows:
        mean, low, high, verdict = row.summary()
        values = ", ".join(_num(v) for v in row.finite) or "none"
        lines.append(f"| {row.quantity} | {len(row.finite)} ({values}) | {_num(mean)} | "
                     f"[{_num(low)}, {_num(high)}] | {row.expect.text()} | {verdict or ''} |")
    runs = ", ".join(f"`{shown_path(r, base)}`" for r in claim.runs) or "none found"
    lines += ["", f"Runs: {runs}", ""]
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _current_fingerprint(config_text: str) -> dict:
    """The fingerprint the current code gives the network of a run's ``config.yaml``."""
    from ei_tf.config import config_from_dict, parse_yaml
    from ei_tf.model import model_fingerprint

    return model_fingerprint(config_from_dict(parse_yaml(config_text), "a run's config"))


def model_provenance(run_dirs: Sequence, base=None) -> list[str]:
    """Markdown lines: per run (named by :func:`shown_path` from ``base``), the commits that
    trained it and whether the model they trained is the current code's
    (:func:`ei_tf.model.same_model` on the launch records' model fingerprints against the
    fingerprint the current code gives the run's config). A launch recorded before fingerprints
    had more than their initial logits is compared on those: "current (by the initial
    logits)", or "unknown" where they were all 0 (nothing of the network shows in them)."""
    from ei_tf.model import fingerprint_parts, same_model

    lines = ["| run | trained by (commits) | model | wall hours | CPU |", "|---|---|---|---|---|"]
    for run_dir in dict.fromkeys(str(r) for r in run_dirs):
        try:
            launches = read_launches(run_dir)
            config_text = (Path(run_dir) / CONFIG).read_text()
        except (OSError, ValueError):
            lines.append(f"| `{shown_path(run_dir, base)}` | no launch record | unknown | | |")
            continue
        commits = ", ".join(dict.fromkeys(
            (launch["code"]["commit"] or "?")[:7] + ("+" if launch["code"]["dirty"] else "")
            for launch in launches))
        current = _current_fingerprint(config_text)  # once per distinct config
        recorded = [fingerprint_parts(launch["model_fingerprint"]) for launch in launches]
        if not all(same_model(f, current) for f in recorded):
            model = "**differs from the current code**"
        elif all(f.keys() == current.keys() for f in recorded):
            model = "current"
        elif any(not any(f["initial"]) for f in recorded):
            model = "unknown (a launch recorded initial logits alone, all 0)"
        else:
            model = "current (by the initial logits)"
        cpus = ", ".join(dict.fromkeys(describe_cpu(launch["devices"]) for launch in launches
                                       if launch.get("devices")))
        lines.append(f"| `{shown_path(run_dir, base)}` | {commits} | "
                     f"{model} | "
                     f"{wall_seconds(launches) / 3600:.2f} | {cpus} |")
    return lines


def report_markdown(claims: Sequence[Claim], runs, config_dir, base=None) -> str:
    """The report of ``claims``; paths are named relative to ``base``, the report's directory
    (:func:`shown_path`)."""
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = ["# Claims report", "",
             f"Runs under `{shown_path(runs, base)}`, configs from "
             f"`{shown_path(config_dir, base)}`; written {date}.", "",
             "Each quantity is computed per network (seed) at the run's last exported epoch "
             "(C6: every exported epoch); mean and 95% percentile-bootstrap confidence "
             "interval over networks. A row holds when its whole interval lies on the "
             "expected side (or, for an expected value, its mean is within the tolerance); a "
             "claim holds when all its rows do, and needs at least "
             f"{MIN_NETWORKS} networks per row; *undefined* means the networks are there but "
             "the quantity has no value (e.g. every principal cell silent).", "",
             "*Networks finished* counts the networks (seeds, sweep points) the claim's "
             "configs declare that have finished training.", "",
             "*Rows that fail* names, for a claim that fails, the rows whose interval lies "
             "on the wrong side (their values are in the claim's table below).", "",
             "| claim | verdict | networks finished | statement | rows that fail |",
             "|---|---|---|---|---|"]
    lines += [f"| {c.id} | {c.verdict} | {_done(c)} | {c.statement} | {_failing(c)} |"
              for c in claims]
    lines.append("")
    lines += [claim_markdown(c, base) for c in claims]
    lines += ["## Which code trained each run", "",
              "`+` marks a checkout with uncommitted changes. *current*: every launch of the "
              "run trained the network the current code builds (same fingerprint: logits of "
              "the seed-0 network and of the network with redrawn weights on fixed images, "
              "sizes of the initial weights); results of a run that *differs* describe "
              "another model. *current (by the initial logits)*: a launch recorded the "
              "seed-0 network's logits alone, and they match; where they were all 0 (every PN "
              "silent, no BatchNorm) the model is *unknown*.", ""]
    lines += model_provenance([r for c in claims for r in c.runs], base)
    lines.append("")
    return "\n".join(lines)


def write_report(ctx: Context, path) -> str:
    """Evaluate every claim on ``ctx``'s runs, write the markdown to ``path``, return it."""
    path = Path(path)
    text = report_markdown(evaluate(ctx), ctx.runs, ctx.config_dir, base=path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return text

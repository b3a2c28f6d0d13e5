"""The reproduction protocol: train, analyse and record a list of runs, in priority order.

``configs/workstation/protocol.yaml`` lists the runs (config, seeds, tier, optional ``hold``);
``python -m ei_tf.protocol`` works through it and resumes where it stopped:

1. every finished run (``completed.json``) has each exported epoch analysed
   (``analyze.py --run``; stored results are reused) and its small text results copied to
   ``<results>/<config>/seed_<N>/``: ``config.yaml``, ``history.csv``, ``completed.json``,
   ``analysis/epoch_<E>.json`` and ``launches.json``;
2. the first unfinished run that is not on hold is trained (``train.py --config ... --seed N``,
   which resumes an interrupted run from its last completed epoch), then step 1 again.

A run whose results are already recorded under ``<results>`` with the config it would be
trained with now (:func:`recorded`) is finished even when its run directory is gone (a new
machine, a lost disk): the committed text is the protocol's record, so losing the run
directories costs nothing but the SavedModels, not a retraining.

Runs live under ``--out`` (default ``$EI_TF_RUNS``, else ``~/ei-tf-runs``), outside any
checkout, so that they survive a new checkout; the results directory holds text only
(SavedModels, backups and data never go there), so it can be committed and the claims report
rebuilt from it (``analyze.py --report --runs docs/reproduction/runs --configs
configs/workstation``) after the run directories are gone; with ``--report DIR`` the runner
rebuilds the report and the figures in DIR itself whenever it has collected runs.

Each training launch of a run is recorded in ``<run>/launches.json`` (UTC start, the code's
version and commit, software versions, devices, and the model fingerprint of
:func:`ei_tf.model.model_fingerprint`), since a run may be trained across several sessions.
The fingerprint lets the report tell results trained by a model that differs from the current
code's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .config import ConfigError, find_config, parse_yaml, run_config_changes
from .files import write_json, write_text
from . import layout
from .layout import (ANALYSIS, COMPLETED, CONFIG, HISTORY, LAUNCHES, analysed_epochs, analysis_path,
                     export_dir, model_names, versions)
from .provenance import provenance, wall_seconds
from .sweep import Point, load_points, status

SOURCE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROTOCOL = "workstation/protocol.yaml"  # among the shipped configs
DEFAULT_RESULTS = Path("docs") / "reproduction" / "runs"
RESULT_FILES = (CONFIG, HISTORY, COMPLETED, LAUNCHES)
_ENTRY_KEYS = {"config", "seeds", "tier", "hold"}
FINISHED = ("done", "recorded")  # point_status of a run that is not trained again


@dataclass
class Entry:
    """One line of the protocol: a config of the protocol's directory and some of its seeds."""

    config: Path
    seeds: list
    tier: int
    hold: str = ""

    def points(self) -> list[Point]:
        return [p for seed in self.seeds for p in load_points(self.config, seed=seed)]


def default_runs_root() -> Path:
    return Path(os.environ.get("EI_TF_RUNS") or Path.home() / "ei-tf-runs")


def load_protocol(path) -> list[Entry]:
    """Read a protocol file (a path, or a name among the shipped configs such as
    ``workstation/protocol.yaml``); every mistake is a :class:`ConfigError` naming the entry."""
    path = find_config(path)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read protocol {path}: {err.strerror or err}") from None
    runs = (data or {}).get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs:
        raise ConfigError(f"{path}: expected a top-level 'runs' list of entries")
    entries = []
    for n, item in enumerate(runs):
        where = f"{path}: runs[{n}]"
        if not isinstance(item, dict) or not {"config", "seeds", "tier"} <= set(item):
            raise ConfigError(f"{where}: an entry needs config, seeds and tier")
        unknown = set(item) - _ENTRY_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
        config = path.parent / f"{item['config']}.yaml"
        if not config.is_file():
            raise ConfigError(f"{where}: no config {config}")
        seeds = item["seeds"]
        if not (isinstance(seeds, list) and seeds
                and all(isinstance(s, int) and s >= 0 for s in seeds)):
            raise ConfigError(f"{where}: seeds must be a list of seeds (integers >= 0)")
        if item["tier"] not in (1, 2):
            raise ConfigError(f"{where}: tier must be 1 or 2, got {item['tier']!r}")
        entries.append(Entry(config, seeds, item["tier"], str(item.get("hold") or "")))
    return entries


def _utc(timestamp: float | None = None) -> str:
    moment = (datetime.datetime.now(datetime.timezone.utc) if timestamp is None else
              datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc))
    return moment.isoformat(timespec="seconds")


def say(message: str, file=None) -> None:
    """One line of the runner's log, stamped with the UTC time (a protocol runs for days)."""
    print(f"protocol {_utc()}: {message}", file=file or sys.stdout, flush=True)


def close_launches(run_dir: Path, returncode: int | None = None) -> None:
    """Give the run's last launch its end: now with ``returncode`` when the runner saw it end,
    else (the session was stopped) the time of the last completed epoch's record
    (``completed.json``, else ``history.csv``), which ends the time that counted."""
    launches = layout.launches(run_dir)
    if not launches or "ended_utc" in launches[-1]:
        return
    last = launches[-1]
    if returncode is not None:
        last.update(ended_utc=_utc(), returncode=returncode)
    else:
        started = datetime.datetime.fromisoformat(last["started_utc"]).timestamp()
        marks = [p.stat().st_mtime for p in (run_dir / COMPLETED, run_dir / HISTORY)
                 if p.is_file()]
        end = max([m for m in marks if m >= started], default=started)
        last.update(ended_utc=_utc(end), returncode=None)
    write_json(run_dir / LAUNCHES, launches, indent=1)


def record_launch(run_dir: Path, point: Point) -> dict:
    """Append this launch (time, code, software, devices, model fingerprint) to the run."""
    from .runtime import import_tensorflow
    import_tensorflow()  # its start-up notices filtered out of the runner's log
    from .model import model_fingerprint
    run_dir.mkdir(parents=True, exist_ok=True)
    close_launches(run_dir)
    launch = {"started_utc": _utc(), **provenance(),
              "model_fingerprint": model_fingerprint(point.config)}
    write_json(run_dir / LAUNCHES, [*layout.launches(run_dir), launch], indent=1)
    return launch


def collect(run_dir: Path, runs_root: Path, results: Path) -> Path:
    """Copy a finished run's text results to the same relative place under ``results``, in
    place of what was recorded there (e.g. an earlier run of another config)."""
    target = results / run_dir.relative_to(runs_root)
    if target.is_dir():
        shutil.rmtree(target)
    (target / ANALYSIS).mkdir(parents=True, exist_ok=True)
    sources = [run_dir / name for name in RESULT_FILES]
    sources += [analysis_path(run_dir, epoch) for epoch in analysed_epochs(run_dir)]
    for source in sources:
        if source.is_file():
            write_text(target / source.relative_to(run_dir), source.read_text())
    return target


def collected(run_dir: Path, runs_root: Path, results: Path) -> bool:
    """Whether ``results`` already holds this finished run's results: the same completion
    record and an analysis of every export (so the run need not be analysed again)."""
    target = results / run_dir.relative_to(runs_root)
    done = target / COMPLETED
    exports = {e for name in model_names(run_dir) for e in versions(export_dir(run_dir, name))}
    return (done.is_file() and done.read_bytes() == (run_dir / COMPLETED).read_bytes()
            and exports <= set(analysed_epochs(target)))


def recorded(point: Point, runs_root: Path, results: Path) -> bool:
    """Whether ``results`` holds this point's finished run (``completed.json``) trained with the
    config the point has now (:func:`ei_tf.config.run_config_changes`); a recorded run whose
    config is unreadable or differs is trained again (the runner says so)."""
    target = point.run_dir(results)  # the results mirror the runs root's layout
    if not (target / COMPLETED).is_file():
        return False
    try:
        return not run_config_changes(layout.run_config(target), point.config)
    except (ConfigError, OSError, ValueError, yaml.YAMLError):
        return False


def _python(module: str, *args) -> int:
    """Run ``python -m module args`` with this interpreter and this copy of ei_tf."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env).returncode


def train_point(entry: Entry, point: Point, runs_root: Path) -> int:
    """Train (or resume) one point in a subprocess, after recording the launch."""
    run_dir = point.run_dir(runs_root)
    record_launch(run_dir, point)
    index = [p.index for p in load_points(entry.config, seed=point.seed)].index(point.index)
    returncode = _python("ei_tf.cli", "--config", entry.config, "--seed", point.seed,
                         "--index", index, "--out", runs_root)
    close_launches(run_dir, returncode)
    return returncode


def finish(run_dir: Path, runs_root: Path, results: Path) -> bool:
    """Analyse every export of a finished run and collect its results; False on failure."""
    close_launches(run_dir)
    if _python("ei_tf.analyze_cli", "--run", run_dir, "--quiet") != 0:
        say(f"analysis of {run_dir} failed; its results are not collected")
        return False
    say(f"results of {run_dir} in {collect(run_dir, runs_root, results)}")
    return True


def rebuild_report(results: Path, config_dir: Path, report: Path) -> None:
    """The claims report (``report/report.md``) and the figures (``report/figures/``) from
    the collected results, as ``analyze.py --report`` and ``--all --partial`` draw them; a
    failure is reported and the protocol goes on."""
    common = ("--runs", results, "--configs", config_dir, "--quiet")
    if _python("ei_tf.analyze_cli", "--report", *common, "--out", report) != 0:
        say(f"the claims report in {report} could not be rebuilt")
    # exit status 2 when some figure has no finished run yet: those are left out
    _python("ei_tf.analyze_cli", "--all", "--partial", *common, "--out", report / "figures")
    say(f"report and figures rebuilt in {report}")


def point_status(point: Point, runs_root: Path, results: Path) -> str:
    """:func:`ei_tf.sweep.status`, or ``recorded`` for a run that is not finished under the
    runs root but whose results are recorded (:func:`recorded`)."""
    state = status(point, runs_root)
    return "recorded" if state != "done" and recorded(point, runs_root, results) else state


def status_lines(entries, runs_root: Path, results: Path) -> list[str]:
    lines = []
    for entry in entries:
        for point in entry.points():
            run_dir = point.run_dir(runs_root)
            state = point_status(point, runs_root, results)
            held = (f"  (hold: {entry.hold})" if entry.hold and state not in FINISHED
                    else "")
            lines.append(f"tier {entry.tier}  {point.config.name:<40} seed {point.seed}  "
                         f"{state:<15}  {run_dir}{held}")
    return lines


def summary_lines(entries, runs_root: Path, results: Path) -> list[str]:
    """How far the protocol has got: finished (or recorded) and started runs per tier, and the
    wall time of the finished runs (their ``launches.json``, the recorded copy when the run
    directory is gone) with what the unfinished ones would take at that median."""
    counts: dict = {}
    walls, unfinished = [], 0
    for entry in entries:
        done, started, total = counts.get(entry.tier, (0, 0, 0))
        for point in entry.points():
            state = point_status(point, runs_root, results)
            total += 1
            if state in FINISHED:
                done += 1
                run_dir = point.run_dir(results if state == "recorded" else runs_root)
                wall = wall_seconds(layout.launches(run_dir)) / 3600
                if wall > 0:
                    walls.append(wall)
            else:
                unfinished += 1
                started += state.startswith("started")
        counts[entry.tier] = done, started, total
    lines = [f"tier {tier}: {done} of {total} runs done"
             + (f", {started} started" if started else "")
             for tier, (done, started, total) in sorted(counts.items())]
    if walls:
        median = statistics.median(walls)
        lines.append(f"{len(walls)} finished runs took {sum(walls):.1f} h of wall time, "
                     f"{min(walls):.2f}-{max(walls):.2f} h each (median {median:.2f} h); "
                     f"at that median the {unfinished} unfinished runs need about "
                     f"{unfinished * median:.0f} h more")
    return lines


def run(entries, runs_root: Path, results: Path, max_tier: int = 2,
        train: bool = True, report: Optional[Path] = None) -> int:
    """Collect every finished run, then train the unfinished ones in order (see module doc);
    with ``report``, rebuild the claims report and figures there whenever runs were
    collected."""
    failed: set = set()
    while True:
        pending, new_results = None, False
        for entry in (e for e in entries if e.tier <= max_tier):
            for point in entry.points():
                run_dir = point.run_dir(runs_root)
                key = str(run_dir)
                if key in failed:
                    continue
                if layout.is_finished(run_dir):
                    if collected(run_dir, runs_root, results):
                        continue
                    if finish(run_dir, runs_root, results):
                        new_results = True
                    else:
                        failed.add(key)
                elif recorded(point, runs_root, results):
                    continue
                elif pending is None and not entry.hold:
                    pending = entry, point
        if report is not None and new_results:
            rebuild_report(results, entries[0].config.parent, report)
        if pending is None or not train:
            break
        entry, point = pending
        say(f"training {point.config.name} seed {point.seed}")
        earlier = point.run_dir(results)
        if (earlier / COMPLETED).is_file():
            say(f"{earlier} holds this run trained with another (or an unreadable) config; "
                f"its results will be replaced when this run finishes")
        if train_point(entry, point, runs_root) != 0:
            say(f"training of {point.run_dir(runs_root)} failed; going on with the next run")
            failed.add(str(point.run_dir(runs_root)))
    if failed:
        say(f"{len(failed)} run(s) failed: {', '.join(sorted(failed))}", file=sys.stderr)
        return 2
    say("nothing left to train" if train else "results collected")
    return 0


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m ei_tf.protocol",
        description="Train, analyse and record the reproduction protocol's runs in priority "
        "order; rerun to resume.")
    p.add_argument("--protocol", default=DEFAULT_PROTOCOL, help="protocol file, or the name of "
                   "a shipped one (default: workstation/protocol.yaml, i.e. "
                   "configs/workstation/protocol.yaml)")
    p.add_argument("--out", help="root of run directories (default: $EI_TF_RUNS, else "
                   "~/ei-tf-runs)")
    p.add_argument("--results", default=str(DEFAULT_RESULTS),
                   help="where finished runs' text results go, and where a run recorded there "
                   "counts as finished (default: docs/reproduction/runs under the working "
                   "directory)")
    p.add_argument("--report", metavar="DIR",
                   help="after collecting runs, rebuild the claims report (DIR/report.md) and "
                   "the figures (DIR/figures/) from --results (e.g. docs/reproduction)")
    p.add_argument("--tier", type=int, choices=(1, 2), default=2,
                   help="train entries up to this tier (default: 2, all)")
    p.add_argument("--list", action="store_true", help="print each run's status and exit")
    p.add_argument("--collect", action="store_true",
                   help="only analyse and collect finished runs; train nothing")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    runs_root = Path(args.out).expanduser() if args.out else default_runs_root()
    try:
        entries = load_protocol(args.protocol)
        if runs_root.exists() and not runs_root.is_dir():
            raise ConfigError(f"runs root {runs_root} is not a directory")
        if args.list:
            results = Path(args.results)
            print("\n".join(status_lines(entries, runs_root, results)
                            + summary_lines(entries, runs_root, results)))
            return 0
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    say(f"{args.protocol}; runs under {runs_root}; results to {args.results}")
    return run(entries, runs_root, Path(args.results), args.tier, train=not args.collect,
               report=Path(args.report) if args.report else None)


if __name__ == "__main__":
    sys.exit(main())

"""The files of a run directory and of its SavedModels (design.md section 5): their one definition.

A run of config ``<name>`` with seed ``N`` lives in ``<out>/<name>/seed_<N>/``::

    config.yaml           the resolved config (read back through the schema: run_config)
    history.csv           one row per completed epoch (ei_tf.history)
    completed.json        the result and its provenance, written when training ends
    backup/               Keras BackupAndRestore state while training (ei_tf.backup)
    export/<model>/<E>/   the SavedModel after E epochs (TF Serving's layout)
    analysis/epoch_<E>.json   the analysis of export E (ei_tf.analysis.pipeline)
    launches.json         the run's training launches (ei_tf.protocol)

A SavedModel has the signatures :data:`SERVING`, :data:`ACTIVITY` and :data:`CONNECTIVITY` and
its metadata (resolved config, epoch, provenance) in :data:`METADATA`. This module imports no
TensorFlow: training, export, sweeps, analysis and figures all find files through it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import Config, ConfigError, config_from_dict, parse_yaml

CONFIG = "config.yaml"
HISTORY = "history.csv"
COMPLETED = "completed.json"
BACKUP = "backup"
EXPORT = "export"
ANALYSIS = "analysis"
LAUNCHES = "launches.json"

SERVING = "serving_default"
ACTIVITY = "activity"
CONNECTIVITY = "connectivity"
METADATA = "assets.extra/ei_tf.json"


def run_dir(out, name: str, seed: int) -> Path:
    """``<out>/<name>/seed_<N>/``: where config ``name`` trained with ``seed`` lives."""
    return Path(out) / name / f"seed_{int(seed)}"


def run_config(run: Path) -> Config:
    """The run's ``config.yaml``, validated by the schema (raises ConfigError or OSError)."""
    path = Path(run) / CONFIG
    return config_from_dict(parse_yaml(path.read_text()) or {}, str(path))


def export_dir(run: Path, model_name: str) -> Path:
    """``<run>/export/<model_name>/``: the SavedModel versions (one per exported epoch)."""
    return Path(run) / EXPORT / model_name


def versions(model_dir: Path) -> dict[int, Path]:
    """``{epoch: SavedModel dir}`` fully written under ``model_dir``, ascending."""
    model_dir = Path(model_dir)
    found = {int(p.name): p for p in model_dir.iterdir()
             if p.name.isdigit() and (p / "saved_model.pb").is_file()} if model_dir.is_dir() else {}
    return dict(sorted(found.items()))


def model_names(run: Path) -> list[str]:
    """The model names under ``<run>/export/``, sorted."""
    root = Path(run) / EXPORT
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def analysis_path(run: Path, epoch: int, reading: str = "") -> Path:
    """``<run>/analysis/epoch_<E>.json``, or ``analysis/<reading>/epoch_<E>.json``."""
    return Path(run) / ANALYSIS / reading / f"epoch_{int(epoch)}.json"


def analysed_epochs(run: Path, reading: str = "") -> list[int]:
    """Epochs with an analysis file (of ``reading``), ascending."""
    stems = (p.stem[len("epoch_"):] for p in (Path(run) / ANALYSIS / reading).glob("epoch_*.json"))
    return sorted(int(s) for s in stems if s.isdigit())


def completed(run: Path):
    """``completed.json`` of a finished run (``{"test_accuracy", ...}``), None for an
    unfinished one; ConfigError when the file is not such a record."""
    path = Path(run) / COMPLETED
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("test_accuracy"), float):
        raise ConfigError(f"{path} is damaged (not a completion record with a test_accuracy)")
    return record


def launches(run: Path) -> list:
    """``launches.json``: the run's training launches (:mod:`ei_tf.protocol`), [] when none."""
    path = Path(run) / LAUNCHES
    return json.loads(path.read_text()) if path.is_file() else []


def is_finished(run: Path) -> bool:
    return (Path(run) / COMPLETED).is_file()


def read_metadata(savedmodel: Path) -> dict:
    """A SavedModel's metadata ``{"epoch", "config", "provenance", ...}``; {} when absent or
    unreadable."""
    try:
        data = json.loads((Path(savedmodel) / METADATA).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

"""A run's resume state: Keras' ``BackupAndRestore`` directory and the config that wrote it.

``<run>/backup/`` is written by ``keras.callbacks.BackupAndRestore(double_checkpoint=True)``.
Its layout is Keras' internal format (Keras 3.15: ``latest.weights.h5`` and
``training_metadata.json`` holding ``{"epoch": E, "batch": B}``, each with a ``.bkp`` copy of
the previous epoch's), read here in two places: the epoch a resumed run continues from (its
batch stream starts there) and the weights the workers other than the chief restore
(:class:`ei_tf.distributed.RestoreBackup`). A backup directory this code cannot read (another
Keras version's layout, a damaged file) is a :class:`BackupError`, never a silent restart from
epoch 0.

Beside Keras' files, ``config_fingerprint.json`` records the config fields that change what the
run computes (:func:`fingerprint`), so that a backup resumes only the run that wrote it.
No TensorFlow import.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import NamedTuple, Optional

from .config import Config, ConfigError
from .files import write_json

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
PREVIOUS = ".bkp"  # suffix of the previous epoch's copies (double_checkpoint)
FINGERPRINT = "config_fingerprint.json"
# Config fields that do not change what a run computes: its labels, its seed list (the run's
# own seed is its directory), the sweep that generated it, its export schedule, how often it
# evaluates the test set and where the data files lie (their content is recorded in the
# provenance).
NOT_COMPUTED = ("name", "description", "seeds", "sweep", "export.", "training.validation_freq",
                "data.data_dir")


class BackupError(ConfigError):
    """A backup directory that cannot be resumed from; the message says why and what to do."""


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "sweep":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def fingerprint(cfg: Config) -> dict:
    """``{"sha256": ..., "fields": {dotted name: value}}`` of the fields that change what the
    run computes (every field but those of :data:`NOT_COMPUTED`)."""
    fields = {k: v for k, v in sorted(_flat(cfg.to_dict()).items())
              if not k.startswith(NOT_COMPUTED)}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, "fields": fields}


def write_fingerprint(backup: Path, cfg: Config) -> None:
    backup.mkdir(parents=True, exist_ok=True)
    write_json(backup / FINGERPRINT, fingerprint(cfg), indent=1)


def keras_files(backup: Path) -> list[str]:
    """Names in the backup directory other than the fingerprint (empty when there is none)."""
    if not backup.is_dir():
        return []
    return sorted(p.name for p in backup.iterdir() if p.name != FINGERPRINT)


def check_fingerprint(backup: Path, cfg: Config, run_dir: Path, config_matches: bool) -> None:
    """Raise :class:`BackupError` unless the backup was written by a run of ``cfg``.

    A backup without a fingerprint (written before fingerprints were stored) belongs to the
    run when the run directory's ``config.yaml`` matches ``cfg`` (``config_matches``); the
    caller then writes the fingerprint.
    """
    if not keras_files(backup):
        return
    path = backup / FINGERPRINT
    if not path.exists():
        if config_matches:
            return
        raise BackupError(f"{run_dir}: {backup} holds no {FINGERPRINT} and the run directory "
                          f"no config.yaml, so which config wrote it is unknown; move it aside "
                          f"to start afresh, or use --force (moves the run aside)")
    try:
        stored = json.loads(path.read_text())
        stored_fields = dict(stored["fields"])
        stored_sha = stored["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"{run_dir}: {path} is damaged; move {backup} aside to start "
                          f"afresh, or use --force (moves the run aside)") from None
    current = fingerprint(cfg)
    if stored_sha == current["sha256"]:
        return
    fields = current["fields"]
    differing = sorted(k for k in stored_fields.keys() | fields.keys()
                       if stored_fields.get(k) != fields.get(k)) or ["(fingerprint)"]
    raise BackupError(f"{run_dir}: its backup was written by a run with a different config "
                      f"(fields: {', '.join(differing)}); resume with that config, or move "
                      f"{backup} aside to start afresh, or use --force (moves the run aside)")


def _keras_says(backup: Path) -> str:
    return (f"expected Keras 3.15's BackupAndRestore layout ({WEIGHTS}, {METADATA} with an "
            f"integer 'epoch', and their {PREVIOUS} copies); the installed Keras "
            f"{metadata.version('keras')} may write another format; move {backup} aside to "
            f"start afresh")


def _readable_weights(path: Path) -> bool:
    """Whether ``path`` opens as HDF5, as Keras' ``load_weights`` opens it; Keras falls back to
    the previous copy when it cannot (an OSError)."""
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


class Restore(NamedTuple):
    """What ``BackupAndRestore`` restores: the weights file and the epochs completed."""

    weights: Optional[Path]
    epoch: int


def restore_point(backup: Path) -> Restore:
    """The weights and epoch ``BackupAndRestore`` resumes from (``Restore(None, 0)`` without a
    backup), choosing as the callback does: the current copy, or the previous one when the
    current weights cannot be opened. Raises :class:`BackupError` for a directory that holds
    files but no restorable state in the layout above."""
    present = keras_files(backup)
    if not present:
        return Restore(None, 0)
    for suffix in ("", PREVIOUS):
        weights, state = backup / (WEIGHTS + suffix), backup / (METADATA + suffix)
        if not weights.is_file() or not _readable_weights(weights):
            continue
        try:
            record = json.loads(state.read_text())
        except FileNotFoundError:
            raise BackupError(f"{backup}: {weights.name} has no {state.name}; "
                              f"{_keras_says(backup)}") from None
        except (OSError, ValueError) as err:
            raise BackupError(f"{backup}: {state.name} cannot be read "
                              f"({type(err).__name__}); {_keras_says(backup)}") from None
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise BackupError(f"{backup}: {state.name} holds {str(record)[:80]!r}, not "
                              f"an epoch; {_keras_says(backup)}")
        return Restore(weights, epoch)
    raise BackupError(f"{backup} holds {', '.join(present)} but no readable {WEIGHTS}; "
                      f"{_keras_says(backup)}")

"""A run's per-epoch history, ``history.csv``: one row per completed epoch, written whole.

The columns are ``epoch`` and Keras' logs in name order (``accuracy``, ``loss``, and the test
set's ``val_accuracy``, ``val_loss``), as ``keras.callbacks.CSVLogger`` writes them. Unlike
``CSVLogger``, which appends a row per epoch, :class:`ei_tf.training.HistoryCSV` rewrites the
whole file atomically after each epoch, so a killed process leaves the previous epoch's file,
never a partial row; a resumed run keeps the rows of the epochs before the one it resumes from and
drops any later one (an epoch logged after the backup it resumes from), so no epoch appears
twice.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .config import ConfigError


class HistoryError(ConfigError):
    """A ``history.csv`` that is not one header and one well-formed row per epoch."""


def read_history(path) -> list[dict]:
    """The rows of a ``history.csv`` (``[]`` when absent), as strings keyed by column.

    Raises :class:`HistoryError` unless the header starts with ``epoch``, every row has a value
    per column, epochs are increasing integers and the other values numbers.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise HistoryError(f"{path} cannot be read ({type(err).__name__})") from None
    damaged = f"{path} is damaged"
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return []
    header, rows, last = lines[0], [], -1
    if not header or header[0] != "epoch":
        raise HistoryError(f"{damaged}: its header {','.join(header)[:60]!r} does not start "
                           f"with 'epoch'")
    for number, values in enumerate(lines[1:], start=2):
        if len(values) != len(header):
            raise HistoryError(f"{damaged}: line {number} has {len(values)} values for "
                               f"{len(header)} columns")
        row = dict(zip(header, values))
        try:
            epoch = int(row["epoch"])
            for key, value in row.items():
                if value:
                    float(value)
        except ValueError:
            raise HistoryError(f"{damaged}: line {number} holds a value that is not a "
                               f"number") from None
        if epoch <= last:
            raise HistoryError(f"{damaged}: line {number} repeats or goes back to epoch "
                               f"{epoch}")
        last = epoch
        rows.append(row)
    return rows


def history_columns(rows: list[dict]) -> dict:
    """``{column: float array, one entry per epoch}`` of :func:`read_history`'s rows (empty
    values are NaN)."""
    return {key: np.array([float(r[key] or "nan") for r in rows]) for key in (rows[:1] or [{}])[0]}


def format_history(rows: list[dict]) -> str:
    columns = sorted({k for row in rows for k in row if k != "epoch"})
    out = io.StringIO()
    writer = csv.DictWriter(out, ["epoch", *columns], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


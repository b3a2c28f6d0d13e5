"""Files that appear whole or not at all, and the SHA-256 of input files.

Every JSON, CSV and YAML file ei-tf writes goes through :func:`write_text` (or
:func:`write_json`): the text is written to a temporary name in the same directory, flushed to
disk, and renamed over the target, so a reader (or a process killed mid-write) sees either the
previous file or the new one, never a part. No TensorFlow import.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, rename)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write or the rename failed: leave nothing behind
            tmp.unlink()
    return path


def write_json(path, data, **dumps_options) -> Path:
    """``json.dumps(data, **dumps_options)`` written atomically (see :func:`write_text`)."""
    return write_text(path, json.dumps(data, **dumps_options))


@functools.lru_cache(maxsize=32)
def _sha256(path: str, stamp: tuple) -> str:
    del stamp  # part of the cache key only: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes, computed once per process while its size and modification
    time stay the same."""
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256(str(path), (stat.st_size, stat.st_mtime_ns))


def check_writable(directory) -> None:
    """Create ``directory`` if needed and raise OSError (naming it) unless a file can be
    created in it; nothing is left behind."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".write-probe-{os.getpid()}"
    with open(probe, "w"):
        pass
    probe.unlink()

"""TensorFlow's start-up without its routine C++ notices.

``TF_CPP_MIN_LOG_LEVEL`` (set in ``ei_tf/__init__.py``) filters TensorFlow's own log, but not
the lines its libraries write through absl before absl's log is initialised: on every machine
``All log messages before absl::InitializeLog() ...`` and ``oneDNN custom operations are on``,
on a machine without a GPU ``Could not find cuda drivers`` and ``failed call to cuInit``.
:func:`import_tensorflow` imports TensorFlow and lists its devices (where CUDA is initialised)
with the process's file descriptor 2 captured, then writes back every captured line except
those notices. Nothing else is hidden: an unknown line is shown, and when the import fails
everything captured is shown before the exception propagates. Whether a GPU is used is
printed by training itself (the devices line), so the CUDA notices carry no information.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

NOTICES = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
]))


def without_notices(text: str) -> str:
    """``text`` without the lines that are TensorFlow start-up notices (module docstring)."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOTICES.search(line))


def import_tensorflow():
    """Import TensorFlow and initialise its devices, its start-up notices filtered out of
    stderr (module docstring); returns the module. Once TensorFlow is imported, a no-op."""
    if sys.modules.get("tensorflow") is not None:
        return sys.modules["tensorflow"]
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to capture (e.g. a notebook kernel)
        import tensorflow as tf
        return tf
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()
        except BaseException:
            _restore(saved, captured, keep=lambda text: text)
            raise
        _restore(saved, captured, keep=without_notices)
    return tf


def _restore(saved: int, captured, keep) -> None:
    """Put file descriptor 2 back and write to it what ``keep`` keeps of the captured text."""
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    captured.seek(0)
    text = keep(captured.read().decode(errors="replace"))
    if text:
        sys.stderr.write(text)
        sys.stderr.flush()

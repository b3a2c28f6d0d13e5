"""Logs that fit files: TensorFlow's start-up notices filtered, Keras' verbosity by output."""

import io
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from ei_tf import cli
from ei_tf.runtime import without_notices

# Lines TensorFlow 2.21 writes on import and device listing on a CPU machine.
NOTICE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796213853.211182    6892 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results due to floating-point round-off errors.\n",
    "I0000 00:00:1796213853.211478    6892 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.\n",
    "E0000 00:00:1796213858.544409    6892 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
]
REAL = "E0000 loader.cc:42] libcudnn.so.9: cannot open shared object file\n"


def test_notices_are_dropped_and_other_lines_kept():
    assert without_notices("".join(NOTICE_LINES)) == ""
    assert without_notices(NOTICE_LINES[1] + REAL + NOTICE_LINES[0]) == REAL


def _import_with_fake_tensorflow(tmp_path, body):
    """``import_tensorflow()`` in a process whose ``tensorflow`` writes the notices and a real
    error line to file descriptor 2, then runs ``body``."""
    fake = tmp_path / "tensorflow.py"
    fake.write_text("import os\n"
                    f"os.write(2, {''.join(NOTICE_LINES + [REAL]).encode()!r})\n"
                    "class config:\n    list_physical_devices = staticmethod(lambda: [])\n"
                    + body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", "from ei_tf.runtime import import_tensorflow\n"
                           "import_tensorflow()\nprint('imported')"],
                          capture_output=True, text=True, env=env, timeout=60)


def test_import_shows_only_what_is_not_a_notice(tmp_path):
    proc = _import_with_fake_tensorflow(tmp_path, "")
    assert proc.returncode == 0 and proc.stdout == "imported\n", proc.stderr
    assert proc.stderr == REAL


def test_a_failed_import_shows_everything(tmp_path):
    proc = _import_with_fake_tensorflow(tmp_path, "raise ImportError('undefined symbol')\n")
    assert proc.returncode == 1
    assert proc.stderr.startswith("".join(NOTICE_LINES + [REAL]))
    assert proc.stderr.rstrip().endswith("ImportError: undefined symbol")


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_bar_on_a_terminal_one_line_per_epoch_in_a_file():
    assert cli.default_verbosity(_Stream(True)) == 1
    assert cli.default_verbosity(_Stream(False)) == 2
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert cli.default_verbosity(closed) == 2
    assert cli.default_verbosity(object()) == 2  # no isatty at all


@pytest.mark.tf
@pytest.mark.parametrize("argv, tty, expected", [
    ([], True, 1), ([], False, 2), (["--verbose", "0"], True, 0), (["--verbose", "1"], False, 1),
])
def test_train_passes_the_verbosity_to_keras(argv, tty, expected, monkeypatch):
    import ei_tf.training

    seen = []
    monkeypatch.setattr(ei_tf.training, "train",
                        lambda cfg, seed, out, force, verbose, **_: seen.append(verbose))
    monkeypatch.setattr(sys, "stdout", _Stream(tty))
    assert cli.train_main(["--config", "quickstart", *argv]) == 0
    assert seen == [expected]


def test_verbosity_outside_0_to_2_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.train_main(["--config", "quickstart", "--verbose", "3"])
    assert exit_.value.code == 2
    assert "argument --verbose: invalid choice: 3" in capsys.readouterr().err

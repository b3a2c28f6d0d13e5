"""Shared fixtures: one smoke-trained Standard run reused by the model, export and CLI tests."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

# --------------------------------------------------------------------------------------------
# The ``tf`` marker (pytest.ini): tests that need TensorFlow or Keras, directly or through an
# ei_tf module that imports them. A module marks itself with a module-level
# ``pytestmark = pytest.mark.tf`` (alone or in a list); the modules below (the network's own
# tests, and the export tests, which do not import pytest) are marked here instead. When the
# ``-m`` expression deselects ``tf`` (e.g. ``-m "not tf and not long"``), the marked modules are
# not even imported and importing TensorFlow or Keras is refused: a test that does so fails, and
# the session fails, naming every such test.

TF = ("tensorflow", "keras")
TF_MARKED_HERE = {"test_cell_checkpoints.py", "test_cells.py", "test_export.py", "test_model.py"}


def _deselects_tf(config) -> bool:
    """Whether the ``-m`` expression deselects every test marked ``tf``, whatever its other
    marks (each combination of the other marker names in the expression is tried, with
    pytest's own parser of ``-m``)."""
    import itertools
    import re

    from _pytest.mark.expression import Expression

    markexpr = config.option.markexpr
    if not markexpr:
        return False
    expression = Expression.compile(markexpr)
    names = sorted(set(re.findall(r"[A-Za-z_][\w.+-]*", markexpr)) - {"and", "or", "not", "tf"})
    for values in itertools.product((False, True), repeat=len(names)):
        marks = {"tf", *(name for name, value in zip(names, values) if value)}
        if expression.evaluate(lambda name, _marks=marks, **kwargs: name in _marks):
            return False
    return True


def _module_marked_tf(path: Path) -> bool:
    """Whether a test module is marked ``tf`` as a whole, read from its source (its module-level
    ``pytestmark``) so that a deselected module need not be imported."""
    import ast

    if path.name in TF_MARKED_HERE:
        return True
    for node in ast.parse(path.read_text(), str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            return any(isinstance(n, ast.Attribute) and n.attr == "tf"
                       and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"
                       for n in ast.walk(node.value))
    return False


class RefuseTensorFlow:
    """A meta path finder that refuses TensorFlow and Keras and records who needed them."""

    MESSAGE = "in a session that deselects the tf marker"

    def __init__(self):
        self.where = "the start of the session"
        self.needed = {}  # node id (a test, or a module being imported) -> module refused

    def find_spec(self, name, path=None, target=None):
        """Raises for TensorFlow and Keras; None (not found here) for every other module."""
        if name.partition(".")[0] in TF:
            self.needed.setdefault(self.where, name)
            raise ModuleNotFoundError(f"{name} imported {self.MESSAGE} (by {self.where}): mark "
                                      f"the test or its module with pytest.mark.tf", name=name)


_REFUSE = None  # the finder, while a session deselects tf
_LOADED_BEFORE = []  # TensorFlow modules already imported when the session started


def pytest_configure(config):
    global _REFUSE
    if _deselects_tf(config):
        import sys

        _LOADED_BEFORE[:] = [m for m in TF if m in sys.modules]
        _REFUSE = RefuseTensorFlow()
        sys.meta_path.insert(0, _REFUSE)


def pytest_unconfigure(config):
    global _REFUSE
    import sys

    if _REFUSE in sys.meta_path:
        sys.meta_path.remove(_REFUSE)
    _REFUSE = None


class NotImported(pytest.File):
    """A test module marked ``tf`` in a session that deselects ``tf``: nothing to collect."""

    def collect(self):
        return []


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    if _REFUSE is not None and _module_marked_tf(module_path):
        return NotImported.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in TF_MARKED_HERE:
            item.add_marker(pytest.mark.tf)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    if _REFUSE is not None:
        _REFUSE.where = f"the import of {collector.nodeid}"
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item):
    if _REFUSE is not None:
        _REFUSE.where = item.nodeid
    return (yield)


def pytest_runtest_logreport(report):
    """A test that failed on the refusal without importing anything itself (a session fixture
    whose error pytest kept from an earlier test) needs TensorFlow too."""
    if (_REFUSE is not None and report.failed
            and RefuseTensorFlow.MESSAGE in report.longreprtext):
        _REFUSE.needed.setdefault(report.nodeid, "tensorflow or keras (through a fixture)")


def _tf_loaded() -> list:
    import sys

    return [m for m in TF if m in sys.modules]


def pytest_sessionfinish(session):
    if _REFUSE is not None and (_REFUSE.needed or _tf_loaded()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _REFUSE is None or not (_REFUSE.needed or _tf_loaded()):
        return
    terminalreporter.section("tf marker", red=True)
    for where, name in _REFUSE.needed.items():
        terminalreporter.line(f"{where} needs {name}: mark it with pytest.mark.tf", red=True)
    if _tf_loaded():
        terminalreporter.line(f"{', '.join(_tf_loaded())} imported although -m deselects tf "
                              f"(before the session started: {_LOADED_BEFORE or 'none'})",
                              red=True)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``train.py --config configs/fig2_standard.yaml --smoke`` on the synthetic dataset."""
    from ei_tf import layout
    from ei_tf.config import load_config, smoke
    from ei_tf.training import train

    cfg = smoke(load_config(CONFIGS / "fig2_standard.yaml", sets=["data.dataset=synthetic"]))
    out = tmp_path_factory.mktemp("runs")
    record = train(cfg, 0, out=out, verbose=0)
    return SimpleNamespace(cfg=cfg, out=out, run_dir=layout.run_dir(out, cfg.name, 0),
                           record=record)


@pytest.fixture(scope="session")
def quickstart_smoke(tmp_path_factory):
    """``train.py --config configs/quickstart.yaml --smoke`` (synthetic data) through the
    command line, so with its TensorBoard analysis summaries; returns the run directory."""
    from ei_tf.cli import train_main

    out = tmp_path_factory.mktemp("runs")
    assert train_main(["--config", str(CONFIGS / "quickstart.yaml"), "--smoke", "--out",
                       str(out), "--set", "data.dataset=synthetic"]) == 0
    return out / "quickstart" / "seed_0"

"""The notebook API: ``docs/notebook.md`` run as written on a smoke run of the quick-start
config, and nothing set globally by importing ei_tf or drawing its panels."""

import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ei_tf.analysis.recording import AnalysisError

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "notebook.md"
QUICKSTART_RUN = "runs/quickstart/seed_0"


def doc_code() -> str:
    """The Python blocks of docs/notebook.md, in order."""
    return "\n".join(re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S))


@pytest.mark.tf
def test_the_notebook_example_runs(quickstart_smoke):
    code = doc_code()
    assert QUICKSTART_RUN in code
    before = dict(matplotlib.rcParams)
    namespace = {}
    exec(compile(code.replace(QUICKSTART_RUN, str(quickstart_smoke)), str(DOC), "exec"),
         namespace)
    run = namespace["run"]
    assert run.config.name == "quickstart" and run.config.model.family == "standard"
    assert run.epochs == [0, 1]
    assert set(run.history) >= {"accuracy", "val_accuracy", "loss", "val_loss"}
    assert all(len(v) == 1 for v in run.history.values())  # one epoch
    result = run.analysis()
    assert result["epoch"] == 1
    gosi = result["populations"]["area3_PN"]["gosi"]["values"]
    axes = namespace["fig"].axes
    # up to three example neurons' tuning curves (responsive ones only)
    assert len(axes[0].lines) == min(3, sum(v is not None for v in gosi)) > 0
    for ax in axes[1:]:
        assert ax.patches  # histogram and bars
    assert dict(matplotlib.rcParams) == before
    plt.close(namespace["fig"])


@pytest.mark.tf
def test_the_analysis_of_an_epoch_is_its_stored_result(quickstart_smoke):
    import ei_tf
    from ei_tf.analysis.pipeline import load_result, result_path

    run = ei_tf.load_run(quickstart_smoke)
    assert run.analysis(0) == load_result(result_path(quickstart_smoke, 0))
    probabilities = run.savedmodel(1).signatures["serving_default"](
        image=np.zeros((1, 32, 32, 3), np.float32))["probabilities"].numpy()
    assert probabilities.shape == (1, 10)
    with pytest.raises(AnalysisError, match="epoch 5 is not exported"):
        run.analysis(5)


def test_load_run_refuses_what_is_not_a_run(tmp_path):
    import ei_tf

    with pytest.raises(AnalysisError, match="does not exist"):
        ei_tf.load_run(tmp_path / "absent")
    with pytest.raises(AnalysisError, match="no config.yaml"):
        ei_tf.load_run(tmp_path)


def test_import_is_light_and_sets_nothing():
    """``import ei_tf`` loads neither TensorFlow nor matplotlib; the figures keep the
    backend the user chose and matplotlib's settings."""
    code = (
        "import sys, matplotlib\n"
        "import ei_tf\n"
        "assert 'tensorflow' not in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
        "assert callable(ei_tf.load_run) and 'tensorflow' not in sys.modules\n"
        "matplotlib.use('svg')\n"
        "before = dict(matplotlib.rcParams)\n"
        "import ei_tf.figures, ei_tf.figures.fig2\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert dict(matplotlib.rcParams) == before\n"
        "assert 'tensorflow' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]

"""Bad inputs to ``train.py`` and ``analyze.py``: each gives a one-line error and exit status 2.

One table of cases, each (id, program, argv, setup, expected message). ``argv`` may hold
``{tmp}`` (the test's tmp_path), ``{repo}`` (the repository root) and the names a setup function
returns (e.g. ``{config}``, ``{run}``); a setup function builds files under tmp_path. The CLIs run
in-process through ``train_main`` / ``analyze_main``; one extra test runs ``python train.py`` as
a subprocess to show that the real entry point prints no traceback either.

Every case fails before any training starts, except ``nan_loss``, which trains a tiny network
on the synthetic dataset with a huge learning rate for one (short) epoch. Cases marked
``untouched`` also check that nothing under tmp_path was written; cases marked ``TF`` import
TensorFlow before they fail (a run directory, data or a SavedModel is read). A read-only output
directory is tested apart, in a subprocess that permission bits apply to (``setpriv`` drops
root's capabilities that bypass them).
"""

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ei_tf.analyze_cli import analyze_main
from ei_tf.cli import train_main

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = "{repo}/configs/quickstart.yaml"
ENV_DATA_DIR = "EI_TF_DATA_DIR"
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
TF = pytest.mark.tf  # the cases that import TensorFlow before they fail

# A network small enough to train one epoch on 32 synthetic images in seconds.
TINY_CONFIG = """\
seeds: [0]
model:
  ff_channels: [4, 4]
  pn_channels: [4, 4]
  ig_channels: [2, 2]
  og_channels: [2, 2]
  time_steps: 1
data:
  dataset: synthetic
  train_examples: 32
  test_examples: 16
  batch_size: 16
training:
  epochs: 1
  distribute: none
export:
  epochs: []
"""


# --------------------------------------------------------------------------------------------
# Setup functions: (tmp_path, monkeypatch, request) -> {placeholder: value}


def _write(path: Path, text) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def invalid_yaml(tmp, monkeypatch, request):
    return {"config": _write(tmp / "broken.yaml", "model:\n  pn_channels: [64, 128\n")}


def binary_config(tmp, monkeypatch, request):
    return {"config": _write(tmp / "binary.yaml", b"\xff\xfe\x00\x01 not text")}


def bad_sweep(tmp, monkeypatch, request):
    return {"config": _write(tmp / "grid.yaml", "sweep:\n  axes: 5\n")}


def damaged_run_config(tmp, monkeypatch, request):
    """A run directory whose config.yaml was cut off mid-write."""
    _write(tmp / "runs" / "quickstart" / "seed_0" / "config.yaml", "model:\n  pn_channels: [64,")
    return {}


def a_plain_file(tmp, monkeypatch, request):
    return {"file": _write(tmp / "a_file", "x")}


def unknown_key_in_file(tmp, monkeypatch, request):
    return {"config": _write(tmp / "typo.yaml", "model:\n  pn_chanels: [64, 128]\n")}


def not_a_mapping(tmp, monkeypatch, request):
    return {"config": _write(tmp / "list.yaml", "- model\n- data\n")}


def malformed_tf_config(tmp, monkeypatch, request):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": ["localhost:1234"]')
    return {}


def tiny_config(tmp, monkeypatch, request):
    return {"config": _write(tmp / "tiny.yaml", TINY_CONFIG)}


def env_data_dir_nowhere(tmp, monkeypatch, request):
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp / "no_such_data"))
    return {}


def empty_cifar_dir(tmp, monkeypatch, request):
    (tmp / "data" / "cifar-10-batches-py").mkdir(parents=True)
    return {"data": tmp / "data"}


def corrupt_cifar_pickle(tmp, monkeypatch, request):
    """Every batch file of the official layout, with data_batch_3 truncated mid-way."""
    directory = tmp / "data" / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        batch = {b"labels": [int(x) for x in rng.integers(0, 10, 4)],
                 b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8)}
        blob = pickle.dumps(batch, protocol=2)
        (directory / name).write_bytes(blob[:len(blob) // 2] if name == "data_batch_3" else blob)
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp / "data"))
    return {}


def duplicate_key(tmp, monkeypatch, request):
    return {"config": _write(tmp / "dup.yaml", "model:\n  pn_channels: [64, 128]\n"
                                               "  time_steps: 2\n  pn_channels: [8, 16]\n")}


def _quickstart_run_dir(tmp) -> Path:
    """``<tmp>/runs/quickstart/seed_0`` holding the quickstart config's config.yaml."""
    from ei_tf.config import dump_config, load_config

    run_dir = tmp / "runs" / "quickstart" / "seed_0"
    _write(run_dir / "config.yaml", dump_config(load_config(QUICKSTART.format(repo=ROOT))))
    return run_dir


def damaged_completed(tmp, monkeypatch, request):
    """A finished run whose completed.json was cut off."""
    _write(_quickstart_run_dir(tmp) / "completed.json", '{"test_accuracy": 0.4')
    return {}


def damaged_history(tmp, monkeypatch, request):
    """An unfinished run whose history.csv ends in a partial row."""
    _write(_quickstart_run_dir(tmp) / "history.csv",
           "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.3,1.9,0.35,1.8\n1,0.41")
    return {}


def env_runs_is_a_file(tmp, monkeypatch, request):
    monkeypatch.setenv("EI_TF_RUNS", str(_write(tmp / "a_file", "x")))
    return {}


def _smoke_run_with_config(tmp, request, section, key, value):
    """A copy of the smoke run (a Standard network on 32x32 images) whose config.yaml says
    ``section.key: value`` (its SavedModels were made for another network)."""
    import yaml

    run = tmp / "run"
    shutil.copytree(request.getfixturevalue("smoke_run").run_dir, run,
                    ignore=shutil.ignore_patterns("analysis"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config[section][key] = value
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return {"run": run}


def savedmodel_of_another_family(tmp, monkeypatch, request):
    import yaml

    made = _smoke_run_with_config(tmp, request, "model", "family", "standard_ei")
    config = yaml.safe_load((made["run"] / "config.yaml").read_text())
    config["model"]["normalization"] = "e_current_bn"  # a valid StandardEI config
    (made["run"] / "config.yaml").write_text(yaml.safe_dump(config))
    return made


def savedmodel_of_another_image_size(tmp, monkeypatch, request):
    return _smoke_run_with_config(tmp, request, "data", "image_size", 64)


def run_without_export(tmp, monkeypatch, request):
    (tmp / "run" / "export").mkdir(parents=True)
    return {"run": tmp / "run"}


def garbage_savedmodel(tmp, monkeypatch, request):
    _write(tmp / "run" / "export" / "ei_model" / "1" / "saved_model.pb",
           b"\xff\xfe this is not a protocol buffer \x00\x01")
    return {"run": tmp / "run"}


def serving_only_run(tmp, monkeypatch, request):
    return {"run": request.getfixturevalue("serving_only_savedmodel")}


@pytest.fixture(scope="module")
def serving_only_savedmodel(tmp_path_factory):
    """A run directory laid out like ours whose SavedModel has only a 'serve' signature."""
    import keras

    run = tmp_path_factory.mktemp("serving_only") / "run"
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    model.export(str(run / "export" / "ei_model" / "1"), verbose=False)
    return run


# --------------------------------------------------------------------------------------------
# The table


def case(id_, program, argv, expected, setup=None, marks=(), untouched=False):
    """``untouched``: the test also checks that no file under tmp_path was written."""
    return pytest.param(program, argv, setup, expected, untouched, id=id_, marks=marks)


CASES = [
    # Config file and --set syntax
    case("missing_config", "train", ["--config", "{tmp}/no_such.yaml"],
         r"config file .*no_such\.yaml does not exist"),
    case("invalid_yaml", "train", ["--config", "{config}"],
         r"broken\.yaml: not valid YAML: line 3, column 1: expected ',' or '\]'", invalid_yaml),
    case("binary_config", "train", ["--config", "{config}"],
         r"binary\.yaml: not a YAML text file \(not UTF-8\)", binary_config),
    case("config_is_a_directory", "train", ["--config", "{tmp}"], r"config file .* is not a file"),
    case("config_not_a_mapping", "train", ["--config", "{config}"],
         r"list\.yaml: 'top level' must be a mapping", not_a_mapping),
    case("set_without_equals", "train", ["--config", QUICKSTART, "--set", "model.time_steps"],
         r"--set 'model\.time_steps': expected key=value"),
    case("set_value_not_yaml", "train",
         ["--config", QUICKSTART, "--set", "model.pn_channels=[64, 128"],
         r"--set 'model\.pn_channels=\[64, 128': the value is not valid YAML \(line 1, column 9"),
    case("duplicate_key", "train", ["--config", "{config}"],
         r"dup\.yaml: not valid YAML: line 4, column 3: duplicate key 'pn_channels'",
         duplicate_key, untouched=True),
    case("bad_sweep", "train", ["--config", "{config}", "--list"],
         r"grid\.yaml: sweep\.axes must be a non-empty list of axes", bad_sweep),
    # Unknown keys and wrong types
    case("unknown_key_set", "train", ["--config", QUICKSTART, "--set", "model.foo=1"],
         r"unknown config key 'model\.foo'"),
    case("unknown_key_file", "train", ["--config", "{config}"],
         r"unknown config key 'model\.pn_chanels'", unknown_key_in_file),
    case("wrong_type_int", "train", ["--config", QUICKSTART, "--set", "model.time_steps=four"],
         r"model\.time_steps.*'four'.*int"),
    case("wrong_type_list", "train", ["--config", QUICKSTART, "--set", "model.pn_channels=64"],
         r"model\.pn_channels: value 64 is not allowed; expected a list of integers"),
    # Out-of-range values
    case("zero_channels", "train", ["--config", QUICKSTART, "--set", "model.pn_channels=[0, 128]"],
         r"model\.pn_channels.*0.*out of range"),
    case("negative_channels", "train",
         ["--config", QUICKSTART, "--set", "model.ig_channels=[-1, 32]"],
         r"model\.ig_channels.*-1.*out of range"),
    case("zero_time_steps", "train", ["--config", QUICKSTART, "--set", "model.time_steps=0"],
         r"model\.time_steps.*0.*out of range"),
    case("channels_per_area", "train", ["--config", QUICKSTART, "--set", "model.ig_channels=[16]"],
         r"model\.ig_channels has 1 entries but model\.pn_channels has 2"),
    case("zero_learning_rate", "train",
         ["--config", QUICKSTART, "--set", "training.learning_rate=0"],
         r"training\.learning_rate.*0.*out of range"),
    case("malformed_tf_config", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"TF_CONFIG is not a JSON object with a 'cluster'", malformed_tf_config, marks=TF),
    # Unknown variants and datasets
    case("unknown_family", "train", ["--config", QUICKSTART, "--set", "model.family=foo"],
         r"model\.family.*'foo'.*standard.*standard_ei"),
    case("unknown_input_gate", "train", ["--config", QUICKSTART, "--set", "model.input_gate=div"],
         r"model\.input_gate.*'div'.*mul.*sub"),
    case("unknown_dataset", "train", ["--config", QUICKSTART, "--set", "data.dataset=mnist"],
         r"data\.dataset.*'mnist'.*cifar10.*imagenet.*synthetic"),
    # Contradictory switches
    case("og_channels_without_og", "train",
         ["--config", QUICKSTART, "--set", "model.output_gate=none"],
         r"model\.output_gate is 'none' \(no OG population\) but model\.og_channels is "
         r"\[16, 32\]"),
    case("og_current_bn_without_og", "train",
         ["--config", QUICKSTART, "--set", "model.output_gate=none",
          "--set", "model.og_channels=[0, 0]", "--set", "model.og_current_bn=true"],
         r"model\.og_current_bn is true but needs an OG population, and model\.output_gate is "
         r"'none'"),
    case("og_dropout_without_og", "train",
         ["--config", QUICKSTART, "--set", "model.output_gate=none",
          "--set", "model.og_channels=[0, 0]", "--set", "model.og_dropout=true"],
         r"model\.og_dropout is true but needs an OG population"),
    case("standard_switch_on_standard_ei", "train",
         ["--config", QUICKSTART, "--set", "model.family=standard_ei",
          "--set", "model.og_current_bn=true"],
         r"model\.og_current_bn is a Standard-family switch"),
    # Points of a config
    case("index_out_of_range", "train", ["--config", QUICKSTART, "--index", "5"],
         r"--index 5 is out of range: .*quickstart\.yaml has 1 "),
    case("negative_seed", "train", ["--config", QUICKSTART, "--seed", "-1"],
         r"--seed -1"),
    # Run directories
    case("out_is_a_file", "train", ["--config", QUICKSTART, "--out", "{file}"],
         r"cannot create run directory .*a_file.quickstart.seed_0: Not a directory",
         a_plain_file, marks=TF),
    case("damaged_run_config", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"seed_0.config\.yaml is not valid YAML \(line 2, column \d+: .*\); repair it, or use "
         r"--force \(moves the run aside\)", damaged_run_config, untouched=True, marks=TF),
    case("damaged_completed", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"seed_0.completed\.json is damaged \(not a completion record with a test_accuracy\); "
         r"move .*seed_0 aside, or use --force", damaged_completed, untouched=True, marks=TF),
    case("damaged_history", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"seed_0.history\.csv is damaged: line 3 has 2 values for 5 columns; repair it, or "
         r"use --force \(moves the run aside\)", damaged_history, untouched=True, marks=TF),
    case("env_runs_is_a_file", "train", ["--config", QUICKSTART],
         r"EI_TF_RUNS=.*a_file is not a directory; point it at the root of the run "
         r"directories, or unset it", env_runs_is_a_file, untouched=True),
    # Data (raised when the run starts, before any model is built)
    case("image_size_for_cifar10", "train",
         ["--config", QUICKSTART, "--out", "{tmp}/runs", "--set", "data.image_size=64"],
         r"cifar10 images are 32x32 but data\.image_size is 64", marks=TF),
    case("data_dir_nowhere", "train",
         ["--config", QUICKSTART, "--out", "{tmp}/runs", "--set", "data.data_dir={tmp}/nowhere"],
         r"CIFAR10 directory .*nowhere \(from data\.data_dir\) does not exist", marks=TF),
    case("env_data_dir_nowhere", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"CIFAR10 directory .*no_such_data \(from EI_TF_DATA_DIR\) does not exist",
         env_data_dir_nowhere, marks=TF),
    case("cifar_files_missing", "train",
         ["--config", QUICKSTART, "--out", "{tmp}/runs", "--set", "data.data_dir={data}"],
         r"CIFAR10 batch file .*data_batch_1 not found \(from data\.data_dir\)", empty_cifar_dir,
         marks=TF),
    case("corrupt_cifar_pickle", "train", ["--config", QUICKSTART, "--out", "{tmp}/runs"],
         r"malformed CIFAR10 batch file .*data_batch_3: cannot unpickle it",
         corrupt_cifar_pickle, marks=TF),
    # Divergence: the run stops, keeps its last completed epoch and says so
    case("nan_loss", "train",
         ["--config", "{config}", "--out", "{tmp}/runs",
          "--set", "training.learning_rate=1e30"],
         r"training of .*tiny.seed_0 stopped: the loss became NaN or Inf; no epoch had "
         r"completed \(a rerun starts afresh\)",
         tiny_config, marks=[pytest.mark.slow, TF]),
    # analyze.py
    case("analyze_nothing_to_do", "analyze", [], r"nothing to do: give --run RUN_DIR"),
    case("analyze_no_such_figure", "analyze", ["--figure", "1"], r"there is no figure 1"),
    case("analyze_run_dir_missing", "analyze", ["--run", "{tmp}/no_such_run"],
         r"run directory .*no_such_run does not exist", marks=TF),
    case("analyze_run_is_a_file", "analyze", ["--run", "{file}"],
         r"run directory .*a_file is not a directory", a_plain_file, marks=TF),
    case("analyze_no_export", "analyze", ["--run", "{run}"],
         r"run has no exported SavedModel \(expected .*export/<model_name>/<epoch>/"
         r"saved_model\.pb\)", run_without_export, marks=TF),
    case("analyze_corrupt_savedmodel", "analyze", ["--run", "{run}", "--images", "0"],
         r"saved_model\.pb is not a readable SavedModel", garbage_savedmodel, marks=TF),
    case("analyze_epoch_not_exported", "analyze", ["--run", "{run}", "--epoch", "7"],
         r"epoch 7 is not exported in .*run \(exported: 1", garbage_savedmodel, marks=TF),
    case("analyze_without_activity_signature", "analyze", ["--run", "{run}", "--images", "0"],
         r"SavedModel .* has no '\w+' signature \(it has: .*serve.*\); re-export it",
         serving_only_run, marks=TF),
    case("analyze_savedmodel_of_another_family", "analyze", ["--run", "{run}", "--images", "0"],
         r"SavedModel .*run.export.ei_model.\d+ is a standard network but .*run.config\.yaml "
         r"describes a standard_ei one", savedmodel_of_another_family, untouched=True, marks=TF),
    case("analyze_savedmodel_of_another_image_size", "analyze",
         ["--run", "{run}", "--images", "0"],
         r"SavedModel .*run.export.ei_model.\d+ takes 32x32 images but .*run.config\.yaml has "
         r"data\.image_size 64", savedmodel_of_another_image_size, untouched=True, marks=TF),
    case("analyze_env_runs_is_a_file", "analyze", ["--figure", "2"],
         r"EI_TF_RUNS=.*a_file is not a directory", env_runs_is_a_file, untouched=True),
]


def _tree(root: Path) -> dict:
    """{relative path: (mode, bytes)} of everything under root."""
    return {str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("program, argv, setup, expected, untouched", CASES)
def test_bad_input_gives_one_line_error(program, argv, setup, expected, untouched, tmp_path,
                                        monkeypatch, request, capsys):
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv("EI_TF_RUNS", raising=False)
    values = {"tmp": tmp_path, "repo": ROOT}
    if setup is not None:
        values.update(setup(tmp_path, monkeypatch, request))
    argv = [a.format(**values) for a in argv]
    main = train_main if program == "train" else analyze_main
    before = _tree(tmp_path)

    status = main(argv)

    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(expected, lines[0]), lines[0]
    if untouched:
        assert _tree(tmp_path) == before


def _unprivileged() -> list[str]:
    """A command prefix under which permission bits apply: none for a normal user; for root,
    ``setpriv`` without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def read_only_out(tmp):
    (tmp / "ro").mkdir()
    return ["train.py", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--out",
            str(tmp / "ro" / "runs"), "--smoke"], tmp / "ro"


def read_only_run(tmp, smoke_run):
    run = tmp / "ro" / "run"
    shutil.copytree(smoke_run.run_dir, run, ignore=shutil.ignore_patterns("analysis"))
    return ["analyze.py", "--run", str(run), "--images", "0"], run


def _set_directory_modes(root: Path, mode: int):
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(mode)


@pytest.mark.tf
@pytest.mark.parametrize("setup, expected", [
    (read_only_out, r"cannot create run directory .*ro.runs.quickstart.seed_0: Permission "
                    r"denied"),
    (read_only_run, r"ro.run.analysis: Permission denied"),
], ids=["train_read_only_out", "analyze_read_only_run"])
def test_read_only_output_directory(setup, expected, tmp_path, request):
    """A directory the user may not write to: one line, status 2, nothing written."""
    prefix = _unprivileged()
    argv, read_only = (setup(tmp_path) if setup is read_only_out
                       else setup(tmp_path, request.getfixturevalue("smoke_run")))
    _set_directory_modes(read_only, 0o555)
    before = _tree(tmp_path)
    try:
        proc = subprocess.run([*prefix, sys.executable, *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        after = _tree(tmp_path)
    finally:
        _set_directory_modes(read_only, 0o755)  # so that the tmp_path can be removed
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert len(errors) == 1 and re.search(expected, errors[0]), proc.stderr[-3000:]
    assert after == before


def test_entry_point_prints_no_traceback(tmp_path):
    """``python train.py --config <invalid YAML>`` from the repository root."""
    bad = _write(tmp_path / "broken.yaml", "model: [unclosed\n")
    proc = subprocess.run([sys.executable, "train.py", "--config", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "broken.yaml: not valid YAML" in lines[0]

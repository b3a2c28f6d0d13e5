"""The package as users install it: the wheel in a fresh virtual environment, run away from
the checkout (no ``configs/`` or ``ei_tf/`` in its working directory).

The fresh environment borrows this one's installed dependencies through a ``.pth`` line
instead of downloading TensorFlow again; ei-tf itself comes only from the wheel.
"""

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from conftest import ROOT
from ei_tf.config import ConfigError, find_config, load_config, shipped_configs
from ei_tf.runtime import NOTICES

CHECK_INSTALL = """
import sys
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement
import ei_tf
from ei_tf.config import shipped_configs

prefix = Path(sys.prefix).resolve()
assert prefix in Path(ei_tf.__file__).resolve().parents, ei_tf.__file__
assert prefix in shipped_configs().parents, shipped_configs()
for path in sorted(shipped_configs().rglob("*.yaml")):
    print("config", path.relative_to(shipped_configs()).as_posix())
for line in metadata.requires("ei-tf"):
    req = Requirement(line)
    if req.marker is None:  # not an extra: the tested version must lie in the declared range
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), (line, version)
print("installed", ei_tf.__file__)
"""


def _run(args, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


@pytest.mark.tf
@pytest.mark.slow
def test_wheel_in_a_fresh_environment_trains_and_analyses(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp_path / "dist"), str(ROOT)], env=env, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("ei_tf-*.whl")

    prefix = tmp_path / "venv"
    venv.create(prefix, with_pip=False)
    python = prefix / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                env=env).stdout.strip()
    borrowed = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site) / "borrowed.pth").write_text("".join(f"{p}\n" for p in borrowed))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          "--ignore-installed", "--no-index", str(wheel)], env=env)

    work = tmp_path / "work"
    work.mkdir()
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    installed = _run([str(python), "-c", CHECK_INSTALL], env=env, cwd=work).stdout
    shipped = [line.split()[1] for line in installed.splitlines() if line.startswith("config ")]
    assert sorted(shipped) == sorted(p.relative_to(ROOT / "configs").as_posix()
                             for p in (ROOT / "configs").rglob("*.yaml"))
    assert _run(["ei-train", "--help"], env=env, cwd=work).stdout.startswith("usage: ei-train ")
    assert _run(["ei-analyze", "--help"], env=env, cwd=work).stdout.startswith(
        "usage: ei-analyze ")

    # The shipped quick-start config by name; real CIFAR10 when there is a local copy.
    data = [] if os.environ.get("EI_TF_DATA_DIR") else ["--set", "data.dataset=synthetic"]
    train = _run(["ei-train", "--config", "quickstart", "--smoke", "--out", "runs", *data],
                 env=env, cwd=work)
    lines = train.stdout.splitlines()
    assert lines[0] == "run directory: runs/quickstart/seed_0", train.stdout
    assert lines[1].startswith("devices: CPU:0") or lines[1].startswith("devices: GPU:0")
    # Output to a pipe: one line per epoch, no progress bar.
    assert "\r" not in train.stdout and "\x1b" not in train.stdout
    assert any(" - val_accuracy: " in line for line in lines), train.stdout
    assert not NOTICES.search(train.stderr), train.stderr
    assert (work / "runs/quickstart/seed_0/export/ei_model/1/saved_model.pb").is_file()

    # Figure 2 needs the fig2_standard runs, which do not exist: exit 3 and the commands.
    figure = subprocess.run(["ei-analyze", "--figure", "2", "--runs", "runs"], env=env,
                            cwd=work, capture_output=True, text=True, timeout=300)
    assert figure.returncode == 3, figure.stderr
    assert figure.stdout.splitlines() == [f"ei-train --config fig2_standard --seed {s}"
                                          for s in range(5)]


@pytest.mark.parametrize("given, expected", [
    ("quickstart", "quickstart.yaml"),
    ("fig7_standard_inhpn.yaml", "fig7_standard_inhpn.yaml"),
    ("configs/fig7_standard_inhpn.yaml", "fig7_standard_inhpn.yaml"),
    ("workstation/fig2_standard", "workstation/fig2_standard.yaml"),
    ("configs/workstation", "workstation"),
])
def test_config_by_name_or_path_from_any_directory(given, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the shipped ones are found
    assert find_config(given) == shipped_configs() / expected


def test_a_local_file_wins_over_a_shipped_config_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "quickstart.yaml").write_text("description: mine\n")
    assert find_config("configs/quickstart.yaml") == Path("configs/quickstart.yaml")
    assert load_config("configs/quickstart.yaml").description == "mine"
    assert load_config("quickstart").description != "mine"


def test_an_unknown_name_says_where_names_come_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file fig99 does not exist, nor is it the "
                       r"name of a config shipped with ei-tf \(the names of .*configs"):
        load_config("fig99")


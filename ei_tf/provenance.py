"""What made a result: the code's version and commit, the software and the machine.

:func:`code_version` and :func:`software_versions` need no TensorFlow import (the protocol
runner and the analysis record them without starting TensorFlow); :func:`devices` names the
CPU model and, when TensorFlow is already imported, the GPUs it sees.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("ei-tf", "tensorflow", "keras", "numpy", "scipy", "tensorflow-datasets")


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def code_version(source_dir: Path | None = None) -> dict:
    """The ei-tf version and, when the code sits in a git checkout, its commit.

    ``dirty`` is true when tracked files differ from the commit (the result was not made by
    the commit alone). ``commit`` is None outside a checkout (an installed wheel).
    """
    source_dir = Path(source_dir or Path(__file__).resolve().parent.parent)
    record = {"ei_tf": _package_version("ei-tf"), "commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(source_dir), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True, timeout=30)
        status = subprocess.run(["git", "-C", str(source_dir), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return record
    record["commit"] = commit.stdout.strip()
    record["dirty"] = bool(status.stdout.strip())
    return record


def software_versions() -> dict:
    """Python and the versions of the packages that shape a result."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES[1:]:
        versions[name] = _package_version(name)
    return versions


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The /proc/cpuinfo flags by which oneDNN picks its kernels, and their names in Intel's manuals.
ONEDNN_ISA = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512_BF16",
              "amx_tile": "AMX", "amx_bf16": "AMX_BF16"}


def cpu_isa() -> list[str]:
    """The instruction-set extensions among :data:`ONEDNN_ISA` the CPU has (``/proc/cpuinfo``;
    empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return [name for flag, name in ONEDNN_ISA.items() if flag in flags]


def has_bfloat16_units() -> bool:
    """Whether the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX), where oneDNN runs a
    mixed_bfloat16 network's convolutions and matmuls in bfloat16 rather than emulating it."""
    return bool({"AVX512_BF16", "AMX_BF16"} & set(cpu_isa()))


def devices() -> dict:
    """The CPU model, its :func:`cpu_isa` (one model name covers machines with and without
    AVX-512, whose speeds differ) and core count, and the GPUs TensorFlow sees (if it is
    imported)."""
    record = {"cpu": cpu_model(), "cpu_isa": cpu_isa(), "cpu_cores": os.cpu_count(), "gpus": []}
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            record["gpus"].append(details.get("device_name", gpu.name))
    return record


def provenance() -> dict:
    """Everything above in one record, for ``completed.json`` and result files."""
    return {"code": code_version(), "software": software_versions(), "devices": devices()}


def describe_cpu(record: dict) -> str:
    """A :func:`devices` record's CPU as one name: ``"AMD EPYC (AVX2, AVX-512)"``; records
    written before the ISA was kept give the model name alone."""
    isa = record.get("cpu_isa")
    return f"{record['cpu']} ({', '.join(isa) or 'no AVX2'})" if isa is not None else record["cpu"]


def wall_seconds(launches: list) -> float:
    """Wall time of the ended launches of a run (``launches.json``): start to end, start-up
    included."""
    return sum(datetime.datetime.fromisoformat(x["ended_utc"]).timestamp()
               - datetime.datetime.fromisoformat(x["started_utc"]).timestamp()
               for x in launches if x.get("ended_utc"))

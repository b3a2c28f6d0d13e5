"""Selectivity and connectivity analysis of exported networks, one JSON per epoch.

For every exported epoch of a run (``<run>/export/<model_name>/<epoch>/``) the analysis

* records the time-averaged centre unit of every area and cell type (PN, IG, OG; E, I) for the
  432 gratings of Appendix C and for the test images of the run's dataset (all 10,000 CIFAR10
  test images by default), through the SavedModel's ``activity`` signature;
* computes per neuron gOSI (eq. 3, at the neuron's preferred spatial frequency and phase),
  orientation skewness (eq. 4, over all 432 gratings) and image skewness (eq. 4, over the test
  images); neurons where a measure is undefined (silent ones) are excluded and counted, and a
  neuron with a constant response scores skewness 0 or is excluded, as ``constant_skewness``
  says (:data:`ei_tf.analysis.selectivity.CONSTANT_SKEWNESS`; the count is stored either way);
* computes per connection type the density (fraction of channel-to-channel weights, after
  averaging |kernel| over the k x k positions, above exp(-10)), the all-entries density, and
  histograms of the log weights on fixed bins (Figure 3);

and writes ``<run>/analysis/epoch_<E>.json`` (layout in the comment after :data:`SCHEMA`), or
``<run>/analysis/constant_undefined/epoch_<E>.json`` for the non-default reading of constant
responses, so that results of the two readings never share a file; each is written
atomically. A stored result is reused while the SavedModel's fingerprint, the image count,
the reading and the identity of the test images' data (file hashes or tensorflow-datasets
version) are unchanged.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable, Optional, Union

import numpy as np

from ei_tf import layout
from ei_tf.analysis.connectivity import DENSITY_THRESHOLD, density, log_weights
from ei_tf.analysis.recording import (DEFAULT_BATCH_SIZE, AnalysisError, LoadedModel,
                                      check_signatures, record_responses, savedmodel_fingerprint,
                                      savedmodel_image_size)
from ei_tf.analysis.selectivity import (CONSTANT_SKEWNESS, DEFAULT_CONSTANT_SKEWNESS,
                                        constant_units, grating_gosi, skewness, summarize)
from ei_tf.config import ConfigError
from ei_tf.files import check_writable, write_json
from ei_tf.layout import read_metadata
from ei_tf.provenance import provenance
from ei_tf.stimuli import GRID_SHAPE, N_GRATINGS, N_ORIENT, make_gratings

SCHEMA = 1
# Fixed bins of log(weight) (natural log) for the Figure 3 histograms: comparable and summable
# across connection types, areas and networks.  The density threshold is at -10.
LOG_WEIGHT_BINS = np.arange(-60.0, 10.0 + 0.25, 0.5)
POPULATION_METRICS = ("gosi", "orientation_skewness", "image_skewness")
SKEWNESS_METRICS = ("orientation_skewness", "image_skewness")
# The reading of constant responses of results stored before it was recorded (NaN).
LEGACY_CONSTANT_SKEWNESS = "undefined"
CONNECTION_METRICS = ("density", "density_all")

# JSON layout of one epoch (``schema`` 1); NaN is written as null:
# {
#   "schema": 1, "epoch": E, "run_dir": str, "savedmodel": "export/<model>/<E>",
#   "fingerprint": "sha256:...", "config_name": str, "family": "standard" | "standard_ei",
#   "logs": {training logs at export} | null, "created": unix time,
#   "settings": {"images_requested": N | null, "n_images": int, "image_source": str,
#                "n_gratings": 432, "image_size": int, "unit": "centre", "time_average": true,
#                "density_threshold": exp(-10), "constant_skewness": "zero" | "undefined"},
#   "populations": {"area3_PN": {
#       "area": "area3", "cell_type": "PN", "n_neurons": C, "map_shape": [T, H, W],
#       "n_silent_gratings": int, "n_silent_images": int | null,
#       "gosi" | "orientation_skewness" | "image_skewness": {
#           "mean": float | null, "n_excluded": int, "values": [C floats | null],
#           "n_constant": int (skewness only: neurons with a constant response, scored 0 or
#                              excluded as settings.constant_skewness says)},
#           (image_skewness: "values" null and all neurons excluded when no test images)
#       "preferred": {"frequency_index": [C], "phase_index": [C], "orientation_index": [C]},
#       "tuning": [C x 18] responses over orientations at the preferred frequency and phase},
#     ...},
#   "connections": {"area3_PN_to_PN": {
#       "area": "area3", "pre": "PN", "post": "PN", "shape": [k, k, C_in, C_out],
#       "density": float | null, "density_all": float | null,  (null: no channels)
#       "log_weight_hist": {"counts": [len(bins) - 1], "below": int, "above": int, "zero": int},
#       "log_weight_hist_all": {same, over all k*k*C_in*C_out entries}},
#     ...},
#   "log_weight_bins": [edges],
#   "timing": {"load_s", "gratings_s", "images_s", "metrics_s", "total_s"},
#   "provenance": {"code", "software", "devices" of the analysis (ei_tf.provenance),
#                  "data": identity of the test images (ei_tf.data.cifar10_identity)}
# }


# --------------------------------------------------------------------------------------------
# Locating exports


def run_config(run_dir: Path):
    """The run's ``config.yaml`` through the schema, or None when there is none (the
    SavedModel's own metadata then describes the network); AnalysisError when it is invalid."""
    if not (Path(run_dir) / layout.CONFIG).is_file():
        return None
    try:
        return layout.run_config(run_dir)
    except (OSError, ConfigError) as err:
        raise AnalysisError(f"{err} (a config written by another version of ei-tf?)") from None


def find_exports(run_dir) -> dict[int, Path]:
    """``{epoch: SavedModel dir}`` of a run, ascending; raises :class:`AnalysisError` when the
    run directory or its export is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AnalysisError(f"run directory {run_dir} "
                            f"{'is not a directory' if run_dir.exists() else 'does not exist'}")
    names = layout.model_names(run_dir)
    cfg = run_config(run_dir)
    if cfg is not None and cfg.export.model_name in names:
        names = [cfg.export.model_name]
    if len(names) > 1:
        raise AnalysisError(f"{run_dir / layout.EXPORT} holds several models "
                            f"({', '.join(names)}) and {run_dir / layout.CONFIG} names none "
                            f"of them")
    exports = layout.versions(layout.export_dir(run_dir, names[0])) if names else {}
    if not exports:
        raise AnalysisError(f"{run_dir} has no exported SavedModel (expected "
                            f"{run_dir / layout.EXPORT}/<model_name>/<epoch>/saved_model.pb)")
    return exports


def _check_reading(constant_skewness: str) -> None:
    if constant_skewness not in CONSTANT_SKEWNESS:
        raise AnalysisError(f"constant_skewness must be one of {', '.join(CONSTANT_SKEWNESS)}, "
                            f"got {constant_skewness!r}")


def _reading_dir(constant_skewness: str) -> str:
    """The analysis subdirectory of a reading of constant responses: none for the default,
    ``constant_<reading>`` otherwise."""
    _check_reading(constant_skewness)
    return "" if constant_skewness == DEFAULT_CONSTANT_SKEWNESS else (
        f"constant_{constant_skewness}")


def result_path(run_dir, epoch: int, constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> Path:
    """``<run>/analysis/epoch_<E>.json`` (``analysis/constant_<reading>/`` for the other
    reading)."""
    return layout.analysis_path(run_dir, epoch, _reading_dir(constant_skewness))


def check_fits_run(run_dir: Path, savedmodel_dir: Path) -> None:
    """Raise :class:`AnalysisError` when the SavedModel is of another family or takes another
    image size than the run's ``config.yaml`` describes (a SavedModel copied into the wrong
    run)."""
    run_cfg = run_config(run_dir)
    if run_cfg is None:
        return
    family = run_cfg.model.family
    saved = (read_metadata(savedmodel_dir).get("config") or {}).get("model") or {}
    if family and saved.get("family") and saved["family"] != family:
        raise AnalysisError(f"SavedModel {savedmodel_dir} is a {saved['family']} network but "
                            f"{run_dir / 'config.yaml'} describes a {family} one; analyse it "
                            f"from its own run directory")
    size = run_cfg.data.image_size
    taken = savedmodel_image_size(savedmodel_dir)
    if size and taken and taken != size:
        raise AnalysisError(f"SavedModel {savedmodel_dir} takes {taken}x{taken} images but "
                            f"{run_dir / 'config.yaml'} has data.image_size {size}; analyse it "
                            f"from its own run directory")


# --------------------------------------------------------------------------------------------
# Stimuli


def _run_config(run_dir: Path, savedmodel_dir: Path) -> dict:
    config = read_metadata(savedmodel_dir).get("config")
    if isinstance(config, dict):
        return config
    cfg = run_config(run_dir)
    return {} if cfg is None else cfg.to_dict()


def images_identity(config: dict, n_images: Optional[int] = None,
                       data_dir: Optional[str] = None) -> dict:
    """The identity of the test images :func:`load_test_images` gives (without loading them):
    the SHA-256 of CIFAR10's ``test_batch`` or the tensorflow-datasets version."""
    from ei_tf import data as data_mod

    data_cfg = dict(config.get("data") or {})
    dataset = data_cfg.get("dataset", "cifar10")
    if n_images == 0:
        return {"dataset": None}
    if dataset == "cifar10":
        ns = SimpleNamespace(dataset="cifar10", data_dir=data_dir or data_cfg.get("data_dir", ""))
        return data_mod.cifar10_identity(data_mod.resolve_data_dir(ns), test_only=True)
    if dataset == "imagenet":
        return data_mod.tfds_identity("imagenet2012")
    return {"dataset": dataset}


def load_test_images(config: dict, n_images: Optional[int] = None,
                     data_dir: Optional[str] = None) -> tuple[np.ndarray, str]:
    """The first ``n_images`` (all when None) test images of a run's dataset, raw 0-255 pixels.

    CIFAR10: the official ``test_batch`` from ``data_dir``, else the run's ``data.data_dir``,
    else the ``EI_TF_DATA_DIR`` environment variable, else tensorflow-datasets (see
    :func:`ei_tf.data.resolve_data_dir`).  Synthetic: the run's synthetic test split.
    Returns ``(images [N, H, W, 3], description)``.
    """
    from ei_tf import data as data_mod

    data_cfg = dict(config.get("data") or {})
    dataset = data_cfg.get("dataset", "cifar10")
    if n_images == 0:
        return np.zeros((0, 1, 1, 3), np.uint8), "none (image skewness skipped)"
    if dataset == "cifar10":
        ns = SimpleNamespace(dataset="cifar10", data_dir=data_dir or data_cfg.get("data_dir", ""))
        directory = data_mod.resolve_data_dir(ns)
        images = data_mod.load_cifar10_test(directory)[0]
        source = "cifar10 test set"
    elif dataset == "synthetic":
        size = int(data_cfg.get("image_size", 32))
        count = int(data_cfg.get("test_examples") or data_mod.SYNTHETIC_DEFAULT_TEST)
        images = data_mod.make_synthetic(count, size, int(data_cfg.get("num_classes", 10)), 1)[0]
        source = "synthetic test set"
    elif dataset == "imagenet":
        images, total = _imagenet_validation_images(data_mod, data_cfg, data_dir, n_images)
        return images, f"imagenet validation set (first {len(images)} of {total})"
    else:
        raise AnalysisError(f"image skewness for '{dataset}' runs is not supported "
                            f"(cifar10, imagenet and synthetic are); use --images 0 to skip it")
    total = len(images)
    if n_images is not None:
        if n_images > total:
            raise AnalysisError(f"--images {n_images} exceeds the {total} images of the "
                                f"{source}")
        images = images[:n_images]
    return images, f"{source} (first {len(images)} of {total})"


def _imagenet_validation_images(data_mod, data_cfg: dict, data_dir, n_images):
    """ImageNet validation images through the run's evaluation pipeline (shorter side to
    144/128 of the size, centre crop), rounded to uint8 so 50,000 of them fit in memory."""
    from ei_tf.config import DataConfig

    fields = {k: v for k, v in data_cfg.items() if k in DataConfig.__dataclass_fields__}
    if data_dir:
        fields["data_dir"] = data_dir
    datasets = data_mod.load_datasets(DataConfig(**fields), seed=0)
    wanted = datasets.test_size if n_images is None else n_images
    if wanted > datasets.test_size:
        raise AnalysisError(f"--images {wanted} exceeds the {datasets.test_size} images of the "
                            f"imagenet validation set")
    batches, count = [], 0
    for images, _ in datasets.test():
        if count >= wanted:
            break
        batch = np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8)[:wanted - count]
        batches.append(batch)
        count += len(batch)
    return np.concatenate(batches), datasets.test_size


# --------------------------------------------------------------------------------------------
# Metrics


def _clean(values) -> list:
    """Floats for JSON, NaN / inf as None."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, float).ravel()]


def _nan_to_none(value):
    return float(value) if value is not None and math.isfinite(value) else None


def _json_safe(value):
    """Nested dicts/lists with non-finite floats replaced by None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _measure(values: np.ndarray, n_constant: Optional[int] = None) -> dict:
    summary = summarize(values)
    out = {"mean": _nan_to_none(summary.mean), "n_excluded": summary.n_excluded,
           "values": _clean(values)}
    if n_constant is not None:
        out["n_constant"] = int(n_constant)
    return out


def _skewness_measure(responses: np.ndarray, constant_skewness: str) -> dict:
    return _measure(skewness(responses, axis=0, constant=constant_skewness),
                    constant_units(responses, axis=0).sum())


def population_metrics(grating_responses: np.ndarray, gratings,
                       image_responses: Optional[np.ndarray],
                       constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> dict:
    """Per-neuron selectivity of one population from its centre-unit responses.

    Args:
        grating_responses: ``[432, C]`` time-averaged responses to the gratings.
        gratings: :class:`ei_tf.stimuli.Gratings` in the same order.
        image_responses: ``[N, C]`` responses to the test images, or None to skip.
        constant_skewness: the skewness of a neuron with a constant response, ``"zero"`` or
            ``"undefined"`` (:data:`ei_tf.analysis.selectivity.CONSTANT_SKEWNESS`).
    """
    responses = np.asarray(grating_responses, np.float64)
    n_neurons = responses.shape[1]
    if n_neurons == 0:  # a population configured with no channels
        empty = {"mean": None, "n_excluded": 0, "values": []}
        return {"n_neurons": 0, "n_silent_gratings": 0, "n_silent_images": None,
                **{m: dict(empty) for m in POPULATION_METRICS},
                "preferred": {"frequency_index": [], "phase_index": [], "orientation_index": []},
                "tuning": []}
    best = np.argmax(responses, axis=0)
    freq_idx, phase_idx, orient_idx = np.unravel_index(best, GRID_SHAPE)
    grid = gratings.as_grid(responses)  # [F, P, O, C]
    tuning = grid[freq_idx, phase_idx, :, np.arange(n_neurons)]  # [C, O]
    out = {
        "n_neurons": int(n_neurons),
        "n_silent_gratings": int(np.all(responses == 0, axis=0).sum()),
        "n_silent_images": None,
        "gosi": _measure(grating_gosi(responses, gratings)),
        "orientation_skewness": _skewness_measure(responses, constant_skewness),
        "image_skewness": {"mean": None, "n_excluded": int(n_neurons), "values": None},
        "preferred": {"frequency_index": freq_idx.tolist(), "phase_index": phase_idx.tolist(),
                      "orientation_index": orient_idx.tolist()},
        "tuning": [[float(v) for v in row] for row in tuning.reshape(n_neurons, N_ORIENT)],
    }
    if image_responses is not None and len(image_responses):
        image_responses = np.asarray(image_responses, np.float64)
        out["n_silent_images"] = int(np.all(image_responses == 0, axis=0).sum())
        out["image_skewness"] = _skewness_measure(image_responses, constant_skewness)
    return out


def _histogram(log_values: np.ndarray, n_zero: int) -> dict:
    counts, _ = np.histogram(log_values, bins=LOG_WEIGHT_BINS)
    return {"counts": counts.astype(int).tolist(),
            "below": int((log_values < LOG_WEIGHT_BINS[0]).sum()),
            "above": int((log_values > LOG_WEIGHT_BINS[-1]).sum()),
            "zero": int(n_zero)}


def connection_metrics(kernel: np.ndarray) -> dict:
    """Density (channel-to-channel and all entries) and log-weight histograms of one kernel."""
    kernel = np.asarray(kernel, np.float64)
    channel = np.abs(kernel).mean(axis=(0, 1))
    empty = kernel.size == 0  # a population with no channels: density undefined
    return {
        "shape": list(kernel.shape),
        "density": None if empty else density(kernel, DENSITY_THRESHOLD, spatial_average=True),
        "density_all": None if empty else density(kernel, DENSITY_THRESHOLD,
                                                  spatial_average=False),
        "log_weight_hist": _histogram(log_weights(kernel, True), int((channel == 0).sum())),
        "log_weight_hist_all": _histogram(log_weights(kernel, False), int((kernel == 0).sum())),
    }


_CELL_ORDER = ("PN", "IG", "OG", "E", "I")
_CONNECTION_ORDER = ("PN_to_PN", "IG_to_PN", "OG_to_PN", "PN_to_IG", "PN_to_OG",
                     "E_to_E", "I_to_E", "E_to_I", "I_to_I")


def _area_number(area: str) -> int:
    digits = area[len("area"):]
    return int(digits) if digits.isdigit() else 0


def _order(key: str, kinds: tuple) -> tuple:
    """Sort key: area number, then the paper's order of cell / connection types."""
    area, kind = key.split("_", 1)
    return (_area_number(area), kinds.index(kind) if kind in kinds else len(kinds), key)


def _split_population(key: str) -> tuple[str, str]:
    area, cell_type = key.rsplit("_", 1)
    return area, cell_type


def _split_connection(key: str) -> tuple[str, str, str]:
    area, rest = key.split("_", 1)
    pre, post = rest.split("_to_")
    return area, pre, post


# --------------------------------------------------------------------------------------------
# One SavedModel


def analyze_savedmodel(savedmodel_dir, images: Optional[np.ndarray] = None,
                       batch_size: int = DEFAULT_BATCH_SIZE, verbose: bool = True,
                       stream=None, model: Optional[LoadedModel] = None,
                       constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> dict:
    """All metrics of one SavedModel (the ``populations``, ``connections``, ``settings``-free
    part of the epoch JSON, plus ``timing``).

    Args:
        savedmodel_dir: an exported SavedModel with ``activity`` and ``connectivity``.
        images: raw test images ``[N, H, W, 3]`` for the image skewness; None or empty skips it.
        model: an already loaded :class:`LoadedModel` of ``savedmodel_dir`` (optional).
        constant_skewness: the skewness of constant neurons (:func:`population_metrics`).
    """
    stream = stream if stream is not None else sys.stderr
    t0 = time.perf_counter()
    model = model or LoadedModel(savedmodel_dir)
    t1 = time.perf_counter()
    gratings = make_gratings(model.image_size)
    grating_resp = record_responses(model, gratings.images, "gratings", batch_size, verbose,
                                    stream)
    t2 = time.perf_counter()
    image_resp = None
    if images is not None and len(images):
        if tuple(images.shape[1:]) != model.input_shape:
            raise AnalysisError(f"test images have shape {tuple(images.shape[1:])} but "
                                f"{savedmodel_dir} takes {model.input_shape}")
        image_resp = record_responses(model, images, "test images", batch_size, verbose, stream)
    t3 = time.perf_counter()

    populations = {}
    for key in sorted(model.populations, key=lambda k: _order(k, _CELL_ORDER)):
        area, cell_type = _split_population(key)
        entry = {"area": area, "cell_type": cell_type,
                 "map_shape": list(model.activity_shapes[key][:3])}
        entry.update(population_metrics(grating_resp[key], gratings,
                                        None if image_resp is None else image_resp[key],
                                        constant_skewness))
        populations[key] = entry
    connections = {}
    kernels = model.connectivity()
    for key in sorted(kernels, key=lambda k: _order(k, _CONNECTION_ORDER)):
        kernel = kernels[key]
        area, pre, post = _split_connection(key)
        connections[key] = {"area": area, "pre": pre, "post": post, **connection_metrics(kernel)}
    t4 = time.perf_counter()
    return {
        "image_size": model.image_size,
        "populations": populations,
        "connections": connections,
        "log_weight_bins": LOG_WEIGHT_BINS.tolist(),
        "timing": {"load_s": t1 - t0, "gratings_s": t2 - t1, "images_s": t3 - t2,
                   "metrics_s": t4 - t3, "total_s": t4 - t0},
    }


# --------------------------------------------------------------------------------------------
# A run: every exported epoch, cached


@dataclass
class EpochAnalysis:
    """One epoch's analysis: the JSON dict, its file and whether it came from the cache."""

    epoch: int
    path: Path
    result: dict
    cached: bool


def load_result(path) -> Optional[dict]:
    """A stored epoch JSON, or None when absent, unreadable or of another schema."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def _reading(result: dict) -> str:
    return result.get("settings", {}).get("constant_skewness", LEGACY_CONSTANT_SKEWNESS)


def _reusable(stored: Optional[dict], fingerprint: str, images_requested,
              constant_skewness: str, data_identity: dict) -> bool:
    return (stored is not None and stored.get("fingerprint") == fingerprint
            and stored.get("settings", {}).get("images_requested") == images_requested
            and _reading(stored) == constant_skewness
            and (stored.get("provenance") or {}).get("data") == data_identity)


def _zero_constant_skewness(result: dict) -> dict:
    """A result of the reading "undefined" under the reading "zero": a neuron without a
    skewness value has a constant response (the only case where eq. 4 has none), so it
    scores 0."""
    out = json.loads(json.dumps(result))
    for entry in out.get("populations", {}).values():
        for metric in SKEWNESS_METRICS:
            measure = entry.get(metric) or {}
            if measure.get("values") is None:
                continue
            flat = [v is None for v in measure["values"]]
            values = np.array([0.0 if v is None else v for v in measure["values"]])
            measure.update(_measure(values, sum(flat)))
    out.setdefault("settings", {})["constant_skewness"] = "zero"
    return out


def load_stored(run_dir, epoch: int,
                constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> Optional[dict]:
    """The stored analysis of ``epoch`` under the given reading of constant responses, or
    None. A result stored before the reading was recorded (``analysis/epoch_<E>.json``, constant
    neurons NaN) serves both readings: as it is for "undefined", rescored for "zero"."""
    stored = load_result(result_path(run_dir, epoch, constant_skewness))
    if stored is not None and _reading(stored) == constant_skewness:
        return stored
    legacy = load_result(result_path(run_dir, epoch))
    if legacy is None or "constant_skewness" in legacy.get("settings", {}):
        return None
    return legacy if constant_skewness == LEGACY_CONSTANT_SKEWNESS else (
        _zero_constant_skewness(legacy))


def stored_epochs(run_dir, constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> list[int]:
    """Epochs with a stored result file for the reading (or an older one, see
    :func:`load_stored`), ascending."""
    return sorted(set(layout.analysed_epochs(run_dir, _reading_dir(constant_skewness)))
                  | set(layout.analysed_epochs(run_dir)))


def analyze_run(run_dir, epoch: Union[None, int, Iterable[int]] = None,
                n_images: Optional[int] = None, data_dir: Optional[str] = None,
                batch_size: int = DEFAULT_BATCH_SIZE, force: bool = False,
                verbose: bool = True, stream=None,
                constant_skewness: str = DEFAULT_CONSTANT_SKEWNESS) -> list[EpochAnalysis]:
    """Analyse every exported epoch of ``run_dir`` (or the given one(s)), reusing stored results.

    Args:
        run_dir: a run directory (``config.yaml``, ``export/<model_name>/<epoch>/``).
        epoch: None for all exported epochs, an epoch number, or several.
        n_images: the first N test images for the image skewness (None: all; 0: skip).
        data_dir: overrides the run's data directory (CIFAR10 python-layout directory).
        force: recompute even when a stored result is valid.
        verbose: progress lines on ``stream`` (stderr by default).
        constant_skewness: the skewness of neurons with a constant response, ``"zero"``
            (default) or ``"undefined"``; results are stored per reading (:func:`result_path`).

    Raises:
        AnalysisError: the run directory, its export, the requested epoch or a required
            signature is missing; the test images cannot be provided.
        ei_tf.data.DataError: the CIFAR10 files are missing or malformed.
    """
    stream = stream if stream is not None else sys.stderr
    _check_reading(constant_skewness)
    run_dir = Path(run_dir)
    exports = find_exports(run_dir)
    if epoch is None:
        epochs = list(exports)
    else:
        epochs = [int(epoch)] if isinstance(epoch, (int, np.integer)) else [int(e) for e in epoch]
        missing = [e for e in epochs if e not in exports]
        if missing:
            raise AnalysisError(f"epoch {missing[0]} is not exported in {run_dir} (exported: "
                                f"{', '.join(map(str, exports))})")
    for e in epochs:  # fail before any long computation
        check_signatures(exports[e])
        check_fits_run(run_dir, exports[e])

    images, source = None, None
    results = []
    for e in epochs:
        sm_dir = exports[e]
        path = result_path(run_dir, e, constant_skewness)
        fingerprint = savedmodel_fingerprint(sm_dir)
        config = _run_config(run_dir, sm_dir)
        data_identity = images_identity(config, n_images, data_dir)
        stored = None if force else load_result(path)
        if _reusable(stored, fingerprint, n_images, constant_skewness, data_identity):
            stored["run_dir"] = str(run_dir)  # the run may have been moved or copied
            results.append(EpochAnalysis(e, path, stored, cached=True))
            continue
        if images is None:
            check_writable(path.parent)  # before the long computation
            images, source = load_test_images(config, n_images, data_dir)
        if verbose:
            stream.write(f"analysing {sm_dir}\n")
            stream.flush()
        metrics = analyze_savedmodel(sm_dir, images, batch_size, verbose, stream,
                                     constant_skewness=constant_skewness)
        meta = read_metadata(sm_dir)
        result = {
            "schema": SCHEMA,
            "epoch": e,
            "run_dir": str(run_dir),
            "savedmodel": str(sm_dir.relative_to(run_dir)),
            "fingerprint": fingerprint,
            "config_name": config.get("name"),
            "family": (config.get("model") or {}).get("family"),
            "logs": _json_safe(meta.get("logs")),
            "created": time.time(),
            "settings": {
                "images_requested": n_images,
                "n_images": int(len(images)),
                "image_source": source,
                "n_gratings": N_GRATINGS,
                "image_size": metrics.pop("image_size"),
                "unit": "centre",
                "time_average": True,
                "density_threshold": DENSITY_THRESHOLD,
                "constant_skewness": constant_skewness,
            },
            **metrics,
            "provenance": {**provenance(), "data": data_identity},
        }
        write_json(path, result, allow_nan=False, separators=(",", ":"))
        results.append(EpochAnalysis(e, path, result, cached=False))
    return results

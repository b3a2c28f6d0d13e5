"""TensorBoard summaries of each exported epoch's analysis (ei_tf.analysis.summaries), written
by a smoke run of the quick-start config through train.py."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ei_tf.analysis.pipeline import POPULATION_METRICS
from ei_tf.analysis.summaries import SUMMARY_DIR, AnalysisSummaries
from ei_tf.config import config_from_dict, parse_yaml

pytestmark = pytest.mark.tf


def read_events(logdir) -> tuple[dict, dict]:
    """``({tag: {step: ndarray}}, {tag: plugin name})`` of every event file in ``logdir``."""
    values, plugins = {}, {}
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                values.setdefault(value.tag, {})[event.step] = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name:
                    plugins[value.tag] = value.metadata.plugin_data.plugin_name
    return values, plugins


def _stored(run_dir: Path, epoch: int) -> dict:
    return json.loads((run_dir / "analysis" / f"epoch_{epoch}.json").read_text())


def test_each_export_is_summarized_as_its_analysis(quickstart_smoke):
    values, plugins = read_events(quickstart_smoke / SUMMARY_DIR)
    assert values, "no summaries written"
    for epoch in (0, 1):  # the smoke run's exports
        result = _stored(quickstart_smoke, epoch)
        for key, entry in result["connections"].items():
            assert values[f"density/{key}"][epoch] == pytest.approx(entry["density"], abs=1e-6)
            hist = values[f"log_weight/{key}"][epoch]
            assert hist.shape[1] == 3 and np.all(hist[:, 1] > hist[:, 0])
            assert hist[:, 2].sum() == sum(entry["log_weight_hist"]["counts"])
            assert plugins[f"log_weight/{key}"] == "histograms"
        means = 0
        for key, entry in result["populations"].items():
            for metric in POPULATION_METRICS:
                if entry[metric]["mean"] is not None:
                    means += 1
                    assert values[f"{metric}/{key}"][epoch] == pytest.approx(
                        entry[metric]["mean"], abs=1e-6)
        assert means  # some population responds (silent ones have no mean to write)
    assert plugins["density/area3_PN_to_PN"] == "scalars"
    assert {tag.split("/")[0] for tag in values} == {"density", "log_weight", *POPULATION_METRICS}


def test_without_the_selectivity_only_connections_are_summarized(quickstart_smoke, tmp_path):
    cfg = config_from_dict(parse_yaml((quickstart_smoke / "config.yaml").read_text()))
    cfg = dataclasses.replace(cfg, export=dataclasses.replace(cfg.export,
                                                              tensorboard_analysis=False))
    savedmodel = quickstart_smoke / "export" / cfg.export.model_name / "1"
    AnalysisSummaries(tmp_path, cfg)(savedmodel, 1)
    values, _ = read_events(tmp_path / SUMMARY_DIR)
    assert {tag.split("/")[0] for tag in values} == {"density", "log_weight"}
    for key, entry in _stored(quickstart_smoke, 1)["connections"].items():
        assert values[f"density/{key}"][1] == pytest.approx(entry["density"], abs=1e-6)
    assert not (tmp_path / "analysis").exists()


def test_summary_settings_do_not_make_another_run(tmp_path):
    """Changing the summaries of a run (e.g. turning the selectivity off to resume faster)
    resumes it: they do not change what it computes."""
    from ei_tf.config import ConfigError, load_config
    from ei_tf.training import prepare_run_dir

    cfg = load_config()
    prepare_run_dir(tmp_path, cfg)
    export = dataclasses.replace(cfg.export, tensorboard_analysis=False, tensorboard_images=100)
    prepare_run_dir(tmp_path, dataclasses.replace(cfg, export=export))
    saved = config_from_dict(parse_yaml((tmp_path / "config.yaml").read_text()))
    assert (saved.export.tensorboard_analysis, saved.export.tensorboard_images) == (False, 100)
    with pytest.raises(ConfigError, match="different config"):
        prepare_run_dir(tmp_path, dataclasses.replace(
            cfg, export=dataclasses.replace(export, model_name="other")))

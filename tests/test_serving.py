"""Requests for TF Serving: the tensors a gRPC ``PredictRequest`` (tensorflow-serving-api) or a
REST body carries give, through the SavedModel's ``serving_default``, the probabilities of a
direct call on the same CIFAR10 images."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from ei_tf.serving import INPUT, SIGNATURE, as_images, predict_request, rest_body

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def images():
    from ei_tf.data import load_cifar10_test

    data_dir = os.environ.get("EI_TF_DATA_DIR", "")
    if not data_dir:
        pytest.skip("EI_TF_DATA_DIR is not set (real CIFAR10 test images needed)")
    return load_cifar10_test(data_dir)[0][:3]


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """``serving_default`` of a SavedModel exported by ei_tf (a freshly built Standard
    network), loaded as TF Serving loads it."""
    import keras

    from ei_tf.config import load_config
    from ei_tf.export import export_savedmodel
    from ei_tf.model import build_model

    cfg = load_config(sets=["model.pn_channels=[8,16]", "model.ig_channels=[2,4]",
                            "model.og_channels=[2,4]"])
    keras.utils.set_random_seed(1)
    path = export_savedmodel(build_model(cfg), tmp_path_factory.mktemp("export") / "1", cfg, 1)
    return tf.saved_model.load(str(path)).signatures[SIGNATURE]


def test_the_signature_takes_the_input_the_requests_name(serve):
    _, inputs = serve.structured_input_signature
    assert list(inputs) == [INPUT]


def test_grpc_predict_request_carries_the_images(images, serve):
    pytest.importorskip("tensorflow_serving.apis.predict_pb2",
                        reason="tensorflow-serving-api is not installed (pip install "
                        "'ei-tf[serving]')")
    request = predict_request(images, "ei_model", version=7)
    assert request.model_spec.name == "ei_model"
    assert request.model_spec.signature_name == SIGNATURE
    assert request.model_spec.version.value == 7
    carried = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    np.testing.assert_array_equal(carried[INPUT], images.astype(np.float32))
    served = serve(**{k: tf.constant(v) for k, v in carried.items()})["probabilities"].numpy()
    direct = serve(image=tf.constant(images, tf.float32))["probabilities"].numpy()
    np.testing.assert_array_equal(served, direct)
    assert served.shape == (len(images), 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)


def test_rest_body_carries_the_images(images, serve):
    body = json.loads(json.dumps(rest_body(images[0])))  # one image, through JSON text
    assert body["signature_name"] == SIGNATURE
    instances = np.asarray(body["instances"], np.float32)
    np.testing.assert_array_equal(instances, images[:1].astype(np.float32))
    served = serve(image=tf.constant(instances))["probabilities"].numpy()
    direct = serve(image=tf.constant(images[:1], tf.float32))["probabilities"].numpy()
    np.testing.assert_array_equal(served, direct)


@pytest.mark.parametrize("shape", [(32, 32), (2, 32, 32, 4), (3,)])
def test_a_wrong_image_shape_is_refused(shape):
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        as_images(np.zeros(shape))

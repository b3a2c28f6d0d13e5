"""Requests to an ei-tf SavedModel served by TensorFlow Serving (REST and gRPC).

Every export's ``serving_default`` signature (design.md section 5) takes ``image``: float32
``[N, H, W, 3]`` raw pixels in 0-255 (the model standardizes them itself) and returns
``logits`` and ``probabilities`` ``[N, classes]``. :func:`rest_body` is the JSON body of
``POST /v1/models/<name>:predict``; :func:`predict_request` the gRPC ``PredictRequest`` of the
``tensorflow-serving-api`` package (``pip install "ei-tf[serving]"``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

SIGNATURE = "serving_default"
INPUT = "image"


def as_images(images) -> np.ndarray:
    """``images`` (one ``[H, W, 3]`` image or a batch ``[N, H, W, 3]``, any numeric dtype) as
    a float32 batch; raises ValueError for another shape."""
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3] or one [H, W, 3] RGB image, got shape "
                         f"{list(np.shape(images))}")
    return batch


def rest_body(images, signature: str = SIGNATURE) -> dict:
    """The JSON body (row format, ``instances``) of a REST ``:predict`` request; the answer is
    ``{"predictions": [{"logits": [...], "probabilities": [...]}, ...]}``, one per image."""
    return {"signature_name": signature, "instances": as_images(images).tolist()}


def predict_request(images, model_name: str, signature: str = SIGNATURE,
                    version: Optional[int] = None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``images`` to the model
    served as ``model_name`` (``version``: an exported epoch; default: the highest)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT].CopyFrom(tf.make_tensor_proto(as_images(images)))
    return request

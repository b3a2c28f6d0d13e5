"""Input pipelines: CIFAR10, ImageNet, shuffled-label CIFAR10 and a synthetic set.

Entry point: :func:`load_datasets` (``DataConfig`` and a seed in, :class:`Datasets` out).

Conventions shared by every dataset (design.md sections 3-4):

* Images are raw float32 pixels in ``[0, 255]`` with shape ``[H, W, 3]``; labels are int32.
  Preprocessing (per-image standardization or mean subtraction) lives inside the model, so a
  served model takes raw pixels as well.
* The training order and the augmentation are deterministic functions of ``(seed, epoch)``.
  Epoch ``e`` under seed ``s`` is shuffled by a stateless permutation keyed by ``(s, e)``; each
  example's augmentation is drawn by stateless random ops keyed by ``(s, e, example index)``.
  No stateful ``Dataset.shuffle`` or stateful random op is involved, so ``train(e)`` yields the
  same batches in every process (with the same TensorFlow version), and a resumed run sees
  exactly the data an uninterrupted run would have seen.
* :meth:`Datasets.train_for_fit` chains the epochs ``initial_epoch, initial_epoch + 1, ...``
  into one stream for ``model.fit(..., steps_per_epoch=datasets.steps_per_epoch)``; Keras keeps
  the iterator across epochs when ``steps_per_epoch`` is given, so Keras epoch ``k`` receives
  exactly the batches of ``train(initial_epoch + k)``.

Where the data come from (:func:`resolve_data_dir`): ``data.data_dir`` in the config, else the
``EI_TF_DATA_DIR`` environment variable, else tensorflow-datasets' own download/cache.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from .files import sha256_file

ENV_DATA_DIR = "EI_TF_DATA_DIR"

CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_SIZE = 32
CIFAR10_CLASSES = 10
IMAGENET_CLASSES = 1000

# ImageNet preprocessing (design.md section 4).
IMAGENET_AREA_RANGE = (0.05, 1.0)
IMAGENET_ASPECT_RANGE = (3.0 / 4.0, 4.0 / 3.0)
IMAGENET_MAX_ATTEMPTS = 100
IMAGENET_EVAL_RESIZE_RATIO = 144.0 / 128.0  # shorter side before the centre crop
IMAGENET_SHUFFLE_BUFFER = 10_000

SYNTHETIC_DEFAULT_TRAIN = 256
SYNTHETIC_DEFAULT_TEST = 128

# Independent random streams derived from the run seed.
_STREAM_SHUFFLE = 1
_STREAM_AUGMENT = 2
_STREAM_LABELS = 3
_STREAM_SYNTHETIC = 4

_HOW_TO = ("set data.data_dir in the config or the EI_TF_DATA_DIR environment variable, or "
           "leave both unset to use tensorflow-datasets")


class DataError(ValueError):
    """A data problem the user can fix; the one-line message says what was looked for and how
    to provide it."""


# --------------------------------------------------------------------------------------------
# Locating the data


def _configured_dir(data_cfg) -> tuple[Optional[Path], str]:
    """(directory, where it was configured) or (None, '') when neither source is set."""
    if data_cfg.data_dir:
        return Path(data_cfg.data_dir).expanduser(), "data.data_dir"
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        return Path(env).expanduser(), ENV_DATA_DIR
    return None, ""


def resolve_data_dir(data_cfg) -> Optional[Path]:
    """The data directory of a run, or None meaning "use tensorflow-datasets".

    ``data_cfg.data_dir`` if set, else the ``EI_TF_DATA_DIR`` environment variable, else None.
    A configured directory that does not exist is a :class:`DataError`. For CIFAR10 the
    directory may be the official ``cifar-10-batches-py`` directory itself or a directory that
    contains it; the returned path is the ``cifar-10-batches-py`` directory in the latter case.
    For ImageNet the directory is tensorflow-datasets' ``manual_dir`` (the ILSVRC2012 tars).
    """
    path, source = _configured_dir(data_cfg)
    if path is None:
        return None
    if data_cfg.dataset == "cifar10":
        if not path.is_dir():
            raise DataError(f"CIFAR10 directory {path} (from {source}) does not exist; expected "
                            f"the official python-version '{CIFAR10_DIRNAME}' directory or a "
                            f"directory containing it; {_HOW_TO}")
        if (path / CIFAR10_DIRNAME).is_dir():
            return path / CIFAR10_DIRNAME
        return path
    if not path.is_dir():
        what = "ImageNet manual_dir" if data_cfg.dataset == "imagenet" else "data directory"
        raise DataError(f"{what} {path} (from {source}) does not exist; {_HOW_TO}")
    return path


# --------------------------------------------------------------------------------------------
# CIFAR10 arrays


def _read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickle of the python-version layout -> (uint8 [N, 32, 32, 3], int32 [N]).

    Unpickling can run arbitrary code: read only files you trust.
    """
    bad = f"malformed CIFAR10 batch file {path}"
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as err:  # any unpickling failure is a bad file
        raise DataError(f"{bad}: cannot unpickle it ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}); expected the official "
                        f"python-version pickle; {_HOW_TO}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{bad}: expected a pickled dict, got {type(batch).__name__}; {_HOW_TO}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        keys = sorted(repr(k) for k in batch)
        raise DataError(f"{bad}: expected keys b'data' and b'labels', found {', '.join(keys)}; "
                        f"{_HOW_TO}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or (
            data.shape[1] != 3 * CIFAR10_SIZE * CIFAR10_SIZE):
        desc = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{bad}: b'data' must be a uint8 array [N, 3072], got {desc}; {_HOW_TO}")
    try:
        labels = np.asarray(labels)
    except Exception:
        labels = np.asarray([], dtype=object)
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{bad}: b'labels' must be {data.shape[0]} integers (one per image), got "
                        f"{labels.dtype} array of shape {labels.shape}; {_HOW_TO}")
    if labels.size and (labels.min() < 0 or labels.max() >= CIFAR10_CLASSES):
        raise DataError(f"{bad}: b'labels' must lie in 0..{CIFAR10_CLASSES - 1}, found "
                        f"{labels.min()}..{labels.max()}; {_HOW_TO}")
    # R, G, B planes, each 32x32 row-major -> [N, H, W, C].
    images = data.reshape(-1, 3, CIFAR10_SIZE, CIFAR10_SIZE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=2)
def _cifar10_dir_cached(directory: str, stamp: tuple, test_only: bool):
    del stamp  # part of the cache key only: a changed file is read again
    directory = Path(directory)
    x_test, y_test = _read_cifar10_batch(directory / CIFAR10_TEST_FILE)
    if test_only:
        return _readonly(x_test, y_test)
    train = [_read_cifar10_batch(directory / name) for name in CIFAR10_TRAIN_FILES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return _readonly(x_train, y_train, x_test, y_test)


def _cifar10_from_dir(directory: Path, source: str = "", test_only: bool = False):
    names = (CIFAR10_TEST_FILE,) if test_only else (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    files = [directory / n for n in names]
    origin = f" (from {source})" if source else ""
    for path in files:
        if not path.is_file():
            raise DataError(f"CIFAR10 batch file {path} not found{origin}; expected the official "
                            f"python-version '{CIFAR10_DIRNAME}' directory (data_batch_1..5, "
                            f"test_batch) or a directory containing it; {_HOW_TO}")
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _cifar10_dir_cached(str(directory.resolve()), stamp, test_only)


@functools.lru_cache(maxsize=1)
def _cifar10_from_tfds():
    import tensorflow_datasets as tfds

    try:
        (x_train, y_train), (x_test, y_test) = tfds.as_numpy(tfds.load(
            "cifar10", split=["train", "test"], batch_size=-1, as_supervised=True))
    except Exception as err:
        raise DataError(f"could not load cifar10 through tensorflow-datasets ({type(err).__name__}"
                        f": {str(err).splitlines()[0] if str(err) else ''}); set data.data_dir in "
                        f"the config or the EI_TF_DATA_DIR environment variable to a local "
                        f"'{CIFAR10_DIRNAME}' directory") from None
    return _readonly(np.ascontiguousarray(x_train, np.uint8), y_train.astype(np.int32),
                     np.ascontiguousarray(x_test, np.uint8), y_test.astype(np.int32))


def cifar10_identity(directory=None, test_only: bool = False) -> dict:
    """What identifies the CIFAR10 data a run or an analysis read: the SHA-256 of each local
    file (of ``test_batch`` alone with ``test_only``; hashed once per process), or the
    tensorflow-datasets name and version when ``directory`` is None."""
    if directory is None:
        return tfds_identity("cifar10")
    directory = _cifar10_directory(directory)
    names = (CIFAR10_TEST_FILE,) if test_only else (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    return {"dataset": "cifar10", "sha256": {n: sha256_file(directory / n) for n in names}}


@functools.lru_cache(maxsize=4)
def tfds_identity(name: str) -> dict:
    """``{"dataset": name, "tfds": "<name>/<version>"}``: the version tensorflow-datasets
    loads of ``name``."""
    import tensorflow_datasets as tfds

    return {"dataset": name, "tfds": f"{name}/{tfds.builder(name).version}"}


def load_cifar10(directory=None):
    """CIFAR10 as read-only numpy arrays ``(x_train, y_train, x_test, y_test)``.

    Images are uint8 ``[N, 32, 32, 3]`` (50,000 train, 10,000 test), labels int32 in 0..9.
    ``directory`` is the ``cifar-10-batches-py`` directory (or one containing it); None loads
    through tensorflow-datasets. Results are cached per directory (and file modification time).
    """
    if directory is None:
        return _cifar10_from_tfds()
    return _cifar10_from_dir(_cifar10_directory(directory))


def load_cifar10_test(directory=None):
    """The CIFAR10 test set ``(x_test, y_test)`` as :func:`load_cifar10` gives it, reading only
    the test batch from a directory (the analysis needs no training images)."""
    if directory is None:
        return _cifar10_from_tfds()[2:]
    return _cifar10_from_dir(_cifar10_directory(directory), test_only=True)


def _cifar10_directory(directory) -> Path:
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"CIFAR10 directory {directory} does not exist; expected the official "
                        f"python-version '{CIFAR10_DIRNAME}' directory or a directory containing "
                        f"it; {_HOW_TO}")
    if (directory / CIFAR10_DIRNAME).is_dir():
        directory = directory / CIFAR10_DIRNAME
    return directory


# --------------------------------------------------------------------------------------------
# Synthetic data


def make_synthetic(num_examples: int, image_size: int, num_classes: int, split: int = 0):
    """A small deterministic labelled set: oriented, class-tinted gratings with noise.

    Class ``c`` is a sinusoidal grating of orientation ``pi * c / num_classes`` (about 3 cycles
    per image, random phase) on a fixed per-class background colour, with a per-class contrast
    in each of R, G, B, plus Gaussian pixel noise (sd 15). The colours make the classes easy to
    tell apart (a few training steps suffice) also under horizontal flips, which mirror
    orientations. Labels are balanced. The content depends only on the arguments
    (``split`` 0 = train, 1 = test), never on the run seed. Returns uint8 ``[N, S, S, 3]`` and
    int32 ``[N]``.
    """
    rng = np.random.default_rng([_STREAM_SYNTHETIC, split, num_examples, image_size,
                                 num_classes])
    colours = np.random.default_rng([_STREAM_SYNTHETIC, num_classes])
    background = colours.uniform(-1.0, 1.0, size=(num_classes, 3)).astype(np.float32)
    contrast = colours.uniform(0.3, 1.0, size=(num_classes, 3)).astype(np.float32)
    labels = rng.permutation(np.arange(num_examples) % num_classes).astype(np.int32)
    coords = np.arange(image_size, dtype=np.float32) - image_size // 2
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    theta = np.pi * labels / num_classes
    k = 2 * np.pi * rng.uniform(2.5, 3.5, num_examples) / image_size
    phase = rng.uniform(0, 2 * np.pi, num_examples)
    noise_seed = rng.integers(2**63)
    images = np.empty((num_examples, image_size, image_size, 3), np.uint8)
    chunk = 512
    for lo in range(0, num_examples, chunk):
        sl = slice(lo, lo + chunk)
        t = theta[sl, None, None]
        g = np.cos(k[sl, None, None] * (-xx * np.sin(t) + yy * np.cos(t))
                   + phase[sl, None, None]).astype(np.float32)
        noise = np.random.default_rng([noise_seed, lo]).normal(
            0.0, 15.0, size=g.shape + (3,)).astype(np.float32)
        cls = labels[sl]
        img = (127.5 + 50.0 * background[cls][:, None, None, :]
               + 70.0 * g[..., None] * contrast[cls][:, None, None, :] + noise)
        images[sl] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return images, labels


# --------------------------------------------------------------------------------------------
# Seeds


def _key(seed: int, stream: int, epoch) -> tf.Tensor:
    """Stateless RNG key (int64 [2]) for one random stream of one epoch.

    Note: ``stateless_fold_in`` returns ``[hash(seed, stream), epoch]``; use the key as a whole
    (never one component) as the seed of a stateless op.
    """
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64))


def _permutation(seed: int, epoch, n: int) -> tf.Tensor:
    return tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int64), seed=_key(seed, _STREAM_SHUFFLE, epoch), alg="philox")


def shuffle_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """A random permutation of ``labels``, fixed by ``seed`` (independent of the epoch)."""
    rng = np.random.default_rng([_STREAM_LABELS, seed])
    return np.asarray(labels)[rng.permutation(len(labels))].astype(np.int32)


# --------------------------------------------------------------------------------------------
# The public bundle


@dataclass
class Datasets:
    """Train/test pipelines of one run plus the facts a model and a training loop need.

    ``train(epoch)``: one epoch, shuffled and (if enabled) augmented, batched with the last
    partial batch kept. ``test()``: the evaluation set in file order, batched, no augmentation.
    ``train_for_fit(initial_epoch)``: epochs ``initial_epoch, initial_epoch + 1, ...`` chained,
    for ``model.fit(..., steps_per_epoch=self.steps_per_epoch)``.

    For in-memory datasets (CIFAR10, shuffled labels, synthetic) ``train_images`` /
    ``train_labels`` / ``test_images`` / ``test_labels`` hold the read-only uint8 / int32 arrays
    the pipelines draw from (after example limits and label shuffling); ImageNet leaves them None.
    """

    name: str
    train_size: int
    test_size: int
    num_classes: int
    image_size: int
    batch_size: int
    seed: int
    augment: bool
    shuffled_labels: bool = False
    # Which data: file hashes or a tensorflow-datasets version (cifar10_identity).
    identity: dict = field(default_factory=dict)
    train_images: Optional[np.ndarray] = field(default=None, repr=False)
    train_labels: Optional[np.ndarray] = field(default=None, repr=False)
    test_images: Optional[np.ndarray] = field(default=None, repr=False)
    test_labels: Optional[np.ndarray] = field(default=None, repr=False)
    _epoch_fn: Callable = field(default=None, repr=False)  # epoch tensor -> batched dataset
    _batch_fn: Optional[Callable] = field(default=None, repr=False)  # applied after _epoch_fn
    _test_fn: Callable = field(default=None, repr=False)
    _order_fn: Optional[Callable] = field(default=None, repr=False)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_size / self.batch_size)

    @property
    def test_steps(self) -> int:
        return math.ceil(self.test_size / self.batch_size)

    def _finish(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        if self._batch_fn is not None:
            ds = ds.map(self._batch_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.deterministic = True
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

    def train(self, epoch: int = 0) -> tf.data.Dataset:
        """Epoch ``epoch`` of the training set: (images float32 [B,H,W,3], labels int32 [B])."""
        return self._finish(self._epoch_fn(tf.constant(int(epoch), tf.int64)))

    def train_for_fit(self, initial_epoch: int = 0, skip: int = 0) -> tf.data.Dataset:
        """Epoch after epoch from ``initial_epoch`` (practically endless), in order, leaving out
        the first ``skip`` batches of ``initial_epoch``."""
        epochs = tf.data.Dataset.range(int(initial_epoch), 2**62)
        stream = epochs.flat_map(self._epoch_fn)
        return self._finish(stream.skip(int(skip)) if skip else stream)

    def train_from_batch(self, batch: int) -> tf.data.Dataset:
        """The stream :meth:`train_for_fit` gives from its ``batch``-th batch on (counted from
        epoch 0): where a run whose Keras epochs are shorter than the training set resumes."""
        epoch, skip = divmod(int(batch), self.steps_per_epoch)
        return self.train_for_fit(epoch, skip)

    def test(self) -> tf.data.Dataset:
        """The evaluation set (CIFAR10 test / ImageNet validation), batched, not shuffled."""
        return self._test_fn()

    def train_order(self, epoch: int) -> np.ndarray:
        """Indices into ``train_images`` in the order epoch ``epoch`` visits them."""
        if self._order_fn is None:
            raise NotImplementedError(f"{self.name}: the order is decided by tensorflow-datasets"
                                      f" streaming and is not available as an index array")
        return self._order_fn(epoch)


# --------------------------------------------------------------------------------------------
# In-memory pipelines (CIFAR10, shuffled labels, synthetic)


def _crop_flip(images, offsets, flips, pad: int):
    """Vectorised pad -> crop -> flip: images uint8 [B,H,W,3]; offsets int32 [B,2]; flips [B].

    Zero padding by ``pad`` pixels on every side (as tf.image.resize_with_crop_or_pad to
    H + 2 pad), then the H x W window at ``offsets``, mirrored left-right where ``flips`` is 1.
    """
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    rows = offsets[:, :1] + tf.range(h)[None, :]  # [B, H]
    cols = tf.range(w)[None, :]
    cols = tf.where(flips[:, None] > 0, w - 1 - cols, cols) + offsets[:, 1:]  # [B, W]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2 pad, 3]
    return tf.gather(out, cols, axis=2, batch_dims=1)  # [B, H, W, 3]


def _in_memory(name, x_train, y_train, x_test, y_test, *, num_classes, batch_size, seed,
               augment, shuffled_labels=False) -> Datasets:
    n_train, size = len(x_train), x_train.shape[1]
    pad = max(1, size // 8)  # 4 pixels for 32x32: pad to 40x40
    xs, ys = tf.constant(x_train), tf.constant(y_train)
    xt, yt = tf.constant(x_test), tf.constant(y_test)

    def epoch_fn(epoch):
        perm = _permutation(seed, epoch, n_train)
        # Augmentation parameters of every example of this epoch, by example index:
        # a deterministic function of (seed, epoch, index).
        params = tf.random.stateless_uniform([n_train, 3], seed=_key(seed, _STREAM_AUGMENT, epoch),
                                             minval=0, maxval=2**30, dtype=tf.int32, alg="philox")
        params = tf.stack([params[:, 0] % (2 * pad + 1), params[:, 1] % (2 * pad + 1),
                           params[:, 2] % 2], axis=1)
        return tf.data.Dataset.from_tensor_slices((perm, tf.gather(params, perm))).batch(
            batch_size, drop_remainder=False)

    def batch_fn(idx, params):
        images = tf.gather(xs, idx)
        if augment:
            images = _crop_flip(images, params[:, :2], params[:, 2], pad)
        return tf.cast(images, tf.float32), tf.gather(ys, idx)

    def test_fn():
        ds = tf.data.Dataset.range(len(x_test)).batch(batch_size, drop_remainder=False)
        ds = ds.map(lambda idx: (tf.cast(tf.gather(xt, idx), tf.float32), tf.gather(yt, idx)),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.deterministic = True
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

    def order_fn(epoch):
        return _permutation(seed, epoch, n_train).numpy()

    return Datasets(name=name, train_size=n_train, test_size=len(x_test), num_classes=num_classes,
                    image_size=size, batch_size=batch_size, seed=seed, augment=augment,
                    shuffled_labels=shuffled_labels, train_images=x_train, train_labels=y_train,
                    test_images=x_test, test_labels=y_test, _epoch_fn=epoch_fn,
                    _batch_fn=batch_fn, _test_fn=test_fn, _order_fn=order_fn)


def _limit(n: int, limit: int) -> int:
    return n if limit <= 0 else min(n, limit)


def _check_fixed(data_cfg, name, image_size, num_classes):
    if data_cfg.image_size != image_size:
        raise DataError(f"{name} images are {image_size}x{image_size} but data.image_size is "
                        f"{data_cfg.image_size}; set data.image_size: {image_size}")
    if data_cfg.num_classes != num_classes:
        raise DataError(f"{name} has {num_classes} classes but data.num_classes is "
                        f"{data_cfg.num_classes}; set data.num_classes: {num_classes}")


def _memory_datasets(data_cfg, seed, name, x_train, y_train, x_test, y_test) -> Datasets:
    x_train = x_train[:_limit(len(x_train), data_cfg.train_examples)]
    y_train = y_train[:len(x_train)]
    x_test = x_test[:_limit(len(x_test), data_cfg.test_examples)]
    y_test = y_test[:len(x_test)]
    augment = data_cfg.augment
    if data_cfg.shuffled_labels:
        # Appendix K: the FIRST round(fraction * N) training images (the training files are in
        # random class order already, so the subset is near class-balanced and the same for
        # every seed); their labels permuted once by the seed; no augmentation.
        n = max(1, int(round(data_cfg.shuffled_fraction * len(x_train))))
        x_train = x_train[:n]
        y_train = _readonly(shuffle_labels(y_train[:n], seed))[0]
        augment = False
        name = f"{name}_shuffled_labels"
    return _in_memory(name, x_train, y_train, x_test, y_test, num_classes=data_cfg.num_classes,
                      batch_size=data_cfg.batch_size, seed=seed, augment=augment,
                      shuffled_labels=data_cfg.shuffled_labels)


# --------------------------------------------------------------------------------------------
# ImageNet (tensorflow-datasets imagenet2012, manual download)


def _imagenet_train_example(image_bytes, label, index, key, image_size):
    """Random-area crop, random flip, bilinear resize; keyed by (seed, epoch, index)."""
    crop_key, flip_key = tf.unstack(tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(key, index), 2))
    shape = tf.image.extract_jpeg_shape(image_bytes)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=crop_key,
        min_object_covered=IMAGENET_AREA_RANGE[0], aspect_ratio_range=IMAGENET_ASPECT_RANGE,
        area_range=IMAGENET_AREA_RANGE, max_attempts=IMAGENET_MAX_ATTEMPTS,
        use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_key)
    image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    image.set_shape([image_size, image_size, 3])
    return image, tf.cast(label, tf.int32)


def _imagenet_eval_example(image_bytes, label, image_size):
    """Shorter side to round(image_size * 144 / 128), then the central image_size crop."""
    image = tf.io.decode_jpeg(image_bytes, channels=3)
    shorter = int(round(image_size * IMAGENET_EVAL_RESIZE_RATIO))
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = shorter / tf.reduce_min(hw)
    new_hw = tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), shorter)
    image = tf.image.resize(image, new_hw, method="bilinear")
    top = (new_hw[0] - image_size) // 2
    left = (new_hw[1] - image_size) // 2
    image = image[top:top + image_size, left:left + image_size]
    image.set_shape([image_size, image_size, 3])
    return image, tf.cast(label, tf.int32)


def _imagenet(data_cfg, seed) -> Datasets:
    import tensorflow_datasets as tfds

    if data_cfg.shuffled_labels:
        raise DataError("data.shuffled_labels is only available for cifar10 and synthetic; set "
                        "data.shuffled_labels: false for imagenet")
    manual_dir = resolve_data_dir(data_cfg)
    download_config = tfds.download.DownloadConfig(
        manual_dir=str(manual_dir) if manual_dir is not None else None)

    def load(split):
        try:
            return tfds.load("imagenet2012", split=split, with_info=True, shuffle_files=False,
                             decoders={"image": tfds.decode.SkipDecoding()},
                             download_and_prepare_kwargs={"download_config": download_config})
        except Exception as err:
            where = (f"manual_dir {manual_dir}" if manual_dir is not None
                     else "tensorflow-datasets' default manual_dir")
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise DataError(f"could not prepare imagenet2012 from {where} ({type(err).__name__}: "
                            f"{first}); put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
                            f"in a directory and set data.data_dir in the config or the "
                            f"EI_TF_DATA_DIR environment variable to it") from None

    train_ds, info = load("train")
    test_ds, _ = load("validation")
    _check_fixed(data_cfg, "imagenet2012", data_cfg.image_size,
                 info.features["label"].num_classes)

    def size_of(ds, split, limit):
        n = int(ds.cardinality())
        if n < 0:
            try:
                n = info.splits[split].num_examples
            except KeyError:
                n = limit
        if n <= 0:
            raise DataError(f"cannot tell how many examples imagenet2012 '{split}' has; set "
                            f"data.{'train' if split == 'train' else 'test'}_examples")
        return _limit(n, limit)

    n_train = size_of(train_ds, "train", data_cfg.train_examples)
    n_test = size_of(test_ds, "validation", data_cfg.test_examples)
    size, bs = data_cfg.image_size, data_cfg.batch_size
    # The example index (position in tensorflow-datasets' fixed file order) keys augmentation.
    base = train_ds.take(n_train).map(lambda ex: (ex["image"], ex["label"])).enumerate()

    def epoch_fn(epoch):
        shuffle_seed = tf.random.stateless_uniform(
            [], seed=_key(seed, _STREAM_SHUFFLE, epoch), minval=None, maxval=None,
            dtype=tf.int64, alg="philox")
        aug_key = _key(seed, _STREAM_AUGMENT, epoch)
        # The order depends on (seed, epoch) through the tensor op seed alone. Fixing this
        # function graph's own seed keeps TF's seed resolution from comparing the tensor with
        # a Python value (which fails when the global seed is 0, e.g. after set_random_seed(0)).
        tf.compat.v1.set_random_seed(1)
        ds = base.shuffle(IMAGENET_SHUFFLE_BUFFER, seed=shuffle_seed,
                          reshuffle_each_iteration=False)
        if data_cfg.augment:
            fn = lambda i, ex: _imagenet_train_example(ex[0], ex[1], i, aug_key, size)  # noqa
        else:
            fn = lambda i, ex: _imagenet_eval_example(ex[0], ex[1], size)  # noqa
        ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(bs, drop_remainder=False)

    def test_fn():
        ds = test_ds.take(n_test).map(
            lambda ex: _imagenet_eval_example(ex["image"], ex["label"], size),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.deterministic = True
        return ds.batch(bs, drop_remainder=False).prefetch(tf.data.AUTOTUNE).with_options(options)

    return Datasets(name="imagenet2012", train_size=n_train, test_size=n_test,
                    num_classes=data_cfg.num_classes, image_size=size, batch_size=bs, seed=seed,
                    augment=data_cfg.augment, _epoch_fn=epoch_fn, _test_fn=test_fn,
                    identity={"dataset": "imagenet", "tfds": info.full_name})


# --------------------------------------------------------------------------------------------
# Entry point


def load_datasets(data_cfg, seed: int = 0) -> Datasets:
    """Build the train/test pipelines described by ``data_cfg`` for run seed ``seed``.

    * ``cifar10``: the official python-version pickles from :func:`resolve_data_dir`, else
      tensorflow-datasets ``cifar10``. Train: zero-pad to 40x40, random 32x32 crop, random
      horizontal flip (when ``augment``); test: raw pixels.
    * ``shuffled_labels`` (cifar10 or synthetic, Appendix K): the first
      ``round(shuffled_fraction * train_size)`` training images (5,000 for CIFAR10) with their
      labels permuted once by ``seed``; never augmented; evaluation on the real test set.
    * ``imagenet``: tensorflow-datasets ``imagenet2012`` with the configured directory as
      ``manual_dir``; random-area crop / flip / resize for training, shorter side to
      ``round(image_size * 144 / 128)`` and centre crop for evaluation (and for training when
      ``augment`` is false); the shuffle is a 10,000-example buffer seeded by (seed, epoch).
    * ``synthetic``: :func:`make_synthetic`, ``train_examples`` / ``test_examples`` images
      (256 / 128 when 0).

    ``train_examples`` / ``test_examples`` > 0 keep only the first N examples.
    """
    seed = int(seed)
    if not 0 <= seed < 2**63:
        raise DataError(f"seed {seed} must lie in 0..2**63-1")
    if data_cfg.dataset == "cifar10":
        _check_fixed(data_cfg, "cifar10", CIFAR10_SIZE, CIFAR10_CLASSES)
        directory = resolve_data_dir(data_cfg)
        if directory is None:
            arrays = _cifar10_from_tfds()
        else:
            arrays = _cifar10_from_dir(directory, _configured_dir(data_cfg)[1])
        datasets = _memory_datasets(data_cfg, seed, "cifar10", *arrays)
        datasets.identity = cifar10_identity(directory)
        return datasets
    if data_cfg.dataset == "synthetic":
        n_train = data_cfg.train_examples or SYNTHETIC_DEFAULT_TRAIN
        n_test = data_cfg.test_examples or SYNTHETIC_DEFAULT_TEST
        x_train, y_train = make_synthetic(n_train, data_cfg.image_size, data_cfg.num_classes, 0)
        x_test, y_test = make_synthetic(n_test, data_cfg.image_size, data_cfg.num_classes, 1)
        datasets = _memory_datasets(data_cfg, seed, "synthetic",
                                    *_readonly(x_train, y_train, x_test, y_test))
        datasets.identity = {"dataset": "synthetic"}  # a function of the code alone
        return datasets
    if data_cfg.dataset == "imagenet":
        return _imagenet(data_cfg, seed)
    raise DataError(f"data.dataset {data_cfg.dataset!r} is not one of cifar10, imagenet, "
                    f"synthetic")

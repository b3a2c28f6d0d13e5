"""Tests of the input pipelines (ei_tf/data.py).

The CIFAR10 tests read the location of a local python-version copy from the environment
variable EI_TF_DATA_DIR (the ``cifar-10-batches-py`` directory or a directory containing it)
and are skipped when it is unset. Everything else uses small files built in tmp_path,
tensorflow-datasets mock data or the synthetic set.
"""

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ei_tf import data as D
from ei_tf.config import DataConfig

pytestmark = pytest.mark.tf

FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


# --------------------------------------------------------------------------------------------
# Helpers


def _labels_of(ds):
    return np.concatenate([y.numpy() for _, y in ds])


def _write_batch(path: Path, images: np.ndarray, labels, **extra):
    """Write one batch file in the official layout from uint8 [N, 32, 32, 3] images."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"fake", b"labels": list(labels), b"data": data, **extra}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def _fake_cifar(root: Path, n_per_batch=6, subdir=True):
    """A tiny but valid cifar-10-batches-py copy; returns (dir given to the loader, arrays)."""
    directory = root / D.CIFAR10_DIRNAME if subdir else root
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for name in (*D.CIFAR10_TRAIN_FILES, D.CIFAR10_TEST_FILE):
        images = rng.integers(0, 256, size=(n_per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch)
        _write_batch(directory / name, images, labels)
        arrays[name] = (images, labels)
    return root, arrays


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(D.ENV_DATA_DIR, raising=False)


# --------------------------------------------------------------------------------------------
# Locating the data; the official layout; DataError


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "env").mkdir()
    monkeypatch.delenv(D.ENV_DATA_DIR, raising=False)
    assert D.resolve_data_dir(DataConfig(dataset="synthetic")) is None
    monkeypatch.setenv(D.ENV_DATA_DIR, str(tmp_path / "env"))
    assert D.resolve_data_dir(DataConfig(dataset="synthetic")) == tmp_path / "env"
    cfg = DataConfig(dataset="synthetic", data_dir=str(tmp_path / "cfg"))
    assert D.resolve_data_dir(cfg) == tmp_path / "cfg"


def test_resolve_cifar_dir_itself_or_parent(no_env, tmp_path):
    root, _ = _fake_cifar(tmp_path)
    batches = root / D.CIFAR10_DIRNAME
    assert D.resolve_data_dir(DataConfig(data_dir=str(root))) == batches
    assert D.resolve_data_dir(DataConfig(data_dir=str(batches))) == batches


@pytest.mark.parametrize("subdir", [True, False])
def test_official_layout_decoded(no_env, tmp_path, subdir):
    root, arrays = _fake_cifar(tmp_path, subdir=subdir)
    x_train, y_train, x_test, y_test = D.load_cifar10(root)
    assert x_train.shape == (30, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.dtype == np.int32 and x_test.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(x_train[:6], arrays["data_batch_1"][0])
    np.testing.assert_array_equal(x_train[24:], arrays["data_batch_5"][0])
    np.testing.assert_array_equal(y_train[6:12], arrays["data_batch_2"][1])
    np.testing.assert_array_equal(x_test, arrays["test_batch"][0])
    np.testing.assert_array_equal(y_test, arrays["test_batch"][1])
    # The pipeline serves exactly these pixels as float32 on the test split.
    ds = D.load_datasets(DataConfig(data_dir=str(root), batch_size=4), seed=0)
    test_images = np.concatenate([x.numpy() for x, _ in ds.test()])
    np.testing.assert_array_equal(test_images, x_test.astype(np.float32))


@pytest.mark.parametrize("subdir", [True, False])
def test_test_set_alone_reads_only_the_test_batch(no_env, tmp_path, subdir):
    root, arrays = _fake_cifar(tmp_path, subdir=subdir)
    x_test, y_test = D.load_cifar10_test(root)
    np.testing.assert_array_equal(x_test, arrays["test_batch"][0])
    np.testing.assert_array_equal(y_test, D.load_cifar10(root)[3])
    directory = root / D.CIFAR10_DIRNAME if subdir else root
    for name in D.CIFAR10_TRAIN_FILES:  # the training batches are not needed
        (directory / name).unlink()
    D.load_cifar10_test(root)
    (directory / D.CIFAR10_TEST_FILE).unlink()
    with pytest.raises(D.DataError, match="test_batch not found"):
        D.load_cifar10_test(root)


def test_plane_order_is_rgb_row_major(no_env, tmp_path):
    directory = tmp_path / D.CIFAR10_DIRNAME
    directory.mkdir()
    data = np.zeros((1, 3072), np.uint8)
    data[0, 0] = 10  # R at row 0, col 0
    data[0, 1024 + 1] = 20  # G at row 0, col 1
    data[0, 2048 + 32] = 30  # B at row 1, col 0
    for name in (*D.CIFAR10_TRAIN_FILES, D.CIFAR10_TEST_FILE):
        with open(directory / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [7]}, f, protocol=2)
    x_train, y_train, _, _ = D.load_cifar10(directory)
    assert x_train[0, 0, 0, 0] == 10 and x_train[0, 0, 1, 1] == 20 and x_train[0, 1, 0, 2] == 30
    assert x_train[0].sum() == 60 and list(y_train) == [7] * 5


def test_missing_directory_is_data_error(no_env, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(D.DataError) as err:
        D.load_datasets(DataConfig(data_dir=str(missing)), seed=0)
    message = str(err.value)
    assert str(missing) in message and "\n" not in message
    assert "data.data_dir" in message and "EI_TF_DATA_DIR" in message
    assert "tensorflow-datasets" in message


def test_missing_directory_from_env_names_env(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(D.ENV_DATA_DIR, str(missing))
    with pytest.raises(D.DataError, match="EI_TF_DATA_DIR") as err:
        D.load_datasets(DataConfig(), seed=0)
    assert str(missing) in str(err.value)


def test_missing_batch_file_is_data_error(no_env, tmp_path):
    root, _ = _fake_cifar(tmp_path)
    victim = root / D.CIFAR10_DIRNAME / "data_batch_3"
    victim.unlink()
    with pytest.raises(D.DataError) as err:
        D.load_datasets(DataConfig(data_dir=str(root)), seed=0)
    assert str(victim) in str(err.value) and "\n" not in str(err.value)
    assert "data.data_dir" in str(err.value)


def _corrupt_garbage(path):
    path.write_bytes(b"this is not a pickle")


def _corrupt_keys(path):
    with open(path, "wb") as f:
        pickle.dump({b"images": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, f)


def _corrupt_shape(path):
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, f)


def _corrupt_label_count(path):
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, f)


def _corrupt_label_range(path):
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)


def _corrupt_not_dict(path):
    with open(path, "wb") as f:
        pickle.dump([1, 2, 3], f)


@pytest.mark.parametrize("corrupt", [_corrupt_garbage, _corrupt_keys, _corrupt_shape,
                                     _corrupt_label_count, _corrupt_label_range,
                                     _corrupt_not_dict])
def test_corrupt_pickle_is_data_error(no_env, tmp_path, corrupt):
    root, _ = _fake_cifar(tmp_path)
    victim = root / D.CIFAR10_DIRNAME / "data_batch_2"
    corrupt(victim)
    with pytest.raises(D.DataError) as err:
        D.load_datasets(DataConfig(data_dir=str(root)), seed=0)
    message = str(err.value)
    assert str(victim) in message and "\n" not in message
    assert "EI_TF_DATA_DIR" in message


def test_config_mismatch_is_data_error(no_env, tmp_path):
    root, _ = _fake_cifar(tmp_path)
    with pytest.raises(D.DataError, match="num_classes"):
        D.load_datasets(DataConfig(data_dir=str(root), num_classes=100), seed=0)
    with pytest.raises(D.DataError, match="image_size"):
        D.load_datasets(DataConfig(data_dir=str(root), image_size=64), seed=0)


# --------------------------------------------------------------------------------------------
# Real CIFAR10 (location from EI_TF_DATA_DIR)


@pytest.fixture(scope="module")
def cifar_dir():
    location = os.environ.get(D.ENV_DATA_DIR, "")
    if not location:
        pytest.skip("EI_TF_DATA_DIR is unset: point it at a local cifar-10-batches-py directory "
                    "(or one containing it) to run the CIFAR10 tests")
    return location


@pytest.fixture(scope="module")
def cifar_arrays(cifar_dir):
    return D.load_cifar10(cifar_dir)  # cached inside ei_tf.data for the other tests too


def _cifar_cfg(**kwargs):
    # data_dir left empty: the loader must take the location from EI_TF_DATA_DIR.
    return DataConfig(dataset="cifar10", **kwargs)


def test_cifar10_arrays(cifar_arrays):
    x_train, y_train, x_test, y_test = cifar_arrays
    assert x_train.shape == (50000, 32, 32, 3) and x_test.shape == (10000, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int32
    assert list(y_test[:10]) == FIRST_TEST_LABELS
    assert y_train.min() == 0 and y_train.max() == 9
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_cifar10_pipelines(cifar_arrays):
    ds = D.load_datasets(_cifar_cfg(batch_size=256), seed=0)
    assert (ds.train_size, ds.test_size, ds.num_classes, ds.image_size) == (50000, 10000, 10, 32)
    assert ds.steps_per_epoch == 196 and ds.test_steps == 40
    x, y = next(iter(ds.train(0)))
    assert x.shape == (256, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255.0
    assert ds.train(0).element_spec[0].shape.as_list() == [None, 32, 32, 3]
    order = ds.train_order(0)
    np.testing.assert_array_equal(y.numpy(), cifar_arrays[1][order[:256]])
    xt, yt = next(iter(ds.test()))
    assert list(yt.numpy()[:10]) == FIRST_TEST_LABELS
    np.testing.assert_array_equal(xt.numpy(), cifar_arrays[2][:256].astype(np.float32))


def test_cifar10_augmentation(cifar_arrays):
    ds = D.load_datasets(_cifar_cfg(batch_size=64, train_examples=64), seed=0)
    x, _ = next(iter(ds.train(0)))
    x = x.numpy()
    assert x.shape == (64, 32, 32, 3)
    raw = cifar_arrays[0][ds.train_order(0)].astype(np.float32)
    differs = np.any(x != raw, axis=(1, 2, 3))
    assert differs.mean() > 0.8
    # Each output is one 32x32 window of the zero-padded 40x40 image, possibly mirrored.
    padded = np.pad(raw, [(0, 0), (4, 4), (4, 4), (0, 0)])
    for i in range(8):
        windows = [w for oy in range(9) for ox in range(9)
                   for w in (padded[i, oy:oy + 32, ox:ox + 32],
                             padded[i, oy:oy + 32, ox:ox + 32][:, ::-1])]
        assert any(np.array_equal(x[i], w) for w in windows)
    # Without augmentation the training images are the raw pixels.
    plain = D.load_datasets(_cifar_cfg(batch_size=64, train_examples=64, augment=False), seed=0)
    x_plain, _ = next(iter(plain.train(0)))
    np.testing.assert_array_equal(x_plain.numpy(), raw)


def test_cifar10_order_is_function_of_seed_and_epoch(cifar_arrays):
    cfg = _cifar_cfg(batch_size=500, train_examples=500)
    a = D.load_datasets(cfg, seed=1)
    b = D.load_datasets(cfg, seed=1)
    x0 = next(iter(a.train(0)))[0].numpy()
    np.testing.assert_array_equal(x0, next(iter(b.train(0)))[0].numpy())  # order + augmentation
    np.testing.assert_array_equal(_labels_of(a.train(3)), _labels_of(b.train(3)))
    assert not np.array_equal(a.train_order(0), a.train_order(1))
    assert not np.array_equal(a.train_order(0), D.load_datasets(cfg, seed=2).train_order(0))
    assert sorted(a.train_order(5)) == list(range(500))
    np.testing.assert_array_equal(_labels_of(a.train(1)), cifar_arrays[1][a.train_order(1)])
    # The same image is augmented differently in another epoch (1 / 162 chance to coincide).
    x1 = next(iter(a.train(1)))[0].numpy()
    by_index0 = x0[np.argsort(a.train_order(0))]
    by_index1 = x1[np.argsort(a.train_order(1))]
    assert np.mean(np.all(by_index0 == by_index1, axis=(1, 2, 3))) < 0.05


def test_train_for_fit_chains_epochs(cifar_arrays):
    ds = D.load_datasets(_cifar_cfg(batch_size=64, train_examples=150), seed=0)
    assert ds.steps_per_epoch == 3  # 64 + 64 + 22 (last batch kept)
    chained = [(x.numpy(), y.numpy()) for x, y in ds.train_for_fit(2).take(9)]
    expected = [(x.numpy(), y.numpy()) for e in (2, 3, 4) for x, y in ds.train(e)]
    assert [len(y) for _, y in chained] == [64, 64, 22] * 3
    for (xa, ya), (xb, yb) in zip(chained, expected):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_example_limits(cifar_arrays):
    ds = D.load_datasets(_cifar_cfg(batch_size=32, train_examples=100, test_examples=50), 0)
    assert (ds.train_size, ds.test_size) == (100, 50)
    assert sorted(ds.train_order(0)) == list(range(100))
    assert sum(int(y.shape[0]) for _, y in ds.train(0)) == 100
    yt = _labels_of(ds.test())
    np.testing.assert_array_equal(yt, cifar_arrays[3][:50])
    np.testing.assert_array_equal(ds.train_images, cifar_arrays[0][:100])


def test_shuffled_labels(cifar_arrays):
    cfg = _cifar_cfg(batch_size=500, shuffled_labels=True)
    ds = D.load_datasets(cfg, seed=0)
    original = cifar_arrays[1][:5000]
    assert ds.train_size == 5000 and ds.shuffled_labels and not ds.augment
    assert ds.test_size == 10000
    np.testing.assert_array_equal(np.sort(ds.train_labels), np.sort(original))
    assert (ds.train_labels == original).mean() < 0.2  # about chance (0.1)
    np.testing.assert_array_equal(ds.train_images, cifar_arrays[0][:5000])
    # Seed-dependent, fixed across epochs and across loads.
    again = D.load_datasets(cfg, seed=0)
    other = D.load_datasets(cfg, seed=1)
    np.testing.assert_array_equal(ds.train_labels, again.train_labels)
    assert not np.array_equal(ds.train_labels, other.train_labels)
    # The pipeline serves these labels with unaugmented images (augment=True is overridden).
    x, y = next(iter(ds.train(2)))
    order = ds.train_order(2)[:500]
    np.testing.assert_array_equal(y.numpy(), ds.train_labels[order])
    np.testing.assert_array_equal(x.numpy(), cifar_arrays[0][order].astype(np.float32))
    # The evaluation set keeps its real labels.
    assert list(next(iter(ds.test()))[1].numpy()[:10]) == FIRST_TEST_LABELS
    # A fraction of a limited training set.
    small = D.load_datasets(_cifar_cfg(shuffled_labels=True, train_examples=1000), seed=0)
    assert small.train_size == 100
    np.testing.assert_array_equal(np.sort(small.train_labels), np.sort(cifar_arrays[1][:100]))


# --------------------------------------------------------------------------------------------
# ImageNet (tensorflow-datasets mock data) and the synthetic set


def test_imagenet_with_mock_data(no_env):
    tfds = pytest.importorskip("tensorflow_datasets")
    tf.random.set_seed(0)  # as training does for seed 0: the pipeline must not depend on it
    cfg = DataConfig(dataset="imagenet", image_size=64, num_classes=1000, batch_size=4)
    with tfds.testing.mock_data(num_examples=6):
        ds = D.load_datasets(cfg, seed=0)
        assert (ds.train_size, ds.test_size, ds.num_classes) == (6, 6, 1000)
        for split in (ds.train(0), ds.test()):
            batches = list(split)
            assert [int(y.shape[0]) for _, y in batches] == [4, 2]
            for x, y in batches:
                assert x.shape[1:] == (64, 64, 3) and x.dtype == tf.float32
                assert y.dtype == tf.int32
                assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255.0
                assert np.all((y.numpy() >= 0) & (y.numpy() < 1000))
        assert ds.test().element_spec[0].shape.as_list() == [None, 64, 64, 3]
        # Deterministic in (seed, epoch); the chained stream equals the per-epoch datasets.
        first = [x.numpy() for x, _ in ds.train(1)]
        again = [x.numpy() for x, _ in ds.train(1)]
        chained = [x.numpy() for x, _ in ds.train_for_fit(1).take(2)]
        for a, b, c in zip(first, again, chained):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
        limited = D.load_datasets(dataclasses.replace(cfg, train_examples=3, test_examples=2), 0)
        assert (limited.train_size, limited.test_size) == (3, 2)
        assert sum(int(y.shape[0]) for _, y in limited.train(0)) == 3


def test_imagenet_eval_resize_and_centre_crop():
    # 100 x 200 image: shorter side -> 72 (= round(64 * 144 / 128)), i.e. 72 x 144, then the
    # central 64 x 64 crop. A horizontal ramp shows where the crop came from.
    ramp = np.tile(np.linspace(0, 255, 200, dtype=np.float32)[None, :, None], (100, 1, 3))
    jpeg = tf.io.encode_jpeg(tf.constant(ramp.round().astype(np.uint8)), quality=100)
    image, label = D._imagenet_eval_example(jpeg, tf.constant(5, tf.int64), 64)
    assert image.shape == (64, 64, 3) and image.dtype == tf.float32 and label.dtype == tf.int32
    expected = tf.image.resize(tf.io.decode_jpeg(jpeg, channels=3), [72, 144])[4:68, 40:104]
    np.testing.assert_allclose(image.numpy(), expected.numpy(), atol=1e-3)


def test_synthetic(no_env):
    cfg = DataConfig(dataset="synthetic", image_size=16, num_classes=5, batch_size=32)
    ds = D.load_datasets(cfg, seed=0)
    assert (ds.train_size, ds.test_size) == (D.SYNTHETIC_DEFAULT_TRAIN, D.SYNTHETIC_DEFAULT_TEST)
    assert (ds.num_classes, ds.image_size) == (5, 16)
    x, y = next(iter(ds.train(0)))
    assert x.shape == (32, 16, 16, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
    assert set(np.unique(ds.train_labels)) == set(range(5))
    assert np.bincount(ds.train_labels).tolist() == [256 // 5 + (i < 256 % 5) for i in range(5)]
    # Deterministic content, independent of the run seed.
    other = D.load_datasets(cfg, seed=7)
    np.testing.assert_array_equal(ds.train_images, other.train_images)
    np.testing.assert_array_equal(ds.test_labels, other.test_labels)
    sized = D.load_datasets(dataclasses.replace(cfg, train_examples=40, test_examples=20), 0)
    assert (sized.train_size, sized.test_size) == (40, 20)
    assert [int(y.shape[0]) for _, y in sized.test()] == [20]
    shuffled = D.load_datasets(dataclasses.replace(cfg, shuffled_labels=True), 0)
    assert shuffled.train_size == 26 and not shuffled.augment


def test_synthetic_is_learnable(no_env):
    import keras

    keras.utils.set_random_seed(0)
    ds = D.load_datasets(DataConfig(dataset="synthetic", batch_size=32), seed=0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 127.5, offset=-1.0),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(ds.train_for_fit(0), steps_per_epoch=ds.steps_per_epoch, epochs=12,
                        validation_data=ds.test(), shuffle=False, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.5

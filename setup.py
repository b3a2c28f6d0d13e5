"""ei-tf: convolutional recurrent networks with excitatory and inhibitory cell types.

The package's metadata; ``pyproject.toml`` names the build backend. The project's ``configs/``
directory ships inside the package as ``ei_tf/configs`` (``ei_tf.config.shipped_configs``).
Dependency floors are the first releases with the APIs the code uses; Keras' upper bound is the
tested range (the training resumes from Keras' BackupAndRestore files, whose layout is Keras'
own).
"""

from pathlib import Path

from setuptools import find_packages, setup

# configs/ and its subdirectories (e.g. configs/workstation) as data packages of ei_tf.configs.
CONFIG_PACKAGES = ["ei_tf.configs"] + sorted(
    ".".join(("ei_tf.configs", *d.relative_to("configs").parts))
    for d in Path("configs").rglob("*") if d.is_dir())

setup(
    name="ei-tf",
    version="0.1.0",
    description=("Excitatory/inhibitory convolutional recurrent networks under Dale's law, "
                 "their training, export and analysis, in TensorFlow/Keras"),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Science/Research",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Bio-Informatics",
    ],
    packages=[*find_packages(include=["ei_tf", "ei_tf.*"]), *CONFIG_PACKAGES],
    package_dir={"ei_tf.configs": "configs"},
    package_data={package: ["*.yaml"] for package in CONFIG_PACKAGES},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",  # Keras 3 as tf.keras
        # The minor version tested: resume reads Keras' BackupAndRestore files, whose layout
        # is Keras' own (ei_tf.training checks it and says so when it differs).
        "keras>=3.15,<3.16",
        "tensorboard>=2.16",  # TensorBoard logs (no longer pulled in by tensorflow itself)
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # needed by tensorflow-datasets to prepare datasets
        "numpy>=1.23.5",  # SciPy 1.15's floor
        "scipy>=1.15",  # stats.bootstrap(rng=)
        "matplotlib>=3.4",  # Axes.bar_label
        "pyyaml>=5.1",  # safe_dump(sort_keys=)
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "setuptools>=70.1"],  # setuptools: the wheel test
        "bench": ["torch"],  # the PyTorch baseline of benchmarks/bench_train.py
        # gRPC requests to TF Serving (ei_tf.serving); pin it to the installed TensorFlow's
        # version, e.g. tensorflow-serving-api==2.21.*, so that pip leaves TensorFlow alone
        "serving": ["tensorflow-serving-api", "grpcio"],
    },
    entry_points={
        "console_scripts": [
            "ei-train=ei_tf.cli:train_main",
            "ei-analyze=ei_tf.analyze_cli:analyze_main",
        ],
    },
)

"""ei-tf: convolutional recurrent networks with excitatory and inhibitory cell types."""

from setuptools import find_packages, setup

setup(
    name="ei-tf",
    version="0.1.0",
    description=("Excitatory/inhibitory convolutional recurrent networks under Dale's law, "
                 "their training, export and analysis, in TensorFlow/Keras"),
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["ei_tf", "ei_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.13",  # TerminateOnNaN(raise_error=True)
        "tensorboard",  # TensorBoard logs (no longer pulled in by tensorflow itself)
        "tensorflow-datasets",
        "importlib_resources",  # needed by tensorflow-datasets to prepare datasets
        "numpy",
        "scipy",
        "matplotlib",
        "pyyaml",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout"],
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

"""ei-tf: convolutional recurrent networks with excitatory and inhibitory cell types.

The modules form layers; a module imports only from its own layer and the layers before it
(``tests/test_layering.py`` reads this list and checks every import against it):

1. config: ``config``, ``files``, ``runtime``, ``provenance``, ``stimuli``, ``layout``, ``sweep``,
   ``history``
2. data / model: ``data``, ``layers``, ``cells``, ``model``
3. training / export: ``backup``, ``distributed``, ``export``, ``training``, ``serving``
4. analysis: ``analysis``
5. figures: ``figures``
6. CLI: ``cli``, ``analyze_cli``, ``protocol``, and this package's ``load_run``
"""

import os

# Both take effect only before TensorFlow's first import; an explicit setting wins.
# oneDNN CPU kernels: training measured 1.5x faster (54 -> 80 images/s, 2 cores) where
# TensorFlow leaves them off by default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["load_run"]


def __getattr__(name):
    """``ei_tf.load_run`` on first use: ``import ei_tf`` stays light (no TensorFlow,
    matplotlib or analysis code)."""
    if name == "load_run":
        from ei_tf.figures.run import load_run

        return load_run
    raise AttributeError(f"module 'ei_tf' has no attribute {name!r}")

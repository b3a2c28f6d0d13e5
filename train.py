#!/usr/bin/env python
"""Train the networks of a config: ``python train.py --config configs/fig2_standard.yaml``."""

import sys

from ei_tf.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())

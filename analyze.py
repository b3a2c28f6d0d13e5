#!/usr/bin/env python
"""Analyse exported networks: ``python analyze.py --run runs/fig2_standard/seed_0``."""

import sys

from ei_tf.analyze_cli import analyze_main

if __name__ == "__main__":
    sys.exit(analyze_main())

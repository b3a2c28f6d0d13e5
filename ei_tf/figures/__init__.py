"""Every paper figure from its runs: one module per figure (``figN``), each declaring the runs
it needs (:func:`needs`) and drawing its panels (:func:`render`).

``make_figure(N, ctx, out)`` checks that the runs exist (else raises
:class:`~ei_tf.analysis.runs.MissingRuns` carrying the ``train.py`` commands), draws the figure
and writes ``<out>/figN.png`` and ``<out>/figN.pdf``. The paper's style
(:data:`~ei_tf.figures.common.STYLE`) holds only while a figure is drawn; importing this
package changes no matplotlib setting (the command line chooses the Agg backend).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ei_tf.analysis.runs import Context, MissingRuns, Need  # noqa: F401
from ei_tf.figures.common import style

NUMBERS = tuple(range(2, 18))


class FigureError(ValueError):
    """There is no such figure (the message names the ones there are)."""


def module(number: int):
    if number not in NUMBERS:
        raise FigureError(f"there is no figure {number} (figures: {NUMBERS[0]}-{NUMBERS[-1]}; "
                          f"Figure 1 is the architecture diagram)")
    return importlib.import_module(f"ei_tf.figures.fig{number}")


def needs(number: int) -> list:
    return module(number).needs()


def draw(number: int, ctx: Context):
    """The matplotlib figure (not saved); raises MissingRuns when runs are absent."""
    mod = module(number)
    ctx.check(number, mod.needs())
    with style():
        return mod.render(ctx)


def make_figure(number: int, ctx: Context, out="figures") -> list[Path]:
    """Draw figure ``number`` and write it as PNG and PDF under ``out``; returns the paths."""
    from ei_tf.figures.common import save

    with style():  # also while saving: tick labels may be created when the figure is drawn
        return save(draw(number, ctx), out, number)

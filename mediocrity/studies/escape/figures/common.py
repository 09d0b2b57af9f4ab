"""Shared pieces of the escape study's figures: axis labels and the engine styles of the
registry, and the legend key; the rest comes from mediocrity.pipeline.figures."""

from __future__ import annotations

from matplotlib.lines import Line2D

from ....engines import registry
from ....pipeline.figures import (EMPTY_NOTE, LINESTYLES, SYMBOLS, describe, error_points,
                                  finish_axes, fixed_values, gamma_text, iter_series,
                                  line_styles, new_figure, palette, pick_gamma,
                                  readable_log_ticks, save_figure, seed_counts, set_title,
                                  value_range, value_text, varying)

TIME_UNITS = r"(steps$\,\gamma/(p\,d)$)"
TIME_LABEL = rf"time $t$ {TIME_UNITS}"
EXIT_LABEL = rf"exit time $t_{{\rm ex}}$ {TIME_UNITS}"
SAMPLES_LABEL = r"samples to escape $n = t_{\rm ex}\,p\,d/\gamma$"
# engine styles come from the engine registry (mediocrity/engines/registry.py)
ENGINE_COLORS = {name: style[0] for name, style in registry.styles().items()}
ENGINE_MARKERS = {name: style[1] for name, style in registry.styles().items()}
__all__ = ["EMPTY_NOTE", "LINESTYLES", "SYMBOLS", "describe", "error_points", "finish_axes",
           "fixed_values", "gamma_text", "iter_series", "line_styles", "new_figure", "palette",
           "pick_gamma", "readable_log_ticks", "save_figure", "seed_counts", "set_title",
           "value_range", "value_text", "varying", "TIME_LABEL", "EXIT_LABEL",
           "SAMPLES_LABEL", "ENGINE_COLORS", "ENGINE_MARKERS", "key_handles"]


def key_handles(colors: dict, color_dim: str, engines=(), styles: dict | None = None,
                style_dim: str = "", extra=()) -> list[Line2D]:
    """Legend entries that explain the encoding once: a colour per value of color_dim, a
    marker per engine, a line style per value of style_dim, then extra (label, style)."""
    handles = [Line2D([], [], color=c, lw=2, label=describe({color_dim: v}))
               for v, c in colors.items()]
    handles += [Line2D([], [], color="0.3", ls="", marker=ENGINE_MARKERS.get(e, "o"),
                       label=str(e)) for e in engines]
    handles += [Line2D([], [], color="0.3", ls=ls, label=describe({style_dim: v}))
                for v, ls in (styles or {}).items()]
    handles += [Line2D([], [], label=label, **style) for label, style in extra]
    return handles

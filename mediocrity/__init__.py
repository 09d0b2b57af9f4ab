"""mediocrity: how two-layer networks trained by one-pass SGD escape mediocrity on
phase retrieval (Arnaboldi, Krzakala, Loureiro, Stephan, arXiv 2305.18502)."""

from . import models, theory
from ._version import __version__
from .exit_time import exit_time
from .overlaps import risk_from_overlaps
from .problem import NoEscapeWarning, Problem
from .simulate import simulate

__all__ = ["Problem", "simulate", "exit_time", "risk_from_overlaps", "theory", "models",
           "NoEscapeWarning", "__version__"]

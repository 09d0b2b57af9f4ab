"""The paper's figures F1-F6: Dataset(s) in, matplotlib Figure out (Agg canvas, no I/O);
`save_figure` writes the PDF and PNG."""

from .common import save_figure
from .exit_time_ratio import figure_f2
from .learning_rate import figure_f5
from .log_d_scaling import figure_f3
from .overparameterisation import figure_f4
from .plateau import figure_f6
from .trajectories import figure_f1

__all__ = ["figure_f1", "figure_f2", "figure_f3", "figure_f4", "figure_f5", "figure_f6",
           "save_figure"]

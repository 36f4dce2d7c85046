"""Models stage: torch cells, ShaRNN and baselines, training, model files."""

from workbench.models.cells import CELLS, make_cell  # noqa: F401
from workbench.models.sharnn import ShaRNN, ShaRNNStream, SingleRNN, build_model, count_parameters  # noqa: F401

"""sklearn-symnet: symmetric differential-equation (Wuxing) neural networks.

Public names: :class:`SymNetClassifier`, :class:`SymNetRegressor`,
:class:`WuxingNeuron`, :class:`DeadNeuronWarning`.
"""

try:
    from . import _kernels  # noqa: F401  (the compiled extension)
except ImportError as exc:  # pragma: no cover - only in an unbuilt source tree
    raise ImportError(
        "sklearn_symnet's compiled kernels (sklearn_symnet._kernels) are not built "
        "here. Install the package with `pip install .`, or build it in place with "
        "`python setup.py build_ext --inplace`. (Python run from the source folder "
        "imports the unbuilt sources instead of the installed package.)"
    ) from exc

from ._base import DeadNeuronWarning  # noqa: E402
from ._classifier import SymNetClassifier  # noqa: E402
from ._neuron import WuxingNeuron  # noqa: E402
from ._regressor import SymNetRegressor  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "DeadNeuronWarning",
    "SymNetClassifier",
    "SymNetRegressor",
    "WuxingNeuron",
    "__version__",
]

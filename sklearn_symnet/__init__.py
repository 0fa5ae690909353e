"""sklearn-symnet: symmetric differential-equation (Wuxing) neural networks.

Public names: :class:`SymNetClassifier`, :class:`WuxingNeuron`.
"""

from ._classifier import SymNetClassifier
from ._neuron import WuxingNeuron

__version__ = "0.1.0"
__all__ = ["SymNetClassifier", "WuxingNeuron", "__version__"]

"""sklearn-symnet: symmetric differential-equation (Wuxing) neural networks.

Public names: :class:`SymNetClassifier`, :class:`WuxingNeuron`,
:class:`DeadNeuronWarning`.
"""

from ._classifier import DeadNeuronWarning, SymNetClassifier
from ._neuron import WuxingNeuron

__version__ = "0.1.0"
__all__ = ["DeadNeuronWarning", "SymNetClassifier", "WuxingNeuron", "__version__"]

"""scikit-learn's own API compliance checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_symnet import SymNetClassifier, SymNetRegressor

# Only what scikit-learn itself declares for its minibatch SGD models.
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [
        SymNetClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0),
        SymNetClassifier(
            hidden_layer_sizes=(8, 6), coupling="flux", coef_bound=3.0, max_iter=100,
            random_state=0,
        ),
        SymNetClassifier(hidden_layer_sizes=(8,), neuron_params="all", neuron_solver="pid",
                         max_iter=100, random_state=0),
        SymNetRegressor(hidden_layer_sizes=(16,), max_iter=100, random_state=0),
        SymNetRegressor(hidden_layer_sizes=(8,), neuron_params="shape",
                        neuron_sharing="layer", max_iter=100, random_state=0),
        SymNetRegressor(hidden_layer_sizes=(8, 6), readout="linear", coupling="flux",
                        flux_bound="branch", coef_bound=3.0, max_iter=100, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

"""unlearning: remove a forget set's influence from a trained model, and measure how well it worked.

    from unlearning import unlearn, evaluate
    model, record = unlearn("imu", original_cnn, train, split)           # paper Algorithm 3
    model, record = unlearn("masimu", original_ma, train, split)         # paper Algorithm 2
    metrics = evaluate(model, original_cnn, train, split, test)

Methods: :mod:`unlearning.methods` (registry); metrics: :mod:`unlearning.metrics`; LIME and
the interpretable weight I_w: :mod:`unlearning.explain`; full experiments with report files:
:func:`unlearning.experiment.run_experiment`.
"""

from .config import UnlearningConfig
from .data import UnlearningData
from .experiment import DEFAULT_METHODS, Report, run_experiment
from .explain import GradientScaler, interpretable_weight, lime_coefficients, scale_gradients
from .methods import available, get_method
from .metrics import Evaluation, evaluate
from .run import unlearn

__all__ = ["DEFAULT_METHODS", "Report", "run_experiment", "Evaluation", "GradientScaler", "UnlearningConfig", "UnlearningData", "available", "evaluate",
           "get_method", "interpretable_weight", "lime_coefficients", "scale_gradients", "unlearn"]

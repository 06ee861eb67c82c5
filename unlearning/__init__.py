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
from .experiment import DEFAULT_METHODS, MethodRun, Report, run_experiment, train_cnn
from .explain import GradientScaler, interpretable_weight, lime_coefficients, scale_gradients
from .interpretable import InterpretableWeights
from .methods import RunRecord, UnlearningMethod, UnlearningResult, available, get_method
from .metrics import Evaluation, evaluate
from .models import make_classifier, predict_proba
from .run import unlearn

__all__ = ["DEFAULT_METHODS", "Evaluation", "GradientScaler", "InterpretableWeights", "MethodRun", "Report",
           "RunRecord", "UnlearningConfig", "UnlearningData", "UnlearningMethod", "UnlearningResult", "available",
           "evaluate", "get_method", "interpretable_weight", "lime_coefficients", "make_classifier", "predict_proba",
           "run_experiment", "scale_gradients", "train_cnn", "unlearn"]

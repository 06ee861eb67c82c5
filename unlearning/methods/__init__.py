"""The registry of unlearning methods: one lower_snake name per module, one shared signature.

Standard classifier ("cnn", any ``nn.Module`` returning logits): ``original``, ``retrain``,
``mu``, ``imu`` and the field's baselines ``gradient_ascent``, ``random_label``, ``l1_sparse``,
``salun``, ``scrub``. Multi-agent learner ("ma", ``agents.MAReinforce``): ``ma_original``,
``ma_retrain``, ``ma_lstm_retrain``, ``masmu``, ``malmu``, ``masimu``, ``malimu``. (``original`` and ``retrain``
also accept the multi-agent learner; the ``ma_`` names exist so a report has one row per model kind:
``ma_retrain`` retrains the GRU original, ``ma_lstm_retrain`` the LSTM one.)
"""

from __future__ import annotations

from collections.abc import Sequence

from .common import RunRecord, UnlearningMethod, UnlearningResult
from .gradient_ascent import GradientAscent
from .imu import Imu
from .l1_sparse import L1Sparse
from .ma_original import MaOriginal
from .ma_lstm_retrain import MaLstmRetrain
from .ma_retrain import MaRetrain
from .malimu import Malimu
from .malmu import Malmu
from .masimu import Masimu
from .masmu import Masmu
from .mu import Mu
from .original import Original
from .random_label import RandomLabel
from .retrain import Retrain
from .salun import Salun
from .scrub import Scrub

METHODS: dict[str, type[UnlearningMethod]] = {cls.name: cls for cls in (
    Original, Retrain, Mu, Imu, GradientAscent, RandomLabel, L1Sparse, Salun, Scrub,
    MaOriginal, MaRetrain, MaLstmRetrain, Masmu, Malmu, Masimu, Malimu)}

PAPER_METHODS = ("retrain", "mu", "imu", "masmu", "malmu", "masimu", "malimu")
#: Every method in report order: references, the paper's frameworks, then the field's baselines.
ALL_METHODS = ("original", "retrain", "mu", "imu", "ma_original", "ma_retrain", "ma_lstm_retrain", "masmu", "malmu",
               "masimu", "malimu", "gradient_ascent", "random_label", "l1_sparse", "salun", "scrub")
#: The gold-standard Retrain of each model kind (CNN, GRU learner, LSTM learner).
RETRAINS = ("retrain", "ma_retrain", "ma_lstm_retrain")
BASELINES = ("gradient_ascent", "random_label", "l1_sparse", "salun", "scrub")


def get_method(name: str) -> UnlearningMethod:
    """The registered method ``name`` (an instance, callable as ``method(model, data, config)``)."""
    try:
        return METHODS[name]()
    except KeyError:
        raise ValueError(f"Unknown unlearning method {name!r}; available: {', '.join(sorted(METHODS))}.") from None


def settings_read_by(methods: Sequence[str]) -> frozenset[str]:
    """The UnlearningConfig fields that at least one of ``methods`` reads (``run_experiment`` refuses shared settings
    outside it), e.g. to pass a script's convenience settings only where they apply."""
    from .common import COMMON_SETTINGS

    used = set(COMMON_SETTINGS)
    for name in methods:
        used |= get_method(name).settings_used(METHODS[name].model_kind == "ma")
    return frozenset(used)


def available() -> list[str]:
    """Names accepted by :func:`get_method` and :func:`unlearning.unlearn`."""
    return sorted(METHODS)


__all__ = ["ALL_METHODS", "BASELINES", "METHODS", "PAPER_METHODS", "RETRAINS", "RunRecord", "UnlearningMethod",
           "UnlearningResult", "available", "get_method", "settings_read_by"]

"""Original: no unlearning; the trained model itself, the upper bound of forget-set accuracy."""

from __future__ import annotations

from typing import Any

from ..config import UnlearningConfig
from ..data import UnlearningData
from .common import COMMON_SETTINGS, RunRecord, UnlearningMethod, UnlearningResult, private_copy


class Original(UnlearningMethod):
    """Returns a copy of the original model untouched (0 epochs, 0 s); works for any model kind."""

    name = "original"
    model_kind = "cnn"
    DEFAULTS = {"epochs": 0}
    reference = "no unlearning"

    def settings_used(self, multi_agent: bool) -> frozenset[str]:
        return frozenset()  # nothing trains

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        return UnlearningResult(private_copy(model, config.device),
                                RunRecord(self.name, self.model_kind, 0.0, 0.0, 0, [],
                                          {k: v for k, v in config.to_dict().items() if k in COMMON_SETTINGS}))

"""Retrain of the multi-agent learner from scratch on the retain set (the MA frameworks' gold standard)."""

from __future__ import annotations

from .common import require_multi_agent
from .retrain import Retrain


class MaRetrain(Retrain):
    """:class:`Retrain` for the multi-agent learner; rejects a standard classifier."""

    name = "ma_retrain"
    model_kind = "ma"

    def run(self, model, data, config, on_epoch_end=None):  # type: ignore[no-untyped-def]
        require_multi_agent(self.name, model)
        return super().run(model, data, config, on_epoch_end)


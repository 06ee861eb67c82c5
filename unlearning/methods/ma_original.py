"""Original multi-agent model: no unlearning (the "original" row for the MA frameworks)."""

from __future__ import annotations

from .common import require_multi_agent
from .original import Original


class MaOriginal(Original):
    """:class:`Original` for the multi-agent learner; rejects a standard classifier."""

    name = "ma_original"
    model_kind = "ma"

    def run(self, model, data, config, on_epoch_end=None):  # type: ignore[no-untyped-def]
        require_multi_agent(self.name, model)
        return super().run(model, data, config, on_epoch_end)

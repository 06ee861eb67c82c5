"""Retrain of the LSTM multi-agent learner (MALMU family) from scratch on the retain set."""

from __future__ import annotations

from .ma_retrain import MaRetrain


class MaLstmRetrain(MaRetrain):
    """:class:`MaRetrain` of the LSTM learner: the gold standard that MALMU and MALIMU are scored against.

    It is the same method as ``ma_retrain``; the separate name gives the LSTM original its own Retrain row in a
    report (``ma_retrain`` retrains the GRU original).
    """

    name = "ma_lstm_retrain"

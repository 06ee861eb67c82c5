"""Suite-wide settings: the tests use tiny networks and images, which run fastest on one torch thread
(two intra-op threads on a 2-core CI machine mostly add synchronisation cost)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)

"""Shared test settings: one torch thread (CI has 2 cores), quiet Ray."""
import os

import torch

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
torch.set_num_threads(1)

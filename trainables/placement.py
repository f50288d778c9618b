"""Which accelerator Ray gave a trial. Ray sets CUDA_VISIBLE_DEVICES in the trial's worker to the
GPU(s) it assigned (with `sweep.resources.gpu: 0.25`, four trials share one id), so `train.device:
auto` resolves to `cuda`, i.e. that GPU, inside the worker; the ids are recorded with the results."""
from __future__ import annotations

import json

import ray


def placement() -> dict[str, str]:
    """{'ray_gpu_ids': JSON list of the GPU ids Ray assigned this trial ('[]' without GPUs)}."""
    try:
        ids = [str(i) for i in ray.get_gpu_ids()]
    except Exception:  # not inside a Ray worker (e.g. a unit test calling the session directly)
        ids = []
    return {"ray_gpu_ids": json.dumps(ids)}

"""What the figures were measured on: CPU model and cores, GPU, torch / CUDA versions, load."""
from __future__ import annotations

import os
import platform
import socket
from typing import Any

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def machine_tag(info: dict[str, Any]) -> str:
    """A short file-name-safe name: the GPU if any, else the CPU, with the core count."""
    name = info["gpu"] or info["cpu_model"]
    safe = "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()
    while "--" in safe:
        safe = safe.replace("--", "-")
    return f"{safe[:40]}-{info['cpu_cores']}c"

"""Helpers shared by the benchmark scripts: machine description and README sections.

The scripts are run as ``python benchmarks/bench_<name>.py``; they import this module from their
own directory (see the ``sys.path`` line at the top of each).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

__all__ = ["cpu_name", "machine_info", "write_readme_section"]


def cpu_name() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``model name``), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(*, with_torch: bool = False, with_device: bool = False, **extra) -> dict:
    """Describe the machine: ``cpu``, ``cores``, ``python`` and ``load_avg_start``.

    ``with_torch`` adds ``torch_threads`` and ``torch`` (the version); ``with_device`` adds
    ``device`` (``"cuda"`` when available, else ``"cpu"``) and ``gpu`` (its name, or ``None``).
    Both import torch. ``extra`` items (e.g. library versions) come last, before
    ``load_avg_start``. Key order: cpu, cores, torch_threads, torch, python, device, gpu,
    *extra, load_avg_start.
    """
    info: dict = {"cpu": cpu_name(), "cores": os.cpu_count()}
    if with_torch or with_device:
        import torch
    if with_torch:
        info["torch_threads"] = torch.get_num_threads()
        info["torch"] = torch.__version__
    info["python"] = platform.python_version()
    if with_device:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        info["device"] = device
        info["gpu"] = torch.cuda.get_device_name(0) if device == "cuda" else None
    info.update(extra)
    info["load_avg_start"] = list(os.getloadavg())
    return info


def write_readme_section(
    readme: Path, begin: str, end: str, section: str, intro: str = "# Benchmarks\n"
) -> None:
    """Put ``section`` (which includes its ``begin`` / ``end`` marker lines) into ``readme``.

    Replaces the text from ``begin`` to ``end`` when both markers are present, else appends the
    section after a blank line. A missing file starts as ``intro``. The file is read right before
    writing: other benchmarks own other sections of it.
    """
    text = readme.read_text() if readme.is_file() else intro
    if begin in text and end in text:
        text = re.sub(
            re.escape(begin) + r".*?" + re.escape(end), lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(text)

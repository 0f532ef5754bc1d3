"""Exceptions whose message is a one-line, user-facing explanation.

The CLI turns every :class:`C2AMError` into ``error: <message>`` on stderr and exit code 2, so the
message must name the file, key or value at fault.
"""

from __future__ import annotations


class C2AMError(Exception):
    """Base class for errors caused by user input (data, arguments, configs)."""


class DataError(C2AMError):
    """A dataset tree is missing, malformed or inconsistent.

    Args:
        path: The file or folder at fault (shown first in the message).
        problem: What is wrong with it.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(C2AMError):
    """A config key, value or command-line option is invalid."""


class CheckpointError(C2AMError):
    """A checkpoint cannot be loaded safely or does not match the model."""


class UndertrainedError(ConfigError):
    """An input that an under-trained upstream stage produces, e.g. a Global CAM with an
    all-zero class after a few iterations on a handful of images.

    A real run refuses it like any bad input; ``compare --dry-run`` reports the stage as checked
    as far as a short run allows, with this message as the reason, and goes on.
    """


class TrainingDiverged(C2AMError):
    """A training's loss (or the model's scores) became NaN or infinite.

    Unlike other input errors, the run's work dir is kept: its log is the evidence (no weights
    file and no ``metrics.json`` are written, so nothing takes the run for a finished one).

    Args:
        message: the one-line explanation.
        log_dir: the kept log folder, once the message names it (set by ``FiniteLossHook``;
            ``train`` adds it to a divergence found by a metric).
    """

    def __init__(self, message: str, log_dir: object = None) -> None:
        self.log_dir = None if log_dir is None else str(log_dir)
        super().__init__(message)

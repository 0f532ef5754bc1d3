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

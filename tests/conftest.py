"""Shared test setup."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _mmseg_default_scope():
    """Registries resolve in mmseg's scope, whatever scope an earlier test's Runner left set."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmseg"):
        yield

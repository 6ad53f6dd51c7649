"""Suite-wide settings: no test writes into the checkout's default library folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_default_library(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_LIBRARY", str(tmp_path_factory.mktemp("default-library")))
    yield
    mp.undo()

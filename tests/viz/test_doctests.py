"""The views' docstring examples run."""

from __future__ import annotations

import doctest

import pytest

from workbench.viz import _sites, naming, trace_view


@pytest.mark.parametrize("module", [naming, _sites, trace_view])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0

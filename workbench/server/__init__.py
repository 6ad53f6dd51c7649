"""Jupyter server extension of the NTPT Workbench: the neural library's REST endpoints.

Enabled by ``jupyter-config/jupyter_server_config.d/ntpt_workbench.json`` (installed with the
package). The library location is the setting ``NTPTWorkbench.library`` (default: the Python API's
default location, ``$WORKBENCH_LIBRARY`` or ``./library``), e.g.
``jupyter lab --NTPTWorkbench.library=/data/lib``. Endpoints: see :mod:`workbench.server.handlers`.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import NTPTWorkbench

    return [{"module": "workbench.server", "app": NTPTWorkbench}]


"""The server extension app: holds the ``NTPTWorkbench.library`` setting and adds the handlers."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

from . import handlers, service


class NTPTWorkbench(ExtensionApp):
    """NTPT Workbench server extension: the neural library's REST endpoints."""

    name = "ntpt_workbench"
    description = "REST endpoints of the NTPT Workbench's neural library (/ntpt/library/...)"
    load_other_extensions = True

    library = Unicode(
        "", config=True,
        help="Location of the neural library served to JupyterLab (a path or fsspec URL). "
             "Empty: the Python API's default ($WORKBENCH_LIBRARY, else ./library).",
    )

    def initialize_settings(self) -> None:
        location = service.location_of(self.library)
        self.settings[handlers.SETTING] = location
        self.log.info("NTPT Workbench: neural library at %s", location)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers.routes())

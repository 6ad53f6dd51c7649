"""The REST endpoints under ``<base_url>/ntpt/library``; every verb requires authentication.

=======  ==========================================  =========================================
GET      /ntpt/library                               entries (summary, provenance, tags) + stamp
GET      /ntpt/library/stamp                         the change stamp only (cheap; polled)
GET      /ntpt/library/entries/<name>                one entry's history with metrics
DELETE   /ntpt/library/entries/<name>/versions/<v>   remove one version
GET      /ntpt/library/staging/<id>                  a staged function's draft manifest
POST     /ntpt/library/publish                       {"staging_id", "name"?}: publish a staged function
=======  ==========================================  =========================================

Errors are JSON ``{"error": type, "message", "hint"}`` with a 4xx status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.web import HTTPError

from ..core.errors import LibraryError, WorkbenchError
from ..library.errors import EntryNotFound, IntegrityError, InvalidName, PublishError, UnknownArchitecture
from ..library.staging import InvalidStagingId, StagedNotFound, StagingError
from . import service

SETTING = "ntpt_library"

# (error class, HTTP status), most specific first.
STATUS: list[tuple[type[BaseException], int]] = [
    (InvalidStagingId, 400), (InvalidName, 400), (PublishError, 400),
    (StagedNotFound, 404), (EntryNotFound, 404),
    (IntegrityError, 409),
    (UnknownArchitecture, 422), (StagingError, 422), (LibraryError, 400), (WorkbenchError, 422),
]


class BadRequest(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def error_body(e: BaseException) -> dict[str, Any]:
    hint = getattr(e, "hint", None)
    message = str(e.args[0]) if e.args else str(e)
    if hint and message.endswith(f"\n  hint: {hint}"):
        message = message[: -len(f"\n  hint: {hint}")]
    return {"error": type(e).__name__, "message": message, "hint": hint}


class LibraryHandler(APIHandler):
    """Base: runs a service call in a thread and maps library errors to 4xx JSON replies."""

    @property
    def location(self) -> str:
        return self.settings[SETTING]

    async def call(self, fn: Callable[..., Any], *args: Any, status: int = 200) -> None:
        try:
            result = await asyncio.to_thread(fn, self.location, *args)
        except BadRequest as e:
            return self.reply(400, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        except WorkbenchError as e:
            code = next(c for cls, c in STATUS if isinstance(e, cls))
            return self.reply(code, error_body(e))
        self.reply(status, result)

    def reply(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the request body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every other error (403 without a valid token, 404, 405, 500) as the same JSON shape."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        reason = exc.reason if isinstance(exc, HTTPError) and exc.reason else None
        message = (exc.log_message if isinstance(exc, HTTPError) else None) or self._reason
        hint = "send the server's token (Authorization: token ...) or log in" if status_code == 403 else None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": reason or ("Forbidden" if status_code == 403 else self._reason),
                                "message": message if status_code != 500 else "internal server error",
                                "hint": hint}))


class ListHandler(LibraryHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(service.list_entries)


class StampHandler(LibraryHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(lambda loc: {"stamp": service.stamp(loc), "location": loc})


class EntryHandler(LibraryHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(service.entry_detail, name)


class VersionHandler(LibraryHandler):
    @tornado.web.authenticated
    async def delete(self, name: str, version: str) -> None:
        await self.call(service.remove_version, name, version)


class StagingHandler(LibraryHandler):
    @tornado.web.authenticated
    async def get(self, staging_id: str) -> None:
        await self.call(service.staged_info, staging_id)


class PublishHandler(LibraryHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        try:
            body = self.json_body()
            if "staging_id" not in body:
                raise BadRequest("the request needs a 'staging_id'",
                                 hint='send {"staging_id": "<32 hex digits>", "name": "<entry name>"}')
            unknown = set(body) - {"staging_id", "name"}
            if unknown:
                raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}",
                                 hint="only 'staging_id' and 'name' are accepted (paths are not)")
            name = body.get("name")
            if name is not None and not isinstance(name, str):
                raise BadRequest("'name' must be a string")
        except BadRequest as e:
            return self.reply(400, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        await self.call(service.publish_staged, body["staging_id"], name, status=201)


def routes(base: str = "ntpt/library") -> list[tuple[str, type[LibraryHandler]]]:
    seg = r"([^/]+)"
    return [
        (rf"/{base}/?", ListHandler),
        (rf"/{base}/stamp", StampHandler),
        (rf"/{base}/publish", PublishHandler),
        (rf"/{base}/staging/{seg}", StagingHandler),
        (rf"/{base}/entries/{seg}", EntryHandler),
        (rf"/{base}/entries/{seg}/versions/{seg}", VersionHandler),
    ]

"""The REST endpoints under ``<base_url>/ntpt/library``; every verb requires authentication.

=======  ==========================================  =========================================
GET      /ntpt/library                               entries (summary, provenance, tags) + stamp
GET      /ntpt/library/stamp                         the change stamp only (cheap; polled)
GET      /ntpt/library/entries/<name>                one entry's history with metrics
DELETE   /ntpt/library/entries/<name>/versions/<v>   remove one version
GET      /ntpt/library/staging/<id>?name=<n>         a staged function's draft + what publishing it changes
POST     /ntpt/library/publish                       {"staging_id", "name"?, "description"?, "tags"?}
POST     /ntpt/library/entries/<name>/pin            {"version": k or null}: what load(name) returns
POST     /ntpt/library/entries/<name>/versions/<v>/deprecate   {"reason"?, "undo"?}
=======  ==========================================  =========================================

Errors are JSON ``{"error": type, "message", "hint"}`` with a 4xx status: a body larger than
:data:`MAX_BODY` bytes is 413, one nested deeper than :data:`MAX_DEPTH` is 400, any other path
under the prefix is a JSON 404. Replies never contain a bare ``NaN`` (non-finite numbers become
``null``). A 5xx is only for the server's own faults (a full disk: 507), never for what a client sent.
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
from collections.abc import Callable
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.web import HTTPError

from ..core.errors import LibraryError, WorkbenchError
from ..library import (
    DuplicateWeights,
    EntryNotFound,
    IntegrityError,
    InvalidName,
    InvalidStagingId,
    LimitExceeded,
    PublishError,
    StagedNotFound,
    StagingError,
    StorageError,
    UnknownArchitecture,
    UnsafePath,
)
from . import service

SETTING = "ntpt_library"
MAX_BODY = 64 * 1024   # bytes of a request body (a publish request is ~100 bytes)
MAX_DEPTH = 8          # nesting of a request body's JSON

# (error class, HTTP status), most specific first.
STATUS: list[tuple[type[BaseException], int]] = [
    (DuplicateWeights, 409), (InvalidStagingId, 400), (InvalidName, 400), (PublishError, 400),
    (StagedNotFound, 404), (EntryNotFound, 404),
    (IntegrityError, 409), (UnsafePath, 409), (LimitExceeded, 413),
    (UnknownArchitecture, 422), (StagingError, 422), (LibraryError, 400), (WorkbenchError, 422),
]


def status_of(e: WorkbenchError) -> int:
    if isinstance(e, StorageError):
        full = e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
        return 507 if full else 503
    return next(c for cls, c in STATUS if isinstance(e, cls))


def json_text(body: Any) -> str:
    """JSON without bare NaN/Infinity (the panel's JSON.parse refuses them): non-finite -> null."""
    try:
        return json.dumps(body, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(body), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


class BadRequest(Exception):
    def __init__(self, message: str, hint: str | None = None, status: int = 400):
        super().__init__(message)
        self.hint = hint
        self.status = status


def error_body(e: BaseException) -> dict[str, Any]:
    hint = getattr(e, "hint", None)
    message = str(e.args[0]) if e.args else str(e)
    if hint and message.endswith(f"\n  hint: {hint}"):
        message = message[: -len(f"\n  hint: {hint}")]
    body = {"error": type(e).__name__, "message": message, "hint": hint}
    if isinstance(e, DuplicateWeights):
        body["existing"] = e.existing
    return body


class LibraryHandler(APIHandler):
    """Base: runs a service call in a thread and maps library errors to 4xx JSON replies."""

    @property
    def location(self) -> str:
        return self.settings[SETTING]

    async def call(self, fn: Callable[..., Any], *args: Any, status: int = 200) -> None:
        try:
            result = await asyncio.to_thread(fn, self.location, *args)
        except BadRequest as e:
            return self.reply(e.status, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        except WorkbenchError as e:
            return self.reply(status_of(e), error_body(e))
        except OSError as e:  # the server's storage, not the request: still JSON, never a bare 500
            self.log.warning("NTPT Workbench: storage error: %s", e)
            code = 507 if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) else 503
            return self.reply(code, {"error": "StorageError", "message": f"the library's storage failed: {e}",
                                     "hint": "check the library directory of the Jupyter server"})
        self.reply(status, result)

    def reply(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json_text(body))

    def json_body(self) -> dict[str, Any]:
        raw = self.request.body or b"{}"
        if len(raw) > MAX_BODY:
            raise BadRequest(f"the request body has {len(raw)} bytes, more than {MAX_BODY}", status=413,
                             hint='send {"staging_id": "<32 hex digits>", "name": "<entry name>"}')
        try:
            body = json.loads(raw)
        except RecursionError as e:
            raise BadRequest(f"the request body is nested too deeply (at most {MAX_DEPTH} levels)") from e
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the request body is not JSON: {str(e)[:200]}") from e
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object",
                             hint='send {"staging_id": "<32 hex digits>", "name": "<entry name>"}')
        if _depth(body) > MAX_DEPTH:
            raise BadRequest(f"the request body is nested too deeply (at most {MAX_DEPTH} levels)")
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


class NotFoundHandler(LibraryHandler):
    """Every other path under the prefix, any method: a JSON 404 (not Jupyter's HTML page)."""

    def _not_found(self, *args: Any) -> None:
        self.reply(404, {"error": "NotFound", "message": f"no endpoint {self.request.path}",
                         "hint": "endpoints: GET /ntpt/library, /stamp, /entries/<name>, /staging/<id>; "
                                 "POST /publish, /entries/<name>/pin, /entries/<name>/versions/<v>/deprecate; "
                                 "DELETE /entries/<name>/versions/<v>"})

    get = post = put = delete = patch = head = options = _not_found

    def check_xsrf_cookie(self) -> None:  # nothing is done here, so nothing to protect
        return None


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
        name = self.get_argument("name", None)
        if name is not None and len(name) > 1000:
            return self.reply(400, {"error": "BadRequest", "message": "'name' is too long", "hint": None})
        await self.call(service.staged_info, staging_id, name)


class PublishHandler(LibraryHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        try:
            body = self.json_body()
            if "staging_id" not in body:
                raise BadRequest("the request needs a 'staging_id'",
                                 hint='send {"staging_id": "<32 hex digits>", "name": "<entry name>"}')
            unknown = set(body) - {"staging_id", "name", "description", "tags"}
            if unknown:
                raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}",
                                 hint="only 'staging_id', 'name', 'description' and 'tags' are accepted "
                                      "(paths are not)")
            name = body.get("name")
            if name is not None and not isinstance(name, str):
                raise BadRequest("'name' must be a string")
            description = body.get("description")
            if description is not None and (not isinstance(description, str) or len(description) > 4000):
                raise BadRequest("'description' must be a string of at most 4000 characters")
            tags = body.get("tags")
            if tags is not None and (not isinstance(tags, list) or len(tags) > 50
                                     or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags)):
                raise BadRequest("'tags' must be a list of at most 50 strings of 1..64 characters")
        except BadRequest as e:
            return self.reply(e.status, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        await self.call(service.publish_staged, body["staging_id"], name, description, tags, status=201)


class PinHandler(LibraryHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        try:
            body = self.json_body()
            if set(body) - {"version"} or "version" not in body:
                raise BadRequest("send {\"version\": <int>} to pin, {\"version\": null} to unpin")
        except BadRequest as e:
            return self.reply(e.status, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        await self.call(service.pin_version, name, body["version"])


class DeprecateHandler(LibraryHandler):
    @tornado.web.authenticated
    async def post(self, name: str, version: str) -> None:
        try:
            body = self.json_body()
            if set(body) - {"reason", "undo"}:
                raise BadRequest("only 'reason' and 'undo' are accepted")
            reason = body.get("reason", "deprecated")
            if not isinstance(reason, str) or len(reason) > 500:
                raise BadRequest("'reason' must be a string of at most 500 characters")
            if not isinstance(body.get("undo", False), bool):
                raise BadRequest("'undo' must be true or false")
        except BadRequest as e:
            return self.reply(e.status, {"error": "BadRequest", "message": str(e), "hint": e.hint})
        await self.call(service.deprecate_version, name, version, reason, body.get("undo", False))


def routes(base: str = "ntpt/library") -> list[tuple[str, type[LibraryHandler]]]:
    seg = r"([^/]+)"
    return [
        (rf"/{base}/?", ListHandler),
        (rf"/{base}/stamp", StampHandler),
        (rf"/{base}/publish", PublishHandler),
        (rf"/{base}/staging/{seg}", StagingHandler),
        (rf"/{base}/entries/{seg}", EntryHandler),
        (rf"/{base}/entries/{seg}/pin", PinHandler),
        (rf"/{base}/entries/{seg}/versions/{seg}", VersionHandler),
        (rf"/{base}/entries/{seg}/versions/{seg}/deprecate", DeprecateHandler),
        (rf"/{base}/.*", NotFoundHandler),
    ]

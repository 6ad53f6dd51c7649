"""Entry names, version numbers and their directory names.

>>> check_name("net_0")
'net_0'
>>> version_dir(7)
'000007'
>>> parse_ref("digit@3")
('digit', 3)
"""

from __future__ import annotations

import re

from .errors import InvalidName

MAX_NAME = 64
MAX_VERSION = 999_999_999  # nine digits: a 4,301-digit "version" is refused before int() sees it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_RULE = f"1..{MAX_NAME} characters of [A-Za-z0-9_.-], starting with a letter or digit, without '..'"


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid entry name, else raise :class:`InvalidName` with a hint."""
    if not isinstance(name, str):
        raise InvalidName(f"an entry name must be a string, got {type(name).__name__}", hint=f"use {_RULE}")
    problem = None
    if not name:
        problem = "is empty"
    elif len(name) > MAX_NAME:
        problem = f"has {len(name)} characters (at most {MAX_NAME})"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "contains control characters"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif ".." in name:
        problem = "contains '..'"
    elif not _NAME.fullmatch(name):
        problem = "has characters outside [A-Za-z0-9_.-] or does not start with a letter or digit"
    if problem is None:
        return name
    suggestion = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:MAX_NAME]
    hint = f"use {_RULE}" + (f", e.g. {suggestion!r}" if suggestion else "")
    raise InvalidName(f"invalid library entry name {name!r}: it {problem}", entry=None, hint=hint)


def check_version(version: object, *, entry: str | None = None) -> int:
    """A version number: a positive int up to MAX_VERSION (a string of digits is accepted too)."""
    if isinstance(version, str) and version.isascii() and version.isdigit() and len(version) <= 12:
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and abs(version) > 10**40:
            shown = f"{'-' if version < 0 else ''}({version.bit_length()}-bit integer)"
        else:
            text = repr(version) if version is None or isinstance(version, (str, int, float)) else type(version).__name__
            shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
        raise InvalidName(f"invalid version {shown}" + (f" of entry '{entry}'" if entry else ""),
                          entry=entry, hint=f"versions are positive integers: 1, 2, ... (at most {MAX_VERSION})")
    return version


def version_dir(version: int) -> str:
    """The directory name of a version: zero-padded to six digits."""
    return f"{version:06d}"


def parse_version_dir(dirname: str) -> int | None:
    """The version a directory name stands for, or None (temp dirs, stray files)."""
    if dirname.isascii() and dirname.isdigit() and int(dirname) > 0:
        return int(dirname)
    return None


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` or ``"name@version"`` -> ``(name, version or None)``, both checked."""
    name, sep, version = ref.rpartition("@") if "@" in ref else (ref, "", "")
    name = check_name(name)
    return name, check_version(version, entry=name) if sep else None


def function_name(entry: str) -> str:
    """A Python identifier for the neural function loaded from ``entry``."""
    ident = re.sub(r"\W", "_", entry)
    return ident if ident.isidentifier() else f"_{ident}"

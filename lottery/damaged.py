"""Damaged files (truncated Parquet, checkpoint, ticket) are one trial's problem, said in one line.

Readers that meet such a file name it once on stderr and carry on with what they can still trust;
a long traceback or a whole sweep stopping over one file helps nobody.
"""
from __future__ import annotations

import sys
from pathlib import Path

_reported: set[str] = set()


def describe(err: BaseException) -> str:
    """The error's type and first 200 characters on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def warn_damaged(kind: str, path: Path | str, err: BaseException, consequence: str) -> None:
    """One stderr line per damaged file and process: what, where, why, and what happens instead."""
    key = str(path)
    if key in _reported:
        return
    _reported.add(key)
    print(f"tickets: warning: damaged {kind} {key!r} ({describe(err)}); {consequence}", file=sys.stderr, flush=True)

"""One exception type for every mistake a user can fix; the CLI prints it as one line and exits 2."""

from __future__ import annotations


class OracleError(Exception):
    """A user-facing problem: the message names what is wrong and how to fix it."""

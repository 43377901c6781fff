"""Reading exception groups: trio's nurseries wrap even a lone error or a ``Cancelled``.

One place for the two questions the core asks of them: which single error is
inside, and is this a cancellation (a bare ``trio.Cancelled`` or a group of
them, as ``trio.run_process`` raises when its scope is cancelled)?
"""

from __future__ import annotations

import trio


def sole(error: BaseException) -> BaseException:
    """The one leaf of nested single-exception groups; ``error`` itself otherwise."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def is_cancellation(error: BaseException) -> bool:
    """A ``trio.Cancelled``, or a group with one somewhere inside (shutdown reached it)."""
    if isinstance(error, trio.Cancelled):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(is_cancellation(leaf) for leaf in error.exceptions)
    return False


__all__ = ["is_cancellation", "sole"]

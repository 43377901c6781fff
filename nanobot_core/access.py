"""Who may talk to the bot: the allow-list every channel applies first."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from attrs import field, frozen


class Access(enum.Enum):
    DENIED = "denied"
    USER = "user"
    ADMIN = "admin"  # allowed, and exempt from rate limits


def _ids(values: Iterable[object]) -> frozenset[str]:
    return frozenset(str(v) for v in values)


@frozen
class AccessPolicy:
    """Deny by default: only listed user ids are served; admins are always allowed.

    ``everyone=True`` is for channels whose only user is the local operator
    (the console).
    """

    allow_from: frozenset[str] = field(factory=frozenset, converter=_ids)
    admins: frozenset[str] = field(factory=frozenset, converter=_ids)
    everyone: bool = False

    @classmethod
    def operator(cls) -> AccessPolicy:
        """The local operator's channel: always allowed (rate limits still apply)."""
        return cls(everyone=True)

    def check(self, user_id: str) -> Access:
        if user_id in self.admins:
            return Access.ADMIN
        if self.everyone or user_id in self.allow_from:
            return Access.USER
        return Access.DENIED

"""Roles are ordered: each one can do everything the one below it can.

viewer reads gold; analyst also reads silver, quarantine and quality details; admin also uploads
files, starts runs and manages keys. An order (rather than a permission table) keeps the
authorization rule a single comparison that is easy to test exhaustively.
"""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """What a key may do; compare with :meth:`allows`."""

    viewer = "viewer"
    analyst = "analyst"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        """True when this role includes everything ``required`` may do."""
        return self.rank >= required.rank


_RANK = {Role.viewer: 0, Role.analyst: 1, Role.admin: 2}

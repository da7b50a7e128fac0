"""Tables of the register package (added by its own migrations)."""

from __future__ import annotations

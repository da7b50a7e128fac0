"""Tables of the ivr package (added by its own migrations)."""

from __future__ import annotations

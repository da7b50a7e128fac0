"""The call flow's webhooks: /voice/incoming, /voice/status, /voice/fallback and each step's
action URL."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("voice", __name__, url_prefix="/voice")

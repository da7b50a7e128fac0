"""The Plataforma queue's webhooks (waitUrl, Enqueue action, agent whisper and bridge)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("queue", __name__, url_prefix="/voice/queue")

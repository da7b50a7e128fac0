"""/supervision: the live board (supervisor, admin), its JSON snapshot, the supervisor's
actions (JSON POSTs with the CSRF header, each audit-logged) and the summary's player."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session

import livebus
import recording_media
from admin.auth import BOARD_ROLES, roles_required
from admin.security import live_stream_base
from board import actions, publisher
from board.settings import BoardSettings
from clock import utcnow
from extensions import db, redis_store
from routing.context import Context, from_app
from routing.queue import now_ms

TOPICS = ["board", "line"]
STALE_MS = 5000  # an older published snapshot is recomputed for the page

bp = Blueprint(
    "board",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/supervision/static",
)


def current_snapshot() -> dict[str, Any]:
    """The last snapshot published, or one computed now when the publisher is behind."""
    r = redis_store.client
    found = publisher.last(r)
    if found is not None and now_ms() - int(found.get("ts", 0)) < STALE_MS:
        return found
    settings = BoardSettings.from_config(current_app.config)
    board, _alerts = publisher.compute(db.session(), r, settings, now_ms=now_ms())
    return board


@bp.get("/supervision")
@roles_required(*BOARD_ROLES)
def supervision() -> ResponseReturnValue:
    board = current_snapshot()
    ticket = livebus.ticket(current_app.config["SECRET_KEY"], int(current_user.id), TOPICS)
    return render_template(
        "board/supervision.html",
        board=board,
        live_url=live_stream_base(),
        ticket=ticket,
    )


@bp.get("/supervision/datos")
@roles_required(*BOARD_ROLES)
def datos() -> ResponseReturnValue:
    return jsonify(current_snapshot())


Action = Callable[[Session, Context, str], dict[str, Any]]  # (session, ctx, actor) -> result


def _act(action: Action) -> ResponseReturnValue:
    """Run a supervisor's action: committed with its audit row, its journey events handed to
    the register; 409 with the reason (Spanish) when it cannot be done now."""
    ctx = from_app()
    session = db.session()
    try:
        result = action(session, ctx, current_user.username)
    except actions.ActionRefused as exc:
        session.rollback()
        return jsonify({"ok": False, "error": str(exc)}), 409
    session.commit()
    ctx.hand_over()
    return jsonify({"ok": True, **result})


@bp.post("/supervision/agentes/<int:agent_id>/estado")
@roles_required(*BOARD_ROLES)
def agente_estado(agent_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    target = str(body.get("estado", ""))
    return _act(
        lambda session, ctx, actor: actions.set_agent_state(
            session, ctx, agent_id, target, actor=actor, now_ms=now_ms()
        )
    )


@bp.post("/supervision/llamadas/<call_sid>/devolucion")
@roles_required(*BOARD_ROLES)
def devolucion(call_sid: str) -> ResponseReturnValue:
    return _act(
        lambda session, ctx, actor: actions.take_to_callback(
            session, ctx, call_sid, actor=actor, now=utcnow(), now_ms=now_ms()
        )
    )


@bp.post("/supervision/llamadas/<call_sid>/adelantar")
@roles_required(*BOARD_ROLES)
def adelantar(call_sid: str) -> ResponseReturnValue:
    return _act(lambda session, ctx, actor: actions.move_up(session, ctx, call_sid, actor=actor))


@bp.post("/supervision/llamadas/<call_sid>/escuchar")
@roles_required(*BOARD_ROLES)
def escuchar(call_sid: str) -> ResponseReturnValue:
    """The supervisor starts the summary's player: logged, then the audio URL to play."""
    session = db.session()
    if actions.summary_url(session, from_app(), call_sid) is None:
        return jsonify({"ok": False, "error": "Esta llamada no tiene resumen grabado."}), 404
    actions.listened(session, call_sid, actor=current_user.username)
    session.commit()
    return jsonify({"ok": True, "audio": f"/supervision/llamadas/{call_sid}/resumen"})


@bp.get("/supervision/llamadas/<call_sid>/resumen")
@roles_required(*BOARD_ROLES)
def resumen(call_sid: str) -> ResponseReturnValue:
    """The summary's audio, fetched from Twilio with the account's credentials."""
    url = actions.summary_url(db.session(), from_app(), call_sid)
    if url is None:
        abort(404)
    return recording_media.proxied(url, current_app.config, f"summary of {call_sid}")

"""The agents' JSON API (the console uses it): presence, transfers, atención presencial, the
callback list.

Authentication: ``Authorization: Bearer <token>``. An agent's token is ``<agent_id>.<hmac>``,
issued with ``flask --app app routing agent-token AGENT_ID`` (HMAC-SHA256 of the agent id under
SECRET_KEY: rotating SECRET_KEY revokes every token); it acts only as that agent. The
supervisor token is the ROUTING_API_TOKEN setting (unset: no supervisor token) and may act for
any agent. A signed-in Flask-Login user with an ``agent_id`` is accepted too (the web console);
its POSTs must be JSON (a cross-site form cannot send JSON without a CORS preflight).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import asdict, dataclass
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, make_response, request
from flask_login import current_user

from clock import lima_now
from directory.models import Agent
from extensions import db
from register import callbacks
from routing import agents, authorities, flows
from routing import queue as line
from routing.context import from_app
from routing.dispatch import try_dispatch

bp = Blueprint("routing_api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    agent_id: int | None  # None: the supervisor
    name: str

    def may_act_for(self, agent_id: int) -> bool:
        return self.agent_id is None or self.agent_id == agent_id


def agent_token(secret: str, agent_id: int) -> str:
    digest = hmac.new(secret.encode(), f"agent:{agent_id}".encode(), hashlib.sha256).hexdigest()
    return f"{agent_id}.{digest}"


def authenticate() -> Caller | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip()
        supervisor = current_app.config.get("ROUTING_API_TOKEN")
        if supervisor and hmac.compare_digest(token, supervisor):
            return Caller(None, "supervisor")
        head, _, _ = token.partition(".")
        if head.isdigit():
            expected = agent_token(current_app.config["SECRET_KEY"], int(head))
            if hmac.compare_digest(token, expected):
                agent = db.session.get(Agent, int(head))
                return Caller(int(head), agent.nombre if agent else f"agente {head}")
        return None
    user = current_user
    if getattr(user, "is_authenticated", False) and getattr(user, "agent_id", None):
        return Caller(int(user.agent_id), str(user.username))
    return None


def _error(status: int, message: str) -> Response:
    return make_response(jsonify({"error": message}), status)


@bp.errorhandler(redis.RedisError)
def line_unavailable(exc: redis.RedisError) -> Response:
    """Redis (the line and the agents' presence) failing: 503, said so, on every endpoint."""
    log.error("API %s without Redis: %s", request.path, exc)
    return _error(
        503,
        "La fila de la Plataforma no está disponible en este momento (falla de Redis). "
        "Intente de nuevo en unos minutos.",
    )


@bp.before_request
def require_token() -> Response | None:
    if authenticate() is None:
        return _error(401, "Falta un token válido (Authorization: Bearer ...).")
    # A browser session (cookie) may only change things with a JSON request: another site
    # cannot send one without a CORS preflight, which this API never grants (CSRF).
    signed_by_cookie = not request.headers.get("Authorization", "").startswith("Bearer ")
    if signed_by_cookie and request.method == "POST" and not request.is_json:
        return _error(415, "Envíe JSON (Content-Type: application/json).")
    return None


def _caller() -> Caller:
    found = authenticate()
    assert found is not None
    return found


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.get("/agents/<int:agent_id>/state")
def agent_state(agent_id: int) -> Response:
    if not _caller().may_act_for(agent_id):
        return _error(403, "Solo puede ver su propio estado.")
    return jsonify(asdict(agents.presence(from_app().r, agent_id)))


@bp.post("/agents/<int:agent_id>/state")
def set_agent_state(agent_id: int) -> Response:
    if not _caller().may_act_for(agent_id):
        return _error(403, "Solo puede cambiar su propio estado.")
    target = str(_json().get("state", ""))
    if target not in agents.SETTABLE_STATES:
        return _error(400, f"Estado no válido; use {', '.join(agents.SETTABLE_STATES)}.")
    ctx = from_app()
    now = line.now_ms()
    try:
        state = agents.set_state_from_directory(
            db.session(), ctx.r, agent_id, target, now=now, settings=ctx.settings
        )
    except LookupError:
        return _error(404, "No existe ese agente.")
    except agents.StateRefused as exc:
        return _error(409, f"No se puede: el agente está {exc.current}.")
    if state in ("available", "wrap_up"):
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return jsonify({"agent_id": agent_id, "state": state})


@bp.get("/queue")
def waiting() -> Response:
    return jsonify({"waiting": line.waiting_snapshot(from_app().r)})


def _acting_agent(data: dict[str, Any]) -> int | None:
    caller = _caller()
    if caller.agent_id is not None:
        return caller.agent_id
    value = data.get("agent_id")
    return int(value) if value is not None else None


@bp.post("/calls/<call_sid>/transfer")
def transfer(call_sid: str) -> Response:
    data = _json()
    agent_id = _acting_agent(data)
    anexo = flows.anexo_of(db.session(), anexo=data.get("anexo"), organo=data.get("organo"))
    if anexo is None:
        return _error(400, "Indique un anexo (solo dígitos) o un órgano con titular.")
    ctx = from_app()
    try:
        authorities.transfer(
            ctx, call_sid, agent_id=agent_id, anexo=anexo, by=_caller().name, now=line.now_ms()
        )
    except authorities.NotOnThisCall:
        return _error(409, "Esa llamada no está conectada con este agente.")
    ctx.hand_over()
    return jsonify({"call_sid": call_sid, "transferred_to": anexo})


@bp.post("/calls/<call_sid>/presencial")
def presencial(call_sid: str) -> Response:
    """``{"nombre", "entidad", "fecha": "AAAA-MM-DD", "hora": "HH:MM", "organo"?}``: the visit
    agreed with the authority (the órgano defaults to the one chosen in the IVR)."""
    data = _json()
    agent_id = _acting_agent(data)
    ctx = from_app()
    try:
        visit = authorities.visit_for_call(db.session(), ctx, call_sid, data, now=lima_now())
    except authorities.VisitInvalid as exc:
        return _error(400, str(exc))
    try:
        authorities.presencial(
            ctx, call_sid, agent_id=agent_id, by=_caller().name, visit=visit, now=line.now_ms()
        )
    except authorities.NotOnThisCall:
        return _error(409, "Esa llamada no está conectada con este agente.")
    ctx.hand_over()
    return jsonify({"call_sid": call_sid, "presencial": True, "visita": visit.as_data()})


@bp.get("/callbacks")
def callback_list() -> Response:
    rows = callbacks.open_requests(db.session())
    return jsonify({"callbacks": [asdict(callbacks.CallbackView.of(r)) for r in rows]})


@bp.post("/callbacks/<int:callback_id>/take")
def callback_take(callback_id: int) -> Response:
    try:
        found = callbacks.take(db.session(), callback_id, _caller().name)
    except callbacks.CallbackError as exc:
        return _error(409, str(exc))
    return jsonify(asdict(callbacks.CallbackView.of(found)))


@bp.post("/callbacks/<int:callback_id>/done")
def callback_done(callback_id: int) -> Response:
    data = _json()
    try:
        found = callbacks.record_attempt(
            db.session(),
            callback_id,
            agent=_caller().name,
            outcome=str(data.get("outcome", "realizada")),
            note=data.get("note"),
        )
    except callbacks.CallbackError as exc:
        return _error(409, str(exc))
    return jsonify(asdict(callbacks.CallbackView.of(found)))

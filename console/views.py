"""The agent's console: the page (/agente), the softphone's Access Token (/agente/token), the
agent's presence and the snapshot the page loads (/agente/api/estado), the closing beacon, the
softphone's health, and the caller's recorded summary (a proxy with the account's
credentials, as /buzon plays voice messages).

The page loads /agente/api/estado, then listens to the live process (``agent:<id>``, a ticket
this view signs) and applies ``state``, ``offer``, ``leg`` and ``call`` events as they come.
Call control (/agente/api/llamada/..., órganos, devoluciones) is console/calls' business.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

import livebus
import recording_media
from admin.auth import CONSOLE_ROLES, roles_required
from admin.security import content_security_policy, live_stream_base
from directory.dialing import agent_target
from directory.models import Agent
from extensions import db
from routing import agents, screenpop
from routing import queue as line
from routing.context import from_app
from routing.dispatch import try_dispatch

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/agente/static",
)
log = logging.getLogger(__name__)


PAUSE_LABELS = {
    "refrigerio": "Refrigerio",
    "capacitacion": "Capacitación",
    "gestion": "Gestión",
    "bano": "Baño",
}
STATE_LABELS = {
    "offline": "Desconectado",
    "available": "Disponible",
    "ringing": "Timbrando",
    "on_call": "En llamada",
    "wrap_up": "Cierre de llamada",
    "paused": "En pausa",
}
REASON_LABELS = PAUSE_LABELS | {
    "sin_respuesta": "no contestó dos llamadas seguidas",
    "consola_cerrada": "la consola se cerró o perdió la conexión",
    "sin_softphone": "el teléfono del navegador perdió su registro",
}
SOFTPHONE_MISSING = (
    "El teléfono del navegador no está configurado en este servidor "
    "(faltan TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET o TWILIO_TWIML_APP_SID). "
    "Los agentes con anexo o SIP pueden usar la consola igual; el audio va por su teléfono."
)


def json_error(status: int, message: str) -> Response:
    """``{"error": message}`` with that status (the console's API answers errors so)."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _linked_agent() -> Agent | None:
    agent_id = getattr(current_user, "agent_id", None)
    return db.session.get(Agent, agent_id) if agent_id else None


def _agent() -> Agent:
    """The signed-in user's agent (403 for a user linked to none)."""
    agent = _linked_agent()
    if agent is None:
        abort(403, "Su usuario no está vinculado a un agente de la Plataforma.")
    return agent


def softphone_configured() -> bool:
    config = current_app.config
    return all(
        config.get(name)
        for name in ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_TWIML_APP_SID")
    )


def client_identity(agent: Agent) -> str | None:
    """The Client identity the engine dials for this agent (directory.dialing.agent_target);
    None for an agent on an anexo or SIP."""
    target = agent_target(agent.canal, agent.destino, current_app.config["ANEXO_DIAL"])
    return target.address if target.kind == "client" else None


@bp.get("/agente")
@roles_required(*CONSOLE_ROLES)
def agente() -> ResponseReturnValue:
    agent = _linked_agent()
    if agent is None:  # an agent's start page: said, not a bare 403
        return render_template("console/sin_agente.html")
    settings = from_app().settings
    base = live_stream_base()
    ticket = livebus.ticket(
        current_app.config["SECRET_KEY"], current_user.id, [f"agent:{agent.id}"]
    )
    html = render_template(
        "console/agente.html",
        agent=agent,
        identity=client_identity(agent),
        softphone=softphone_configured(),
        softphone_missing=SOFTPHONE_MISSING,
        live_stream=f"{base}/stream?ticket={ticket}",
        pause_labels=PAUSE_LABELS,
        state_labels=STATE_LABELS,
        reason_labels=REASON_LABELS,
        ring_seconds=settings.ring_timeout_seconds,
        wrap_seconds=settings.wrap_up_seconds,
        token_ttl=int(current_app.config["SOFTPHONE_TOKEN_TTL_SECONDS"]),
    )
    response = Response(html, mimetype="text/html")
    # the softphone's signalling and media endpoints besides the live stream
    response.headers["Content-Security-Policy"] = content_security_policy(
        connect=(livebus.origin_of(base), "wss://*.twilio.com", "https://*.twilio.com"),
        media=("blob:",),
    )
    # The page uses the microphone (the softphone); the staff pages' default keeps camera and
    # location off.
    response.headers["Permissions-Policy"] = "camera=(), geolocation=(), microphone=(self)"
    return response


@bp.get("/agente/token")
@roles_required(*CONSOLE_ROLES)
def token() -> ResponseReturnValue:
    """A short-lived Access Token with a VoiceGrant for the agent's Client identity."""
    agent = _agent()
    if not softphone_configured():
        return json_error(503, SOFTPHONE_MISSING)
    identity = client_identity(agent)
    if identity is None:
        return json_error(
            409,
            f"Su canal es {agent.canal}: las llamadas le llegan a su teléfono "
            f"({agent.destino}), no al navegador.",
        )
    config = current_app.config
    ttl = int(config["SOFTPHONE_TOKEN_TTL_SECONDS"])
    access = AccessToken(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_API_KEY_SID"],
        config["TWILIO_API_KEY_SECRET"],
        identity=identity,
        ttl=ttl,
    )
    access.add_grant(
        VoiceGrant(outgoing_application_sid=config["TWILIO_TWIML_APP_SID"], incoming_allow=True)
    )
    return jsonify({"token": access.to_jwt(), "identity": identity, "ttl": ttl})


def _snapshot(agent: Agent) -> dict[str, Any]:
    r = from_app().r
    found = agents.presence(r, agent.id)
    offer = None
    if found.call_sid:
        offer = screenpop.offer_for(
            db.session(),
            r,
            screenpop.PopSettings.from_config(current_app.config),
            found.call_sid,
            role=current_user.role,
        )
    return {
        "presencia": found.as_event(),
        "oferta": offer,
        "agente": {
            "id": agent.id,
            "nombre": agent.nombre,
            "canal": agent.canal,
            "destino": agent.destino if agent.canal != "client" else None,
        },
        "servidor_ms": line.now_ms(),
    }


@bp.get("/agente/api/estado")
@roles_required(*CONSOLE_ROLES)
def estado() -> ResponseReturnValue:
    return jsonify(_snapshot(_agent()))


@bp.post("/agente/api/estado")
@roles_required(*CONSOLE_ROLES)
def cambiar_estado() -> ResponseReturnValue:
    """``{"estado": "available" | "paused" | "offline", "motivo"?: PAUSE_REASONS}``."""
    agent = _agent()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(415, "Envíe JSON (Content-Type: application/json).")
    target = str(data.get("estado", ""))
    reason = data.get("motivo") or None
    if target not in ("available", "paused", "offline"):
        return json_error(400, "Estado no válido: Disponible, En pausa o Desconectado.")
    if target == "paused" and reason not in PAUSE_LABELS:
        return json_error(
            400, "Elija el motivo de la pausa: " + ", ".join(PAUSE_LABELS.values()) + "."
        )
    if target != "paused":
        reason = None
    ctx = from_app()
    now = line.now_ms()
    agents.mark_console(ctx.r, agent.id, softphone=agent.canal == "client")
    try:
        agents.set_state_from_directory(
            db.session(), ctx.r, agent.id, target, now=now, settings=ctx.settings, reason=reason
        )
    except agents.StateRefused as exc:
        if exc.current == "inactive":
            return json_error(409, "Su registro de agente está inactivo; consulte a su supervisor.")
        return json_error(
            409, f"Ahora no se puede: usted está {STATE_LABELS.get(exc.current, exc.current)}."
        )
    if target == "available":
        try_dispatch(ctx.r, ctx.jobs, now=now, settings=ctx.settings)
    return jsonify(_snapshot(agent))


def _leave(reason: str) -> None:
    """The console is going away (or lost its softphone): offline unless on a call."""
    agent = _agent()
    ctx = from_app()
    found = agents.presence(ctx.r, agent.id)
    if found.state in ("available", "wrap_up", "paused"):
        # offered a caller this very moment: refused; connect_caller sees the console is gone
        agents.console_closed(ctx.r, found, now=line.now_ms(), settings=ctx.settings, reason=reason)


@bp.post("/agente/api/salir")
@roles_required(*CONSOLE_ROLES)
def salir() -> ResponseReturnValue:
    """The page's ``navigator.sendBeacon`` on pagehide (a form with the CSRF token)."""
    _leave("consola_cerrada")
    return Response(status=204)


@bp.post("/agente/api/softphone")
@roles_required(*CONSOLE_ROLES)
def softphone_event() -> ResponseReturnValue:
    """``{"evento": "registered" | "unregistered" | "error", "detalle"?}`` from the Device:
    without its registration a softphone agent cannot be reached, so they go offline."""
    agent = _agent()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(415, "Envíe JSON (Content-Type: application/json).")
    event = str(data.get("evento", ""))
    if event not in ("registered", "unregistered", "error"):
        return json_error(400, "Evento no válido.")
    if event != "registered":
        log.warning(
            "softphone of agent %s: %s %s", agent.id, event, str(data.get("detalle", ""))[:200]
        )
        if agent.canal == "client":
            _leave("sin_softphone")
    return jsonify(_snapshot(agent))


@bp.get("/agente/resumen/<call_sid>")
@roles_required(*CONSOLE_ROLES)
def resumen(call_sid: str) -> ResponseReturnValue:
    """The recorded summary of a caller offered to (or talking with) this agent."""
    agent = _agent()
    r = from_app().r
    caller = line.caller(r, call_sid)
    if caller is None or caller.agent_id != agent.id:
        abort(404)
    url = screenpop.summary_url(r, call_sid)
    if not url:
        abort(404)
    return recording_media.proxied(url, current_app.config, f"summary of {call_sid}")

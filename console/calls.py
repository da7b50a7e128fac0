"""The agent console's call control, as JSON under /agente/api (role ``agente``, signed in with
Flask-Login; a user linked to a directory agent). POSTs are JSON and carry the CSRF token in
the ``X-CSRFToken`` header (admin.security protects every unsafe request). An error is
``{"error": "<what to do, in Spanish>"}`` with 400, 401, 403, 404, 409 or 503.

Thin views: each calls routing.transfers (the call in its conference), routing.authorities
(§5.5) or routing.returns (callbacks and voice messages), hands the journey events over and
answers. The README's "Llamadas por conferencia y transferencias" describes the flow.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from clock import lima_now
from console.views import json_error
from directory.models import Agent
from extensions import db
from routing import authorities, returns, transfers
from routing import queue as line
from routing.context import Context, Refused, from_app

bp = Blueprint("console_calls", __name__, url_prefix="/agente/api")
log = logging.getLogger(__name__)

TIPOS_CONSULTA = ("administrativa", "tecnica")
RESULTADOS = ("absuelta", "derivada_red", "presencial", "devolucion_pendiente")
DETALLE_MAX = 2000


@bp.errorhandler(Refused)
def refused(exc: Refused) -> Response:
    return json_error(exc.status, exc.message)


@bp.errorhandler(CSRFError)
def page_expired(exc: CSRFError) -> Response:
    return json_error(400, "La página venció (falta el token de seguridad): vuelva a cargarla.")


@bp.errorhandler(redis.RedisError)
def line_unavailable(exc: redis.RedisError) -> Response:
    log.error("console %s without Redis: %s", request.path, exc)
    return json_error(
        503,
        "La línea no está disponible en este momento (falla de Redis). "
        "Intente de nuevo en unos segundos.",
    )


@bp.before_request
def signed_in_agent() -> Response | None:
    if not getattr(current_user, "is_authenticated", False):
        return json_error(401, "Su sesión terminó: vuelva a iniciar sesión.")
    if current_user.role != "agente" or not current_user.agent_id:
        return json_error(403, "Solo un agente de la Plataforma vinculado al directorio puede.")
    if request.method == "POST" and request.content_length and not request.is_json:
        return json_error(400, "Envíe los datos como JSON.")
    return None


def _agent_id() -> int:
    return int(current_user.agent_id)


def _agent_name() -> str:
    agent = db.session.get(Agent, _agent_id())
    return agent.nombre if agent else str(current_user.username)


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _done(ctx: Context, body: dict[str, Any]) -> Response:
    ctx.hand_over()
    return jsonify(body)


# --- The call ---------------------------------------------------------------------------


@bp.post("/llamada/<call_sid>/rechazar")
def reject(call_sid: str) -> Response:
    ctx = from_app()
    transfers.reject(ctx, call_sid, _agent_id(), now=line.now_ms())
    return _done(ctx, {"call_sid": call_sid, "rechazada": True})


@bp.post("/llamada/<call_sid>/espera")
def hold(call_sid: str) -> Response:
    value = _json().get("en_espera")
    if not isinstance(value, bool):
        return json_error(400, "Indique en_espera: true para poner en espera, false para retomar.")
    ctx = from_app()
    transfers.hold(ctx, call_sid, _agent_id(), value)
    return _done(ctx, {"call_sid": call_sid, "en_espera": value})


@bp.post("/llamada/<call_sid>/colgar")
def hang_up(call_sid: str) -> Response:
    ctx = from_app()
    transfers.hang_up(ctx, call_sid, _agent_id())
    return _done(ctx, {"call_sid": call_sid, "colgada": True})


@bp.get("/organos")
def organos() -> Response:
    return jsonify(transfers.organos(db.session(), request.args.get("q", "")[:80]))


@bp.post("/llamada/<call_sid>/transferir")
def transfer(call_sid: str) -> Response:
    data = _json()
    sigla, rol = str(data.get("organo") or ""), str(data.get("rol") or "titular")
    if not sigla.strip():
        return json_error(400, "Elija el órgano al que transferir (su sigla).")
    ctx = from_app()
    leg = transfers.transfer_to_red(
        db.session(), ctx, call_sid, _agent_id(), sigla=sigla, rol=rol, by=_agent_name()
    )
    return _done(ctx, {"leg": leg.leg_id, "rol": leg.rol, "nombre": leg.nombre})


@bp.post("/llamada/<call_sid>/transferencia/completar")
def complete(call_sid: str) -> Response:
    ctx = from_app()
    leg = transfers.complete(ctx, call_sid, _agent_id(), by=_agent_name(), now=line.now_ms())
    return _done(ctx, {"leg": leg.leg_id, "estado": "transferida"})


@bp.post("/llamada/<call_sid>/transferencia/cancelar")
def cancel(call_sid: str) -> Response:
    ctx = from_app()
    leg = transfers.cancel(ctx, call_sid, _agent_id())
    return _done(ctx, {"leg": leg.leg_id, "estado": "cancelada"})


@bp.post("/llamada/<call_sid>/conferencia")
def three_way(call_sid: str) -> Response:
    ctx = from_app()
    leg = transfers.three_way(ctx, call_sid, _agent_id())
    return _done(ctx, {"leg": leg.leg_id, "estado": "conferencia"})


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


@bp.post("/llamada/<call_sid>/transferir-fria")
def cold_transfer(call_sid: str) -> Response:
    data = _json()
    agente, centro = _id(data.get("agente")), _id(data.get("centro"))
    if (agente is None) == (centro is None):
        return json_error(400, "Indique a quién transferir: un agente o un centro CONECTAMEF.")
    ctx = from_app()
    leg = transfers.transfer_cold(
        db.session(),
        ctx,
        call_sid,
        _agent_id(),
        agente=agente,
        centro=centro,
        by=_agent_name(),
        now=line.now_ms(),
    )
    return _done(ctx, {"leg": leg.leg_id, "rol": leg.rol, "nombre": leg.nombre})


@bp.post("/llamada/<call_sid>/autoridad")
def authority(call_sid: str) -> Response:
    """§5.5: by phone (the caller hears so; the agent then transfers), or presencial (the
    visits module is told who comes, to which órgano, when; the caller hears where to go)."""
    data = _json()
    decision = data.get("decision")
    ctx = from_app()
    agent_id = _agent_id()
    transfers.require_connected(ctx, call_sid, agent_id)
    if decision == "telefono":
        transfers.authority_by_phone(ctx, call_sid, agent_id, by=_agent_name())
        return _done(ctx, {"call_sid": call_sid, "decision": "telefono"})
    if decision != "presencial":
        return json_error(400, "Indique la decisión: telefono o presencial.")
    given = {k: data.get(k) for k in ("nombre", "entidad", "organo", "hora")}
    given["fecha"] = data.get("dia")
    try:
        visit = authorities.visit_for_call(db.session(), ctx, call_sid, given, now=lima_now())
    except authorities.VisitInvalid as exc:
        return json_error(400, str(exc))
    try:
        authorities.presencial(
            ctx, call_sid, agent_id=agent_id, by=_agent_name(), visit=visit, now=line.now_ms()
        )
    except authorities.NotOnThisCall:
        return json_error(409, "Esta llamada ya fue derivada.")
    transfers.tell_call(ctx, agent_id, call_sid, "transferida")
    return _done(ctx, {"call_sid": call_sid, "decision": "presencial", "visita": visit.as_data()})


@bp.post("/llamada/<call_sid>/cierre")
def wrap_up(call_sid: str) -> Response:
    """The wrap-up: tipo de consulta, detalle (the agent's words), resultado. Saved as the
    ``wrap_up`` journey event the register's row applies (whenever the call's other events
    arrive); the same wrap-up saved twice is one event, a corrected one wins."""
    data = _json()
    tipo = data.get("tipo_consulta")
    detalle = " ".join(str(data.get("detalle") or "").split())
    resultado = data.get("resultado")
    errors = []
    if tipo not in TIPOS_CONSULTA:
        errors.append("Elija el tipo de consulta: administrativa o técnica.")
    if not detalle or len(detalle) > DETALLE_MAX:
        errors.append(f"Escriba el detalle de la consulta (hasta {DETALLE_MAX} caracteres).")
    if resultado not in RESULTADOS:
        errors.append(
            "Elija el resultado: absuelta, derivada a la Red, presencial o devolución pendiente."
        )
    if errors:
        return json_error(400, " ".join(errors))
    ctx = from_app()
    agent_id = _agent_id()
    if not transfers.handled_by(ctx, call_sid, agent_id):
        return json_error(404, "No encontramos una llamada suya con ese identificador.")
    body = {"tipo_consulta": tipo, "detalle": detalle, "resultado": resultado}
    digest = hashlib.blake2b(repr(sorted(body.items())).encode(), digest_size=8).hexdigest()
    ctx.journal.record(
        call_sid,
        "wrap_up",
        once=digest,
        agent_id=agent_id,
        nombre=_agent_name(),
        tipo_consulta=tipo,
        detalle=detalle,
        resultado=resultado,
    )
    transfers.tell_call(ctx, agent_id, call_sid, "cierre")
    return _done(ctx, {"call_sid": call_sid, **body})


# --- Returns: callbacks and voice messages -------------------------------------------------


@bp.get("/devoluciones")
def returns_due() -> Response:
    items = returns.due_today(db.session(), from_app().r, today=lima_now().date())
    return jsonify([item.as_data() for item in items])


@bp.post("/devoluciones/<ref>/tomar")
def take(ref: str) -> Response:
    item = returns.take(db.session(), from_app().r, ref, _agent_name(), today=lima_now().date())
    return jsonify(item.as_data())


@bp.post("/devoluciones/<ref>/resultado")
def outcome(ref: str) -> Response:
    data = _json()
    note = data.get("nota")
    item = returns.record_outcome(
        db.session(),
        from_app().r,
        ref,
        _agent_name(),
        str(data.get("resultado") or ""),
        today=lima_now().date(),
        note=str(note)[:1000] if note else None,
    )
    return jsonify(item.as_data())

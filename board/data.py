"""The supervisor's board as one plain snapshot (JSON-ready), from Redis and today's register.

``snapshot(session, r, settings, now_ms=...)`` reads:

- the waiting line and the agents' presence from Redis, through routing/queue.py's
  ``line_view`` and routing/agents.py's ``presences`` (the only modules that know its keys);
- today's figures from the register rows of TODAY only (``register_calls.fecha`` is indexed,
  so the query never reads the month's other days: bench/board.py measures it with 0 and
  50,000 rows for the month), the open callbacks and the voice messages not yet heard;
- the Erlang C need of today's half hours, from the last four same weekdays, computed once a
  day and kept in Redis (``board:need:<date>``).

Nothing here writes; the publisher (board/publisher.py) runs it outside the web workers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
import redis
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from board.settings import BoardSettings
from clock import LIMA
from directory.models import Agent
from ivr.state import state_key
from register.callbacks import OPEN_STATUSES
from register.erlang import agents_needed
from register.events import FINAL_CALL_STATUSES
from register.models import CallbackRequest, RegisterCall, VoiceMessage
from routing.agents import AgentPresence, presences
from routing.queue import line_view
from routing.scripts import text

CLASSES = {"preferential": "preferencial", "authority": "autoridad", "normal": "general"}
STATE_NAMES = {
    "offline": "Desconectado",
    "available": "Disponible",
    "ringing": "Timbrando",
    "on_call": "En llamada",
    "wrap_up": "Cierre",
    "paused": "En pausa",
}
SLOTS = 48  # half hours of a day
NEED_KEY = "board:need:{day}"
STAFFED_KEY = "board:staffed:{day}"


def slot_of(moment: time) -> int:
    return moment.hour * 2 + moment.minute // 30


def slot_label(slot: int) -> str:
    return f"{slot // 2:02d}:{30 * (slot % 2):02d}"


# --- The line and the agents, from Redis ----------------------------------------------------


def live_state(
    r: redis.Redis,
    settings: BoardSettings,
    agent_rows: list[Any],
    today_by_agent: dict[int, tuple[int, int | None]],
    *,
    day: date,
    now_ms: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, int], bytes | None]:
    """(the waiting line, the agents, the agents staffing each half hour, the day's cached
    need): the line as routing/queue.py reads it (every waiting caller counted by class and
    language, the longest wait, how many are past the limit, the first ``callers_shown`` in
    the order they will be served), the agents' presence (routing/agents.py), and the board's
    own keys with the shown callers' states."""
    limit = settings.wait_alert_seconds
    view = line_view(r, settings.callers_shown, arrived_before_ms=now_ms - limit * 1000)
    presence_of = presences(r, [agent_id for agent_id, _nombre, _activo in agent_rows])
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(STAFFED_KEY.format(day=day.isoformat()))
    pipe.get(NEED_KEY.format(day=day.isoformat()))
    for caller in view.head:
        pipe.get(state_key(caller.call_sid))
    staffed_raw, need, *states = pipe.execute()
    callers = []
    for place, (caller, raw) in enumerate(zip(view.head, states, strict=True)):
        wait = max(0, (now_ms - caller.arrival_ms) // 1000)
        callers.append(
            {
                "call_sid": caller.call_sid,
                "puesto": place + 1,
                "clase": CLASSES.get(caller.priority, "general"),
                "idioma": caller.language,
                "llegada_ms": caller.arrival_ms,
                "espera_seg": wait,
                "sobre_limite": wait >= limit,
                "resumen": bool(raw) and bool(orjson.loads(raw).get("summary_url")),
            }
        )
    oldest = view.oldest_arrival_ms
    waiting = {
        "total": view.counts.total,
        "por_clase": {CLASSES[k]: n for k, n in view.counts.by_priority.items()},
        "por_idioma": view.counts.by_language,
        "espera_max_seg": max(0, (now_ms - oldest) // 1000) if oldest is not None else 0,
        "sobre_limite": view.waiting_since_before,
        "limite_seg": limit,
        "llamantes": callers,
    }
    staffed = {text(k): int(text(v)) for k, v in staffed_raw.items()}
    return waiting, _agents(agent_rows, presence_of, today_by_agent, now_ms), staffed, need


def _agents(
    rows: list[Any],
    presence_of: list[AgentPresence],
    today_by_agent: dict[int, tuple[int, int | None]],
    now_ms: int,
) -> list[dict[str, Any]]:
    """Every active agent (and any inactive one still signed in) with state and time in it,
    calls taken today and their average handle time."""
    out = []
    for (agent_id, nombre, activo), presence in zip(rows, presence_of, strict=True):
        state = presence.state
        if not activo and state == "offline":
            continue
        since_ms = presence.since_ms
        taken, aht = today_by_agent.get(agent_id, (0, None))
        out.append(
            {
                "id": agent_id,
                "nombre": nombre,
                "estado": state,
                "estado_nombre": STATE_NAMES.get(state, state),
                "desde_ms": since_ms,
                "en_estado_seg": max(0, (now_ms - since_ms) // 1000) if since_ms else None,
                "llamada": presence.call_sid,
                "llamadas_hoy": taken,
                "aht_seg": aht,
            }
        )
    return out


# --- Today so far ----------------------------------------------------------------------------


RC = RegisterCall
OFFERED = RC.queued_at.is_not(None)  # reached the Plataforma's line
ANSWERED = and_(OFFERED, RC.answered_at.is_not(None))
# abandoned: the call is over (Twilio's final status came) and no one answered it
ABANDONED = and_(
    OFFERED,
    RC.answered_at.is_(None),
    RC.resultado == "abandonada",
    RC.final_status.in_(FINAL_CALL_STATUSES),
)
TECHNICAL = or_(RC.organo.is_not(None), RC.tipo_consulta == "tecnica")


def _of_day(day: date) -> tuple[Any, ...]:
    return (RC.fecha == day, RC.simulada.is_(False))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _round(value: Any) -> int | None:
    return None if value is None else round(float(value))


def _slot_expression() -> Any:
    """The half hour of the call's start (0 to 47), in SQL (every database compares times)."""
    bounds = [time((s + 1) // 2, 30 * ((s + 1) % 2)) for s in range(SLOTS - 1)]
    return case(*[(RC.hora_inicio < bound, s) for s, bound in enumerate(bounds)], else_=SLOTS - 1)


def today_figures(
    session: Session, day: date, settings: BoardSettings, *, now: datetime
) -> tuple[dict[str, Any], dict[int, tuple[int, int | None]], list[dict[str, Any]]]:
    """(today's totals, calls and AHT by the agent who answered, the half hours), each
    aggregated by the database over today's rows (the ``fecha`` index: no other day is read)."""
    within = and_(ANSWERED, func.coalesce(RC.espera_seg, 0) <= settings.service_level_seconds)
    recent = RC.queued_at >= now - timedelta(minutes=30)
    slot = _slot_expression().label("slot")
    by_slot = list(
        session.execute(
            select(
                slot,
                func.count(),
                func.count().filter(ANSWERED),
                func.count().filter(ABANDONED),
                func.count().filter(within),
                func.sum(func.coalesce(RC.espera_seg, 0)).filter(ANSWERED),
                func.count().filter(and_(recent, or_(ANSWERED, ABANDONED))),
                func.count().filter(and_(recent, within)),
            )
            .where(*_of_day(day), OFFERED)
            .group_by(slot)
            .order_by(slot)
        )
    )
    halves = [
        {
            "franja": slot_label(int(row[0])),
            "ofrecidas": row[1],
            "atendidas": row[2],
            "abandonadas": row[3],
        }
        for row in by_slot
    ]
    offered, answered, abandoned, answered_within, waited, recent_done, recent_within = (
        sum(int(row[i] or 0) for row in by_slot) for i in range(1, 8)
    )
    totals = {
        "ofrecidas": offered,
        "atendidas": answered,
        "abandonadas": abandoned,
        # answered within the target among the calls whose outcome is known
        "nivel_servicio": _share(answered_within, answered + abandoned),
        "nivel_servicio_30min": _share(recent_within, recent_done),
        "llamadas_30min": recent_done,
        "asa_seg": round(waited / answered) if answered else None,
    }
    agents = {
        agent_id: (int(n), _round(aht))
        for agent_id, n, aht in session.execute(
            select(
                RC.agent_id,
                func.count(),
                func.avg(RC.atencion_seg).filter(RC.final_status.in_(FINAL_CALL_STATUSES)),
            )
            .where(*_of_day(day), ANSWERED, RC.agent_id.is_not(None))
            .group_by(RC.agent_id)
        )
    }
    return totals, agents, halves


def organs_today(session: Session, day: date) -> list[dict[str, Any]]:
    """Per órgano: technical calls today, answered by the titular, the alterno, fallen to the
    Plataforma, and the Red members who missed them (from the dials of the calls one of them
    did not take: only that part of their journeys is read)."""
    figures: dict[str, Counter[str]] = defaultdict(Counter)
    for organo, derivacion, n in session.execute(
        select(RC.organo, RC.derivacion, func.count())
        .where(*_of_day(day), TECHNICAL)
        .group_by(RC.organo, RC.derivacion)
    ):
        counts = figures[organo or "—"]
        counts["tecnicas"] += n
        if derivacion in ("titular", "alterno", "plataforma"):
            counts[derivacion] += n
    missed: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    journeys = session.execute(
        select(RC.organo, RC.journey["dials"]).where(
            *_of_day(day), RC.organo.is_not(None), RC.derivacion.in_(("alterno", "plataforma"))
        )
    )
    for organo, dials in journeys:
        dials = dials or []
        names = {d.get("rol"): d.get("nombre") for d in dials if d.get("nombre")}
        for d in dials:
            outcome = d.get("outcome")
            if outcome is not None and outcome != "accepted":
                rol = str(d.get("rol"))
                missed[organo][(rol, names.get(rol) or rol)] += 1
    return [
        {
            "sigla": sigla,
            "tecnicas": c["tecnicas"],
            "titular": c["titular"],
            "alterno": c["alterno"],
            "plataforma": c["plataforma"],
            "perdidas": [
                {"rol": rol, "nombre": nombre, "llamadas": n}
                for (rol, nombre), n in sorted(missed.get(sigla, Counter()).items())
            ],
        }
        for sigla, c in sorted(figures.items())
    ]


def pending_work(session: Session, day: date) -> dict[str, int]:
    """Open callbacks due today and overdue; voice messages no one has heard yet."""
    cb = CallbackRequest
    open_until_today = and_(cb.status.in_(OPEN_STATUSES), cb.due_date <= day)
    due, overdue, messages = session.execute(
        select(
            select(func.count()).where(open_until_today, cb.due_date == day).scalar_subquery(),
            select(func.count()).where(open_until_today, cb.due_date < day).scalar_subquery(),
            select(func.count())
            .select_from(VoiceMessage)
            .where(VoiceMessage.status == "pendiente")
            .scalar_subquery(),
        )
    ).one()
    return {
        "devoluciones_hoy": int(due or 0),
        "devoluciones_vencidas": int(overdue or 0),
        "mensajes_pendientes": int(messages or 0),
    }


# --- The Erlang C need -----------------------------------------------------------------------


def need_by_half_hour(
    session: Session, day: date, settings: BoardSettings
) -> dict[str, dict[str, float]]:
    """For each half hour: the calls the last four same weekdays brought on average, and the
    agents Erlang C says they needed (the target share within the target seconds)."""
    days = [day - timedelta(weeks=w) for w in range(1, 5)]
    rows = session.execute(
        select(RegisterCall.hora_inicio, RegisterCall.atencion_seg).where(
            RegisterCall.fecha.in_(days),
            RegisterCall.simulada.is_(False),
            RegisterCall.queued_at.is_not(None),
        )
    )
    arrivals: Counter[int] = Counter()
    talk: dict[int, list[int]] = defaultdict(list)
    for hora, atencion in rows:
        slot = slot_of(hora)
        arrivals[slot] += 1
        if atencion:
            talk[slot].append(atencion)
    every = [t for values in talk.values() for t in values]
    overall = sum(every) / len(every) if every else float(settings.routing.default_handle_seconds)
    out = {}
    for slot, n in sorted(arrivals.items()):
        calls = n / len(days)
        aht = sum(talk[slot]) / len(talk[slot]) if talk[slot] else overall
        agents = agents_needed(
            calls * 2, aht, settings.service_level_target, settings.service_level_seconds
        )
        out[slot_label(slot)] = {"llamadas": round(calls, 2), "agentes": agents}
    return out


def cached_need(
    session: Session, r: redis.Redis, day: date, settings: BoardSettings, raw: bytes | None
) -> dict[str, dict[str, float]]:
    """need_by_half_hour, computed once a day (past days do not change); ``raw``: what Redis
    holds for the day (read with the rest of the board)."""
    if raw is not None:
        return orjson.loads(raw)
    need = need_by_half_hour(session, day, settings)
    r.set(NEED_KEY.format(day=day.isoformat()), orjson.dumps(need), ex=2 * 24 * 3600)
    return need


def half_hours(
    today: list[dict[str, Any]], need: dict[str, dict[str, float]], staffed: dict[str, int]
) -> list[dict[str, Any]]:
    """Today's half hours beside the need, from the first to the last that has anything."""
    seen = {h["franja"]: h for h in today}
    labels = sorted(set(seen) | set(need) | set(staffed))
    if not labels:
        return []
    first, last = (slot_of(time.fromisoformat(label)) for label in (labels[0], labels[-1]))
    out = []
    for slot in range(first, last + 1):
        label = slot_label(slot)
        h = seen.get(label, {})
        n = need.get(label, {})
        out.append(
            {
                "franja": label,
                "ofrecidas": h.get("ofrecidas", 0),
                "atendidas": h.get("atendidas", 0),
                "abandonadas": h.get("abandonadas", 0),
                "esperadas": n.get("llamadas", 0),
                "necesarios": n.get("agentes", 0),
                "conectados": staffed.get(label, 0),
            }
        )
    return out


# --- The whole snapshot ----------------------------------------------------------------------


def snapshot(
    session: Session, r: redis.Redis, settings: BoardSettings, *, now_ms: int
) -> dict[str, Any]:
    """The board, as the page draws it (see the module's docstring for where each part comes
    from). Times are Lima's; waits and times in state in seconds at ``now_ms``."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    day = now.astimezone(LIMA).date()
    totals, by_agent, halves = today_figures(session, day, settings, now=now)
    agent_rows = list(
        session.execute(select(Agent.id, Agent.nombre, Agent.activo).order_by(Agent.nombre))
    )
    line, agents, staffed, need = live_state(
        r, settings, agent_rows, by_agent, day=day, now_ms=now_ms
    )
    return {
        "ts": now_ms,
        "fecha": day.isoformat(),
        "hora": now.astimezone(LIMA).strftime("%H:%M:%S"),
        "cola": line,
        "agentes": agents,
        "disponibles": sum(1 for a in agents if a["estado"] == "available"),
        "conectados": sum(1 for a in agents if a["estado"] not in ("offline", "paused")),
        "hoy": totals | pending_work(session, day),
        "organos": organs_today(session, day),
        "franjas": half_hours(halves, cached_need(session, r, day, settings, need), staffed),
        "objetivo": {
            "segundos": settings.service_level_seconds,
            "nivel": settings.service_level_target,
        },
    }

"""Journey events and their way to the register, without ever losing one.

Every step of a call records what happened on a ``Journal`` (a plain list the step owns):
``journal.record(call_sid, step, choice, **data)`` (the vocabulary is at the end of this
docstring). Whoever owns the journal hands its events over once, at the end:

- a webhook step adds them to its own MULTI pipeline with ``stage`` (beside the call's state),
  runs it, then calls ``Handoff.settle`` with the replies;
- a job, a command or an API view calls ``send``.

Both put the events on one Redis Stream (``register:events``, XADD: one entry per handoff)
and set the drain's wake flag (SET NX): when the flag was clear, the drain job
(``register.jobs.drain``) is queued, which reads the stream in batches through a consumer
group and writes the rows. When Redis cannot be reached the events go to the
``register_outbox`` table; when the database cannot be reached either, to a JSON-lines spool
file. ``flush_outbox`` (every 30 s in the worker, and ``flask register flush-outbox``) moves
them back onto the stream. ``send`` and ``settle`` never raise.

Events are unique by id. An event recorded with ``once=`` gets an id derived from the call,
the step and that key, so a webhook Twilio sends twice records the same event twice, and the
register keeps one.

The vocabulary (step, choice, data), from which register.anexo1 derives one Anexo 1 row per
CallSid:

| step | choice | data |
| --- | --- | --- |
| incoming | - | from, to, region (department from the number, or None) |
| closed | - | reason: fuera_de_horario, feriado or cierre |
| closed_option | "1" / "2" / None | - |
| callback_requested | - | source (fuera_de_horario, cola, ruta_fallida, limite_espera), telefono |
| voicemail | - | recording_sid, recording_url, duration |
| language | es / qu / ay | - |
| main_menu | the key | detalle (estado_tramite, informacion, consulta_tecnica, conectamef, autoridad, preferencial, asesor) |
| expediente | - | expediente |
| preferential | gestante / adulto_mayor / discapacidad | - |
| organo | sigla | - |
| region | departamento | - |
| conectamef | centro | telefono |
| summary | - | recording_url (None when skipped) |
| dial | titular / alterno | anexo, nombre |
| dial_result | titular / alterno | outcome (accepted, no-answer, busy, failed, canceled, not-accepted), duration |
| red_missed | sigla | from, region, tipo_usuario, expediente, summary_url: titular and alterno dialed, neither took the call (their e-mail: register.jobs.mail_red_missed) |
| plataforma | - | reason (menu, route_failed, wrong_input, fallback, preferential, authority, language) |
| queued | - | priority (preferential, authority, normal), language |
| agent_answered | - | agent_id, nombre, wait_seconds |
| interpreter | joined / no-answer / busy / failed / canceled / none (no speaker left to try) | language, speaker_id, nombre (the §5.4 registry's speaker; None for none) |
| queue_left | bridged / hangup / callback / timeout | wait_seconds |
| transfer | - | to, kind (red, plataforma, conectamef, presencial), by; presencial: visita (nombre, entidad, organo, organo_nombre, cita: ISO 8601, Lima); from the console: nombre, warm (True: a warm transfer), and for red rol (titular, alterno), organo |
| leg | dialed / initiated / ringing / answered / accepted / no-answer / busy / failed / canceled / not-accepted / completed / removed / conference | leg (its id), kind (red, agente, conectamef), rol (titular, alterno, agente, conectamef), organo, nombre; dialed: to, by; completed: duration (a transfer's leg, routing.transfers) |
| authority_decision | telefono | by (the agent: the authority is attended by phone, §5.5; presencial is the transfer kind presencial) |
| wrap_up | - | tipo_consulta (administrativa, tecnica), detalle (the agent's text), resultado (absuelta, derivada_red, presencial, devolucion_pendiente), agent_id, nombre (the console's wrap-up; the last one saved wins) |
| callback_attempt | None (dialed) / answered / the Dial's outcome | callback_id, returned_call (the CallSid of the call returned), kind (devolucion, mensaje), telefono, agent_id, nombre (on the attempt's own CallSid) |
| survey | "1".."5" or None (skipped) | - |
| status | CallStatus | duration (CallDuration), at the final status callback |

Data values are JSON-serialisable plain values.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clock import utcnow
from extensions import dialect_insert
from extensions import json_dumps as dumps
from register.models import RegisterOutbox

log = logging.getLogger(__name__)

STREAM = "register:events"
GROUP = "register"
WAKE_KEY = "register:drain"  # set while a drain job is queued or running
WAKE_TTL = 300  # a drain that died leaves it set at most this long (the worker also wakes it)
DRAIN_JOB = "register.jobs.drain"
DRAIN_TIMEOUT = 300
# How long a write waits for its replicas (Sink.replicas; a LAN acks in < 1 ms).
REPLICA_WAIT_MS = 50
RETRY = Retry(max=6, interval=[5, 30, 120, 600, 1800, 3600])
FAILURE_TTL = 90 * 24 * 3600  # failed jobs stay visible (flask register failed) for 90 days
SPOOL_NAME = "register-spool.jsonl"

Event = dict[str, Any]
# Twilio's outcomes of a call or a <Dial> that never connected (CallStatus, DialCallStatus).
NOT_CONNECTED = frozenset({"busy", "failed", "no-answer", "canceled"})
# Twilio's final CallStatus values: the call is over, whatever step it was at.
FINAL_CALL_STATUSES = NOT_CONNECTED | {"completed"}


def event_id(call_sid: str, step: str, once: object) -> str:
    """The id of the event of ``step`` keyed ``once`` in this call: the same every time."""
    return hashlib.blake2b(f"{call_sid}\x1f{step}\x1f{once}".encode(), digest_size=16).hexdigest()


@dataclass
class Journal:
    """The events one webhook request, job or command records, handed over at its end.

    ``clock``: the moment of a simulated request (`flask simulate --at`): its events carry it
    (a microsecond apart, in the order recorded) instead of the real time, and ``simulated``
    marks them, so the register keeps the call apart (``register_calls.simulada``)."""

    events: list[Event] = field(default_factory=list)
    clock: datetime | None = None
    simulated: bool = False

    def record(
        self,
        call_sid: str,
        step: str,
        choice: str | None = None,
        *,
        once: object = None,
        at: datetime | None = None,
        **data: Any,
    ) -> Event:
        """Record an event; ``once``: a key that makes it the same event when recorded again
        (a replayed webhook)."""
        if at is None and self.clock is not None:
            at = self.clock + timedelta(microseconds=len(self.events))
        event: Event = {
            "id": uuid.uuid4().hex if once is None else event_id(call_sid, step, once),
            "call_sid": call_sid,
            "step": step,
            "choice": choice,
            "at": (at or utcnow()).isoformat(),
            "data": data,
        }
        if self.simulated:
            event["simulated"] = True
        self.events.append(event)
        return event

    def take(self) -> list[Event]:
        """The events recorded so far, and an empty journal."""
        events, self.events = self.events, []
        return events


@dataclass(frozen=True)
class Sink:
    """Where events go: the stream and the drain's queue, else the outbox, else the spool."""

    r: Redis
    queue: Queue  # the register queue
    new_session: Callable[[], Session]  # a session of its own, for the outbox
    spool: Path
    # Replicas that must hold the events before they count as handed over (Redis WAIT; with
    # Sentinel, so that a failover cannot lose them): else they are kept in the outbox too.
    replicas: int = 0


@dataclass(frozen=True)
class Handoff:
    """Events staged on a pipeline; ``settle`` after the pipeline ran (or failed)."""

    events: Sequence[Event]
    wake_index: int  # the index of the wake flag's SET among the pipeline's replies

    def settle(self, sink: Sink, replies: Sequence[Any] | None) -> None:
        """Queue the drain if the flag was clear; ``replies`` None: the pipeline failed, the
        events go to the outbox. Never raises."""
        if not self.events:
            return
        if replies is None or not replicated(sink):
            keep(sink, self.events)
        if replies is not None and replies[self.wake_index]:
            wake(sink)


def replicated(sink: Sink) -> bool:
    """Whether ``sink.replicas`` replicas hold what this connection wrote (at once when none
    are asked for). A master that Sentinel has just replaced has none: what it accepted in
    that moment would be lost when it becomes a replica, so the caller keeps it elsewhere."""
    if not sink.replicas:
        return True
    try:
        return int(sink.r.wait(sink.replicas, REPLICA_WAIT_MS)) >= sink.replicas
    except Exception:  # not known to be replicated: kept in the outbox
        log.warning("Redis WAIT failed; the events are kept in the outbox too", exc_info=True)
        return False


def stage(pipe: Pipeline, events: Sequence[Event]) -> Handoff:
    """Add the events (one stream entry) and the wake flag to ``pipe``."""
    if not events:
        return Handoff((), -1)
    pipe.xadd(STREAM, {"events": dumps(list(events))})
    pipe.set(WAKE_KEY, 1, nx=True, ex=WAKE_TTL)
    return Handoff(list(events), len(pipe) - 1)


def send(sink: Sink, events: Sequence[Event]) -> None:
    """Hand events to the register now. Never raises."""
    replies = None
    with sink.r.pipeline() as pipe:
        handoff = stage(pipe, events)
        try:
            replies = pipe.execute()
        except Exception:
            log.warning("Redis unavailable: %s go to the outbox", _about(events), exc_info=True)
    handoff.settle(sink, replies)


def wake(sink: Sink) -> None:
    """Queue the drain job (its flag was just set). Never raises: if it cannot be queued,
    the flag expires and the worker's periodic wake finds the stream not empty."""
    try:
        sink.queue.enqueue(
            DRAIN_JOB,
            job_timeout=DRAIN_TIMEOUT,
            retry=RETRY,
            result_ttl=0,
            failure_ttl=FAILURE_TTL,
            description="register drain",
        )
    except Exception:
        log.warning("could not queue the register drain", exc_info=True)
        try:
            sink.r.delete(WAKE_KEY)
        except Exception:
            log.debug("could not clear the drain flag", exc_info=True)


def wake_if_waiting(sink: Sink) -> bool:
    """Periodic: queue a drain when the stream holds events and no register job is queued or
    running (a drain that died leaves its flag and its entries behind)."""
    queue = sink.queue
    if not sink.r.xlen(STREAM) or queue.count or queue.started_job_registry.count:
        return False
    sink.r.set(WAKE_KEY, 1, ex=WAKE_TTL)
    wake(sink)
    return True


# --- When Redis is down: the outbox, then the spool ------------------------------------------


def keep(sink: Sink, events: Sequence[Event]) -> None:
    """The outbox, or the spool file when the database fails too. Never raises."""
    try:
        with sink.new_session() as session:
            write_outbox(session, events)
            session.commit()
        return
    except Exception:
        log.error("database unavailable: %s go to the spool", _about(events), exc_info=True)
    try:
        write_spool(sink.spool, events)
    except Exception:
        log.critical("EVENTS LOST (Redis, database and spool failed): %s", events, exc_info=True)


def write_outbox(session: Session, events: Iterable[Event]) -> None:
    """Add events to the outbox (an event already there is not added again)."""
    rows = [
        {"event_id": str(e["id"]), "call_sid": str(e.get("call_sid")), "payload": dumps(e)}
        for e in events
    ]
    if rows:
        stmt = dialect_insert(session, RegisterOutbox).on_conflict_do_nothing()
        session.execute(stmt, rows)


def write_spool(path: Path, events: Iterable[Event]) -> None:
    """Last resort: one JSON line per event, appended and fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.writelines(dumps(e) + "\n" for e in events)
        fh.flush()
        os.fsync(fh.fileno())


def flush_spool(session: Session, path: Path) -> int:
    """Move the spool file's events into the outbox; returns how many."""
    if not path.exists():
        return 0
    with open(path, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        events = []
        for line in fh:
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                if line.strip():
                    log.error("unreadable spool line kept aside: %r", line[:200])
                    with open(path.with_suffix(".bad"), "a", encoding="utf-8") as bad:
                        bad.write(line)
        write_outbox(session, events)
        session.commit()
        fh.seek(0)
        fh.truncate()
    return len(events)


def flush_outbox(session: Session, sink: Sink, batch: int = 500) -> int:
    """Move the spool into the outbox, then the outbox onto the stream (each batch deleted
    only once it is there; pushed twice, an event is still one: events are unique by id).
    Returns the events moved. Raises if Redis or the database fails."""
    flush_spool(session, sink.spool)
    moved = 0
    while rows := session.execute(
        select(RegisterOutbox.id, RegisterOutbox.payload).order_by(RegisterOutbox.id).limit(batch)
    ).all():
        with sink.r.pipeline() as pipe:
            stage(pipe, [orjson.loads(payload) for _id, payload in rows])
            pipe.execute()
        session.execute(delete(RegisterOutbox).where(RegisterOutbox.id.in_([r[0] for r in rows])))
        session.commit()
        moved += len(rows)
    if moved:  # whatever the flag says (a drain that died may have left it)
        wake(sink)
    return moved


def _about(events: Sequence[Event]) -> str:
    return ", ".join(f"{e.get('step')} of {e.get('call_sid')}" for e in events[:10])

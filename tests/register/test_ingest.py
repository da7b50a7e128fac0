"""Merging events into rows idempotently, one job per call, and trimming the journey lists
exactly (register/ingest.py, register/events.py, register/jobs.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extensions import redis_store
from ivr.journey import record_event
from register.anexo1 import build_row
from register.events import emit, event_of, journey_key, pending_key, push_events
from register.ingest import (
    COPY_MIN_ROWS,
    derive_rows,
    ingest_events,
    merge_rows,
    upsert_rows,
)
from register.jobs import read_journeys, trim_journeys
from register.models import RegisterCall
from tests.register.journeys import plataforma_answered, technical_alterno

SID = "CA" + "2" * 32


def _row(session: Session, sid: str = SID) -> RegisterCall:
    session.expire_all()
    return session.scalars(select(RegisterCall).where(RegisterCall.call_sid == sid)).one()


def test_events_one_at_a_time_make_one_row(session: Session) -> None:
    for ev in plataforma_answered(SID):
        ingest_events(session, [ev])
    row = _row(session)
    assert row.resultado == "atendida"
    assert row.event_count == 10
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 1


def test_duplicated_and_reordered_events_make_one_correct_row(session: Session) -> None:
    events = technical_alterno(SID)
    delivery = events + events[3:7] + events[:2]
    random.Random(3).shuffle(delivery)
    for ev in delivery:
        ingest_events(session, [ev])
    row = _row(session)
    assert sorted(e["id"] for e in row.events) == sorted(e["id"] for e in events)
    assert [e["at"] for e in row.events] == sorted(e["at"] for e in events)
    assert (row.derivacion, row.atendido_por, row.organo) == ("alterno", "Luis Mamani", "DGPP")
    assert row.espera_seg == 29
    assert row.duracion_seg == 305
    assert row.event_count == len(events)


def test_status_callback_before_the_last_step_still_gives_the_full_row(
    session: Session,
) -> None:
    events = plataforma_answered(SID)
    status, survey = events[-1], events[-2]
    ingest_events(session, events[:-2])
    ingest_events(session, [status])
    assert _row(session).encuesta is None
    ingest_events(session, [survey])
    row = _row(session)
    assert row.encuesta == 4
    assert row.duracion_seg == 240


def test_a_row_derived_from_fewer_events_never_overwrites_a_newer_one(
    session: Session,
) -> None:
    from register.anexo1 import build_row
    from register.ingest import upsert_rows

    events = plataforma_answered(SID)
    ingest_events(session, events)
    upsert_rows(session, [build_row(SID, events[:3])])  # a slow worker's stale derivation
    session.commit()
    assert _row(session).resultado == "atendida"


def test_a_large_batch_keeps_the_newest_derivation_of_each_call(session: Session) -> None:
    sids = [f"CA{i:032d}" for i in range(COPY_MIN_ROWS + 6)]  # PostgreSQL: the COPY path
    journeys = {sid: plataforma_answered(sid) for sid in sids}
    upsert_rows(session, [build_row(sid, events[:5]) for sid, events in journeys.items()])
    session.commit()
    assert {r.event_count for r in session.scalars(select(RegisterCall))} == {5}
    # A batch with, for every call, a newer derivation and (after it) an older one.
    batch = [build_row(sid, events) for sid, events in journeys.items()]
    batch += [build_row(sid, events[:3]) for sid, events in journeys.items()]
    upsert_rows(session, batch)
    upsert_rows(session, batch[::-1])  # twice in one transaction
    session.commit()
    rows = {r.call_sid: r for r in session.scalars(select(RegisterCall))}
    assert sorted(rows) == sids
    assert {(r.event_count, r.resultado, r.encuesta) for r in rows.values()} == {
        (10, "atendida", 4)
    }
    assert all(len(r.events) == 10 and r.journey["answered_by"] for r in rows.values())
    # Stale derivations alone never overwrite them.
    upsert_rows(session, [build_row(sid, events[:3]) for sid, events in journeys.items()])
    session.commit()
    session.expire_all()
    assert {r.event_count for r in session.scalars(select(RegisterCall))} == {10}


def test_a_large_batch_of_new_calls_is_written_even_when_another_worker_wrote_some_first(
    session: Session,
) -> None:
    sids = [f"CA{i:032d}" for i in range(COPY_MIN_ROWS + 6)]
    journeys = {sid: plataforma_answered(sid) for sid in sids}
    ingest_events(session, [e for sid in sids[:40] for e in journeys[sid][:9]])  # new calls
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 40
    # This worker read the stored rows before the other one wrote those 40 calls: it takes
    # every call for a new one.
    failed: dict[str, Exception] = {}
    upsert_rows(session, derive_rows(journeys, {}, failed))
    session.commit()
    session.expire_all()
    rows = list(session.scalars(select(RegisterCall)))
    assert not failed and sorted(r.call_sid for r in rows) == sids
    assert {(r.event_count, r.encuesta, r.duracion_seg) for r in rows} == {(10, 4, 240)}


def test_record_event_goes_through_the_register_queue_to_a_row(
    session: Session, work: Callable[..., None]
) -> None:
    sid = "CA" + "3" * 32
    record_event(sid, "incoming", None, **{"from": "+51987654321", "region": "Lima"})
    record_event(sid, "language", "es")
    record_event(sid, "main_menu", "2", detalle="informacion")
    record_event(sid, "status", "completed", duration=40)
    work()
    row = _row(session, sid)
    assert row.detalle == "informacion"
    assert row.resultado == "abandonada"
    assert row.duracion_seg == 40


def test_one_job_drains_the_calls_queued_behind_it(
    session: Session, work: Callable[..., None]
) -> None:
    for i in range(30):
        push_events(plataforma_answered(f"CA{i:032d}"))
    queue = redis_store.queue("register")
    assert queue.count == 30  # one job per call, not one per event
    work(max_jobs=1)  # one job only: it writes the 30 calls in one batch
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 30
    assert queue.count == 0
    assert queue.started_job_registry.count == 0
    assert not redis_store.client.keys("register:journey:*")


def test_a_call_has_one_queued_job_however_many_events_it_emits() -> None:
    for ev in plataforma_answered(SID):
        emit(ev)
    assert redis_store.queue("register").count == 1
    assert redis_store.client.llen(journey_key(SID)) == 10
    assert redis_store.client.exists(pending_key(SID))


def test_events_arriving_while_a_job_runs_stay_for_the_next_job(
    session: Session, work: Callable[..., None]
) -> None:
    events = plataforma_answered(SID)
    for ev in events[:6]:
        emit(ev)
    client = redis_store.client
    [(read, last)] = read_journeys(client, [SID])  # the running job has read six events...
    for ev in events[6:]:
        emit(ev)  # ...when four more arrive: the cleared flag queues a second job
    assert redis_store.queue("register").count == 2
    rows, failed = merge_rows(session, {SID: json.loads(read)})
    upsert_rows(session, rows)
    session.commit()
    trim_journeys(client, {SID: last})
    assert [event_of(e)["id"] for e in client.lrange(journey_key(SID), 0, -1)] == [
        e["id"] for e in events[6:]
    ]
    assert _row(session).event_count == 6
    work()
    row = _row(session)
    assert (row.event_count, row.encuesta, row.resultado) == (10, 4, "atendida")
    assert not client.exists(journey_key(SID))


def test_a_trim_never_drops_entries_another_worker_trimmed_or_did_not_read() -> None:
    events = plataforma_answered(SID)
    client = redis_store.client
    push_events(events[:3])
    [(_events, first)] = read_journeys(client, [SID])  # worker A reads three entries
    push_events(events[3:5])
    [(events_b, second)] = read_journeys(client, [SID])  # worker B reads five
    assert [e["id"] for e in json.loads(events_b)] == [e["id"] for e in events[:5]]
    trim_journeys(client, {SID: second})  # B commits first and trims its five
    push_events(events[5:6])
    push_events(events[:1])  # the same event pushed again (an interrupted outbox flush)
    trim_journeys(client, {SID: first})  # A's trim comes late: it drops nothing
    left = [event_of(e)["id"] for e in client.lrange(journey_key(SID), 0, -1)]
    assert left == [events[5]["id"], events[0]["id"]]

"""Storing events and deriving rows idempotently (register/ingest.py, register/jobs.py)."""

from __future__ import annotations

import random
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.journey import record_event
from register.ingest import ingest_events
from register.models import RegisterCall, RegisterEvent
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
    assert session.scalar(select(func.count()).select_from(RegisterEvent)) == len(events)
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


def test_one_job_drains_the_events_queued_behind_it(
    session: Session, work: Callable[..., None]
) -> None:
    from extensions import redis_store
    from register.events import enqueue_event

    for i in range(30):
        for ev in plataforma_answered(f"CA{i:032d}"):
            enqueue_event(ev)
    assert redis_store.queue("register").count == 300
    work(max_jobs=1)  # one job only: it writes all 300 events in one batch
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 30
    assert redis_store.queue("register").count == 0
    assert redis_store.queue("register").started_job_registry.count == 0

"""Merging events into rows idempotently: duplicates, any order, late events, stale
derivations (register/ingest.py)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from register.anexo1 import build_row
from register.ingest import ingest_events, upsert_rows
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
    events = plataforma_answered(SID)
    ingest_events(session, events)
    upsert_rows(session, [build_row(SID, events[:3])])  # a slow worker's stale derivation
    session.commit()
    assert _row(session).resultado == "atendida"


def test_a_large_batch_keeps_the_newest_derivation_of_each_call(session: Session) -> None:
    sids = [f"CA{i:032d}" for i in range(70)]
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


def test_a_batch_of_new_calls_is_written_even_when_another_worker_wrote_some_first(
    session: Session,
) -> None:
    sids = [f"CA{i:032d}" for i in range(50)]
    journeys = {sid: plataforma_answered(sid) for sid in sids}
    ingest_events(session, [e for sid in sids[:40] for e in journeys[sid][:9]])  # new calls
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 40
    # This worker read the stored rows before the other one wrote those 40 calls: it takes
    # every call for a new one.
    upsert_rows(session, [build_row(sid, events) for sid, events in journeys.items()])
    session.commit()
    session.expire_all()
    rows = list(session.scalars(select(RegisterCall)))
    assert sorted(r.call_sid for r in rows) == sids
    assert {(r.event_count, r.encuesta, r.duracion_seg) for r in rows} == {(10, 4, 240)}


def test_a_bad_event_makes_ingest_events_write_nothing(session: Session) -> None:
    events = plataforma_answered(SID)
    bad = {"id": "f" * 32, "call_sid": SID, "step": "incoming", "data": {}}  # no "at"
    with pytest.raises(ValueError, match=SID):
        ingest_events(session, [*events, bad])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(RegisterCall)) == 0

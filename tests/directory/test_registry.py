"""directory/registry.py and directory/queries.py: agents, the §5.4 registry, look-ups."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from directory.audit import entries
from directory.importer import import_directory
from directory.queries import (
    active_organos,
    agents_speaking,
    serving_representative,
    speakers_of,
)
from directory.registry import (
    add_agent,
    add_language,
    add_speaker,
    check_destino,
    remove_speaker,
    set_agent_active,
    set_agent_languages,
)
from directory.rules import RuleError
from tests.directory.helpers import BASE_CSV, BASE_ROWS, csv_text

ACTOR = "test:registry"


@pytest.mark.parametrize(
    ("canal", "destino", "stored"),
    [
        ("anexo", "2101", "2101"),
        ("sip", "sip:agente1@pbx.mef.gob.pe", "sip:agente1@pbx.mef.gob.pe"),
        ("client", "client:agente_1", "agente_1"),
        ("client", "agente_1", "agente_1"),
    ],
)
def test_agent_destination_is_checked_against_its_channel(
    canal: str, destino: str, stored: str
) -> None:
    assert check_destino(canal, destino) == stored


@pytest.mark.parametrize(
    ("canal", "destino"),
    [("anexo", "21"), ("sip", "agente1@pbx"), ("client", "con espacio"), ("fax", "1")],
)
def test_bad_agent_destination_is_refused(canal: str, destino: str) -> None:
    with pytest.raises(RuleError):
        check_destino(canal, destino)


def test_agents_speaking_a_language_and_their_changes_are_audited(session: Session) -> None:
    rosa = add_agent(
        session,
        nombre="Rosa Huamán",
        canal="anexo",
        destino="2101",
        languages=["es", "qu"],
        actor=ACTOR,
    )
    julio = add_agent(
        session,
        nombre="Julio Mamani",
        canal="sip",
        destino="sip:jm@pbx.mef.gob.pe",
        languages=["es", "ay"],
        actor=ACTOR,
    )
    session.commit()
    assert [a.nombre for a in agents_speaking(session, "qu")] == ["Rosa Huamán"]
    assert [a.nombre for a in agents_speaking(session, "es")] == ["Julio Mamani", "Rosa Huamán"]

    set_agent_languages(session, julio.id, ["es", "ay", "qu"], actor=ACTOR)
    set_agent_active(session, rosa.id, False, actor=ACTOR)
    session.commit()
    assert [a.nombre for a in agents_speaking(session, "qu")] == ["Julio Mamani"]

    update = [e for e in entries(session, "agent") if e.action == "update"][0]
    assert update.before is not None and update.after is not None
    assert (update.before["idiomas"], update.after["idiomas"]) == (["ay", "es"], ["ay", "es", "qu"])


def test_an_unknown_language_is_refused(session: Session) -> None:
    with pytest.raises(RuleError, match="desconocido"):
        add_agent(session, nombre="X", canal="anexo", destino="2101", languages=["xx"], actor=ACTOR)


def test_speakers_registry_add_remove_and_new_languages(session: Session) -> None:
    quechua = add_speaker(
        session,
        nombre_completo="Teodoro Ccama Huillca",
        language_code="qu",
        unidad="OGA",
        anexo="5120",
        telefono="987 654 321",
        actor=ACTOR,
    )
    add_language(session, "quz", "Quechua del Cusco", actor=ACTOR)
    add_speaker(session, nombre_completo="Nilda Puma", language_code="quz", actor=ACTOR)
    session.commit()
    assert quechua.telefono == "+51987654321"
    assert [s.nombre_completo for s in speakers_of(session, "qu")] == ["Teodoro Ccama Huillca"]
    assert [s.nombre_completo for s in speakers_of(session, "quz")] == ["Nilda Puma"]

    remove_speaker(session, quechua.id, actor=ACTOR)
    session.commit()
    assert speakers_of(session, "qu") == []
    (removal,) = [e for e in entries(session, "language_speaker") if e.action == "remove"]
    assert removal.before is not None and removal.after is not None
    assert (removal.before["activo"], removal.after["activo"]) == (True, False)


def test_active_organos_and_serving_representative(session: Session) -> None:
    import_directory(session, BASE_CSV, actor=ACTOR)
    session.commit()
    assert [o.sigla for o in active_organos(session)] == ["DGPP", "DGCP", "OGSU"]
    titular = serving_representative(session, "dgpp", "titular")
    assert titular is not None and titular.anexo == "2301"
    assert serving_representative(session, "OGSU", "alterno") is None

    import_directory(session, csv_text(*BASE_ROWS[:2]), actor=ACTOR)
    session.commit()
    assert [o.sigla for o in active_organos(session)] == ["DGPP"]
    assert serving_representative(session, "DGCP", "titular") is None

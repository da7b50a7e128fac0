"""Property: whatever valid Anexo 2 file is imported, exporting and importing again changes
nothing (quoting, accents and commas survive the round trip)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from directory.csvio import write_rows
from directory.importer import HEADER, import_directory
from directory.plans import export_csv
from directory.rules import FORMULA_START

NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzÁÉÍÓÚÑáéíóúñ ,'\"-."))
names = st.text(NAME_CHARS, min_size=1, max_size=30).filter(
    # valid names only: not empty, and not starting like a spreadsheet formula (refused)
    lambda s: s.strip(" ,'\"-.") != "" and not s.strip().startswith(FORMULA_START)
)
SIGLAS = ["DGPP", "DGETP", "DGCP", "DGA", "DGPMI", "DGPIP", "OGSU", "DGAEICYP"]


@st.composite
def directories(draw: st.DrawFn) -> str:
    siglas = draw(st.lists(st.sampled_from(SIGLAS), min_size=1, max_size=5, unique=True))
    places = draw(st.permutations(list(range(1, len(siglas) + 1))))
    rows: list[list[object]] = []
    for n, (sigla, orden) in enumerate(zip(siglas, places, strict=True)):
        organo = draw(names)
        roles = ["titular", "alterno"] if draw(st.booleans()) else ["titular"]
        for m, rol in enumerate(roles):
            anexo = draw(st.from_regex(r"\A[0-9]{3,6}\Z"))
            rows.append(
                [sigla, organo, orden, rol, draw(names), draw(names), f"p{n}{m}@mef.gob.pe", anexo]
            )
    return write_rows(HEADER, rows)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=directories())
def test_export_of_any_imported_directory_imports_back_unchanged(
    session: Session, text: str
) -> None:
    import_directory(session, text, actor="test:roundtrip")
    session.commit()
    report = import_directory(session, export_csv(session, "anexo2"), actor="test:roundtrip")
    session.commit()
    assert report.unchanged, report.summary()

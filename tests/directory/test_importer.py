"""directory/importer.py: the Anexo 2 import is all-or-nothing, idempotent, and retires people
instead of deleting them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directory.audit import entries
from directory.csvio import FileRejected
from directory.designations import designate
from directory.importer import import_directory
from directory.models import Organo, Representative
from directory.plans import export_csv
from tests.directory.helpers import BASE_CSV, BASE_ROWS, csv_text, directory_state, serving

ACTOR = "test:importer"


def load(session: Session, text: str | bytes):
    report = import_directory(session, text, actor=ACTOR)
    session.commit()
    return report


def test_import_creates_organos_in_menu_order_and_their_representatives(
    session: Session,
) -> None:
    report = load(session, BASE_CSV)

    organos = session.scalars(select(Organo).order_by(Organo.orden)).all()
    assert [(o.sigla, o.orden, o.activo) for o in organos] == [
        ("DGPP", 1, True),
        ("DGCP", 2, True),
        ("OGSU", 3, True),
    ]
    reps = serving(session)
    assert set(reps) == {
        ("DGPP", "titular"),
        ("DGPP", "alterno"),
        ("DGCP", "titular"),
        ("DGCP", "alterno"),
        ("OGSU", "titular"),
    }
    titular = reps[("DGPP", "titular")]
    assert (titular.nombre_completo, titular.cargo, titular.correo, titular.anexo) == (
        "Ana Quispe Mamani",
        "Directora",
        "aquispe@mef.gob.pe",
        "2301",
    )
    assert len(report.organos_added) == 3
    assert len(report.added) == 5
    assert not report.unchanged


def test_import_accepts_a_utf8_bom_and_normalises_sigla_case(session: Session) -> None:
    row = BASE_ROWS[0].replace("DGPP", "dgpp", 1)
    load(session, ("\ufeff" + csv_text(row)).encode("utf-8"))
    assert session.scalars(select(Organo.sigla)).all() == ["DGPP"]
    assert serving(session)[("DGPP", "titular")].nombre_completo == "Ana Quispe Mamani"


def test_a_file_with_several_errors_names_each_by_line_and_column_and_changes_nothing(
    session: Session,
) -> None:
    load(session, BASE_CSV)
    before = directory_state(session)
    bad = csv_text(
        BASE_ROWS[0],
        # line 3: bad anexo (column 8) and bad e-mail (column 7)
        "DGPP,Dirección General de Presupuesto Público,1,alterno,Jorge Salas,Esp.,jsalas@,23",
        # line 4: unknown role (column 4)
        "DGCP,Dirección General de Contabilidad Pública,2,suplente,Carlos Huamán,Dir.,c@mef.gob.pe,2521",
        # line 5: orden not a number (column 3)
        "OGSU,Oficina General de Servicios al Usuario,tres,titular,Teresa Ramos,Jefa,t@mef.gob.pe,4101",
        # line 6: missing cargo (column 6)
        "DGA,Dirección General de Abastecimiento,4,titular,Rosa Chávez,,r@mef.gob.pe,2631",
    )
    with pytest.raises(FileRejected) as caught:
        import_directory(session, bad, actor=ACTOR)
    session.rollback()

    located = {(e.line, e.column, e.column_number) for e in caught.value.errors}
    assert located == {
        (3, "correo", 7),
        (3, "anexo", 8),
        (4, "rol", 4),
        (5, "orden", 3),
        (6, "cargo", 6),
    }
    message = str(caught.value)
    assert "línea 3, columna anexo (n.° 8)" in message
    assert "línea 6, columna cargo (n.° 6)" in message
    assert directory_state(session) == before


def test_reimporting_the_same_file_changes_nothing_and_says_so(session: Session) -> None:
    load(session, BASE_CSV)
    before = directory_state(session)

    report = load(session, BASE_CSV)

    assert report.unchanged
    assert report.summary() == ["Sin cambios: el directorio ya coincide con el archivo."]
    assert directory_state(session) == before


def test_a_changed_file_reports_added_changed_and_retired_and_retired_people_keep_their_row(
    session: Session,
) -> None:
    load(session, BASE_CSV)
    old_alterno = serving(session)[("DGPP", "alterno")]
    old_alterno_id = old_alterno.id
    changed = csv_text(
        BASE_ROWS[0].replace(",2301", ",2399"),  # same titular, new anexo: changed
        # a new alterno for DGPP replaces Jorge Salas Paredes: retired + added
        "DGPP,Dirección General de Presupuesto Público,1,alterno,Luz Pérez Ríos,Analista,lperez@mef.gob.pe,2303",
        BASE_ROWS[2],  # DGCP titular unchanged; DGCP alterno left the file: retired
        BASE_ROWS[4],
        "DGA,Dirección General de Abastecimiento,4,titular,Rosa Chávez Palomino,Directora,rchavez@mef.gob.pe,2631",
    )

    report = load(session, changed)

    assert report.organos_added == ["DGA Dirección General de Abastecimiento (orden 4)"]
    assert report.added == [
        "DGPP alterno: Luz Pérez Ríos",
        "DGA titular: Rosa Chávez Palomino",
    ]
    assert report.changed == ["DGPP titular: Ana Quispe Mamani (anexo «2301» → «2399»)"]
    assert sorted(report.retired) == [
        "DGCP alterno: Milagros Torres Neyra",
        "DGPP alterno: Jorge Salas Paredes",
    ]
    retired = session.get(Representative, old_alterno_id)
    assert retired is not None
    assert retired.retired_at is not None
    assert retired.nombre_completo == "Jorge Salas Paredes"
    reps = serving(session)
    assert reps[("DGPP", "alterno")].nombre_completo == "Luz Pérez Ríos"
    assert reps[("DGPP", "titular")].anexo == "2399"
    assert ("DGCP", "alterno") not in reps


def test_organos_absent_from_a_new_file_are_deactivated_not_deleted(session: Session) -> None:
    load(session, BASE_CSV)
    report = load(session, csv_text(*BASE_ROWS[:4]))

    ogsu = session.scalars(select(Organo).where(Organo.sigla == "OGSU")).one()
    assert not ogsu.activo
    assert report.organos_deactivated == ["OGSU Oficina General de Servicios al Usuario"]
    assert report.retired == ["OGSU titular: Teresa Ramos Inga"]

    again = load(session, BASE_CSV)
    assert again.organos_changed == ["OGSU: reactivado"]
    assert session.scalars(select(Organo).where(Organo.sigla == "OGSU")).one().activo


def test_importing_keeps_the_memorando_of_unchanged_and_changed_people(session: Session) -> None:
    load(session, BASE_CSV)
    designate(
        session,
        "DGPP",
        "titular",
        memorando="Memorando N° 0112-2026-EF/50.01",
        memorando_fecha=date(2026, 3, 2),
        vigente_desde=date(2026, 3, 2),
        comunicado_el=date(2026, 3, 4),
        actor=ACTOR,
    )
    session.commit()

    load(session, BASE_CSV)
    assert serving(session)[("DGPP", "titular")].memorando == "Memorando N° 0112-2026-EF/50.01"
    load(session, csv_text(BASE_ROWS[0].replace("Directora", "Directora General"), *BASE_ROWS[1:]))
    titular = serving(session)[("DGPP", "titular")]
    assert titular.cargo == "Directora General"
    assert titular.memorando == "Memorando N° 0112-2026-EF/50.01"
    assert titular.vigente_desde == date(2026, 3, 2)


def test_a_second_titular_for_the_same_organo_is_rejected(session: Session) -> None:
    extra = "DGPP,Dirección General de Presupuesto Público,1,titular,Otra Persona,Dir.,o@mef.gob.pe,2309"
    with pytest.raises(FileRejected) as caught:
        import_directory(session, csv_text(*BASE_ROWS, extra), actor=ACTOR)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (7, "rol")
    assert "ya tiene un titular en la línea 2" in error.message


def test_a_second_alterno_for_the_same_organo_is_rejected(session: Session) -> None:
    extra = "DGPP,Dirección General de Presupuesto Público,1,alterno,Otra Persona,Esp.,o@mef.gob.pe,2309"
    with pytest.raises(FileRejected) as caught:
        import_directory(session, csv_text(*BASE_ROWS, extra), actor=ACTOR)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (7, "rol")
    assert "ya tiene un alterno en la línea 3" in error.message


def test_an_alterno_without_titular_is_rejected(session: Session) -> None:
    with pytest.raises(FileRejected) as caught:
        import_directory(session, csv_text(BASE_ROWS[1]), actor=ACTOR)
    (error,) = caught.value.errors
    assert (error.line, error.column) == (2, "rol")
    assert "alterno pero no titular" in error.message


def test_the_database_itself_refuses_two_serving_titulares(session: Session) -> None:
    load(session, BASE_CSV)
    organo = session.scalars(select(Organo).where(Organo.sigla == "DGPP")).one()
    session.add(
        Representative(
            organo_id=organo.id,
            rol="titular",
            nombre_completo="Intrusa",
            cargo="X",
            correo="x@mef.gob.pe",
            anexo="999",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_a_sigla_with_inconsistent_nombre_or_orden_is_rejected(session: Session) -> None:
    bad = csv_text(
        BASE_ROWS[0],
        BASE_ROWS[1].replace("Presupuesto Público,1,", "Presupuesto,5,"),
    )
    with pytest.raises(FileRejected) as caught:
        import_directory(session, bad, actor=ACTOR)
    located = {(e.line, e.column) for e in caught.value.errors}
    assert located == {(3, "organo_nombre"), (3, "orden")}


def test_two_organos_with_the_same_orden_are_rejected(session: Session) -> None:
    bad = csv_text(BASE_ROWS[0], BASE_ROWS[4].replace(",3,", ",1,"))
    with pytest.raises(FileRejected) as caught:
        import_directory(session, bad, actor=ACTOR)
    (error,) = caught.value.errors
    assert (error.line, error.column, error.column_number) == (3, "orden", 3)
    assert "ya es de DGPP" in error.message


@pytest.mark.parametrize(
    "header",
    [
        "organo_sigla,organo_nombre,orden,rol,nombre_completo,cargo,correo",
        "sigla,organo_nombre,orden,rol,nombre_completo,cargo,correo,anexo",
        "",
    ],
)
def test_a_wrong_header_names_the_expected_one(session: Session, header: str) -> None:
    text = header + "\n" + BASE_ROWS[0] + "\n"
    with pytest.raises(FileRejected) as caught:
        import_directory(session, text, actor=ACTOR)
    (error,) = caught.value.errors
    assert error.line == 1
    assert "organo_sigla,organo_nombre,orden,rol,nombre_completo,cargo,correo,anexo" in str(error)


def test_a_row_with_missing_fields_and_non_utf8_files_are_rejected(session: Session) -> None:
    with pytest.raises(FileRejected) as caught:
        import_directory(session, csv_text("DGPP,Dirección,1,titular"), actor=ACTOR)
    assert "se esperan 8" in str(caught.value)
    with pytest.raises(FileRejected) as caught:
        import_directory(session, csv_text(*BASE_ROWS).encode("latin-1"), actor=ACTOR)
    assert "UTF-8" in str(caught.value)


def test_a_file_without_rows_is_rejected(session: Session) -> None:
    load(session, BASE_CSV)
    with pytest.raises(FileRejected, match="no tiene representantes"):
        import_directory(session, csv_text(), actor=ACTOR)


def test_export_then_import_changes_nothing(session: Session) -> None:
    load(session, BASE_CSV)
    exported = export_csv(session, "anexo2")
    assert exported.splitlines()[0] == (
        "organo_sigla,organo_nombre,orden,rol,nombre_completo,cargo,correo,anexo"
    )
    assert len(exported.splitlines()) == 6
    assert load(session, exported).unchanged


def test_every_change_writes_an_audit_entry_with_before_and_after(session: Session) -> None:
    load(session, BASE_CSV)
    created = entries(session, "representative")
    assert len(created) == 5
    assert all(e.action == "create" and e.before is None and e.actor == ACTOR for e in created)
    assert created[0].after is not None and created[0].after["anexo"] == "2301"

    load(session, csv_text(BASE_ROWS[0].replace(",2301", ",2399"), *BASE_ROWS[1:]))
    (update,) = [e for e in entries(session, "representative") if e.action == "update"]
    assert update.before is not None and update.after is not None
    assert (update.before["anexo"], update.after["anexo"]) == ("2301", "2399")
    assert update.before["nombre_completo"] == "Ana Quispe Mamani"


def test_swapping_two_organos_menu_places_is_a_change_not_a_conflict(session: Session) -> None:
    load(session, BASE_CSV)
    swapped = csv_text(
        *(r.replace(",1,", ",2,") for r in BASE_ROWS[:2]),
        *(r.replace(",2,", ",1,") for r in BASE_ROWS[2:4]),
        BASE_ROWS[4],
    )
    report = load(session, swapped)
    assert sorted(report.organos_changed) == ["DGCP: orden 2 → 1", "DGPP: orden 1 → 2"]
    assert report.added == [] and report.retired == []


def test_a_name_fixed_only_in_accents_or_case_is_the_same_person(session: Session) -> None:
    load(session, BASE_CSV)
    report = load(
        session, csv_text(*BASE_ROWS[:2], BASE_ROWS[2].replace("Huamán", "HUAMAN"), *BASE_ROWS[3:])
    )
    assert report.retired == [] and report.added == []
    assert report.changed == [
        "DGCP titular: Carlos HUAMAN Ccori (nombre_completo «Carlos Huamán Ccori» → "
        "«Carlos HUAMAN Ccori»)"
    ]

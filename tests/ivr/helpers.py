"""Helpers shared by the call-flow tests (tests/ivr and tests/webhooks/test_voice*.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clock import LIMA
from directory.models import CenterDepartment, ConectamefCenter, Organo, Representative

# Thursday 26 November 2026, 10:00 in Lima: the line is open.
OPEN = datetime(2026, 11, 26, 10, 0, tzinfo=LIMA)


def lima(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LIMA)


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> str:
    """Everything <Say> speaks, anywhere in the document, as one string."""
    return " ".join((e.text or "") for e in root.iter("Say"))


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def gather_action(root: ET.Element) -> str:
    gathers = list(root.iter("Gather"))
    assert gathers, f"no <Gather> in {verbs(root)}"
    return gathers[-1].get("action", "")


def enqueued(root: ET.Element) -> bool:
    return root.find("Enqueue") is not None


def add_organo(
    session: Session, sigla: str, nombre: str, orden: int, titular: str | None, alterno: str | None
) -> Organo:
    organo = Organo(sigla=sigla, nombre=nombre, orden=orden, activo=True)
    session.add(organo)
    session.flush()
    for rol, anexo in (("titular", titular), ("alterno", alterno)):
        if anexo:
            session.add(
                Representative(
                    organo_id=organo.id,
                    rol=rol,
                    nombre_completo=f"{rol.capitalize()} de {sigla}",
                    cargo="Especialista",
                    correo=f"{rol}.{sigla.lower()}@mef.gob.pe",
                    anexo=anexo,
                )
            )
    return organo


def load_directory(session: Session, organos: int = 3) -> None:
    """DGPP (titular 1201, alterno 1202), DGTP (titular 1301 only), DGA (alterno 1402 only),
    then more órganos with a titular, up to ``organos``; two CONECTAMEF centers."""
    add_organo(session, "DGPP", "Presupuesto Público", 1, "1201", "1202")
    add_organo(session, "DGTP", "Tesoro Público", 2, "1301", None)
    add_organo(session, "DGA", "Abastecimiento", 3, None, "1402")
    for n in range(4, organos + 1):
        add_organo(session, f"ORG{n}", f"Órgano {n}", n, f"1{n:02d}1", None)
    for centro, telefono, departamento in (
        ("Arequipa", "+5154283140", "Arequipa"),
        ("Cusco", "+5184234567", "Cusco"),
    ):
        center = ConectamefCenter(centro=centro, telefono=telefono, activo=True)
        center.departments.append(CenterDepartment(departamento=departamento))
        session.add(center)
    session.commit()

"""Demo data for `make run` (`flask seed demo`, in admin/cli.py): the MEF's órganos with
fictional Red members, the 27 CONECTAMEF centers of Anexo 3, Plataforma agents and the §5.4
registry of speakers (the demo users are admin/demo.py's). The directory files in
``demo_data/`` go through the same importers an administrator uses. Seeding twice changes
nothing the second time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.centers import import_centers
from directory.designations import designate
from directory.importer import import_directory
from directory.models import Agent, LanguageSpeaker, Organo
from directory.registry import add_agent, add_speaker

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
ANEXO2_CSV = DEMO_DATA / "anexo2_demo.csv"
ANEXO3_CSV = DEMO_DATA / "anexo3_conectamef.csv"


@dataclass(frozen=True)
class DemoDesignation:
    sigla: str
    rol: str
    memorando: str
    memorando_fecha: date
    vigente_desde: date
    comunicado_el: date


DGPP_TITULAR = DemoDesignation(
    "DGPP",
    "titular",
    "Memorando N° 0112-2026-EF/50.01",
    date(2026, 3, 2),
    date(2026, 3, 2),
    date(2026, 3, 4),
)
DESIGNATIONS = (
    DGPP_TITULAR,
    replace(DGPP_TITULAR, rol="alterno"),  # designated by the same memorando
    # Took effect Friday 24 July 2026, communicated Wednesday 5 August: 28 and 29 July are
    # holidays, so that is six business days, one more than §4.2.4 d allows: flagged late.
    DemoDesignation(
        "DGCP",
        "alterno",
        "Memorando N° 0348-2026-EF/51.01",
        date(2026, 8, 5),
        date(2026, 7, 24),
        date(2026, 8, 5),
    ),
    DemoDesignation(
        "OGSU",
        "titular",
        "Memorando N° 0051-2026-EF/45.01",
        date(2026, 1, 12),
        date(2026, 1, 12),
        date(2026, 1, 15),
    ),
)

AGENTS = (
    ("Rosa Huamán Quispe", "anexo", "2101", ["es", "qu"]),
    ("Julio Mamani Condori", "sip", "sip:jmamani@pbx.mef.gob.pe", ["es", "ay"]),
    ("Carmen Salazar Ríos", "client", "agente_csalazar", ["es"]),
    ("Pedro Villanueva Torres", "anexo", "2104", ["es"]),
)

SPEAKERS = (
    ("Teodoro Ccama Huillca", "qu", "Oficina General de Administración", "5120"),
    ("Yolanda Pumacahua Rimache", "qu", "Dirección General de Presupuesto Público", "2310"),
    ("Edgar Quispe Choque", "ay", "Oficina General de Tecnologías de la Información", "5230"),
    ("Nelly Chimanca Rojas", "cni", "Oficina General de Servicios al Usuario", "4120"),
    ("Santiago Tsamajain Wajai", "agr", "Dirección General de Abastecimiento", "2640"),
    ("Olinda Ahuanari Sánchez", "shp", "Oficina General de Servicios al Usuario", "4121"),
)


def directory_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Organo))


def seed_demo(session: Session, *, actor: str, if_empty: bool = False) -> list[str]:
    """Load the demo data; returns what was done, in Spanish. The caller commits."""
    if if_empty and not directory_is_empty(session):
        return ["El directorio ya tiene órganos: no se cargaron los datos de demostración."]
    lines = ["Anexo 2 (órganos y representantes):"]
    lines += import_directory(session, ANEXO2_CSV.read_bytes(), actor=actor).summary()
    lines.append("Anexo 3 (centros CONECTAMEF):")
    lines += import_centers(session, ANEXO3_CSV.read_bytes(), actor=actor).summary()
    for d in DESIGNATIONS:
        designate(session, **asdict(d), actor=actor)
    existing_agents = set(session.scalars(select(Agent.nombre)))
    new_agents = [agent for agent in AGENTS if agent[0] not in existing_agents]
    for nombre, canal, destino, languages in new_agents:
        add_agent(
            session, nombre=nombre, canal=canal, destino=destino, languages=languages, actor=actor
        )
    lines.append(f"Agentes de la Plataforma agregados: {len(new_agents)}.")
    existing_speakers = {
        (nombre, code)
        for nombre, code in session.execute(
            select(LanguageSpeaker.nombre_completo, LanguageSpeaker.language_code)
        )
    }
    new_speakers = [s for s in SPEAKERS if (s[0], s[1]) not in existing_speakers]
    for nombre, code, unidad, anexo in new_speakers:
        add_speaker(
            session,
            nombre_completo=nombre,
            language_code=code,
            unidad=unidad,
            anexo=anexo,
            actor=actor,
        )
    lines.append(f"Servidores del registro de lenguas originarias agregados: {len(new_speakers)}.")
    session.flush()
    return lines

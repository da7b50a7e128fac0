"""Changes to the directory one record at a time, as the admin's pages make them: órganos
(order, active), appointing and retiring representatives, agents, the §5.4 registry's servers,
CONECTAMEF centers.

The same rules as the files and the commands (``directory.rules``, the checks of
``directory.registry`` and ``directory.designations``); a broken rule raises ``FieldError``, a
``RuleError`` that names the field it belongs to, so a page can show it beside that field.
Every change writes an audit entry; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import utcnow
from directory import audit, designations, registry
from directory.centers import add_center, replace_departments
from directory.models import (
    ROLES,
    ConectamefCenter,
    LanguageSpeaker,
    Organo,
    Representative,
)
from directory.rules import (
    RuleError,
    check_anexo,
    check_department,
    check_email,
    check_sigla,
    check_text,
    fold,
    parse_phone,
)

T = TypeVar("T")


class FieldError(RuleError):
    """A broken rule and the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _on(field: str, check: Callable[..., T], *args: object, **kwargs: object) -> T:
    """``check(*args, **kwargs)``, its RuleError turned into a FieldError about ``field``."""
    try:
        return check(*args, **kwargs)
    except FieldError:
        raise
    except RuleError as exc:
        raise FieldError(field, str(exc)) from exc


def _orden(session: Session, orden: int | None, organo_id: int | None) -> int:
    if orden is None or not 1 <= orden <= 999:
        raise FieldError("orden", f"el orden «{orden}» debe ser un número de 1 a 999.")
    holder = session.scalar(select(Organo).where(Organo.orden == orden, Organo.activo))
    if holder is not None and holder.id != organo_id:
        raise FieldError(
            "orden",
            f"el orden {orden} ya es de {holder.sigla}; dos órganos no pueden tener el mismo orden.",
        )
    return orden


def get_organo(session: Session, sigla: str) -> Organo:
    organo = session.scalar(select(Organo).where(Organo.sigla == check_sigla(sigla)))
    if organo is None:
        raise FieldError("sigla", f"no existe el órgano {sigla}.")
    return organo


def list_organos(session: Session) -> list[Organo]:
    """Every órgano, active ones first in menu order."""
    return list(
        session.scalars(select(Organo).order_by(Organo.activo.desc(), Organo.orden, Organo.sigla))
    )


def add_organo(
    session: Session, *, sigla: str, nombre: str, orden: int | None, actor: str
) -> Organo:
    sigla = _on("sigla", check_sigla, sigla)
    if session.scalar(select(Organo.id).where(Organo.sigla == sigla)) is not None:
        raise FieldError("sigla", f"el órgano {sigla} ya existe.")
    organo = Organo(
        sigla=sigla,
        nombre=_on("nombre", check_text, nombre, "el nombre del órgano"),
        orden=_orden(session, orden, None),
        activo=True,
    )
    session.add(organo)
    session.flush()
    audit.record_change(session, organo, "create", actor=actor)
    return organo


def update_organo(
    session: Session, sigla: str, *, nombre: str, orden: int | None, activo: bool, actor: str
) -> Organo:
    organo = get_organo(session, sigla)
    nombre = _on("nombre", check_text, nombre, "el nombre del órgano")
    orden = _orden(session, orden, organo.id) if activo else (orden or organo.orden)
    before = audit.state(organo)
    organo.nombre, organo.orden, organo.activo = nombre, orden, activo
    if audit.state(organo) == before:
        return organo
    organo.updated_at = utcnow()
    session.flush()
    action = "update"
    if before["activo"] != activo:
        action = "activate" if activo else "deactivate"
    audit.record_change(session, organo, action, actor=actor, before=before)
    return organo


def appoint(
    session: Session,
    sigla: str,
    rol: str,
    *,
    nombre_completo: str,
    cargo: str,
    correo: str,
    anexo: str,
    memorando: str,
    memorando_fecha: date,
    vigente_desde: date,
    comunicado_el: date,
    actor: str,
) -> Representative:
    """Designate the titular or alterno of an órgano with the memorando's data. The person who
    held the role is retired (the row stays for the register); the same person (full name,
    accents and case aside) is updated in place instead."""
    if rol not in ROLES:
        raise FieldError("rol", f"el rol «{rol}» debe ser titular o alterno.")
    organo = get_organo(session, sigla)
    nombre_completo = _on("nombre_completo", check_text, nombre_completo, "el nombre completo")
    cargo = _on("cargo", check_text, cargo, "el cargo")
    correo = _on("correo", check_email, correo)
    anexo = _on("anexo", check_anexo, anexo)
    if rol == "alterno" and organo.current("titular") is None:
        raise FieldError("rol", f"{organo.sigla} no tiene titular: designe primero al titular.")
    if memorando_fecha > comunicado_el:
        raise FieldError(
            "memorando_fecha", "el memorando no puede tener fecha posterior a su comunicación."
        )
    current = organo.current(rol)
    if current is not None and fold(current.nombre_completo) == fold(nombre_completo):
        before = audit.state(current)
        current.nombre_completo, current.cargo = nombre_completo, cargo
        current.correo, current.anexo = correo, anexo
        if audit.state(current) != before:
            session.flush()
            audit.record_change(session, current, "update", actor=actor, before=before)
    else:
        if current is not None:
            _retire(session, current, actor)
            session.flush()
        rep = Representative(
            organo_id=organo.id,
            rol=rol,
            nombre_completo=nombre_completo,
            cargo=cargo,
            correo=correo,
            anexo=anexo,
        )
        session.add(rep)
        session.flush()
        session.refresh(organo)
        audit.record_change(session, rep, "create", actor=actor)
    return _on(
        "memorando",
        designations.designate,
        session,
        organo.sigla,
        rol,
        memorando=memorando,
        memorando_fecha=memorando_fecha,
        vigente_desde=vigente_desde,
        comunicado_el=comunicado_el,
        actor=actor,
    )


def _retire(session: Session, rep: Representative, actor: str) -> None:
    before = audit.state(rep)
    rep.retired_at = utcnow()
    audit.record_change(session, rep, "retire", actor=actor, before=before)


def retire(session: Session, representative_id: int, *, actor: str) -> Representative:
    """Retire a serving representative. A titular is retired only once the órgano has no
    alterno (no alterno without a titular), or by appointing another titular."""
    rep = session.get(Representative, representative_id)
    if rep is None or rep.retired_at is not None:
        raise FieldError(
            "representative_id", f"no hay un representante en funciones con id {representative_id}."
        )
    if rep.rol == "titular" and rep.organo.current("alterno") is not None:
        raise FieldError(
            "representative_id",
            f"{rep.organo.sigla} tiene alterno: designe otro titular o retire primero al alterno.",
        )
    _retire(session, rep, actor)
    session.flush()
    return rep


def _agent_fields(
    session: Session, nombre: str, canal: str, destino: str, languages: list[str]
) -> tuple[str, str, list[str]]:
    """An agent's nombre, destino and language codes, checked field by field."""
    nombre = _on("nombre", check_text, nombre, "el nombre del agente")
    destino = _on("destino", registry.check_destino, canal, destino)
    codes = _on("idiomas", registry.check_languages, session, languages)
    if not codes:
        raise FieldError("idiomas", "elija al menos un idioma.")
    return nombre, destino, codes


def update_agent(
    session: Session,
    agent_id: int,
    *,
    nombre: str,
    canal: str,
    destino: str,
    languages: list[str],
    activo: bool,
    actor: str,
) -> registry.Agent:
    agent = registry.get_agent(session, agent_id)
    nombre, destino, codes = _agent_fields(session, nombre, canal, destino, languages)
    before = audit.state(agent)
    agent.nombre, agent.canal, agent.destino, agent.activo = nombre, canal, destino, activo
    registry.replace_languages(session, agent, codes)
    if audit.state(agent) != before:
        audit.record_change(session, agent, "update", actor=actor, before=before)
    return agent


def add_agent(
    session: Session, *, nombre: str, canal: str, destino: str, languages: list[str], actor: str
) -> registry.Agent:
    nombre, destino, codes = _agent_fields(session, nombre, canal, destino, languages)
    return registry.add_agent(
        session, nombre=nombre, canal=canal, destino=destino, languages=codes, actor=actor
    )


def add_speaker(
    session: Session,
    *,
    nombre_completo: str,
    language_code: str,
    unidad: str | None,
    anexo: str,
    telefono: str,
    correo: str,
    actor: str,
) -> LanguageSpeaker:
    """Add a server to the §5.4 registry; an empty anexo, telephone or correo is none."""
    # Each field on its own first, so an error lands beside the field it is about.
    for field, value, check in (
        ("nombre_completo", nombre_completo, lambda v: check_text(v, "el nombre completo")),
        ("anexo", anexo, check_anexo),
        ("telefono", telefono, parse_phone),
        ("correo", correo, check_email),
    ):
        if value.strip():
            _on(field, check, value)
    return registry.add_speaker(
        session,
        nombre_completo=nombre_completo,
        language_code=language_code,
        unidad=unidad,
        anexo=anexo.strip() or None,
        telefono=telefono.strip() or None,
        correo=correo.strip() or None,
        actor=actor,
    )


def _departments(text: str) -> list[str]:
    names = [part for part in (p.strip() for p in text.replace(";", ",").split(",")) if part]
    if not names:
        raise FieldError("departamentos", "indique al menos un departamento.")
    return sorted({_on("departamentos", check_department, n) for n in names}, key=fold)


def save_center(
    session: Session,
    *,
    center_id: int | None,
    centro: str,
    telefono: str,
    departamentos: str,
    activo: bool,
    actor: str,
) -> ConectamefCenter:
    """Add a center (``center_id`` None) or change one."""
    centro = _on("centro", check_text, centro, "el nombre del centro", 100)
    telefono = _on("telefono", parse_phone, telefono)
    depts = _departments(departamentos)
    same_name = session.scalar(select(ConectamefCenter).where(ConectamefCenter.centro == centro))
    if same_name is not None and same_name.id != center_id:
        raise FieldError("centro", f"ya existe el centro «{centro}».")
    if center_id is None:
        return add_center(session, centro, telefono, depts, actor=actor)
    center = session.get(ConectamefCenter, center_id)
    if center is None:
        raise FieldError("centro", f"no existe el centro {center_id}.")
    before = audit.state(center)
    center.centro, center.telefono, center.activo = centro, telefono, activo
    replace_departments(session, center, depts)
    session.flush()
    if audit.state(center) != before:
        audit.record_change(session, center, "update", actor=actor, before=before)
    return center

"""/admin/directorio: the directory in the browser (admins). Órganos, representatives
(appoint with the memorando, the late flag, retire), Plataforma agents, the §5.4 language
registry, CONECTAMEF centers, and the Anexo 2 / Anexo 3 upload with its preview.

The rules are the directory's own (``directory.editing``, ``directory.registry``,
``directory.plans``), the same the commands use; a broken rule is shown beside its field.
An uploaded file waits in Redis (30 minutes) under a random token between its preview and the
admin's confirmation, with the fingerprint of the directory it was previewed against.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, cast

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from admin.auth import ADMIN_ROLES, admin_actor, roles_required
from admin.downloads import attachment
from admin.formatting import error_beside_field, sentence
from admin.forms import (
    AgentForm,
    AppointForm,
    ButtonForm,
    CenterForm,
    ConfirmImportForm,
    LanguageForm,
    OrganoForm,
    SpeakerForm,
    UploadForm,
)
from admin.views import bp
from directory import editing, plans, registry
from directory.centers import active_centers, listed
from directory.csvio import FileRejected
from directory.designations import representative_is_late
from directory.models import ConectamefCenter
from directory.queries import active_organos
from directory.rules import (
    RuleError,
    business_days_to_communicate,
    communication_deadline,
)
from extensions import db, redis_store

PENDING_TTL_SECONDS = 30 * 60
PENDING_KEY = "red:import:{token}"
UPLOAD_EXTENSIONS = (".csv", ".xlsx", ".txt")


def _language_choices(session: Any) -> dict[str, str]:
    return {lang.code: f"{lang.nombre} ({lang.code})" for lang in registry.list_languages(session)}


def _agent_form(session: Any, prefix: str, **data: Any) -> AgentForm:
    """An agent's form, with the registered languages to choose from."""
    form = AgentForm(prefix=prefix, **data)
    form.idiomas.choices = _language_choices(session)
    return form


def _center_form(center: ConectamefCenter) -> CenterForm:
    departamentos = listed(d.departamento for d in center.departments)
    return CenterForm(
        formdata=None, prefix=f"c-{center.id}", obj=center, departamentos=departamentos
    )


def _speaker_form(session: Any, formdata: Any = None) -> SpeakerForm:
    form = SpeakerForm(formdata=formdata, prefix="s-new")
    form.language_code.choices = {
        code: name for code, name in _language_choices(session).items() if code != "es"
    }
    form.unidad.choices = {"": "(sin unidad)"} | {
        o.nombre: f"{o.sigla} · {o.nombre}" for o in active_organos(session)
    }
    return form


def _appoint_form(session: Any, formdata: Any = None) -> AppointForm:
    form = AppointForm(formdata=formdata, prefix="d")
    form.sigla.choices = {o.sigla: f"{o.sigla} · {o.nombre}" for o in active_organos(session)}
    return form


def _page(bound: dict[str, Any] | None = None, status: int = 200) -> ResponseReturnValue:
    """The whole page; ``bound`` holds the one form that failed, keyed as the page keys it,
    so its errors show beside its fields."""
    session = db.session()
    bound = bound or {}
    organos = editing.list_organos(session)
    agents = registry.list_agents(session, include_inactive=True)
    centers = list(
        session.scalars(
            select(ConectamefCenter).order_by(
                ConectamefCenter.activo.desc(), ConectamefCenter.centro
            )
        )
    )
    # A row's form shows the row: WTForms reads each field from ``obj``'s attribute of that name.
    organo_forms = {
        o.sigla: bound.get(f"organo:{o.sigla}")
        or OrganoForm(formdata=None, prefix=f"o-{o.sigla}", obj=o)
        for o in organos
    }
    agent_forms = {
        a.id: bound.get(f"agent:{a.id}")
        or _agent_form(session, f"a-{a.id}", formdata=None, obj=a, idiomas=a.language_codes)
        for a in agents
    }
    center_forms = {c.id: bound.get(f"center:{c.id}") or _center_form(c) for c in centers}
    new_agent = bound.get("agent:new") or _agent_form(
        session, "a-new", formdata=None, idiomas=["es"]
    )
    appoint = bound.get("appoint") or _appoint_form(session)
    return render_template(
        "admin/directorio.html",
        organos=organos,
        organo_forms=organo_forms,
        new_organo=bound.get("organo:new") or OrganoForm(formdata=None, prefix="o-new"),
        appoint=appoint,
        agents=agents,
        agent_forms=agent_forms,
        new_agent=new_agent,
        languages=registry.list_languages(session),
        speakers=registry.list_speakers(session),
        new_language=bound.get("language:new") or LanguageForm(formdata=None, prefix="l-new"),
        new_speaker=bound.get("speaker:new") or _speaker_form(session),
        centers=centers,
        center_forms=center_forms,
        new_center=bound.get("center:new") or CenterForm(formdata=None, prefix="c-new"),
        upload=UploadForm(formdata=None),
        button=ButtonForm(),
        is_late=representative_is_late,
        deadline=communication_deadline,
        business_days=business_days_to_communicate,
        titles=plans.TITLES,
        active_centers=len(active_centers(session)),
    ), status


def _failed(key: str, form: Any, exc: RuleError | None = None) -> ResponseReturnValue:
    db.session.rollback()
    if exc is not None and not error_beside_field(form, exc):
        form.form_errors.append(sentence(exc))
    return _page({key: form}, 400)


def _done(message: str, anchor: str) -> ResponseReturnValue:
    db.session.commit()
    flash(message, "info")
    return redirect(url_for("admin.directorio_admin", _anchor=anchor))


@bp.get("/directorio")
@roles_required(*ADMIN_ROLES)
def directorio_admin() -> ResponseReturnValue:
    return _page()


# --- órganos and representatives ------------------------------------------------------


@bp.post("/directorio/organos")
@roles_required(*ADMIN_ROLES)
def organo_add() -> ResponseReturnValue:
    form = OrganoForm(prefix="o-new")
    if not form.validate_on_submit():
        return _failed("organo:new", form)
    try:
        organo = editing.add_organo(
            db.session(),
            sigla=form.sigla.data or "",
            nombre=form.nombre.data or "",
            orden=form.orden.data,
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed("organo:new", form, exc)
    return _done(f"Órgano {organo.sigla} agregado.", "organos")


@bp.post("/directorio/organos/<sigla>")
@roles_required(*ADMIN_ROLES)
def organo_save(sigla: str) -> ResponseReturnValue:
    session = db.session()
    try:
        organo = editing.get_organo(session, sigla)
    except RuleError:
        abort(404)
    form = OrganoForm(prefix=f"o-{organo.sigla}")
    if not form.validate_on_submit():
        return _failed(f"organo:{organo.sigla}", form)
    try:
        editing.update_organo(
            session,
            organo.sigla,
            nombre=form.nombre.data or "",
            orden=form.orden.data,
            activo=bool(form.activo.data),
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed(f"organo:{organo.sigla}", form, exc)
    return _done(f"Órgano {organo.sigla} guardado.", f"organo-{organo.sigla}")


@bp.post("/directorio/designar")
@roles_required(*ADMIN_ROLES)
def representative_appoint() -> ResponseReturnValue:
    session = db.session()
    form = _appoint_form(session, request.form)
    if not form.validate_on_submit():
        return _failed("appoint", form)
    try:
        rep = editing.appoint(
            session,
            form.sigla.data or "",
            form.rol.data or "",
            nombre_completo=form.nombre_completo.data or "",
            cargo=form.cargo.data or "",
            correo=form.correo.data or "",
            anexo=form.anexo.data or "",
            memorando=form.memorando.data or "",
            memorando_fecha=form.memorando_fecha.data,
            vigente_desde=form.vigente_desde.data,
            comunicado_el=form.comunicado_el.data,
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed("appoint", form, exc)
    late = " Comunicada fuera de plazo (§4.2.4 d)." if representative_is_late(rep) else ""
    return _done(
        f"{rep.organo.sigla} {rep.rol}: {rep.nombre_completo} designado(a).{late}",
        f"organo-{rep.organo.sigla}",
    )


@bp.post("/directorio/representantes/<int:rep_id>/retirar")
@roles_required(*ADMIN_ROLES)
def representative_retire(rep_id: int) -> ResponseReturnValue:
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        rep = editing.retire(db.session(), rep_id, actor=admin_actor())
    except RuleError as exc:
        db.session.rollback()
        flash(sentence(exc), "error")
        return redirect(url_for("admin.directorio_admin", _anchor="organos"))
    return _done(f"{rep.organo.sigla} {rep.rol}: {rep.nombre_completo} retirado(a).", "organos")


# --- agents ----------------------------------------------------------------------------


@bp.post("/directorio/agentes")
@roles_required(*ADMIN_ROLES)
def agent_add() -> ResponseReturnValue:
    session = db.session()
    form = _agent_form(session, "a-new")
    if not form.validate_on_submit():
        return _failed("agent:new", form)
    try:
        agent = editing.add_agent(
            session,
            nombre=form.nombre.data or "",
            canal=form.canal.data or "",
            destino=form.destino.data or "",
            languages=list(form.idiomas.data or []),
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed("agent:new", form, exc)
    return _done(f"Agente {agent.id} agregado: {agent.nombre}.", "agentes")


@bp.post("/directorio/agentes/<int:agent_id>")
@roles_required(*ADMIN_ROLES)
def agent_save(agent_id: int) -> ResponseReturnValue:
    session = db.session()
    form = _agent_form(session, f"a-{agent_id}")
    if not form.validate_on_submit():
        return _failed(f"agent:{agent_id}", form)
    try:
        agent = editing.update_agent(
            session,
            agent_id,
            nombre=form.nombre.data or "",
            canal=form.canal.data or "",
            destino=form.destino.data or "",
            languages=list(form.idiomas.data or []),
            activo=bool(form.activo.data),
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed(f"agent:{agent_id}", form, exc)
    return _done(f"Agente {agent.id} guardado.", f"agente-{agent.id}")


# --- languages and the §5.4 registry ---------------------------------------------------


@bp.post("/directorio/idiomas")
@roles_required(*ADMIN_ROLES)
def language_add() -> ResponseReturnValue:
    form = LanguageForm(prefix="l-new")
    if not form.validate_on_submit():
        return _failed("language:new", form)
    try:
        language = registry.add_language(
            db.session(), form.code.data or "", form.nombre.data or "", actor=admin_actor()
        )
    except RuleError as exc:
        return _failed("language:new", form, editing.FieldError("code", str(exc)))
    return _done(f"Idioma {language.code} agregado.", "lenguas")


@bp.post("/directorio/registro")
@roles_required(*ADMIN_ROLES)
def speaker_add() -> ResponseReturnValue:
    session = db.session()
    form = _speaker_form(session, request.form)
    if not form.validate_on_submit():
        return _failed("speaker:new", form)
    try:
        speaker = editing.add_speaker(
            session,
            nombre_completo=form.nombre_completo.data or "",
            language_code=form.language_code.data or "",
            unidad=form.unidad.data or None,
            anexo=form.anexo.data or "",
            telefono=form.telefono.data or "",
            correo=form.correo.data or "",
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed("speaker:new", form, exc)
    return _done(f"{speaker.nombre_completo} agregado(a) al registro.", "lenguas")


@bp.post("/directorio/registro/<int:speaker_id>/retirar")
@roles_required(*ADMIN_ROLES)
def speaker_remove(speaker_id: int) -> ResponseReturnValue:
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        speaker = registry.remove_speaker(db.session(), speaker_id, actor=admin_actor())
    except RuleError:
        abort(404)
    return _done(f"{speaker.nombre_completo} retirado(a) del registro.", "lenguas")


# --- CONECTAMEF centers ----------------------------------------------------------------


def _save_center(center_id: int | None) -> ResponseReturnValue:
    key = f"center:{center_id or 'new'}"
    form = CenterForm(prefix=f"c-{center_id or 'new'}")
    if not form.validate_on_submit():
        return _failed(key, form)
    try:
        center = editing.save_center(
            db.session(),
            center_id=center_id,
            centro=form.centro.data or "",
            telefono=form.telefono.data or "",
            departamentos=form.departamentos.data or "",
            activo=True if center_id is None else bool(form.activo.data),
            actor=admin_actor(),
        )
    except RuleError as exc:
        return _failed(key, form, exc)
    return _done(f"Centro {center.centro} guardado.", f"centro-{center.id}")


@bp.post("/directorio/centros")
@roles_required(*ADMIN_ROLES)
def center_add() -> ResponseReturnValue:
    return _save_center(None)


@bp.post("/directorio/centros/<int:center_id>")
@roles_required(*ADMIN_ROLES)
def center_save(center_id: int) -> ResponseReturnValue:
    return _save_center(center_id)


# --- Anexo 2 / Anexo 3 upload and download ---------------------------------------------


def _kind(kind: str) -> plans.Kind:
    if kind not in plans.TITLES:
        abort(404)
    return cast(plans.Kind, kind)


def _read_upload(storage: FileStorage | None) -> bytes | str:
    """The file's bytes, or a message in Spanish saying why it is not accepted."""
    if storage is None or not storage.filename:
        return "Elija un archivo."
    name = storage.filename.lower()
    if not name.endswith(UPLOAD_EXTENSIONS):
        return "El archivo debe ser CSV (separado por comas o por punto y coma) o XLSX."
    data = storage.read()
    if not data:
        return "El archivo está vacío."
    return data


def _preview_page(kind: plans.Kind, data: bytes, notice: str | None = None) -> ResponseReturnValue:
    """The file's preview with the form that confirms it, or every error in it (400)."""

    def page(**shown: Any) -> str:
        return render_template(
            "admin/importar.html", kind=kind, title=plans.TITLES[kind], notice=notice, **shown
        )

    try:
        plan = plans.preview(db.session(), kind, data, actor=admin_actor())
    except FileRejected as exc:
        return page(errors=exc.errors, plan=None, form=None), 400
    token = secrets.token_urlsafe(24)
    payload = {"kind": kind, "user": current_user.id, "fingerprint": plan.fingerprint}
    pipe = redis_store.client.pipeline()
    pipe.set(PENDING_KEY.format(token=token) + ":meta", json.dumps(payload), ex=PENDING_TTL_SECONDS)
    pipe.set(PENDING_KEY.format(token=token) + ":data", data, ex=PENDING_TTL_SECONDS)
    pipe.execute()
    return page(errors=None, plan=plan, form=ConfirmImportForm(formdata=None, token=token))


@bp.post("/directorio/importar/<kind>")
@roles_required(*ADMIN_ROLES)
def directorio_importar(kind: str) -> ResponseReturnValue:
    which = _kind(kind)
    form = UploadForm()
    data = _read_upload(request.files.get("archivo"))
    if not form.validate_on_submit() or isinstance(data, str):
        flash(data if isinstance(data, str) else "Elija un archivo.", "error")
        return redirect(url_for("admin.directorio_admin", _anchor="archivos"))
    return _preview_page(which, data)


@bp.post("/directorio/importar/<kind>/confirmar")
@roles_required(*ADMIN_ROLES)
def directorio_confirmar(kind: str) -> ResponseReturnValue:
    which = _kind(kind)
    form = ConfirmImportForm()
    if not form.validate_on_submit() or not form.token.data:
        abort(400)
    key = PENDING_KEY.format(token=form.token.data)
    client = redis_store.client
    raw_meta, data = client.mget(key + ":meta", key + ":data")
    meta = json.loads(raw_meta) if raw_meta else None
    if meta is None or data is None or meta["kind"] != which or meta["user"] != current_user.id:
        flash("La vista previa venció o no es suya: suba el archivo de nuevo.", "error")
        return redirect(url_for("admin.directorio_admin", _anchor="archivos"))
    session = db.session()
    try:
        plan = plans.apply(session, which, data, expected=meta["fingerprint"], actor=admin_actor())
    except plans.DirectoryChanged as exc:
        session.rollback()
        client.delete(key + ":meta", key + ":data")
        return _preview_page(which, data, notice=sentence(exc))
    except FileRejected:
        session.rollback()
        abort(400)
    session.commit()
    client.delete(key + ":meta", key + ":data")
    flash(f"{plans.TITLES[which]}: cambios aplicados.", "info")
    for line in plan.summary:
        flash(line.strip(), "info")
    return redirect(url_for("admin.directorio_admin", _anchor="archivos"))


@bp.get("/directorio/<kind>.<fmt>")
@roles_required(*ADMIN_ROLES)
def directorio_descargar(kind: str, fmt: str) -> ResponseReturnValue:
    which = _kind(kind)
    session = db.session()
    if fmt == "csv":  # Excel opens a CSV with accents right only with the BOM
        text = "\ufeff" + plans.export_csv(session, which)
        return attachment(text.encode("utf-8"), f"{which}.csv")
    if fmt == "xlsx":
        return attachment(plans.export_xlsx(session, which), f"{which}.xlsx")
    abort(404)

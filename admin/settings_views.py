"""/admin/horario (hours, holidays, closure days) and /admin/mensajes (the prompt catalogue):
admin-only pages over ivr.hours and ivr.prompts. Every change is written to the audit log with
the signed-in user as actor; each POST answers with a redirect back to its page."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from admin.auth import SETTINGS_ROLES, admin_actor, roles_required
from admin.formatting import sentence
from admin.forms import (
    ClosureDayForm,
    HolidaysForm,
    HoursDefaultForm,
    HoursForm,
    OpenDayForm,
    PromptForm,
    RecordingForm,
)
from admin.recordings import store_recording
from admin.views import bp
from clock import holiday_name, lima_now
from directory.rules import RuleError
from extensions import db
from ivr import hours as hours_domain
from ivr import prompts as prompts_domain
from ivr.cache import DEFAULT_TTL_SECONDS

HOURS_TTL_SECONDS = DEFAULT_TTL_SECONDS  # load_hours' cache
PROMPTS_TTL_SECONDS = 30  # the prompt overrides' cache (ivr.prompts._overrides)
LANGUAGE_NAMES = {"es": "Español", "qu": "Quechua", "ay": "Aymara"}
REASON_NAMES = hours_domain.CLOSED_REASON_LABELS


def _form_failed(form: Any) -> None:
    """Flash the errors of a form that did not validate (a lost CSRF token included)."""
    if "csrf_token" in form.errors:
        flash("La sesión del formulario venció. Vuelva a intentarlo.", "error")
    for name, errors in form.errors.items():
        if name != "csrf_token":
            for error in errors:
                flash(error, "error")


# --- /admin/horario ---------------------------------------------------------------------


def _horario_page(hours_form: HoursForm | None = None, status: int = 200) -> ResponseReturnValue:
    session = db.session()
    config = current_app.config
    current = hours_domain.load_hours(
        session, config["SERVICE_HOURS"], config["SERVICE_CLOSE_ON_HOLIDAYS"]
    )
    now = lima_now()
    today = now.date()
    reason = hours_domain.closed_reason(now, current)
    return render_template(
        "admin/horario.html",
        hours=current,
        said=hours_domain.describe_hours(current.windows),
        env_hours=config["SERVICE_HOURS"],
        env_close_on_holidays=config["SERVICE_CLOSE_ON_HOLIDAYS"],
        now=now,
        state="abierta" if reason is None else REASON_NAMES[reason],
        holidays=hours_domain.upcoming_holidays(today, 6),
        closure_days=hours_domain.closure_days(session, since=today),
        holiday_name=holiday_name,
        hours_form=hours_form or HoursForm(spec=current.spec),
        default_form=HoursDefaultForm(),
        holidays_form=HolidaysForm(close_on_holidays=current.close_on_holidays),
        closure_form=ClosureDayForm(),
        open_form=OpenDayForm(),
        ttl=int(HOURS_TTL_SECONDS),
    ), status


@bp.get("/horario")
@roles_required(*SETTINGS_ROLES)
def horario() -> ResponseReturnValue:
    return _horario_page()


@bp.post("/horario")
@roles_required(*SETTINGS_ROLES)
def horario_set() -> ResponseReturnValue:
    """Set SERVICE_HOURS; an invalid value shows the parser's error and changes nothing."""
    form = HoursForm()
    if form.validate_on_submit():
        try:
            hours_domain.set_service_hours(db.session(), form.spec.data, actor=admin_actor())
        except hours_domain.ServiceHoursError as exc:
            form.spec.errors.append(str(exc))
            return _horario_page(form, 400)
        flash("Horario guardado.", "info")
        return redirect(url_for("admin.horario"))
    if "csrf_token" in form.errors:
        _form_failed(form)
    return _horario_page(form, 400)


@bp.post("/horario/entorno")
@roles_required(*SETTINGS_ROLES)
def horario_default() -> ResponseReturnValue:
    form = HoursDefaultForm()
    if form.validate_on_submit():
        hours_domain.set_service_hours(db.session(), None, actor=admin_actor())
        flash("Se usa de nuevo el horario del entorno (SERVICE_HOURS).", "info")
    else:
        _form_failed(form)
    return redirect(url_for("admin.horario"))


@bp.post("/horario/feriados")
@roles_required(*SETTINGS_ROLES)
def horario_feriados() -> ResponseReturnValue:
    form = HolidaysForm()
    if form.validate_on_submit():
        close = bool(form.close_on_holidays.data)
        hours_domain.set_close_on_holidays(db.session(), close, actor=admin_actor())
        flash(
            "La línea cerrará en los feriados."
            if close
            else "La línea atenderá también en los feriados.",
            "info",
        )
    else:
        _form_failed(form)
    return redirect(url_for("admin.horario"))


@bp.post("/horario/cierres")
@roles_required(*SETTINGS_ROLES)
def cierre_add() -> ResponseReturnValue:
    form = ClosureDayForm()
    if form.validate_on_submit():
        day: date = form.day.data
        reason = (form.reason.data or "").strip() or None
        hours_domain.close_day(db.session(), day, reason, actor=admin_actor())
        flash(f"La línea estará cerrada el {day:%d/%m/%Y}.", "info")
    else:
        _form_failed(form)
    return redirect(url_for("admin.horario"))


@bp.post("/horario/cierres/<day>/quitar")
@roles_required(*SETTINGS_ROLES)
def cierre_remove(day: str) -> ResponseReturnValue:
    form = OpenDayForm()
    if form.validate_on_submit():
        try:
            when = date.fromisoformat(day)
        except ValueError:
            flash(f"{day!r} no es una fecha AAAA-MM-DD.", "error")
            return redirect(url_for("admin.horario"))
        if hours_domain.open_day(db.session(), when, actor=admin_actor()):
            flash(f"El {when:%d/%m/%Y} ya no es día de cierre.", "info")
        else:
            flash(f"El {when:%d/%m/%Y} no era día de cierre.", "info")
    else:
        _form_failed(form)
    return redirect(url_for("admin.horario"))


# --- /admin/mensajes --------------------------------------------------------------------


def _mensajes_page(
    bound: tuple[str, str, PromptForm] | None = None,
    status: int = 200,
    recording_form: RecordingForm | None = None,
) -> ResponseReturnValue:
    """The catalogue; ``bound`` is a form that failed, shown with its errors next to it."""
    session = db.session()
    entries: dict[str, dict[str, prompts_domain.CatalogueEntry]] = {}
    for entry in prompts_domain.catalogue(session):
        entries.setdefault(entry.prompt_id, {})[entry.language] = entry
    forms = {
        (prompt_id, language): PromptForm(
            formdata=None,
            prefix=f"{prompt_id}-{language}",
            text=entry.text_override,
            audio_url=entry.audio_url,
        )
        for prompt_id, per_language in entries.items()
        for language, entry in per_language.items()
    }
    if bound is not None:
        forms[(bound[0], bound[1])] = bound[2]
    return render_template(
        "admin/mensajes.html",
        defaults=prompts_domain.DEFAULT_PROMPTS,
        entries=entries,
        forms=forms,
        failed=(bound[0], bound[1]) if bound else None,
        fields=prompts_domain.prompt_fields,
        missing=prompts_domain.missing_recordings(session),
        spanish_only=prompts_domain.SPANISH_ONLY,
        languages=LANGUAGE_NAMES,
        ttl=PROMPTS_TTL_SECONDS,
        recording_form=recording_form or RecordingForm(formdata=None, language="qu"),
        max_mb=current_app.config["RECORDING_MAX_BYTES"] / 1_048_576,
    ), status


@bp.get("/mensajes")
@roles_required(*SETTINGS_ROLES)
def mensajes() -> ResponseReturnValue:
    return _mensajes_page()


@bp.post("/mensajes/<prompt_id>/<language>")
@roles_required(*SETTINGS_ROLES)
def mensaje_set(prompt_id: str, language: str) -> ResponseReturnValue:
    """Save one prompt in one language: an empty text restores the default, an empty URL
    removes the recording. Errors are shown next to the field and change nothing."""
    if prompt_id not in prompts_domain.DEFAULT_PROMPTS or language not in LANGUAGE_NAMES:
        abort(404)
    form = PromptForm(prefix=f"{prompt_id}-{language}")
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            _form_failed(form)
        return _mensajes_page((prompt_id, language, form), 400)
    session = db.session()
    text = (form.text.data or "").strip() or None
    url = (form.audio_url.data or "").strip() or None
    try:
        prompts_domain.set_text(session, prompt_id, language, text, actor=admin_actor())
    except prompts_domain.UnknownPromptError as exc:
        session.rollback()
        form.text.errors.append(str(exc))
        return _mensajes_page((prompt_id, language, form), 400)
    prompts_domain.set_audio(session, prompt_id, language, url, actor=admin_actor())
    flash(f"Mensaje {prompt_id} ({LANGUAGE_NAMES[language]}) guardado.", "info")
    return redirect(url_for("admin.mensajes", _anchor=f"p-{prompt_id}"))


@bp.post("/mensajes/grabacion")
@roles_required(*SETTINGS_ROLES)
def mensaje_grabacion() -> ResponseReturnValue:
    """Upload a WAV or MP3 for a prompt in a language: kept by the app, served at a public
    /audio/ URL for Twilio's <Play>, set as the prompt's recording."""
    form = RecordingForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            _form_failed(form)
        return _mensajes_page(status=400, recording_form=form)
    config = current_app.config
    data = form.archivo.data.read()
    session = db.session()
    try:
        url = store_recording(
            session,
            directory=config["RECORDINGS_DIR"],
            public_base_url=config["PUBLIC_BASE_URL"],
            prompt_id=form.prompt_id.data,
            language=form.language.data,
            data=data,
            max_bytes=config["RECORDING_MAX_BYTES"],
            actor=admin_actor(),
        )
    except RuleError as exc:
        session.rollback()
        form.archivo.errors = [sentence(exc)]
        return _mensajes_page(status=400, recording_form=form)
    flash(
        f"Grabación de {form.prompt_id.data} ({LANGUAGE_NAMES[form.language.data]}) guardada: "
        f"{url}",
        "info",
    )
    return redirect(url_for("admin.mensajes", _anchor=f"p-{form.prompt_id.data}"))

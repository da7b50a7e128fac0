"""The Red member's page (/red, role ``red``): their designation (órgano, role, anexo, the
memorando and its dates, the late flag of §4.2.4 d), the technical calls routed to them today
and earlier this month, answered or missed, with the caller's data masked as for their role
and the caller's summary to play (fetched from Twilio by the app), a note on each call they
took (saved into the call's register row), and their órgano's monthly Anexo 1."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

import recording_media
from admin.auth import RED_ROLES, roles_required
from admin.downloads import anexo1_download
from admin.forms import RedNoteForm
from clock import lima_now
from directory.models import Representative
from directory.rules import (
    RuleError,
    business_days_to_communicate,
    communication_deadline,
    is_late,
)
from extensions import db
from register import red_calls

bp = Blueprint("red", __name__, template_folder="templates")


def _linked() -> Representative | None:
    """The serving representative the signed-in user is linked to."""
    rep_id = getattr(current_user, "representative_id", None)
    rep = db.session.get(Representative, rep_id) if rep_id else None
    return rep if rep is not None and rep.retired_at is None else None


def _representative() -> Representative:
    rep = _linked()
    if rep is None:
        abort(403)
    return rep


@bp.get("/red")
@roles_required(*RED_ROLES)
def red() -> ResponseReturnValue:
    rep = _linked()
    if rep is None:  # a retired representative, or a user never linked: say so
        return render_template("admin/red_sin_vinculo.html"), 403
    today = lima_now().date()
    month = red_calls.red_calls(
        db.session(), rep, red_calls.month_start(today), red_calls.next_day(today)
    )
    today_calls = [c for c in month if c.call.fecha == today]
    earlier = [c for c in month if c.call.fecha != today]
    forms = {
        c.call.call_sid: RedNoteForm(formdata=None, prefix=f"n{c.call.id}", nota=c.call.nota_red)
        for c in month
        if c.answered
    }
    designation = {
        "late": is_late(rep.vigente_desde, rep.comunicado_el),
        "deadline": communication_deadline(rep.vigente_desde) if rep.vigente_desde else None,
        "business_days": business_days_to_communicate(rep.vigente_desde, rep.comunicado_el)
        if rep.vigente_desde and rep.comunicado_el
        else None,
    }
    return render_template(
        "admin/red.html",
        rep=rep,
        designation=designation,
        today=today,
        today_calls=today_calls,
        earlier=earlier,
        counts={
            "hoy": _counts(today_calls),
            "mes": _counts(month),
        },
        forms=forms,
        month_label=today.strftime("%Y-%m"),
    )


def _counts(calls: list[red_calls.RedCall]) -> dict[str, int]:
    answered = sum(1 for c in calls if c.answered)
    return {"total": len(calls), "atendidas": answered, "no_atendidas": len(calls) - answered}


@bp.get("/red/llamadas/<call_sid>/resumen")
@roles_required(*RED_ROLES)
def resumen(call_sid: str) -> ResponseReturnValue:
    """The caller's recorded summary of one of the representative's calls."""
    rep = _representative()
    try:
        found = red_calls.red_call(db.session(), rep, call_sid)
    except RuleError:
        abort(404)
    if not found.summary_url:
        abort(404)
    return recording_media.proxied(found.summary_url, current_app.config, f"summary of {call_sid}")


@bp.post("/red/llamadas/<call_sid>/nota")
@roles_required(*RED_ROLES)
def nota(call_sid: str) -> ResponseReturnValue:
    rep = _representative()
    session = db.session()
    try:
        found = red_calls.red_call(session, rep, call_sid)
    except RuleError:
        abort(404)
    form = RedNoteForm(prefix=f"n{found.call.id}")
    if not form.validate_on_submit():
        flash("La nota no se guardó: " + "; ".join(form.nota.errors or ["envíela de nuevo."]))
        return redirect(url_for("red.red", _anchor=f"c-{call_sid}"))
    try:
        red_calls.save_note(
            session, rep, call_sid, form.nota.data or "", actor=current_user.username
        )
    except RuleError as exc:
        session.rollback()
        flash(f"La nota no se guardó: {exc}", "error")
        return redirect(url_for("red.red", _anchor=f"c-{call_sid}"))
    session.commit()
    flash("Nota guardada en el registro de la llamada.", "info")
    return redirect(url_for("red.red", _anchor=f"c-{call_sid}"))


@bp.get("/red/anexo1.<fmt>")
@roles_required(*RED_ROLES)
def anexo1(fmt: str) -> ResponseReturnValue:
    """Their órgano's Anexo 1 for a month (``?mes=AAAA-MM``, this month by default), numbers
    masked as for their role."""
    rep = _representative()
    month = request.args.get("mes", "").strip() or lima_now().strftime("%Y-%m")
    sigla = rep.organo.sigla
    return anexo1_download(
        fmt, month, organo=sigla, role=current_user.role, name=f"anexo1-{sigla}-{month}"
    )

"""Staff pages outside /admin: the home page that sends each role to its start page, the
voice-message inbox (/buzon) with its recording proxy, and the public prompt recordings
(/audio/<name>, fetched by Twilio's <Play>, so no sign-in)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

import twilio_media
from admin import inbox
from admin.auth import INBOX_ROLES, roles_required, start_endpoint
from admin.forms import InboxStateForm
from admin.recordings import MIMETYPES, recording_path
from clock import lima_now
from directory.rules import RuleError
from extensions import db

bp = Blueprint("staff", __name__, template_folder="templates")


@bp.get("/")
def home() -> ResponseReturnValue:
    if not getattr(current_user, "is_authenticated", False):
        return redirect(url_for("admin.login"))
    return redirect(url_for(start_endpoint(current_user.role)))


@bp.get("/buzon")
@roles_required(*INBOX_ROLES)
def buzon() -> ResponseReturnValue:
    status = request.args.get("estado") or None
    if status is not None and status not in inbox.STATES:
        abort(400)
    today = lima_now().date()
    items = inbox.list_messages(db.session(), today=today, status=status)
    forms = {
        item.message.id: InboxStateForm(
            formdata=None, prefix=f"m{item.message.id}", status=item.message.status
        )
        for item in items
    }
    return render_template(
        "admin/buzon.html",
        items=items,
        forms=forms,
        status=status,
        states=inbox.STATE_NAMES,
        today=today,
    )


@bp.post("/buzon/<int:message_id>/estado")
@roles_required(*INBOX_ROLES)
def buzon_estado(message_id: int) -> ResponseReturnValue:
    form = InboxStateForm(prefix=f"m{message_id}")
    if not form.validate_on_submit():
        flash("Elija un estado: pendiente, escuchado o atendido.", "error")
        return redirect(url_for("staff.buzon"))
    session = db.session()
    try:
        message = inbox.set_status(
            session, message_id, form.status.data, actor=current_user.username
        )
    except RuleError as exc:
        session.rollback()
        abort(404, str(exc))
    session.commit()
    flash(f"Mensaje {message.id}: {inbox.STATE_NAMES[message.status].lower()}.", "info")
    return redirect(url_for("staff.buzon", _anchor=f"m-{message.id}"))


@bp.get("/buzon/<int:message_id>/grabacion")
@roles_required(*INBOX_ROLES)
def buzon_grabacion(message_id: int) -> ResponseReturnValue:
    """The message's audio, fetched from Twilio with the account's credentials (Twilio may
    require HTTP basic auth for recordings) and passed on to the page's player."""
    message = db.session.get(inbox.VoiceMessage, message_id)
    if message is None or not message.recording_url:
        abort(404)
    found = twilio_media.relay(
        twilio_media.media_url(message.recording_url), current_app.config, f"message {message_id}"
    )
    if isinstance(found, int):
        abort(found)
    return found


@bp.get("/audio/<name>")
def audio(name: str) -> ResponseReturnValue:
    """A prompt recording, public (Twilio fetches it for <Play>); its name never changes."""
    path = recording_path(current_app.config["RECORDINGS_DIR"], name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=MIMETYPES[path.suffix.lstrip(".")], conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response

"""GET /directorio: the directory as a read-only page in Spanish, for signed-in staff.

Telephones are shown the Peruvian way; a server's own telephone, and how an agent is reached
(SIP URI, Twilio Client identity), only to the roles that may see them (admin, supervisor)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from directory.centers import active_centers
from directory.designations import representative_is_late
from directory.queries import active_organos
from directory.registry import list_agents, list_languages, list_speakers
from directory.rules import business_days_to_communicate, communication_deadline
from extensions import db

bp = Blueprint("directory", __name__, template_folder="templates")


@bp.get("/directorio")
@login_required
def directorio() -> str:
    session = db.session()
    return render_template(
        "directory/directorio.html",
        organos=active_organos(session),
        agents=list_agents(session),
        languages=list_languages(session),
        speakers=list_speakers(session),
        centers=active_centers(session),
        is_late=representative_is_late,
        deadline=communication_deadline,
        business_days=business_days_to_communicate,
        full=current_user.may_see_phones,
    )

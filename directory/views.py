"""GET /directorio: the directory as a read-only page in Spanish (no JavaScript)."""

from __future__ import annotations

from flask import Blueprint, render_template

from directory.centers import active_centers
from directory.designations import representative_is_late
from directory.queries import active_organos
from directory.registry import list_agents, list_languages, list_speakers
from directory.rules import communication_deadline
from extensions import db

bp = Blueprint("directory", __name__, template_folder="templates")


@bp.get("/directorio")
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
    )

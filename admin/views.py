"""The admin pages: sign in and out (rate-limited), the reports with their charts, the register
export."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup
from sqlalchemy import select

from admin.accounts import sign_out
from admin.auth import REPORT_ROLES, nav_links, roles_required, start_endpoint
from admin.downloads import anexo1_download, attachment
from admin.forms import LoginForm, LogoutForm
from admin.models import User
from admin.security import limiter, login_failed, login_username_key, safe_next
from clock import lima_now
from extensions import db
from register.charts import PALETTE, bar_chart, hbar_chart
from register.models import RegisterCall
from register.reports import (
    IDIOMA_ES,
    PREFERENCIAL_ES,
    RESULTADO_ES,
    build_report,
    period_of_month,
    period_of_quarter,
    write_report_xlsx,
)

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {
        "logout_form": LogoutForm(),
        "nav": nav_links(getattr(current_user, "role", None)),
    }


@bp.before_app_request
def _password_change_first() -> ResponseReturnValue | None:
    """A user with a temporary password sees only the page that changes it (and Salir).
    Twilio's webhooks, the API and the probes are never about a user: they are let through
    before the session's user is loaded."""
    if request.path.startswith(("/voice/", "/api/", "/audio/", "/health")):
        return None
    if not getattr(current_user, "is_authenticated", False):
        return None
    if not current_user.must_change_password:
        return None
    if request.endpoint in ("admin.clave", "admin.logout", "admin.static", "static"):
        return None
    return redirect(url_for("admin.clave"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"],
    methods=["POST"],
    deduct_when=login_failed,
    scope="login-address",
)
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"],
    key_func=login_username_key,
    methods=["POST"],
    deduct_when=login_failed,
    scope="login-user",
)
def login() -> ResponseReturnValue:
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        username = (form.username.data or "").strip().lower()
        user = db.session.scalar(select(User).where(User.username == username))
        password = form.password.data or ""
        if user is not None and user.activo and user.check_password(password):
            if user.needs_rehash:
                user.password_hash = User.hash_password(password)
                db.session.commit()
            login_user(user)
            if user.must_change_password:
                flash("Antes de continuar, cambie la contraseña temporal por una suya.", "info")
                return redirect(url_for("admin.clave"))
            return redirect(target or url_for("staff.home"))
        g.login_failed = True
        flash("Usuario o contraseña incorrectos.", "error")
    elif request.method == "POST":
        g.login_failed = True
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out: the server forgets the session, so a copy of the cookie opens nothing."""
    if LogoutForm().validate_on_submit():
        if getattr(current_user, "is_authenticated", False):
            sign_out(db.session(), current_user._get_current_object())
            db.session.commit()
        logout_user()
        session.clear()
        flash("Sesión cerrada.", "info")
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The start page of the user's role."""
    return redirect(url_for(start_endpoint(current_user.role)))


def _default_month() -> str:
    """This month, or the last one while this month has no calls yet (its first days)."""
    today = lima_now().date()
    first = today.replace(day=1)
    if db.session.scalar(select(RegisterCall.id).where(RegisterCall.fecha >= first).limit(1)):
        return first.strftime("%Y-%m")
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _period() -> Any:
    quarter = request.args.get("trimestre", "").strip()
    month = request.args.get("mes", "").strip() or _default_month()
    try:
        return period_of_quarter(quarter) if quarter else period_of_month(month)
    except ValueError as exc:
        abort(400, str(exc))


def _charts(report: dict[str, Any]) -> dict[str, Markup]:
    days = list(report["por_dia"].items())
    labels = [d[8:10] for d, _ in days]
    answered = [v["atendidas"] for _, v in days]
    abandoned = [v["abandonadas"] for _, v in days]
    other = [v["ofrecidas"] - v["atendidas"] - v["abandonadas"] for _, v in days]
    organos = report["por_organo"]
    erlang = report["erlang"]["horas"]
    survey = report["encuesta"]["distribucion"]
    charts = {
        "por_dia": bar_chart(
            "Llamadas por día",
            labels,
            [
                ("Atendidas", answered, PALETTE["atendidas"]),
                ("Abandonadas", abandoned, PALETTE["abandonadas"]),
                ("Otras (devolución, mensaje, fuera de horario)", other, PALETTE["otras"]),
            ],
            label_every=1 if len(labels) <= 31 else 7,
            chart_id="chart-por-dia",
        ),
        "atendidas_por": hbar_chart(
            "Llamadas atendidas según quién atendió",
            ["Titular", "Alterno", "Plataforma"],
            [
                (
                    "Atendidas",
                    [report["atendidas_por"][k] for k in ("titular", "alterno", "plataforma")],
                    PALETTE["titular"],
                )
            ],
            width=420,
            row_height=40,
            chart_id="chart-atendidas-por",
        ),
        "por_organo": hbar_chart(
            "Consultas técnicas por órgano",
            [o["organo"] for o in organos],
            [
                ("Titular", [o["titular"] for o in organos], PALETTE["titular"]),
                ("Alterno", [o["alterno"] for o in organos], PALETTE["alterno"]),
                (
                    "Derivadas a la Plataforma",
                    [o["plataforma"] for o in organos],
                    PALETTE["plataforma"],
                ),
                ("Sin atender", [o["sin_atender"] for o in organos], PALETTE["sin_atender"]),
            ],
            chart_id="chart-por-organo",
        ),
        "erlang": bar_chart(
            "Agentes necesarios por hora (Erlang C, 80 % en 20 s)",
            [h["hora"] for h in erlang],
            [("Agentes necesarios", [h["agentes"] for h in erlang], PALETTE["agentes"])],
            height=220,
            chart_id="chart-erlang",
        ),
        "encuesta": bar_chart(
            "Encuesta de satisfacción (1 a 5)",
            list(survey),
            [("Respuestas", list(survey.values()), PALETTE["encuesta"])],
            width=380,
            height=220,
            chart_id="chart-encuesta",
        ),
    }
    return {name: Markup(svg) for name, svg in charts.items()}


@bp.get("/reportes")
@roles_required(*REPORT_ROLES)
def reportes() -> ResponseReturnValue:
    period = _period()
    report = build_report(db.session(), period)
    return render_template(
        "admin/reportes.html",
        report=report,
        period=period,
        charts=_charts(report),
        idiomas=IDIOMA_ES,
        preferenciales=PREFERENCIAL_ES,
        resultados=RESULTADO_ES,
        may_see_phones=current_user.may_see_phones,
    )


@bp.get("/reportes.xlsx")
@roles_required(*REPORT_ROLES)
def reportes_xlsx() -> ResponseReturnValue:
    period = _period()
    report = build_report(db.session(), period)
    buffer = io.BytesIO()
    write_report_xlsx(report, buffer)
    return attachment(buffer.getvalue(), f"reporte-{period.label}.xlsx")


@bp.get("/registro.<fmt>")
@roles_required(*REPORT_ROLES)
def registro(fmt: str) -> ResponseReturnValue:
    """The month's Anexo 1 register; phones masked unless the user's role may see them."""
    month = request.args.get("mes", "").strip() or lima_now().strftime("%Y-%m")
    organo = request.args.get("organo", "").strip() or None
    name = f"registro-{month}" + (f"-{organo.upper()}" if organo else "")
    return anexo1_download(fmt, month, organo=organo, role=current_user.role, name=name)

"""/admin/usuarios (admins: users and roles) and /admin/clave (everyone: their own password,
forced while it is a temporary one). The rules are admin.accounts', shared with `flask users`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import accounts
from admin.auth import ADMIN_ROLES, admin_actor, roles_required
from admin.formatting import error_beside_field, sentence
from admin.forms import (
    ButtonForm,
    PasswordChangeForm,
    UserCreateForm,
    UserPasswordForm,
    UserRoleForm,
)
from admin.models import ROLE_NAMES, ROLES
from admin.views import bp
from directory.models import Organo, Representative
from directory.registry import list_agents
from extensions import db


def _min_length() -> int:
    return int(current_app.config["PASSWORD_MIN_LENGTH"])


def _choices(form: Any) -> None:
    session = db.session()
    form.role.choices = {r: ROLE_NAMES[r] for r in ROLES}
    form.agent_id.choices = {"": "(ninguno)"} | {
        str(a.id): f"{a.nombre} ({a.canal} {a.destino})" for a in list_agents(session)
    }
    rows = session.execute(
        select(Representative, Organo.sigla)
        .join(Organo)
        .where(Representative.retired_at.is_(None))
        .order_by(Organo.orden, Representative.rol.desc())
    )
    form.representative_id.choices = {"": "(ninguno)"} | {
        str(rep.id): f"{sigla} {rep.rol}: {rep.nombre_completo}" for rep, sigla in rows
    }


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _usuarios_page(create: UserCreateForm | None = None, status: int = 200) -> ResponseReturnValue:
    session = db.session()
    create = create or UserCreateForm(formdata=None)
    _choices(create)
    users = accounts.list_users(session)
    role_forms = {}
    for user in users:
        form = UserRoleForm(
            formdata=None,
            prefix=f"u{user.id}",
            role=user.role,
            agent_id=str(user.agent_id or ""),
            representative_id=str(user.representative_id or ""),
        )
        _choices(form)
        role_forms[user.id] = form
    return render_template(
        "admin/usuarios.html",
        users=users,
        create=create,
        role_forms=role_forms,
        password_form=UserPasswordForm(formdata=None),
        button=ButtonForm(),
        min_length=_min_length(),
    ), status


@bp.get("/usuarios")
@roles_required(*ADMIN_ROLES)
def usuarios() -> ResponseReturnValue:
    return _usuarios_page()


@bp.post("/usuarios")
@roles_required(*ADMIN_ROLES)
def usuario_crear() -> ResponseReturnValue:
    form = UserCreateForm()
    _choices(form)
    if not form.validate_on_submit():
        return _usuarios_page(form, 400)
    session = db.session()
    try:
        user = accounts.create_user(
            session,
            username=form.username.data or "",
            nombre=form.nombre.data or "",
            role=form.role.data or "",
            password=form.password.data or "",
            agent_id=_int_or_none(form.agent_id.data),
            representative_id=_int_or_none(form.representative_id.data),
            min_length=_min_length(),
            actor=admin_actor(),
        )
    except accounts.AccountError as exc:
        session.rollback()
        if not error_beside_field(form, exc):
            flash(sentence(exc), "error")
        return _usuarios_page(form, 400)
    session.commit()
    flash(
        f"Usuario {user.username} creado ({ROLE_NAMES[user.role]}). Entréguele la contraseña "
        "temporal: la cambiará al ingresar.",
        "info",
    )
    return redirect(url_for("admin.usuarios"))


def _change(username: str, change: Callable[[Session], object], done: str) -> ResponseReturnValue:
    """Make a change to a user's account; say that it is ``done``, or why it was refused."""
    session = db.session()
    try:
        change(session)
    except accounts.AccountError as exc:
        session.rollback()
        flash(f"{username}: {exc}", "error")
    else:
        session.commit()
        flash(f"{username}: {done}", "info")
    return redirect(url_for("admin.usuarios"))


@bp.post("/usuarios/<username>/rol")
@roles_required(*ADMIN_ROLES)
def usuario_rol(username: str) -> ResponseReturnValue:
    try:
        user = accounts.get_user(db.session(), username)
    except accounts.AccountError:
        return redirect(url_for("admin.usuarios"))
    form = UserRoleForm(prefix=f"u{user.id}")
    _choices(form)
    if not form.validate_on_submit():
        return redirect(url_for("admin.usuarios"))
    role = form.role.data or ""
    return _change(
        username,
        lambda session: accounts.set_role(
            session,
            username,
            role,
            agent_id=_int_or_none(form.agent_id.data),
            representative_id=_int_or_none(form.representative_id.data),
            actor=admin_actor(),
        ),
        f"rol {ROLE_NAMES[role]}; sus sesiones abiertas se cerraron.",
    )


@bp.post("/usuarios/<username>/clave")
@roles_required(*ADMIN_ROLES)
def usuario_clave(username: str) -> ResponseReturnValue:
    form = UserPasswordForm()
    if not form.validate_on_submit():
        flash("Escriba la contraseña temporal.", "error")
        return redirect(url_for("admin.usuarios"))
    return _change(
        username,
        lambda session: accounts.set_password(
            session,
            username,
            form.password.data or "",
            temporary=True,
            min_length=_min_length(),
            actor=admin_actor(),
        ),
        "contraseña temporal fijada; la cambiará al ingresar.",
    )


@bp.post("/usuarios/<username>/<any(activar, desactivar):accion>")
@roles_required(*ADMIN_ROLES)
def usuario_activo(username: str, accion: str) -> ResponseReturnValue:
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("admin.usuarios"))
    activo = accion == "activar"
    return _change(
        username,
        lambda session: accounts.set_active(session, username, activo, actor=admin_actor()),
        "activado." if activo else "desactivado; sus sesiones se cerraron.",
    )


@bp.route("/clave", methods=["GET", "POST"])
@roles_required(*ROLES)
def clave() -> ResponseReturnValue:
    """Change one's own password (the only page open while it is a temporary one)."""
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        session = db.session()
        user = current_user._get_current_object()
        if not user.check_password(form.current.data or ""):
            form.current.errors = ["La contraseña actual no es correcta."]
            status = 400
        else:
            try:
                accounts.set_password(
                    session,
                    user.username,
                    form.password.data or "",
                    temporary=False,
                    min_length=_min_length(),
                    actor=user.username,
                )
            except accounts.AccountError as exc:
                session.rollback()
                if not error_beside_field(form, exc):
                    flash(sentence(exc), "error")
                status = 400
            else:
                session.commit()
                login_user(user)  # this browser keeps its session under the new token
                flash("Contraseña cambiada. Sus otras sesiones se cerraron.", "info")
                return redirect(url_for("staff.home"))
    elif form.is_submitted():
        status = 400
    return render_template("admin/clave.html", form=form, min_length=_min_length()), status

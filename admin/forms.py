"""Forms of the admin pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(
        "Usuario", validators=[DataRequired("Escriba su usuario."), Length(max=80)]
    )
    password = PasswordField("Contraseña", validators=[DataRequired("Escriba su contraseña.")])
    submit = SubmitField("Ingresar")


class LogoutForm(FlaskForm):
    submit = SubmitField("Cerrar sesión")

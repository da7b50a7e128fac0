"""Forms of the admin pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Length, Optional

from clock import lima_now
from ivr.hours import ClosureDayError, check_closure_day
from ivr.prompts import InvalidAudioUrlError, check_audio_url


class LoginForm(FlaskForm):
    username = StringField(
        "Usuario", validators=[DataRequired("Escriba su usuario."), Length(max=80)]
    )
    password = PasswordField("Contraseña", validators=[DataRequired("Escriba su contraseña.")])
    submit = SubmitField("Ingresar")


class LogoutForm(FlaskForm):
    submit = SubmitField("Cerrar sesión")


# --- /admin/horario ---------------------------------------------------------------------


class HoursForm(FlaskForm):
    """SERVICE_HOURS set by an admin; checked by the view with ivr.hours' own strict parser."""

    spec = StringField(
        "Horario (SERVICE_HOURS)",
        validators=[DataRequired("Escriba el horario."), Length(max=500)],
    )
    submit = SubmitField("Guardar horario")


class HoursDefaultForm(FlaskForm):
    submit = SubmitField("Volver al horario del entorno")


class HolidaysForm(FlaskForm):
    close_on_holidays = BooleanField("Cerrar la línea en los feriados del Perú")
    submit = SubmitField("Guardar")


class ClosureDayForm(FlaskForm):
    day = DateField("Fecha", validators=[DataRequired("Indique una fecha válida (AAAA-MM-DD).")])
    reason = StringField("Motivo", validators=[Optional(), Length(max=200)])
    submit = SubmitField("Agregar día de cierre")

    def validate_day(self, field: DateField) -> None:
        if field.data is not None:
            try:
                check_closure_day(field.data, lima_now().date())
            except ClosureDayError as exc:
                raise ValidationError(str(exc)) from exc


class OpenDayForm(FlaskForm):
    """The button that removes one closure day (the day travels in the URL)."""

    submit = SubmitField("Quitar")


# --- /admin/mensajes --------------------------------------------------------------------


class PromptForm(FlaskForm):
    """One prompt in one language: the text override and the recording (empty = none)."""

    text = TextAreaField("Texto", validators=[Optional(), Length(max=2000)])
    audio_url = StringField("Grabación (URL)", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Guardar")

    def validate_audio_url(self, field: StringField) -> None:
        if field.data and field.data.strip():
            try:
                check_audio_url(field.data)
            except InvalidAudioUrlError as exc:
                raise ValidationError(str(exc)) from exc

"""Forms of the admin pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from clock import lima_now
from ivr.hours import ClosureDayError, check_closure_day
from ivr.prompts import DEFAULT_PROMPTS, InvalidAudioUrlError, check_audio_url


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


# --- accounts ---------------------------------------------------------------------------


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        "Contraseña actual", validators=[DataRequired("Escriba su contraseña actual.")]
    )
    password = PasswordField(
        "Nueva contraseña", validators=[DataRequired("Escriba la nueva contraseña.")]
    )
    confirm = PasswordField(
        "Repita la nueva contraseña", validators=[DataRequired("Repita la nueva contraseña.")]
    )
    submit = SubmitField("Cambiar contraseña")

    def validate_confirm(self, field: PasswordField) -> None:
        if field.data != self.password.data:
            raise ValidationError("Las dos contraseñas nuevas no coinciden.")


class UserCreateForm(FlaskForm):
    username = StringField("Usuario", validators=[DataRequired("Escriba el usuario.")])
    nombre = StringField("Nombre completo", validators=[DataRequired("Escriba el nombre.")])
    role = SelectField("Rol", choices={})
    agent_id = SelectField("Agente de la Plataforma (rol agente)", choices={}, coerce=str)
    representative_id = SelectField("Representante (rol red)", choices={}, coerce=str)
    password = PasswordField(
        "Contraseña temporal", validators=[DataRequired("Escriba una contraseña temporal.")]
    )
    submit = SubmitField("Crear usuario")


class UserRoleForm(FlaskForm):
    role = SelectField("Rol", choices={})
    agent_id = SelectField("Agente", choices={}, coerce=str)
    representative_id = SelectField("Representante", choices={}, coerce=str)
    submit = SubmitField("Cambiar rol")


class UserPasswordForm(FlaskForm):
    password = PasswordField(
        "Nueva contraseña temporal", validators=[DataRequired("Escriba la contraseña.")]
    )
    submit = SubmitField("Fijar contraseña temporal")


class ButtonForm(FlaskForm):
    """A form that is only a button (its CSRF token travels with it)."""

    submit = SubmitField("Aplicar")


# --- /admin/directorio ------------------------------------------------------------------

DATE_REQUIRED = DataRequired("Indique la fecha (AAAA-MM-DD).")


class OrganoForm(FlaskForm):
    sigla = StringField("Sigla", validators=[DataRequired("Escriba la sigla.")])
    nombre = StringField("Nombre", validators=[DataRequired("Escriba el nombre.")])
    orden = IntegerField(
        "Orden en el menú",
        validators=[InputRequired("Indique el orden (1 a 999).")],
    )
    activo = BooleanField("Activo en el menú", default=True)
    submit = SubmitField("Guardar órgano")


class AppointForm(FlaskForm):
    """A new titular or alterno of an órgano, with the memorando that designated them."""

    sigla = SelectField("Órgano", choices={})
    rol = SelectField("Rol", choices={"titular": "Titular", "alterno": "Alterno"})
    nombre_completo = StringField(
        "Nombre completo", validators=[DataRequired("Escriba el nombre.")]
    )
    cargo = StringField("Cargo", validators=[DataRequired("Escriba el cargo.")])
    correo = StringField("Correo", validators=[DataRequired("Escriba el correo.")])
    anexo = StringField("Anexo", validators=[DataRequired("Escriba el anexo.")])
    memorando = StringField("N.° de memorando", validators=[DataRequired("Escriba el memorando.")])
    memorando_fecha = DateField("Fecha del memorando", validators=[DATE_REQUIRED])
    vigente_desde = DateField("Vigente desde", validators=[DATE_REQUIRED])
    comunicado_el = DateField("Comunicada el", validators=[DATE_REQUIRED])
    submit = SubmitField("Designar")


class AgentForm(FlaskForm):
    nombre = StringField("Nombre", validators=[DataRequired("Escriba el nombre.")])
    canal = SelectField(
        "Canal",
        choices={"anexo": "Anexo", "sip": "SIP", "client": "Twilio Client"},
    )
    destino = StringField("Destino", validators=[DataRequired("Escriba el destino.")])
    idiomas = SelectMultipleField("Idiomas", choices={})
    activo = BooleanField("Activo", default=True)
    submit = SubmitField("Guardar agente")


class LanguageForm(FlaskForm):
    code = StringField("Código (ISO 639)", validators=[DataRequired("Escriba el código.")])
    nombre = StringField("Nombre", validators=[DataRequired("Escriba el nombre.")])
    submit = SubmitField("Agregar idioma")


class SpeakerForm(FlaskForm):
    nombre_completo = StringField(
        "Nombre completo", validators=[DataRequired("Escriba el nombre.")]
    )
    language_code = SelectField("Idioma", choices={})
    unidad = SelectField("Unidad (órgano)", choices={})
    anexo = StringField("Anexo", validators=[Optional()])
    telefono = StringField("Teléfono", validators=[Optional()])
    correo = StringField("Correo", validators=[Optional()])
    submit = SubmitField("Agregar al registro")


class CenterForm(FlaskForm):
    centro = StringField("Centro", validators=[DataRequired("Escriba el nombre del centro.")])
    telefono = StringField("Teléfono", validators=[DataRequired("Escriba el teléfono.")])
    departamentos = StringField(
        "Departamentos (separados por comas)",
        validators=[DataRequired("Indique al menos un departamento.")],
    )
    activo = BooleanField("Activo", default=True)
    submit = SubmitField("Guardar centro")


class UploadForm(FlaskForm):
    archivo = FileField(
        "Archivo (CSV con , o ; en UTF-8, o XLSX)",
        validators=[FileRequired("Elija un archivo.")],
    )
    submit = SubmitField("Ver vista previa")


class ConfirmImportForm(FlaskForm):
    token = HiddenField()
    fingerprint = HiddenField()
    submit = SubmitField("Confirmar y aplicar")


# --- /buzon and recordings -------------------------------------------------------------


class InboxStateForm(FlaskForm):
    status = SelectField(
        "Estado",
        choices={"pendiente": "Pendiente", "escuchado": "Escuchado", "atendido": "Atendido"},
    )
    submit = SubmitField("Cambiar")


class RecordingForm(FlaskForm):
    prompt_id = SelectField("Mensaje", choices={pid: pid for pid in DEFAULT_PROMPTS})
    language = SelectField("Idioma", choices={"qu": "Quechua", "ay": "Aymara", "es": "Español"})
    archivo = FileField(
        "Grabación (WAV o MP3)", validators=[FileRequired("Elija un archivo WAV o MP3.")]
    )
    submit = SubmitField("Subir grabación")


# --- /red ---------------------------------------------------------------------------------


class RedNoteForm(FlaskForm):
    """The Red member's note on a call they took (register.red_calls.save_note checks it)."""

    nota = TextAreaField("Nota", validators=[Length(max=500, message="Máximo 500 caracteres.")])
    submit = SubmitField("Guardar nota")

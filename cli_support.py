"""What every project command shares: click's own messages in Spanish, the Spanish command and
group classes, a date type, output-file checks and the labels that list outputs print.

Importing this module puts click's messages (``Uso:``, ``Falta la opción``, ``Valor no
válido``, the ``--help`` texts) in Spanish for the whole process: click asks ``gettext`` for
each of them at the moment it prints it, and :func:`install_spanish_messages` points the
``_``/``ngettext`` names click's modules imported at the catalogue below. Flask's own commands
(``run``, ``shell``, ``routes``) keep their English help texts, but click's part of them reads
Spanish too.
"""

from __future__ import annotations

import errno
import importlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import redis
import requests
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError
from twilio.base.exceptions import TwilioRestException

from directory.models import AGENT_CHANNEL_LABELS

# click's msgid → Spanish. The texts keep click's placeholders (an unused one is ignored by
# str.format), quoting values «así» instead of Python's repr.
MESSAGES: dict[str, str] = {
    "Aborted!": "Cancelado.",
    "deprecated": "obsoleto",
    "Missing command.": "Falta el comando.",
    "Options": "Opciones",
    "Positional arguments": "Argumentos",
    "Commands": "Comandos",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": (
        "Aviso: el comando «{name}» está obsoleto.{extra_message}"
    ),
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": (
        "Aviso: «{name}» está obsoleto.{extra_message}"
    ),
    "Value must be an iterable.": "El valor debe ser una lista.",
    "env var: {var}": "variable de entorno: {var}",
    "default: {default}": "por defecto: {default}",
    "required": "obligatorio",
    "(dynamic)": "(dinámico)",
    "Do you want to continue?": "¿Desea continuar?",
    "Confirm the action without prompting.": "Confirma la acción sin preguntar.",
    "%(prog)s, version %(version)s": "%(prog)s, versión %(version)s",
    "Show the version and exit.": "Muestra la versión y termina.",
    "Show this message and exit.": "Muestra esta ayuda y termina.",
    "Missing argument": "Falta el argumento",
    "Missing option": "Falta la opción",
    "Missing parameter": "Falta el parámetro",
    "Missing {param_type}": "Falta {param_type}",
    "Missing parameter: {param_name}": "Falta el parámetro: {param_name}",
    "unknown error": "error desconocido",
    "Invalid value for {param_hint}: {message}": "Valor no válido para {param_hint}: {message}",
    "Invalid value: {message}": "Valor no válido: {message}",
    "Could not open file {filename!r}: {message}": (
        "No se pudo abrir el archivo «{filename}»: {message}"
    ),
    "Error: {message}": "Error: {message}",
    "Try '{command} {option}' for help.": "Pruebe «{command} {option}» para ver la ayuda.",
    "No such option {name!r}.": "No existe la opción «{name}».",
    "No such command {name!r}.": "No existe el comando «{name}».",
    "Usage:": "Uso:",
    "Invalid start character for option ({option})": (
        "Carácter inicial no válido para una opción ({option})"
    ),
    "Option {name!r} does not take a value.": "La opción «{name}» no lleva valor.",
    "Argument {name!r} takes {nargs} values.": "El argumento «{name}» lleva {nargs} valores.",
    "Press any key to continue...": "Pulse una tecla para continuar...",
    "Repeat for confirmation": "Repita para confirmar",
    "Error: The two entered values do not match.": "Error: los dos valores no coinciden.",
    "Error: invalid input": "Error: entrada no válida",
    "Unknown color {colour!r}": "Color desconocido «{colour}»",
    "file": "archivo",
    "directory": "carpeta",
    "path": "ruta",
    "Choose from:\n\t{choices}": "Elija entre:\n\t{choices}",
    "{value} is not in the range {range}.": "{value} no está en el rango {range}.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "«{value}» no es un valor sí/no válido. Valores reconocidos: {states}"
    ),
    "{value!r} is not a valid {number_type}.": "«{value}» no es un número válido.",
    "{value!r} is not a valid UUID.": "«{value}» no es un UUID válido.",
    "{name} {filename!r} does not exist.": "{name} «{filename}»: no existe.",
    "{name} {filename!r} is a file.": "{name} «{filename}»: es un archivo, no una carpeta.",
    "{name} {filename!r} is a directory.": "{name} «{filename}»: es una carpeta, no un archivo.",
    "{name} {filename!r} is not readable.": "{name} «{filename}»: no se puede leer.",
    "{name} {filename!r} is not writable.": "{name} «{filename}»: no se puede escribir.",
    "{name} {filename!r} is not executable.": "{name} «{filename}»: no se puede ejecutar.",
    "{editor}: Editing failed": "{editor}: la edición falló",
    "{editor}: Editing failed: {e}": "{editor}: la edición falló: {e}",
    "Shell completion is not supported for Bash versions older than 4.4.": (
        "El autocompletado requiere Bash 4.4 o posterior."
    ),
    "Couldn't detect Bash version, shell completion is not supported.": (
        "No se pudo saber la versión de Bash: el autocompletado no está disponible."
    ),
}

# click's (singular, plural) msgids → Spanish (singular, plural).
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "Sobra un argumento: {args}.",
        "Sobran argumentos: {args}.",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "Lleva {nargs} valores, pero se dio 1.",
        "Lleva {nargs} valores, pero se dieron {len}.",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "¿Quiso decir {possibility}?",
        "(¿Quiso decir alguno de estos?: {possibilities})",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "La opción «{name}» requiere un valor.",
        "La opción «{name}» requiere {nargs} valores.",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "«{value}» no es {choice}.",
        "«{value}» no es ninguno de estos valores: {choices}.",
    ),
    (
        "{value!r} does not match the format {format}.",
        "{value!r} does not match the formats {formats}.",
    ): (
        "«{value}» no tiene el formato {format}.",
        "«{value}» no tiene ninguno de los formatos {formats}.",
    ),
    (
        "{len_type} values are required, but {len_value} was given.",
        "{len_type} values are required, but {len_value} were given.",
    ): (
        "Se requieren {len_type} valores, pero se dio {len_value}.",
        "Se requieren {len_type} valores, pero se dieron {len_value}.",
    ),
}

CLICK_MODULES = (
    "core",
    "decorators",
    "exceptions",
    "formatting",
    "parser",
    "shell_completion",
    "termui",
    "types",
    "utils",
    "_termui_impl",
)


def gettext(message: str) -> str:
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    one, many = PLURALS.get((singular, plural), (singular, plural))
    return one if n == 1 else many


def install_spanish_messages() -> None:
    """Point click's ``_`` and ``ngettext`` at the Spanish catalogue (idempotent)."""
    for name in CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        for attr, spanish in (("_", gettext), ("ngettext", ngettext)):
            if hasattr(module, attr):
                setattr(module, attr, spanish)


install_spanish_messages()

# The metavars click would print in English (``TEXT``, ``INTEGER``...), by the type's name.
METAVARS = {"text": "TEXTO", "integer": "N", "float": "N", "archivo": "ARCHIVO"}


OS_REASONS = {
    errno.ENOENT: "no existe",
    errno.EACCES: "permiso denegado",
    errno.EPERM: "permiso denegado",
    errno.EISDIR: "es una carpeta",
    errno.ENOTDIR: "una parte de la ruta no es una carpeta",
    errno.ENOSPC: "no queda espacio en el disco",
    errno.EROFS: "el disco es de solo lectura",
}


def os_error(exc: OSError) -> click.ClickException:
    """A file the command could not read or write, said in Spanish."""
    where = f" «{exc.filename}»" if exc.filename else ""
    reason = OS_REASONS.get(exc.errno or 0, exc.strerror or "error del sistema")
    return click.ClickException(f"No se pudo usar el archivo{where}: {reason}.")


class Command(click.Command):
    """A project command: Spanish metavars, and the failures a user can meet (a file that
    cannot be written, the database, Redis, Twilio or a server not answering) said in Spanish,
    exit status 1, never a traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[OPCIONES]")
        super().__init__(*args, **kwargs)
        for param in self.params:
            if (
                isinstance(param, click.Option)
                and param.metavar is None
                and param.type.name in METAVARS
            ):
                param.metavar = METAVARS[param.type.name] + ("..." if param.nargs != 1 else "")

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TwilioRestException as exc:
            raise click.ClickException(
                f"Twilio rechazó la solicitud (HTTP {exc.status}, código {exc.code})."
            ) from exc
        except requests.RequestException as exc:
            url = exc.request.url if exc.request is not None else None
            where = urlsplit(str(url)).netloc if url else "el servicio externo"
            raise click.ClickException(
                f"No se pudo conectar con {where} ({exc.__class__.__name__})."
            ) from exc
        except OSError as exc:  # after requests' errors, which are OSErrors too
            raise os_error(exc) from exc
        except redis.RedisError as exc:
            raise click.ClickException(
                f"Redis no responde (REDIS_URL): {exc.__class__.__name__}."
            ) from exc
        except SQLAlchemyError as exc:
            raise click.ClickException(
                "La base de datos no respondió o su esquema no está al día "
                f"(flask --app app db upgrade): {exc.__class__.__name__}."
            ) from exc


class Group(AppGroup):
    """A project command group: its commands and subgroups are :class:`Command` and
    :class:`Group`, run in the app context (Flask's AppGroup), with Spanish usage lines."""

    command_class = Command
    group_class = type  # subgroups are of this same class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[OPCIONES]")
        kwargs.setdefault("subcommand_metavar", "COMANDO [ARGS]...")
        super().__init__(*args, **kwargs)


class DateType(click.ParamType):
    """A calendar day written AAAA-MM-DD."""

    name = "fecha"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "AAAA-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"«{value}» no es una fecha AAAA-MM-DD.", param, ctx)


DATE = DateType()
# CSV files the commands write carry a BOM, so that Excel opens them as UTF-8 (accents intact).
CSV_ENCODING = "utf-8-sig"
FILE_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
FILE_OUT = click.Path(dir_okay=False, path_type=Path)


def check_output(path: Path, suffixes: Sequence[str]) -> None:
    """Refuse, before any work, an output file whose folder is missing or whose name does not
    end in one of ``suffixes`` (so an XLSX is never written under a ``.csv`` name)."""
    if path.suffix.lower() not in suffixes:
        raise click.ClickException(
            f"«{path.name}»: el archivo de salida debe terminar en {' o '.join(suffixes)}."
        )
    folder = path.parent
    if not folder.is_dir():
        raise click.ClickException(f"La carpeta «{folder}» no existe: créela o elija otra.")


def label(labels: dict[str, str], code: str | None) -> str:
    """A code's label for a list output; an unknown code is shown with its underscores
    turned into spaces, never as a raw identifier."""
    if not code:
        return "-"
    return labels.get(code, code.replace("_", " "))


AGENT_STATES = {
    "offline": "desconectado",
    "available": "disponible",
    "ringing": "timbrando",
    "on_call": "en llamada",
    "wrap_up": "cerrando la atención",
    "paused": "en pausa",
    "inactive": "inactivo",
}
AGENT_CHANNELS = AGENT_CHANNEL_LABELS
CALLBACK_STATUSES = {
    "pendiente": "pendiente",
    "en_curso": "en curso",
    "realizada": "realizada",
    "no_contesta": "no contesta",
    "cancelada": "cancelada",
}
CALLBACK_SOURCES = {
    "fuera_de_horario": "fuera de horario",
    "cola": "pedida en la fila",
    "ruta_fallida": "ruta fallida",
    "limite_espera": "límite de espera",
}
CALLER_CLASSES = {"preferential": "preferencial", "authority": "autoridad", "normal": "general"}


def plural(count: int, singular: str, plural_form: str) -> str:
    return f"{count} {singular if count == 1 else plural_form}"


def echo_lines(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)

"""Recordings uploaded for prompts: checked (WAV or MP3, by their bytes, and a size limit),
kept in the instance folder under a name made from their content, served at ``/audio/<name>``
without sign-in so that Twilio's ``<Play>`` can fetch them, and set as the prompt's audio in the
catalogue (``ivr.prompts.set_audio``, audit-logged there)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy.orm import Session

from directory.rules import RuleError
from ivr import prompts as prompts_domain

NAME_RE = re.compile(r"^[a-z0-9_]+-[a-z]{2,3}-[0-9a-f]{16}\.(mp3|wav)$")
MIMETYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}


def audio_kind(data: bytes) -> str | None:
    """``wav`` or ``mp3`` when the bytes are one (RIFF/WAVE header; ID3 tag or an MPEG audio
    frame sync), else None. The file name and the browser's content type are not trusted."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3":
        return "mp3"
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0 and (data[1] & 0x06):
        return "mp3"
    return None


def check_audio(data: bytes, max_bytes: int) -> str:
    """The kind of an uploaded recording, or RuleError in Spanish."""
    if not data:
        raise RuleError("el archivo está vacío.")
    if len(data) > max_bytes:
        raise RuleError(
            f"el archivo pesa {len(data) / 1_048_576:.1f} MB; el máximo es "
            f"{max_bytes / 1_048_576:.1f} MB."
        )
    kind = audio_kind(data)
    if kind is None:
        raise RuleError("el archivo no es un audio WAV ni MP3.")
    return kind


def store_recording(
    session: Session,
    *,
    directory: str | Path,
    public_base_url: str,
    prompt_id: str,
    language: str,
    data: bytes,
    max_bytes: int,
    actor: str,
) -> str:
    """Keep the file, point the prompt at it, and return its public URL."""
    if prompt_id not in prompts_domain.DEFAULT_PROMPTS:
        raise RuleError(f"no existe el mensaje {prompt_id}.")
    if language not in prompts_domain.LANGUAGES:
        raise RuleError(f"el idioma {language} no tiene mensajes grabados.")
    if prompt_id in prompts_domain.SPANISH_ONLY and language != "es":
        raise RuleError(f"{prompt_id} solo se dice en español.")
    kind = check_audio(data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = f"{prompt_id}-{language}-{digest}.{kind}"
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
    url = f"{public_base_url.rstrip('/')}/audio/{name}"
    prompts_domain.set_audio(session, prompt_id, language, url, actor=actor)
    return url


def recording_path(directory: str | Path, name: str) -> Path | None:
    """The stored file of a public name, or None (never a path outside the folder)."""
    if not NAME_RE.match(name):
        return None
    path = Path(directory) / name
    return path if path.is_file() else None

"""How an agent, an anexo or an interpreter is reached: a Twilio Client identity, a SIP URI, or
a number (the PBX switchboard with the anexo as digits, per ANEXO_DIAL)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DialTarget:
    kind: str  # client, sip, number
    address: str
    send_digits: str | None = None

    def rest_to(self) -> str:
        """The ``To`` of a REST-created call."""
        if self.kind == "client":
            return f"client:{self.address}"
        return self.address


def anexo_target(anexo: str, anexo_dial: str) -> DialTarget:
    """ANEXO_DIAL is a SIP URI template (``sip:{anexo}@pbx``) or a switchboard number."""
    if "{anexo}" in anexo_dial:
        return DialTarget("sip", anexo_dial.format(anexo=anexo))
    return DialTarget("number", anexo_dial, send_digits=f"ww{anexo}")


def agent_target(canal: str, destino: str, anexo_dial: str) -> DialTarget:
    if canal == "client":
        return DialTarget("client", destino)
    if canal == "sip":
        return DialTarget("sip", destino)
    return anexo_target(destino, anexo_dial)


def address_target(address: str) -> DialTarget:
    """A number (E.164) or a SIP URI, as a setting gives it (PLATAFORMA_FALLBACK_DIAL)."""
    if address.startswith("sip:"):
        return DialTarget("sip", address)
    return DialTarget("number", address)


def check_address(name: str, address: str) -> None:
    """Raise ValueError (naming the setting) unless ``address`` is ``sip:user@host`` or an
    E.164 number."""
    if address.startswith("sip:") and "@" in address:
        return
    if re.fullmatch(r"\+\d{6,15}", address):
        return
    raise ValueError(
        f"{name}={address!r} is not valid: use a number such as '+5113115930' or a SIP URI "
        "such as 'sip:plataforma@pbx.mef.gob.pe'."
    )


def speaker_target(telefono: str | None, anexo: str | None, anexo_dial: str) -> DialTarget | None:
    """An interpreter from the language registry: their phone, else their anexo."""
    if telefono:
        return DialTarget("number", telefono)
    if anexo:
        return anexo_target(anexo, anexo_dial)
    return None

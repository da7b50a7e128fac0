"""Service hours: the SERVICE_HOURS format, whether the line is open at a moment, the hours said
to the caller in Spanish, and the admin's settings (which win over the environment) and closure
days. Every function takes the moment as ``now`` so tests and the simulator pick it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import is_holiday, peru_holidays, to_lima
from directory import audit
from ivr.cache import cached, invalidate
from ivr.models import ClosureDay, IvrSetting

DAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
HOURS_KEY = "SERVICE_HOURS"
HOLIDAYS_KEY = "SERVICE_CLOSE_ON_HOLIDAYS"
# What staff read for each reason (the admin page and `flask hours show`).
CLOSED_REASON_LABELS = {
    "fuera_de_horario": "cerrada (fuera del horario)",
    "feriado": "cerrada (feriado)",
    "cierre": "cerrada (día de cierre)",
}

_WINDOW = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


class ServiceHoursError(ValueError):
    """A SERVICE_HOURS value that does not follow the format; the message says what is wrong."""


class ClosureDayError(ValueError):
    """A closure day that cannot be set; the message says why, in Spanish."""


def check_closure_day(day: date, today: date) -> date:
    """A closure day is today or later: closing a day that has passed changes nothing the
    line does and would only blur the record. ``today`` is Lima's date."""
    if day < today:
        raise ClosureDayError("Esa fecha ya pasó: indique hoy o una fecha futura.")
    return day


@dataclass(frozen=True)
class Window:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class Hours:
    """What decides whether the line is open: the windows, holidays, closure days."""

    spec: str
    windows: tuple[Window, ...]
    close_on_holidays: bool
    closure_days: frozenset[date]
    source: str = "entorno"  # or "administración" when an admin's setting wins


def _parse_time(text: str, window: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    if hour == 24 and minute == 0:
        return time(23, 59, 59, 999999)
    if hour > 23 or minute > 59:
        raise ServiceHoursError(
            f"Hora inválida {text!r} en {window!r}: use HH:MM de 00:00 a 24:00."
        )
    return time(hour, minute)


def _parse_days(text: str, window: str) -> tuple[int, ...]:
    days: list[int] = []
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(end in DAY_CODES for end in ends):
            raise ServiceHoursError(
                f"Días inválidos {part!r} en {window!r}: use {', '.join(DAY_CODES)}, "
                "un rango como mon-fri o una lista como mon,wed."
            )
        first, last = DAY_CODES.index(ends[0]), DAY_CODES.index(ends[-1])
        if last < first:
            raise ServiceHoursError(f"Rango de días al revés {part!r} en {window!r}.")
        days.extend(d for d in range(first, last + 1) if d not in days)
    return tuple(sorted(days))


def parse_service_hours(spec: str) -> tuple[Window, ...]:
    """Parse e.g. ``mon-fri 08:30-13:00;mon-fri 14:00-16:30;sat 09:00-12:00`` strictly."""
    windows: list[Window] = []
    if not spec or not spec.strip():
        raise ServiceHoursError("SERVICE_HOURS está vacío: use por ejemplo 'mon-fri 08:30-16:30'.")
    for raw in spec.split(";"):
        part = " ".join(raw.strip().lower().split())
        match = _WINDOW.match(part)
        if not match:
            raise ServiceHoursError(
                f"Tramo inválido {raw.strip()!r}: use 'días HH:MM-HH:MM', por ejemplo "
                "'mon-fri 08:30-16:30'; varios tramos se separan con ';'."
            )
        start = _parse_time(match["start"], part)
        end = _parse_time(match["end"], part)
        if end <= start:
            raise ServiceHoursError(
                f"En {part!r} la hora de cierre debe ser posterior a la de apertura."
            )
        windows.append(Window(_parse_days(match["days"], part), start, end))
    return tuple(windows)


# --- Saying the hours -------------------------------------------------------------------


def _say_time(moment: time) -> str:
    if moment >= time(23, 59, 59):
        return "24:00"
    return f"{moment.hour}:{moment.minute:02d}"


def _say_days(days: tuple[int, ...]) -> str:
    if len(days) >= 3 and days == tuple(range(days[0], days[-1] + 1)):
        return f"de {DAY_NAMES[days[0]]} a {DAY_NAMES[days[-1]]}"
    names = [DAY_NAMES[d] + ("s" if d >= 5 else "") for d in days]
    if len(names) == 1:
        return f"los {names[0]}"
    return "los " + ", ".join(names[:-1]) + " y " + names[-1]


def describe_hours(windows: tuple[Window, ...]) -> str:
    """The hours in clear Spanish: "de lunes a viernes, de 8:30 a 13:00 y de 14:00 a 16:30"."""
    groups: dict[tuple[int, ...], list[Window]] = {}
    for window in windows:
        groups.setdefault(window.days, []).append(window)
    parts = []
    for days, group in groups.items():
        spans = [
            f"de {_say_time(w.start)} a {_say_time(w.end)}"
            for w in sorted(group, key=lambda w: w.start)
        ]
        parts.append(f"{_say_days(days)}, " + " y ".join(spans))
    return "; ".join(parts)


# --- Open or closed ---------------------------------------------------------------------


def closed_reason(now: datetime, hours: Hours) -> str | None:
    """None when the line is open at ``now``; else fuera_de_horario, feriado or cierre."""
    local = to_lima(now)
    if local.date() in hours.closure_days:
        return "cierre"
    if hours.close_on_holidays and is_holiday(local.date()):
        return "feriado"
    if not any(window.contains(local) for window in hours.windows):
        return "fuera_de_horario"
    return None


def _opens_on(day: date, hours: Hours) -> time | None:
    """The first opening time of that day, or None when the line does not open that day."""
    if day in hours.closure_days or (hours.close_on_holidays and is_holiday(day)):
        return None
    starts = [w.start for w in hours.windows if day.weekday() in w.days]
    return min(starts) if starts else None


def callback_due_date(now: datetime, hours: Hours) -> date:
    """The day the Plataforma must return a call (or hear a message) left at ``now`` (§5.6.1):
    today while the line is open or still opens later today, else the next day it opens
    (holidays, closure days and days without hours skipped). The one rule for every source."""
    local = to_lima(now)
    if closed_reason(now, hours) is None:
        return local.date()
    opens = _opens_on(local.date(), hours)
    if opens is not None and local.time() < opens:
        return local.date()
    day = local.date()
    for _ in range(366):
        day += timedelta(days=1)
        if _opens_on(day, hours) is not None:
            return day
    return local.date() + timedelta(days=1)


# --- Admin settings and closure days ----------------------------------------------------


def _put_setting(session: Session, key: str, value: str | None, actor: str | None) -> None:
    row = session.get(IvrSetting, key)
    before = None if row is None else {"key": key, "value": row.value}
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(IvrSetting(key=key, value=value))
    else:
        row.value = value
    after = None if value is None else {"key": key, "value": value}
    _commit(session, actor, "ivr_setting", key, before, after)


def _commit(
    session: Session,
    actor: str | None,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Commit a change of the hours, in the audit log when someone made it and it changed
    something, and forget the cached hours."""
    if actor is not None and before != after:
        action = "create" if before is None else "delete" if after is None else "update"
        audit.record(
            session,
            actor=actor,
            entity=entity,
            entity_id=entity_id,
            action=action,
            before=before,
            after=after,
        )
    session.commit()
    invalidate("hours")


def set_service_hours(session: Session, spec: str | None, *, actor: str | None = None) -> None:
    """Set the hours (validated first); None goes back to the environment's SERVICE_HOURS.
    With ``actor``, the change is written to the audit log (as every later function here)."""
    if spec is not None:
        spec = ";".join(" ".join(p.split()) for p in spec.split(";"))
        parse_service_hours(spec)
    _put_setting(session, HOURS_KEY, spec, actor)


def set_close_on_holidays(
    session: Session, value: bool | None, *, actor: str | None = None
) -> None:
    """Close (True) or open (False) on Peruvian holidays; None goes back to the environment."""
    text = None if value is None else ("true" if value else "false")
    _put_setting(session, HOLIDAYS_KEY, text, actor)


def _closure_snapshot(row: ClosureDay) -> dict[str, object]:
    return {"day": row.day.isoformat(), "reason": row.reason}


def close_day(
    session: Session, day: date, reason: str | None = None, *, actor: str | None = None
) -> None:
    """Close the line that day (idempotent: closing twice keeps one row, the newest reason)."""
    row = session.get(ClosureDay, day)
    before = None if row is None else _closure_snapshot(row)
    if row is None:
        row = ClosureDay(day=day, reason=reason)
        session.add(row)
    elif reason:
        row.reason = reason
    _commit(session, actor, "closure_day", day.isoformat(), before, _closure_snapshot(row))


def open_day(session: Session, day: date, *, actor: str | None = None) -> bool:
    """Remove a closure day; False when that day was not closed."""
    row = session.get(ClosureDay, day)
    before = None if row is None else _closure_snapshot(row)
    if row is not None:
        session.delete(row)
    _commit(session, actor, "closure_day", day.isoformat(), before, None)
    return row is not None


def upcoming_holidays(today: date, count: int = 5) -> list[tuple[date, str]]:
    """The next ``count`` Peruvian public holidays from ``today`` on (today included)."""
    found: list[tuple[date, str]] = []
    for year in (today.year, today.year + 1):
        for day, name in sorted(peru_holidays(year).items()):
            if day >= today and len(found) < count:
                found.append((day, name))
    return found


def closure_days(session: Session, since: date | None = None) -> list[ClosureDay]:
    query = select(ClosureDay).order_by(ClosureDay.day)
    if since is not None:
        query = query.where(ClosureDay.day >= since)
    return list(session.scalars(query))


def load_hours(session: Session, env_hours: str, env_close_on_holidays: bool) -> Hours:
    """The hours in force: an admin's setting wins over the environment (cached briefly)."""

    def load() -> Hours:
        settings = {row.key: row.value for row in session.scalars(select(IvrSetting))}
        spec, source = env_hours, "entorno"
        if settings.get(HOURS_KEY):
            spec, source = settings[HOURS_KEY], "administración"
        close_on_holidays = env_close_on_holidays
        if HOLIDAYS_KEY in settings:
            close_on_holidays = settings[HOLIDAYS_KEY] == "true"
        days = frozenset(session.scalars(select(ClosureDay.day)))
        return Hours(spec, parse_service_hours(spec), close_on_holidays, days, source)

    def from_environment() -> Hours:  # the database down and nothing loaded yet
        return Hours(
            env_hours, parse_service_hours(env_hours), env_close_on_holidays, frozenset(), "entorno"
        )

    return cached(f"hours:{env_hours}:{env_close_on_holidays}", load, fallback=from_environment)

"""Time in Lima and Peru's business-day calendar, shared by every package."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LIMA = ZoneInfo("America/Lima")


def utcnow() -> datetime:
    return datetime.now(UTC)


def lima_now() -> datetime:
    return datetime.now(LIMA)


def to_lima(moment: datetime) -> datetime:
    """Lima time of a moment; a naive datetime is taken as UTC (as SQLite returns it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LIMA)


@lru_cache(maxsize=64)
def peru_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("PE", years=year, language="es")


def is_holiday(day: date) -> bool:
    return day in peru_holidays(day.year)


def holiday_name(day: date) -> str | None:
    return peru_holidays(day.year).get(day)


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a Peruvian public holiday."""
    return day.weekday() < 5 and not is_holiday(day)


def days_between(start: date, end: date) -> list[date]:
    """The days of [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when end <= start)."""
    days = (end - start).days
    return sum(is_business_day(start + timedelta(days=n)) for n in range(1, days + 1))


def add_business_days(start: date, days: int) -> date:
    day = start
    added = 0
    while added < days:
        day += timedelta(days=1)
        if is_business_day(day):
            added += 1
    return day


def next_business_day(start: date) -> date:
    """The first business day strictly after ``start``."""
    return add_business_days(start, 1)

"""Monthly (§4.2.4 c) and quarterly (Responsabilidades 5.2) reports of the telephone line.

``build_report`` reads the register rows of a period (and the callback requests made in it)
and returns plain values; ``render_text`` and ``write_report_xlsx`` present them, and the admin
page draws them (register/charts.py). Definitions:

- offered: every call registered; answered: ``resultado = atendida``; abandoned:
  ``resultado = abandonada`` (hung up before anyone answered, without leaving a request);
- average speed of answer: mean ``espera_seg`` of answered calls;
- service level: answered within 20 s over (answered + abandoned);
- average handle time: mean talk time after the answer (``atencion_seg``);
- callbacks on time: done (``realizada``) no later than their ``due_date``, Lima time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from clock import LIMA, days_between, is_business_day, to_lima
from directory.csvio import as_text_cells
from directory.models import ROLES, Organo
from register.callbacks import OPEN_STATUSES
from register.erlang import agents_needed, average_speed_of_answer, service_level
from register.models import CallbackRequest, RegisterCall
from register.xlsx_charts import add_chart

SERVICE_LEVEL_SECONDS = 20
SERVICE_LEVEL_TARGET = 0.8
DEFAULT_AHT_SECONDS = 180
MONTHS_ES = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)
RESULTADO_ES = {
    "atendida": "Atendidas",
    "abandonada": "Abandonadas",
    "devolucion_solicitada": "Devolución solicitada",
    "mensaje_de_voz": "Mensaje de voz",
    "fuera_de_horario": "Fuera de horario",
}
PREFERENCIAL_ES = {
    "gestante": "Gestante",
    "adulto_mayor": "Adulto mayor",
    "discapacidad": "Persona con discapacidad",
}
IDIOMA_ES = {"es": "Español", "qu": "Quechua", "ay": "Aimara"}


@dataclass(frozen=True)
class Period:
    kind: str  # "mensual" or "trimestral"
    label: str  # "2026-10" or "2026-Q4"
    title: str  # "octubre de 2026"
    start: date
    end: date  # exclusive


def _month_end(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def period_of_month(month: str) -> Period:
    try:
        year_s, mon_s = month.split("-")
        year, mon = int(year_s), int(mon_s)
        start = date(year, mon, 1)
    except ValueError as exc:
        raise ValueError(f"Mes inválido {month!r}: use el formato AAAA-MM.") from exc
    return Period(
        "mensual",
        f"{year:04d}-{mon:02d}",
        f"{MONTHS_ES[mon - 1]} de {year}",
        start,
        _month_end(year, mon),
    )


def period_of_quarter(quarter: str) -> Period:
    try:
        year_s, q_s = quarter.upper().split("-Q")
        year, q = int(year_s), int(q_s)
        if not 1 <= q <= 4:
            raise ValueError(quarter)
    except ValueError as exc:
        raise ValueError(f"Trimestre inválido {quarter!r}: use el formato AAAA-Qn.") from exc
    first = 3 * (q - 1) + 1
    return Period(
        "trimestral",
        f"{year}-Q{q}",
        f"{q}.º trimestre de {year} ({MONTHS_ES[first - 1]} a {MONTHS_ES[first + 1]})",
        date(year, first, 1),
        _month_end(year, first + 2),
    )


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _organo_names(session: Session) -> dict[str, str]:
    try:
        return {o.sigla: o.nombre for o in session.scalars(select(Organo))}
    except Exception:  # noqa: BLE001 - the directory may be empty or not migrated
        return {}


def _callbacks(session: Session, period: Period) -> dict[str, Any]:
    requested = done = on_time = pending = 0
    by_source: Counter[str] = Counter()
    start_at = datetime.combine(period.start, time(0), LIMA).astimezone(UTC)
    end_at = datetime.combine(period.end, time(0), LIMA).astimezone(UTC)
    for cb in session.scalars(
        select(CallbackRequest).where(
            CallbackRequest.created_at >= start_at, CallbackRequest.created_at < end_at
        )
    ):
        requested += 1
        by_source[cb.source] += 1
        if cb.status == "realizada":
            done += 1
            if cb.done_at is not None and to_lima(cb.done_at).date() <= cb.due_date:
                on_time += 1
        elif cb.status in OPEN_STATUSES:
            pending += 1
    return {
        "solicitadas": requested,
        "realizadas": done,
        "a_tiempo": on_time,
        "pendientes": pending,
        "a_tiempo_pct": _share(on_time, requested),
        "por_origen": dict(sorted(by_source.items())),
    }


def erlang_view(rows: list[Any], month_start: date, month_end: date) -> list[dict[str, Any]]:
    """Agents needed each hour (80 % within 20 s) from one month's arrivals and handle times.

    Arrivals: calls that reached the Plataforma queue in that hour of the day, averaged over
    the business days of the month; handle time: their mean talk time (or the month's).
    """
    business_days = sum(1 for d in days_between(month_start, month_end) if is_business_day(d)) or 1
    arrivals: Counter[int] = Counter()
    talk: dict[int, list[int]] = defaultdict(list)
    all_talk: list[int] = []
    for r in rows:
        if r.queued_at is None or not month_start <= r.fecha < month_end:
            continue
        hour = to_lima(r.queued_at).hour
        arrivals[hour] += 1
        if r.atencion_seg:
            talk[hour].append(r.atencion_seg)
            all_talk.append(r.atencion_seg)
    overall = (sum(all_talk) / len(all_talk)) if all_talk else DEFAULT_AHT_SECONDS
    view = []
    for hour in sorted(arrivals):
        per_hour = arrivals[hour] / business_days
        aht = (sum(talk[hour]) / len(talk[hour])) if talk[hour] else overall
        agents = agents_needed(per_hour, aht, SERVICE_LEVEL_TARGET, SERVICE_LEVEL_SECONDS)
        traffic = per_hour * aht / 3600
        view.append(
            {
                "hora": f"{hour:02d}:00",
                "llamadas_por_hora": round(per_hour, 2),
                "aht_seg": round(aht),
                "erlangs": round(traffic, 2),
                "agentes": agents,
                "nivel_servicio": round(
                    service_level(agents, traffic, aht, SERVICE_LEVEL_SECONDS), 3
                )
                if agents
                else None,
                "asa_seg": round(average_speed_of_answer(agents, traffic, aht), 1)
                if agents
                else None,
            }
        )
    return view


def _interpreters(rows: list[Any]) -> list[dict[str, Any]]:
    """Who interpreted (the §5.4 registry's speakers who joined a conference): language,
    name and calls, most calls first."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in rows:
        name = (r.journey or {}).get("interpreted_by")
        if name:
            counts[(r.idioma, name)] += 1
    return [
        {"idioma": lang, "nombre": name, "llamadas": n}
        for (lang, name), n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def organo_counts(sigla: str, nombre: str = "") -> dict[str, Any]:
    """An órgano's technical calls, before the first is counted (who missed: Counters)."""
    return {
        "organo": sigla,
        "nombre": nombre,
        "ofrecidas": 0,
        "titular": 0,
        "alterno": 0,
        "plataforma": 0,
        "sin_atender": 0,
        "no_contesta": {rol: Counter() for rol in ROLES},
    }


def organo_line(counts: dict[str, Any]) -> dict[str, Any]:
    """The report's line of an órgano from its counts: who missed as lists, most first, and
    the Red's share."""
    return counts | {
        "no_contesta": {
            rol: [{"nombre": n, "llamadas": c} for n, c in counter.most_common()]
            for rol, counter in counts["no_contesta"].items()
        },
        "tasa_red": _share(counts["titular"] + counts["alterno"], counts["ofrecidas"]),
    }


def build_report(
    session: Session, period: Period, *, include_simulated: bool = False
) -> dict[str, Any]:
    """Every figure of the report, as plain values (simulated calls only when asked)."""
    calls = [RegisterCall.fecha >= period.start, RegisterCall.fecha < period.end]
    if not include_simulated:
        calls.append(RegisterCall.simulada.is_(False))
    rows = list(
        session.execute(
            select(
                RegisterCall.fecha,
                RegisterCall.resultado,
                RegisterCall.derivacion,
                RegisterCall.organo,
                RegisterCall.tipo_consulta,
                RegisterCall.tipo_usuario,
                RegisterCall.preferencial,
                RegisterCall.idioma,
                RegisterCall.region,
                RegisterCall.espera_seg,
                RegisterCall.atencion_seg,
                RegisterCall.encuesta,
                RegisterCall.queued_at,
                RegisterCall.journey,
            ).where(*calls)
        )
    )
    offered = len(rows)
    results = Counter(r.resultado for r in rows)
    answered_rows = [r for r in rows if r.resultado == "atendida"]
    answered = len(answered_rows)
    abandoned = results["abandonada"]
    within = sum(
        1
        for r in answered_rows
        if r.espera_seg is not None and r.espera_seg <= SERVICE_LEVEL_SECONDS
    )
    by_route = Counter(r.derivacion or "plataforma" for r in answered_rows)

    names = _organo_names(session)
    organos: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.tipo_consulta != "tecnica" or not r.organo:
            continue
        o = organos.setdefault(r.organo, organo_counts(r.organo, names.get(r.organo, "")))
        o["ofrecidas"] += 1
        if r.resultado == "atendida" and r.derivacion in ("titular", "alterno", "plataforma"):
            o[r.derivacion] += 1
        elif r.derivacion == "plataforma":
            o["plataforma"] += 1
        else:
            o["sin_atender"] += 1
        names_by_rol = {}
        for dial in (r.journey or {}).get("dials", []):
            if "anexo" in dial:
                names_by_rol[dial.get("rol")] = dial.get("nombre") or dial.get("rol")
            elif dial.get("outcome") and dial["outcome"] != "accepted":
                rol = dial.get("rol")
                if rol in ROLES:
                    o["no_contesta"][rol][names_by_rol.get(rol) or rol] += 1
    por_organo = [organo_line(organos[sigla]) for sigla in sorted(organos)]

    by_day = {
        day.isoformat(): {"ofrecidas": 0, "atendidas": 0, "abandonadas": 0}
        for day in days_between(period.start, period.end)
    }
    for r in rows:
        d = by_day[r.fecha.isoformat()]
        d["ofrecidas"] += 1
        d["atendidas"] += r.resultado == "atendida"
        d["abandonadas"] += r.resultado == "abandonada"

    scores = [r.encuesta for r in rows if r.encuesta]
    last_month_start = (period.end - timedelta(days=1)).replace(day=1)
    return {
        "periodo": {
            "tipo": period.kind,
            "etiqueta": period.label,
            "titulo": period.title,
            "desde": period.start.isoformat(),
            "hasta": (period.end - timedelta(days=1)).isoformat(),
        },
        "ofrecidas": offered,
        "atendidas": answered,
        "abandonadas": abandoned,
        "resultados": {k: results.get(k, 0) for k in RESULTADO_ES},
        "atendidas_por": {k: by_route.get(k, 0) for k in ("titular", "alterno", "plataforma")},
        "asa_seg": _mean([r.espera_seg for r in answered_rows if r.espera_seg is not None]),
        "nivel_servicio": _share(within, answered + abandoned),
        "aht_seg": _mean([r.atencion_seg for r in answered_rows if r.atencion_seg is not None]),
        "devoluciones": _callbacks(session, period),
        "por_organo": por_organo,
        "por_preferencial": {
            k: sum(1 for r in rows if r.preferencial == k) for k in PREFERENCIAL_ES
        },
        "por_idioma": dict(Counter(r.idioma for r in rows).most_common()),
        "interpretes": _interpreters(rows),
        "por_region": dict(Counter(r.region or "(sin región)" for r in rows).most_common()),
        "por_tipo_usuario": dict(Counter(r.tipo_usuario for r in rows).most_common()),
        "por_tipo_consulta": dict(
            Counter(r.tipo_consulta or "(sin menú)" for r in rows).most_common()
        ),
        "encuesta": {
            "respuestas": len(scores),
            "promedio": _mean(scores),
            "distribucion": {str(k): scores.count(k) for k in range(1, 6)},
        },
        "por_dia": by_day,
        "erlang": {
            "mes": f"{MONTHS_ES[last_month_start.month - 1]} de {last_month_start.year}",
            "horas": erlang_view(rows, last_month_start, period.end),
        },
    }


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def missed_text(members: list[dict[str, Any]], sep: str = "; ") -> str:
    """Who did not answer and how often (a ``no_contesta`` list): ``Ana Quispe (3); …``."""
    return sep.join(f"{m['nombre']} ({m['llamadas']})" for m in members)


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def render_text(report: dict[str, Any]) -> str:
    p = report["periodo"]
    cb = report["devoluciones"]
    lines = [
        f"Reporte {p['tipo']} de la Red de Atención telefónica: {p['titulo']}",
        f"Del {p['desde']} al {p['hasta']}",
        "",
        f"Llamadas ofrecidas:          {report['ofrecidas']}",
        f"Llamadas atendidas:          {report['atendidas']}",
        f"Llamadas abandonadas:        {report['abandonadas']}",
    ]
    for key in ("devolucion_solicitada", "mensaje_de_voz", "fuera_de_horario"):
        lines.append(f"{RESULTADO_ES[key] + ':':<29}{report['resultados'][key]}")
    by = report["atendidas_por"]
    lines += [
        f"Atendidas por el titular:    {by['titular']}",
        f"Atendidas por el alterno:    {by['alterno']}",
        f"Atendidas en la Plataforma:  {by['plataforma']}",
        f"Velocidad media de respuesta: {_num(report['asa_seg'], ' s')}",
        f"Nivel de servicio (≤ {SERVICE_LEVEL_SECONDS} s):  {pct(report['nivel_servicio'])}",
        f"Tiempo medio de atención:    {_num(report['aht_seg'], ' s')}",
        f"Devoluciones solicitadas:    {cb['solicitadas']} (realizadas {cb['realizadas']}, "
        f"a tiempo {cb['a_tiempo']}, pendientes {cb['pendientes']})",
        f"Encuesta de satisfacción:    promedio {_num(report['encuesta']['promedio'])} "
        f"de 5 ({report['encuesta']['respuestas']} respuestas)",
        "",
        "Consultas técnicas por órgano (titular / alterno / derivadas a la Plataforma / "
        "sin atender):",
    ]
    for o in report["por_organo"]:
        lines.append(
            f"  {o['organo']:<8} {o['ofrecidas']:>5} llamadas: {o['titular']} / {o['alterno']} / "
            f"{o['plataforma']} / {o['sin_atender']}"
        )
        for rol in ROLES:
            if missed := missed_text(o["no_contesta"][rol], ", "):
                lines.append(f"           no contestó ({rol}): {missed}")
    lines += ["", "Atención preferencial:"]
    for key, label in PREFERENCIAL_ES.items():
        lines.append(f"  {label}: {report['por_preferencial'][key]}")
    lines += ["", "Por idioma:"]
    lines += [f"  {IDIOMA_ES.get(k, k)}: {v}" for k, v in report["por_idioma"].items()]
    lines += [
        f"  con intérprete ({IDIOMA_ES.get(i['idioma'], i['idioma'])}): {i['nombre']} "
        f"({i['llamadas']})"
        for i in report["interpretes"]
    ]
    lines += ["", "Por región:"]
    lines += [f"  {k}: {v}" for k, v in report["por_region"].items()]
    lines += [
        "",
        f"Dimensionamiento Erlang C (80 % en {SERVICE_LEVEL_SECONDS} s), según "
        f"{report['erlang']['mes']}:",
    ]
    for h in report["erlang"]["horas"]:
        lines.append(
            f"  {h['hora']}  {h['llamadas_por_hora']:>6} llamadas/h  TMO {h['aht_seg']} s  "
            f"→ agentes necesarios: {h['agentes']}"
        )
    return "\n".join(lines)


def add_table(
    wb: Workbook, title: str, header: list[str], rows: Iterable[Sequence[Any]], widths: list[int]
) -> Any:
    """A new sheet of ``wb``: a bold header frozen above the rows (their text kept as text,
    their dates shown yyyy-mm-dd), and the widths of the first columns."""
    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
        as_text_cells(ws, ws.max_row)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    return ws


def write_report_xlsx(report: dict[str, Any], path: Path | BinaryIO) -> None:
    """The workbook: Resumen, Por órgano, Por día, Distribución, Erlang C; native Excel
    charts (register/xlsx_charts.py) beside the tables of Por órgano, Por día and Erlang C."""
    wb = Workbook()

    p = report["periodo"]
    cb = report["devoluciones"]
    summary = [
        ["Periodo", p["titulo"]],
        ["Llamadas ofrecidas", report["ofrecidas"]],
        ["Llamadas atendidas", report["atendidas"]],
        ["Llamadas abandonadas", report["abandonadas"]],
        *[
            [RESULTADO_ES[k], report["resultados"][k]]
            for k in ("devolucion_solicitada", "mensaje_de_voz", "fuera_de_horario")
        ],
        ["Atendidas por el titular", report["atendidas_por"]["titular"]],
        ["Atendidas por el alterno", report["atendidas_por"]["alterno"]],
        ["Atendidas en la Plataforma", report["atendidas_por"]["plataforma"]],
        ["Velocidad media de respuesta (s)", report["asa_seg"]],
        [f"Nivel de servicio (≤ {SERVICE_LEVEL_SECONDS} s)", report["nivel_servicio"]],
        ["Tiempo medio de atención (s)", report["aht_seg"]],
        ["Devoluciones solicitadas", cb["solicitadas"]],
        ["Devoluciones realizadas", cb["realizadas"]],
        ["Devoluciones a tiempo", cb["a_tiempo"]],
        ["Encuesta: promedio (1 a 5)", report["encuesta"]["promedio"]],
        ["Encuesta: respuestas", report["encuesta"]["respuestas"]],
    ]
    resumen = add_table(wb, "Resumen", ["Indicador", "Valor"], summary, [38, 40])
    wb.remove(wb.worksheets[0])
    for label_cell, value_cell in resumen.iter_rows(min_row=2, max_col=2):
        if str(label_cell.value).startswith("Nivel de servicio"):
            value_cell.number_format = "0.0%"
    organo_columns = {  # an órgano's figure → its column's header
        "organo": "Órgano",
        "nombre": "Nombre",
        "ofrecidas": "Llamadas",
        "titular": "Titular",
        "alterno": "Alterno",
        "plataforma": "Plataforma",
        "sin_atender": "Sin atender",
    }
    by_organo = add_table(
        wb,
        "Por órgano",
        [*organo_columns.values(), "Titular no contestó", "Alterno no contestó"],
        [
            [*(o[k] for k in organo_columns), *(missed_text(o["no_contesta"][r]) for r in ROLES)]
            for o in report["por_organo"]
        ],
        [10, 40, 10, 10, 10, 12, 12, 30, 30],
    )
    by_day = add_table(
        wb,
        "Por día",
        ["Fecha", "Ofrecidas", "Atendidas", "Abandonadas"],
        [
            [date.fromisoformat(d), v["ofrecidas"], v["atendidas"], v["abandonadas"]]
            for d, v in report["por_dia"].items()
        ],
        [12, 12, 12, 12],
    )
    add_chart(
        by_organo,
        "stacked",
        title="Consultas técnicas por órgano: quién las atendió",
        series_cols=(4, 7),
        anchor="K2",
    )
    add_chart(by_day, "line", title="Llamadas por día", series_cols=(2, 4), anchor="F2")
    dist: list[list[Any]] = []
    dist += [["Preferencial", PREFERENCIAL_ES[k], v] for k, v in report["por_preferencial"].items()]
    dist += [["Idioma", IDIOMA_ES.get(k, k), v] for k, v in report["por_idioma"].items()]
    dist += [
        ["Intérprete", f"{IDIOMA_ES.get(i['idioma'], i['idioma'])}: {i['nombre']}", i["llamadas"]]
        for i in report["interpretes"]
    ]
    dist += [["Región", k, v] for k, v in report["por_region"].items()]
    dist += [["Tipo de usuario", k, v] for k, v in report["por_tipo_usuario"].items()]
    dist += [["Encuesta", f"{k} de 5", v] for k, v in report["encuesta"]["distribucion"].items()]
    add_table(wb, "Distribución", ["Dimensión", "Valor", "Llamadas"], dist, [18, 28, 10])
    erlang_columns = {  # an hour's figure → its column's header
        "hora": "Hora",
        "llamadas_por_hora": "Llamadas por hora",
        "aht_seg": "TMO (s)",
        "erlangs": "Erlangs",
        "agentes": "Agentes (80 % en 20 s)",
        "nivel_servicio": "Nivel de servicio",
        "asa_seg": "Espera media (s)",
    }
    erlang = add_table(
        wb,
        "Erlang C",
        list(erlang_columns.values()),
        [[h[k] for k in erlang_columns] for h in report["erlang"]["horas"]],
        [8, 18, 10, 10, 22, 16, 16],
    )
    add_chart(
        erlang,
        "bar",
        title=f"Agentes necesarios por hora (80 % en {SERVICE_LEVEL_SECONDS} s)",
        series_cols=(5, 5),
        anchor="I2",
        y_title="Agentes",
    )
    wb.save(path)

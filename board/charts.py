"""The board's charts of today by half hour, as inline SVG (register/charts.py): the calls
offered against those the last four same weekdays brought, and the agents staffing the line
against the agents Erlang C says were needed."""

from __future__ import annotations

from typing import Any

from register.charts import PALETTE, bar_chart


def board_charts(board: dict[str, Any]) -> dict[str, str]:
    halves = board.get("franjas") or []
    labels = [h["franja"] for h in halves]
    every = 1 if len(labels) <= 12 else 2
    level = board["objetivo"]
    return {
        "llamadas": bar_chart(
            "Llamadas de hoy por media hora y las esperadas (promedio de 4 semanas)",
            labels,
            [
                ("Atendidas", [h["atendidas"] for h in halves], PALETTE["atendidas"]),
                ("Abandonadas", [h["abandonadas"] for h in halves], PALETTE["abandonadas"]),
                (
                    "Otras",
                    [h["ofrecidas"] - h["atendidas"] - h["abandonadas"] for h in halves],
                    PALETTE["otras"],
                ),
            ],
            overlay=("Esperadas", [h["esperadas"] for h in halves], "#1565c0"),
            label_every=every,
            height=240,
            chart_id="chart-llamadas-hoy",
        ),
        "agentes": bar_chart(
            f"Agentes conectados y necesarios (Erlang C, {round(level['nivel'] * 100)} % en "
            f"{level['segundos']} s)",
            labels,
            [("Conectados (máximo)", [h["conectados"] for h in halves], PALETTE["agentes"])],
            overlay=("Necesarios", [h["necesarios"] for h in halves], "#ef6c00"),
            label_every=every,
            height=240,
            chart_id="chart-agentes-hoy",
        ),
    }

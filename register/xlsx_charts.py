"""Native Excel charts (openpyxl.chart) placed beside the tables of the report workbooks: the
figures stay in cells, and Excel or LibreOffice draws the chart from them."""

from __future__ import annotations

from typing import Any

from openpyxl.chart import BarChart, LineChart, Reference


def _place(ws: Any, chart: Any, title: str, anchor: str, y_title: str | None) -> None:
    chart.title = title
    chart.height, chart.width = 8.5, 17.0
    if y_title:
        chart.y_axis.title = y_title
    ws.add_chart(chart, anchor)


def bar_chart(
    ws: Any,
    *,
    title: str,
    series_cols: tuple[int, int],
    category_col: int,
    last_row: int,
    anchor: str,
    stacked: bool = False,
    horizontal: bool = False,
    y_title: str | None = "Llamadas",
) -> BarChart | None:
    """Columns ``series_cols`` (first and last, 1-based; their header row 1 names the series)
    over the categories of ``category_col``, rows 2 to ``last_row``. None when no row."""
    if last_row < 2:
        return None
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    if stacked:
        chart.grouping = "stacked"
        chart.overlap = 100
    data = Reference(
        ws, min_col=series_cols[0], max_col=series_cols[1], min_row=1, max_row=last_row
    )
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=category_col, min_row=2, max_row=last_row))
    _place(ws, chart, title, anchor, y_title)
    return chart


def line_chart(
    ws: Any,
    *,
    title: str,
    series_cols: tuple[int, int],
    category_col: int,
    last_row: int,
    anchor: str,
    y_title: str | None = "Llamadas",
) -> LineChart | None:
    if last_row < 2:
        return None
    chart = LineChart()
    data = Reference(
        ws, min_col=series_cols[0], max_col=series_cols[1], min_row=1, max_row=last_row
    )
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=category_col, min_row=2, max_row=last_row))
    chart.x_axis.number_format = "dd/mm"
    _place(ws, chart, title, anchor, y_title)
    return chart

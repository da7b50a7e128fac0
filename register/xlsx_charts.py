"""Native Excel charts (openpyxl.chart) placed beside the tables of the report workbooks: the
figures stay in cells, and Excel or LibreOffice draws the chart from them."""

from __future__ import annotations

from typing import Any, Literal

from openpyxl.chart import BarChart, LineChart, Reference


def add_chart(
    ws: Any,
    kind: Literal["bar", "stacked", "line"],
    *,
    title: str,
    series_cols: tuple[int, int],
    anchor: str,
    last_row: int | None = None,
    y_title: str = "Llamadas",
) -> None:
    """A column chart (``stacked`` piles the series), or a line chart over dates, of the
    columns ``series_cols`` (first and last, 1-based; their header in row 1 names each series)
    over the categories of column A, rows 2 to ``last_row`` (default: the sheet's last),
    placed at ``anchor``. Nothing when there is no row to draw."""
    last_row = ws.max_row if last_row is None else last_row
    if last_row < 2:
        return
    chart: BarChart | LineChart
    if kind == "line":
        chart = LineChart()
        chart.x_axis.number_format = "dd/mm"
    else:
        chart = BarChart()
        chart.type = "col"
        if kind == "stacked":
            chart.grouping = "stacked"
            chart.overlap = 100
    data = Reference(
        ws, min_col=series_cols[0], max_col=series_cols[1], min_row=1, max_row=last_row
    )
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=last_row))
    chart.title = title
    chart.height, chart.width = 8.5, 17.0
    chart.y_axis.title = y_title
    ws.add_chart(chart, anchor)

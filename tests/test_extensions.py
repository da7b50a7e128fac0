"""extensions.configure_logging: JSON lines in production, with the CallSid of the webhook
being served and the id of the rq job running (issue 15)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from extensions import call_context, configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(json_lines=True)
    root.handlers[0].setStream(out)  # type: ignore[attr-defined]
    yield out
    root.handlers, root.level = saved, level


def test_a_webhook_logs_json_lines_with_its_call_sid(app: Flask, captured: io.StringIO) -> None:
    with app.test_request_context("/voice/menu", method="POST", data={"CallSid": "CA" + "7" * 32}):
        logging.getLogger("ivr").warning("sin opción")
    record = json.loads(captured.getvalue().splitlines()[-1])
    assert record["message"] == "sin opción" and record["levelname"] == "WARNING"
    assert record["call_sid"] == "CA" + "7" * 32 and record["job_id"] == "-"


def test_a_job_logs_its_id_and_call(captured: io.StringIO) -> None:
    call_context.job_id, call_context.call_sid = "job-1", "CA" + "8" * 32
    try:
        logging.getLogger("register").info("fila escrita")
    finally:
        call_context.job_id = call_context.call_sid = "-"
    record = json.loads(captured.getvalue().splitlines()[-1])
    assert (record["job_id"], record["call_sid"]) == ("job-1", "CA" + "8" * 32)

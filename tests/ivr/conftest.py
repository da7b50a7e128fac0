from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.ivr.helpers import OPEN, load_directory


@pytest.fixture
def directory(session: Session) -> None:
    load_directory(session)


@pytest.fixture
def open_line(app: Flask) -> None:
    app.config["IVR_NOW"] = OPEN

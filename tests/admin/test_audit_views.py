"""/admin/auditoria: changes from the web and the commands, filterable, before and after."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from admin.models import User
from directory.audit import record
from tests.admin.conftest import login
from tests.directory.helpers import BASE_CSV


def test_audit_log_shows_cli_and_web_changes_with_filters(
    client: FlaskClient,
    runner: FlaskCliRunner,
    users: dict[str, User],
    session: Session,
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(BASE_CSV, encoding="utf-8")
    assert (
        runner.invoke(args=["directory", "import", str(path), "--actor", "cli:ana"]).exit_code == 0
    )
    record(
        session,
        actor="admin:admin",
        entity="agent",
        entity_id=7,
        action="update",
        before={"destino": "2101", "nombre": "Rosa"},
        after={"destino": "2109", "nombre": "Rosa"},
    )
    session.commit()
    login(client, "supervisor")
    page = client.get("/admin/auditoria").get_data(as_text=True)
    assert '<span class="actor">cli:ana' in page and '<span class="actor">admin:admin' in page
    filtered = client.get("/admin/auditoria?tabla=agent").get_data(as_text=True)
    assert 'data-entity="agent"' in filtered and 'data-entity="organo"' not in filtered
    # before and after side by side, the changed field marked
    assert '<tr class="changed"><td><code>destino</code></td>' in filtered
    assert '<td class="before">2101</td>' in filtered and '<td class="after">2109</td>' in filtered
    by_user = client.get("/admin/auditoria?usuario=cli:ana").get_data(as_text=True)
    assert '<span class="actor">admin:admin' not in by_user and 'data-entity="organo"' in by_user
    none_yet = client.get("/admin/auditoria?desde=2099-01-01").get_data(as_text=True)
    assert "No hay cambios con esos filtros." in none_yet
    client.post("/admin/logout")
    login(client, "agente")
    assert client.get("/admin/auditoria").status_code == 403

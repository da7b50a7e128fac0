"""extensions.InFlight: commands sent together, replies read later (a pipeline split in two)."""

from __future__ import annotations

import pytest
import redis

from extensions import InFlight


def test_replies_come_back_raw_and_in_order(redis_client: redis.Redis) -> None:
    redis_client.set("k", "v")
    sent = InFlight(redis_client, [("GET", "k"), ("HKEYS", "nothing"), ("EXISTS", "k")])
    assert sent.replies() == [b"v", [], 1]
    with pytest.raises(RuntimeError, match="read already"):
        sent.replies()


def test_commands_go_out_as_redis_py_would_pack_them(redis_client: redis.Redis) -> None:
    commands = [("SET", "k", b"\x00bytes\r\n", "EX", 60), ("EVAL", "return 1.5", 0, 2.5)]
    sent = InFlight(redis_client, commands)
    connection = redis_client.connection_pool.make_connection()
    assert b"".join(sent._packed()) == b"".join(connection.pack_commands(commands))
    assert sent.replies() == [b"OK", 1]
    assert redis_client.get("k") == b"\x00bytes\r\n"


def test_an_argument_redis_cannot_take_is_refused_as_redis_py_refuses_it(
    redis_client: redis.Redis,
) -> None:
    with pytest.raises(redis.DataError):  # as redis-py raises it
        InFlight(redis_client, [("SET", "k", None)])
    assert redis_client.ping()  # the connection is usable again


def test_commands_run_before_the_replies_are_read(redis_client: redis.Redis) -> None:
    sent = InFlight(redis_client, [("SET", "k", "1", "EX", 60)])
    other = redis.Redis(connection_pool=redis.ConnectionPool.from_url(_url(redis_client)))
    for _ in range(100):  # Redis runs them as they arrive, whoever reads the replies
        if other.get("k") == b"1":
            break
    assert other.get("k") == b"1"
    assert sent.replies() == [b"OK"]


def test_an_error_reply_is_raised_after_every_reply_is_read(redis_client: redis.Redis) -> None:
    redis_client.set("text", "x")
    sent = InFlight(redis_client, [("INCR", "text"), ("SET", "after", "1")])
    with pytest.raises(redis.ResponseError):
        sent.replies()
    assert redis_client.get("after") == b"1"  # the rest ran, as in a pipeline
    assert redis_client.ping()  # the connection went back to the pool clean


def test_a_connection_broken_before_the_replies_sends_them_again(
    redis_client: redis.Redis,
) -> None:
    sent = InFlight(redis_client, [("CLIENT", "ID")])
    [first_id] = sent.replies()
    other = redis.Redis(connection_pool=redis.ConnectionPool.from_url(_url(redis_client)))
    assert other.client_kill_filter(_id=first_id) == 1  # the pooled connection, closed
    again = InFlight(redis_client, [("INCR", "counter"), ("CLIENT", "ID")])
    # That connection is taken again: the send may or may not notice; the read does, and
    # the commands go once more on a new connection (like the client's Retry).
    counter, new_id = again.replies()
    assert new_id != first_id
    assert counter in (1, 2)


def test_abandoned_replies_close_their_connection(redis_client: redis.Redis) -> None:
    redis_client.set("k", "stale")
    sent = InFlight(redis_client, [("GET", "k")])
    sent.abandon()
    redis_client.set("k", "fresh")
    # The next command on the pool gets its own reply, not the abandoned one.
    assert redis_client.get("k") == b"fresh"
    assert InFlight(redis_client, [("GET", "k")]).replies() == [b"fresh"]


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_two_in_flight_at_once_use_two_connections(redis_client: redis.Redis) -> None:
    redis_client.set("a", "1")
    redis_client.set("b", "2")
    first = InFlight(redis_client, [("GET", "a"), ("CLIENT", "ID")])
    second = InFlight(redis_client, [("GET", "b"), ("CLIENT", "ID")])
    # Read in the other order: each gets its own replies.
    value_b, id_b = second.replies()
    value_a, id_a = first.replies()
    assert (value_a, value_b) == (b"1", b"2")
    assert id_a != id_b
    # The thread's own connection is free again: the next one takes it.
    assert InFlight(redis_client, [("CLIENT", "ID")]).replies() == [id_a]


def test_each_thread_has_its_own_connection(redis_client: redis.Redis) -> None:
    import threading

    ids: dict[str, int] = {}

    def run(name: str) -> None:
        [ids[name]] = InFlight(redis_client, [("CLIENT", "ID")]).replies()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [mine] = InFlight(redis_client, [("CLIENT", "ID")]).replies()
    assert len({ids["x"], ids["y"], mine}) == 3

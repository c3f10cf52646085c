"""
Group commit (docs/architecture.md, src/server/writer.c), end to end: many
writing requests at once share transactions, and each still succeeds or
fails on its own.

- 48 concurrent creates of distinct secrets, mixed with creates of one
  name that already exists and /resolve calls: every distinct create is
  201 and listed afterwards with its value, every duplicate 409, every
  resolve 200 with the right value;
- the audit chain verifies afterwards, with one success record per create
  and one failure record per duplicate;
- a stopped server keeps every acknowledged write (restart and read back);
- a killed server (SIGKILL) keeps the audit record of every answered
  resolve, whose commit does not wait for the disk (writer.h);
- --sync-read-audit (or audit.sync_reads in the config) makes it wait, and
  says so in the log; a value that is not a boolean refuses to start;
- a client that leaves (a reset) while its create waits for the writer
  does not hold the server's stop for the drain timeout.
"""
import json
import socket
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import audit_records, connect_raw, list_all, names_of, secret_value, uniq
from test_rotation import b64key, plugin_path, private_file, start_with, write_config

CREATES = 48
DUPLICATES = 8
RESOLVES = 16


def _create(server, ws, name, value):
    return server.post(f"/v2/workspaces/{ws}/secrets",
                       json={"name": name, "value": value, "visibility": "public"})


def test_concurrent_writes_each_succeed_or_fail_alone(server):
    ws = server.create_workspace()
    svc = server.create_principal(kind="service")
    server.set_member(ws, svc, "service")
    svc_token = server.mint(svc)
    existing, existing_value = uniq("dup"), secret_value()
    assert _create(server, ws, existing, existing_value).status_code == 201
    names = [uniq("gc") for _ in range(CREATES)]
    values = {n: secret_value() for n in names}

    def resolve():
        return server.post(f"/v2/workspaces/{ws}/resolve", token=svc_token,
                           json={"env": [{"envvar_name": "V", "secret_name": existing}]})

    with ThreadPoolExecutor(max_workers=24) as pool:
        creates = [pool.submit(_create, server, ws, n, values[n]) for n in names]
        dups = [pool.submit(_create, server, ws, existing, secret_value()) for _ in range(DUPLICATES)]
        resolves = [pool.submit(resolve) for _ in range(RESOLVES)]
        created = [f.result() for f in creates]
        duplicated = [f.result() for f in dups]
        resolved = [f.result() for f in resolves]

    assert [r.status_code for r in created] == [201] * CREATES, [r.text for r in created if r.status_code != 201]
    assert [r.status_code for r in duplicated] == [409] * DUPLICATES
    for r in resolved:
        assert r.status_code == 200, r.text
        assert r.json()["env"][0]["value"] == existing_value
    assert set(names_of(list_all(server, ws))) == set(names) | {existing}
    for n in names[::8]:
        assert server.access(ws, n)["value"] == values[n]

    r = server.get("/v2/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    records = audit_records(server, workspace=ws)
    creates_ok = [x for x in records if x["action"] == "secret.create" and x["outcome"] == "success"]
    creates_failed = [x for x in records if x["action"] == "secret.create" and x["outcome"] != "success"]
    assert len(creates_ok) == CREATES + 1
    assert len(creates_failed) == DUPLICATES


def test_acknowledged_writes_survive_a_restart(fresh_server):
    s = fresh_server
    names = [uniq("keep") for _ in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: _create(s, "default", n, secret_value()), names))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    s.restart()
    assert set(names) <= set(names_of(list_all(s, "default")))


def test_answered_resolves_keep_their_records_through_sigkill(fresh_server):
    s = fresh_server
    ws = s.create_workspace()
    svc = s.create_principal(kind="service")
    s.set_member(ws, svc, "service")
    svc_token = s.mint(svc)
    name = uniq("kept")
    assert _create(s, ws, name, secret_value()).status_code == 201

    def resolve(_):
        return s.post(f"/v2/workspaces/{ws}/resolve", token=svc_token,
                      json={"env": [{"envvar_name": "V", "secret_name": name}]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(resolve, range(RESOLVES)))
    assert [r.status_code for r in answers] == [200] * RESOLVES, [r.text for r in answers]
    s.kill()
    s.start()
    records = audit_records(s, workspace=ws, action="secret.resolve")
    assert len([x for x in records if x["outcome"] == "success"]) == RESOLVES, records
    r = s.get("/v2/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text


def _post_then_reset(server, path, body, wait):
    """Sends a POST on a socket of its own, waits, and resets the connection
    (SO_LINGER 0) before any answer is read."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    with connect_raw(server.port) as c:
        c.sendall(head + data)
        time.sleep(wait)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_gone_during_its_create_does_not_hold_the_stop(server_factory, tresor_bin, tmp_path):
    """The create's value is sealed on the worker through a key provider
    that answers after two seconds; the client resets meanwhile, so its
    reply cannot be written. The request is over then: SIGTERM finds
    nothing in flight to drain."""
    s = server_factory()
    key = private_file(tmp_path / "kms.key", b64key() + "\n")
    slow = {"hsm": {"command": [str(plugin_path(tresor_bin)), "--key-file", str(key), "--delay-us", "2000000"],
                    "timeout_ms": "5000"}}
    start_with(s, write_config(s, "hsm", {"exec": slow}), "--workers", "1")
    name = uniq("gone")
    _post_then_reset(s, "/v2/workspaces/default/secrets", {"name": name, "value": secret_value()}, 0.5)
    deadline = time.monotonic() + 30
    while s.get(f"/v2/workspaces/default/secrets/{name}").status_code != 200:
        assert time.monotonic() < deadline, "the create never committed"
        time.sleep(0.1)
    time.sleep(0.5)  # its reply's write, right after the commit, fails
    assert s.stop(timeout=30) == 0, s.log_tail()
    assert "in flight when the drain ended" not in s.log_text(), s.log_tail()


@pytest.mark.parametrize("how", ["default", "flag", "config"])
def test_sync_read_audit_setting(server_factory, tmp_path, how):
    s = server_factory()
    args = ()
    if how == "flag":
        args = ("--sync-read-audit",)
    elif how == "config":
        cfg = tmp_path / "tresor.yaml"
        cfg.write_text("audit:\n  sync_reads: true\n")
        args = ("--config", str(cfg))
    s.start(extra_args=args)
    log = s.log_text()
    if how == "default":
        assert "synced to disk right after" in log and "--sync-read-audit" not in log, log
    else:
        assert "on disk before its answer leaves" in log, log
    name = uniq("sync")
    assert _create(s, "default", name, secret_value()).status_code == 201
    svc = s.create_principal(kind="service")
    s.set_member("default", svc, "service")
    r = s.post("/v2/workspaces/default/resolve", token=s.mint(svc),
               json={"env": [{"envvar_name": "V", "secret_name": name}]})
    assert r.status_code == 200, r.text


def test_sync_read_audit_must_be_a_boolean(tresor_bin, tmp_path):
    cfg = tmp_path / "tresor.yaml"
    cfg.write_text("audit:\n  sync_reads: sometimes\n")
    p = subprocess.run([tresor_bin, "server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                        "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "audit.sync_reads" in p.stderr, p.stderr

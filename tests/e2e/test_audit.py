"""
The audit log end to end (docs/api.md, "Audit", "Rate limiting"): a record
for every kind of change, read, resolve, denial and failed authentication,
with the right fields and never a value or a token; X-Request-Id; the
filters of GET /v2/audit; GET /v2/audit/verify and `tresor audit verify`
against a log tampered with directly in SQLite (a changed, a removed and two
swapped records); fail closed when the record cannot be written; the rate
limiter; and the `audit` commands of the CLI.
"""
import json
import re
import sqlite3
import time
from contextlib import closing
from types import SimpleNamespace

import pytest

from conftest import (AUDIT_KEYS, audit_records, TIME_RE, TOKEN_ANYWHERE_RE, TresorServer, assert_error,
                      fresh_source, parse_time, secret_value)

HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def last_seq(srv):
    recs = audit_records(srv)
    return recs[-1]["seq"] if recs else 0


def norm(v):
    """'' and null both mean "none" in a record."""
    return v or None


def matches(rec, **want):
    return all(norm(rec.get(k)) == norm(v) for k, v in want.items())


def db_path(srv):
    return srv.data_dir / "tresor.db"


def sql(srv, *statements):
    """Runs statements on the live server's database (autocommit)."""
    with closing(sqlite3.connect(db_path(srv), timeout=10, isolation_level=None)) as db:
        for s in statements:
            db.execute(s)


# ---------------------------------------------------------------- one server for the records

@pytest.fixture(scope="module")
def aud(tresor_bin, tmp_path_factory):
    srv = TresorServer(tresor_bin, tmp_path_factory.mktemp("audit"))
    try:
        srv.start()
        ws = srv.create_workspace("aud-ws")
        names = {"editor": srv.create_principal("aud-editor"),
                 "viewer": srv.create_principal("aud-viewer"),
                 "service": srv.create_principal("aud-svc", kind="service")}
        for role, name in names.items():
            srv.set_member(ws, name, role)
        tokens = {role: srv.mint(name) for role, name in names.items()}
        yield SimpleNamespace(srv=srv, ws=ws, names=names, tokens=tokens)
    finally:
        srv.kill()


def do(aud, method, path, who=None, **kw):
    """Sends one request (as `who`, default the bootstrap admin) and returns
    (response, the records it wrote)."""
    before = last_seq(aud.srv)
    if who is not None:
        kw["token"] = aud.tokens[who]
    r = aud.srv.request(method, path, **kw)
    return r, [x for x in audit_records(aud.srv) if x["seq"] > before]


def one(records, **want):
    hits = [x for x in records if matches(x, **want)]
    assert len(hits) == 1, f"want one record with {want}, got {records}"
    rec = hits[0]
    assert set(rec) == AUDIT_KEYS, rec.keys()
    assert TIME_RE.match(rec["time"]) and HASH_RE.match(rec["hash"]), rec
    assert rec["client"] == want.get("client", "127.0.0.1")
    return rec


def test_secret_operations_are_recorded(aud):
    ws, ed = aud.ws, aud.names["editor"]
    base = f"/v2/workspaces/{ws}/secrets"
    r, recs = do(aud, "POST", base, "editor", json={"name": "a1", "value": secret_value("a1"),
                                                    "visibility": "public"})
    assert r.status_code == 201
    rec = one(recs, actor=ed, action="secret.create", workspace=ws, secret="a1", outcome="success",
              status=201, scope=None)
    assert rec["request_id"] == r.headers["X-Request-Id"]

    r, recs = do(aud, "POST", base, "editor", json={"name": "a1", "value": secret_value("p"),
                                                    "project": "p1"})
    assert r.status_code == 201
    one(recs, action="secret.create", secret="a1", scope="project:p1", status=201)

    r, recs = do(aud, "PATCH", f"{base}/a1", "editor", json={"value": secret_value("a1-v2")})
    assert r.status_code == 200
    one(recs, actor=ed, action="secret.update", workspace=ws, secret="a1", outcome="success",
        status=200)

    r, recs = do(aud, "PUT", f"{base}/a1", "editor", json={"value": secret_value("a1-v3"),
                                                         "visibility": "public"})
    assert r.status_code == 200
    one(recs, actor=ed, action="secret.update", secret="a1", status=200)

    r, recs = do(aud, "GET", f"{base}/a1/access")
    assert r.status_code == 200
    one(recs, actor="admin", action="secret.access", workspace=ws, secret="a1", outcome="success",
        status=200)

    r, recs = do(aud, "POST", f"/v2/workspaces/{ws}/resolve", "service",
                 json={"env": [{"envvar_name": "A", "secret_name": "a1"}]})
    assert r.status_code == 200
    one(recs, actor=aud.names["service"], action="secret.resolve", workspace=ws, secret="a1",
        outcome="success", status=200)

    r, recs = do(aud, "DELETE", f"{base}/a1", "editor")
    assert r.status_code == 204
    one(recs, actor=ed, action="secret.delete", workspace=ws, secret="a1", outcome="success",
        status=204)


def test_reads_of_metadata_are_not_recorded(aud):
    aud.srv.create_secret(aud.ws, name="quiet", visibility="public")
    for path in (f"/v2/workspaces/{aud.ws}/secrets", f"/v2/workspaces/{aud.ws}/secrets/quiet",
                 "/v2/workspaces"):
        r, recs = do(aud, "GET", path, "viewer")
        assert r.status_code == 200 and recs == [], recs


def test_member_principal_token_and_workspace_changes_are_recorded(aud):
    r, recs = do(aud, "POST", "/v2/principals", json={"name": "aud-new", "kind": "user"})
    assert r.status_code == 201
    one(recs, actor="admin", action="principal.create", target="aud-new", outcome="success",
        status=201, workspace=None, secret=None)

    r, recs = do(aud, "PUT", f"/v2/workspaces/{aud.ws}/members/aud-new", json={"role": "viewer"})
    assert r.status_code == 200
    one(recs, actor="admin", action="member.put", workspace=aud.ws, target="aud-new", status=200)

    r, recs = do(aud, "POST", "/v2/tokens", json={"principal": "aud-new"})
    assert r.status_code == 201
    tok = r.json()
    one(recs, actor="admin", action="token.create", target="aud-new", outcome="success", status=201)

    r, recs = do(aud, "DELETE", f"/v2/tokens/{tok['id']}")
    assert r.status_code == 204
    one(recs, actor="admin", action="token.delete", target=tok["id"], status=204)

    r, recs = do(aud, "DELETE", f"/v2/workspaces/{aud.ws}/members/aud-new")
    assert r.status_code == 204
    one(recs, actor="admin", action="member.delete", workspace=aud.ws, target="aud-new", status=204)

    r, recs = do(aud, "DELETE", "/v2/principals/aud-new")
    assert r.status_code == 204
    one(recs, actor="admin", action="principal.delete", target="aud-new", status=204)

    r, recs = do(aud, "POST", "/v2/workspaces", json={"name": "aud-tmp"})
    assert r.status_code == 201
    one(recs, actor="admin", action="workspace.create", workspace="aud-tmp", status=201)
    r, recs = do(aud, "DELETE", "/v2/workspaces/aud-tmp")
    assert r.status_code == 204
    one(recs, actor="admin", action="workspace.delete", workspace="aud-tmp", status=204)


def test_a_denied_request_is_recorded_as_denied(aud):
    r, recs = do(aud, "POST", f"/v2/workspaces/{aud.ws}/secrets", "viewer",
                 json={"name": "nope", "value": secret_value("nope")})
    assert_error(r, 403, "forbidden")
    rec = one(recs, actor=aud.names["viewer"], action="secret.create", workspace=aud.ws,
              outcome="denied", status=403)
    assert rec["request_id"] == r.headers["X-Request-Id"]
    r, recs = do(aud, "GET", f"/v2/workspaces/{aud.ws}/secrets/quiet/access", "editor")
    assert_error(r, 403, "forbidden")
    one(recs, actor=aud.names["editor"], action="secret.access", outcome="denied", status=403)


def test_a_denied_read_is_recorded_and_a_plain_read_is_not(aud):
    """SPEC 9: every permission denial, reads included. A read's other
    failures (a bad query, a miss) and its successes write nothing."""
    r, recs = do(aud, "GET", "/v2/audit/verify", "viewer")
    assert_error(r, 403, "forbidden")
    rec = one(recs, actor=aud.names["viewer"], action="audit.verify", outcome="denied", status=403)
    assert rec["request_id"] == r.headers["X-Request-Id"]

    r, recs = do(aud, "GET", f"/v2/workspaces/{aud.ws}/secrets", "viewer", params={"page_size": 0})
    assert r.status_code == 400
    assert recs == []
    r, recs = do(aud, "GET", f"/v2/workspaces/{aud.ws}/secrets/no-such-secret", "viewer")
    assert r.status_code == 404
    assert recs == []
    r, recs = do(aud, "GET", f"/v2/workspaces/{aud.ws}/secrets", "viewer")
    assert r.status_code == 200
    assert recs == []


@pytest.mark.parametrize("header", ["Bearer garbage-token", "Bearer trs_" + "A" * 43])
def test_a_failed_authentication_is_recorded(aud, header):
    source = fresh_source()
    before = last_seq(aud.srv)
    r = aud.srv.get(f"/v2/workspaces/{aud.ws}/secrets", token=None,
                    headers={"Authorization": header}, source=source)
    assert_error(r, 401, "unauthorized")
    recs = [x for x in audit_records(aud.srv) if x["seq"] > before]
    rec = one(recs, action="auth", outcome="failure", status=401, client=source)
    assert norm(rec["actor"]) is None
    assert rec["request_id"] == r.headers["X-Request-Id"]
    assert header[7:] not in json.dumps(recs)


def test_a_request_without_credentials_is_not_an_authentication_attempt(aud):
    """No Authorization header: 401, but no token was presented, so there is
    no failed authentication to record (or to count against the address)."""
    source = fresh_source()
    before = last_seq(aud.srv)
    for _ in range(11):
        r = aud.srv.get("/v2/workspaces", token=None, source=source)
        assert_error(r, 401, "unauthorized")
    assert [x for x in audit_records(aud.srv) if x["seq"] > before] == []


def test_every_response_has_a_request_id_and_they_differ(aud):
    ids = set()
    for r in (aud.srv.get("/v2/workspaces"), aud.srv.get("/v2/nope"),
              aud.srv.get("/v2/workspaces", token=None, source=fresh_source()),
              aud.srv.post("/v2/workspaces", json={"name": "BAD NAME"})):
        rid = r.headers.get("X-Request-Id")
        assert rid and re.match(r"^[A-Za-z0-9._-]{8,64}$", rid), r.headers
        ids.add(rid)
    assert len(ids) == 4


def test_no_record_holds_a_value_or_a_token(aud):
    r = aud.srv.get("/v2/audit", params={"page_size": 1000})
    assert r.status_code == 200
    assert r.json()["data"], "no records"
    # every tracked value and token of this server, in raw and JSON forms
    aud.srv.assert_no_leak(r.content, "GET /v2/audit")
    assert not TOKEN_ANYWHERE_RE.search(r.text)
    for rec in r.json()["data"]:
        assert set(rec) == AUDIT_KEYS


def test_chain_of_a_healthy_log_verifies(aud):
    count = len(audit_records(aud.srv))
    r = aud.srv.get("/v2/audit/verify")
    assert r.status_code == 200
    body = r.json()
    assert body == {"ok": True, "records": body["records"], "first_bad_seq": None, "problem": None}
    assert body["records"] >= count


def test_records_are_a_gapless_sequence(aud):
    recs = audit_records(aud.srv)
    assert [x["seq"] for x in recs] == list(range(1, len(recs) + 1))
    assert len({x["hash"] for x in recs}) == len(recs)


# ---------------------------------------------------------------- filters

def test_filters_select_exactly(aud):
    recs = audit_records(aud.srv)
    assert recs, "no records"
    for key in ("workspace", "secret", "actor", "action", "outcome"):
        value = next(x[key] for x in recs if x[key])
        got = audit_records(aud.srv, **{key: value})
        assert got and all(x[key] == value for x in got), (key, value)
        assert [x["seq"] for x in got] == [x["seq"] for x in recs if x[key] == value]


def test_paging_with_after_and_page_size(aud):
    recs = audit_records(aud.srv)
    assert len(recs) >= 5
    r = aud.srv.get("/v2/audit", params={"page_size": 2, "after": recs[1]["seq"]})
    body = r.json()
    assert [x["seq"] for x in body["data"]] == [recs[2]["seq"], recs[3]["seq"]]
    assert body["next_after"] == recs[3]["seq"]
    last = aud.srv.get("/v2/audit", params={"after": recs[-1]["seq"]}).json()
    assert last == {"data": [], "next_after": None}


def test_since_and_until(aud):
    recs = audit_records(aud.srv)
    first = parse_time(recs[0]["time"])
    future = int(time.time()) + 3600
    assert audit_records(aud.srv, since=future) == []
    assert len(audit_records(aud.srv, until=future)) >= len(recs)
    stamp = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert audit_records(aud.srv, since=stamp)[0]["seq"] == recs[0]["seq"]
    assert audit_records(aud.srv, until=int(first.timestamp()) - 1) == []


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 1001}, {"since": "yesterday"},
                                    {"after": "x"}, {"until": "2026-13-45T99:00:00Z"}])
def test_bad_filters_are_400(aud, params):
    assert_error(aud.srv.get("/v2/audit", params=params), 400, "invalid_request")


def test_workspace_admin_reads_only_their_workspace(aud):
    adm = aud.srv.create_principal("aud-wsadmin")
    aud.srv.set_member(aud.ws, adm, "admin")
    token = aud.srv.mint(adm)
    got = audit_records(aud.srv, token=token, workspace=aud.ws)
    assert got and {x["workspace"] for x in got} == {aud.ws}
    assert_error(aud.srv.get("/v2/audit", token=token), 403, "forbidden")
    assert_error(aud.srv.get("/v2/audit", token=token, params={"workspace": "default"}),
                 404, "not_found")
    assert_error(aud.srv.get("/v2/audit/verify", token=token), 403, "forbidden")


# ---------------------------------------------------------------- the CLI

def test_cli_audit_list_table_json_and_filters(aud):
    srv = aud.srv
    res = srv.cli("audit", "list", "--action", "secret.create", "--workspace", aud.ws)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "ACTOR", "ACTION", "WORKSPACE", "SECRET", "TARGET",
                                "SCOPE", "OUTCOME", "STATUS", "CLIENT"]
    rows = [line.split() for line in lines[1:]]
    assert rows and all(row[3] == "secret.create" and row[4] == aud.ws for row in rows)
    want = audit_records(srv, action="secret.create", workspace=aud.ws)
    assert [int(row[0]) for row in rows] == [x["seq"] for x in want]

    res = srv.cli("audit", "list", "-o", "json", "--actor", aud.names["editor"], "--limit", "1000")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == srv.get("/v2/audit", params={"actor": aud.names["editor"],
                                                                  "page_size": 1000}).json()

    res = srv.cli("audit", "list", "--limit", "2", "--after", "1")
    assert res.returncode == 0, res.stderr
    assert [line.split()[0] for line in res.stdout.splitlines()[1:3]] == ["2", "3"]
    assert res.stdout.splitlines()[-1] == "more records follow; see --after 3"

    assert srv.cli("audit", "list", "--since", "yesterday").returncode == 5
    assert srv.cli("audit", "list", "--limit", "0").returncode == 1
    assert srv.cli("audit", "list", env={"TRESOR_TOKEN": aud.tokens["editor"]}).returncode == 4
    assert srv.cli("audit", "list", "--workspace", "no-such-ws",
                   env={"TRESOR_TOKEN": aud.tokens["editor"]}).returncode == 2


def test_cli_audit_verify_intact(aud):
    res = aud.srv.cli("audit", "verify")
    assert res.returncode == 0, res.stderr
    m = re.fullmatch(r"audit log intact: (\d+) records\n", res.stdout)
    assert m and int(m.group(1)) >= len(audit_records(aud.srv)) - 1
    body = json.loads(aud.srv.cli("audit", "verify", "-o", "json").stdout)
    assert body["ok"] is True and body["first_bad_seq"] is None
    res = aud.srv.cli("audit", "verify", env={"TRESOR_TOKEN": aud.tokens["editor"]})
    assert res.returncode == 4 and res.stderr.startswith("tresor: ")


# ---------------------------------------------------------------- tampering

def busy_server(server_factory, n=6):
    """A fresh server whose log holds at least n records."""
    srv = server_factory().start()
    ws = srv.create_workspace("tamper")
    for i in range(n):
        srv.create_secret(ws, name=f"s{i}")
    assert last_seq(srv) >= n
    return srv


def verify_fails_at(srv, seqs):
    """GET /v2/audit/verify and `tresor audit verify` both name the first bad
    record, one of seqs; returns it."""
    r = srv.get("/v2/audit/verify")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is False, body
    assert body["first_bad_seq"] in seqs, body
    assert isinstance(body["problem"], str) and body["problem"], body
    res = srv.cli("audit", "verify")
    assert res.returncode == 8, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == f"audit log broken at record {body['first_bad_seq']}: {body['problem']}\n"
    res = srv.cli("audit", "verify", "-o", "json")
    assert res.returncode == 8 and json.loads(res.stdout) == body
    return body["first_bad_seq"]


def test_changed_record_is_found(server_factory):
    srv = busy_server(server_factory)
    sql(srv, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    verify_fails_at(srv, {4})


def test_removed_record_is_found(server_factory):
    srv = busy_server(server_factory)
    sql(srv, "DELETE FROM audit_log WHERE seq = 4")
    # The first bad record is the missing one (5 merely follows the gap).
    verify_fails_at(srv, {4})


def test_swapped_records_are_found(server_factory):
    srv = busy_server(server_factory)
    sql(srv, "UPDATE audit_log SET seq = 1000000 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 1000000")
    verify_fails_at(srv, {3})


def test_audit_write_failure_fails_the_operation_closed(server_factory):
    srv = server_factory().start()
    ws = srv.create_workspace("closed")
    before = last_seq(srv)
    sql(srv, "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log "
             "BEGIN SELECT RAISE(FAIL, 'disk full'); END;")
    value = secret_value("closed")
    r = srv.post(f"/v2/workspaces/{ws}/secrets", json={"name": "unaudited", "value": value})
    assert_error(r, 503, "unavailable")
    assert value not in r.text
    r = srv.post("/v2/workspaces", json={"name": "unaudited-ws"})
    assert_error(r, 503, "unavailable")
    sql(srv, "DROP TRIGGER audit_full")
    assert srv.get(f"/v2/workspaces/{ws}/secrets").json()["data"] == []
    assert srv.get(f"/v2/workspaces/{ws}/secrets/unaudited").status_code == 404
    assert srv.get("/v2/workspaces/unaudited-ws").status_code == 404
    assert last_seq(srv) == before
    assert srv.get("/v2/audit/verify").json()["ok"] is True


def test_writes_work_again_once_the_audit_log_can_be_written(server_factory):
    srv = server_factory().start()
    ws = srv.create_workspace("reopened")
    sql(srv, "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log "
             "BEGIN SELECT RAISE(FAIL, 'disk full'); END;")
    for i in range(4):
        r = srv.post(f"/v2/workspaces/{ws}/secrets", json={"name": f"no{i}", "value": secret_value()})
        assert_error(r, 503, "unavailable")
    sql(srv, "DROP TRIGGER audit_full")
    for i in range(4):
        r = srv.post(f"/v2/workspaces/{ws}/secrets", json={"name": f"yes{i}", "value": secret_value()})
        assert r.status_code == 201, f"write {i} after the cause was removed: {r.text}"
    assert [x["secret"] for x in audit_records(srv)[-4:]] == [f"yes{i}" for i in range(4)]
    assert srv.get("/v2/audit/verify").json()["ok"] is True


# ---------------------------------------------------------------- rate limiting

def test_ten_failed_authentications_block_the_address(server_factory):
    srv = server_factory().start()
    for i in range(10):
        r = srv.get("/v2/workspaces", token=f"trs_{'B' * 42}{i}")
        assert_error(r, 401, "unauthorized")
    r = srv.get("/v2/workspaces")                      # the good token, same address
    assert r.status_code == 429, r.text
    retry = r.headers.get("Retry-After")
    assert retry and retry.isdigit() and 1 <= int(retry) <= 60, r.headers
    if r.content:
        assert set(r.json()) == {"error"}
    assert srv.cli("workspaces", "list").returncode == 7
    # another address is not blocked
    assert srv.get("/v2/workspaces", source=fresh_source()).status_code == 200


def test_nine_failures_do_not_block(server_factory):
    srv = server_factory().start()
    for _ in range(9):
        assert srv.get("/v2/workspaces", token="garbage").status_code == 401
    assert srv.get("/v2/workspaces").status_code == 200

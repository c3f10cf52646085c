"""
The audit journal end to end (src/server/read-journal.h, src/storage/journal.h):
a POST /v2/workspaces/{ws}/resolve appends its audit records to its worker's
journal file `audit-journal.<16 hex>` in the data directory and answers at
once; the writer moves them into the hash-chained log shortly after. Checked
here, each on a server of its own:

- one journal file per worker while the server runs, mode 0600, in the
  documented entry format (read back with a parser written from journal.c's
  comment), holding each answered resolve's records and never a value or a
  token;
- GET /v2/audit right after a resolve's answer (from any worker) shows its
  record, and GET /v2/audit/verify is ok;
- SIGTERM removes the journal files; SIGKILL leaves them, and the next start
  moves what the log lacks (each record exactly once) and removes them;
- a journal file written by hand (the "crash left it" case): its whole
  entries go into the log in order, entries the log already holds (per the
  store's note) are skipped; a torn last entry or a damaged entry ends it,
  and such a file is kept as audit-journal.<id>.damaged with a warning;
- --sync-read-audit uses no journal;
- a revoked token resolves nothing once the revoke has answered, and the log
  shows no successful resolve by it after the revocation record.
"""
import hashlib
import json
import os
import re
import signal
import stat
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from conftest import audit_records, connect_raw, fresh_source, parse_time, secret_value, uniq

JOURNAL_RE = re.compile(r"^audit-journal\.[0-9a-f]{16}$")
TEXT_FIELDS = ("actor", "action", "workspace", "secret", "target", "scope", "outcome", "client",
               "request_id")
MOVED_RE = re.compile(r"moved (\d+) records left in the audit journal")


# ---------------------------------------------------------------- the journal format

def encode_entry(number, records):
    """One journal entry (journal.c): u32 payload length, u64 number, u32
    record count, the payload, BLAKE2b-128 of all that."""
    payload = b""
    for rec in records:
        payload += struct.pack("<qi", rec["time"], rec["status"])
        for f in TEXT_FIELDS:
            b = rec.get(f, "").encode()
            payload += struct.pack("<H", len(b)) + b
    head = struct.pack("<IQI", len(payload), number, len(records)) + payload
    return head + hashlib.blake2b(head, digest_size=16).digest()


def decode_journal(data):
    """(entries, rest): the whole entries of a journal file as (number,
    [record dict]) and the bytes after the last whole one."""
    entries, off = [], 0
    while len(data) - off >= 16:
        length, number, count = struct.unpack_from("<IQI", data, off)
        end = off + 16 + length
        if len(data) < end + 16:
            break
        if hashlib.blake2b(data[off:end], digest_size=16).digest() != data[end:end + 16]:
            break
        p, recs = off + 16, []
        for _ in range(count):
            t, status = struct.unpack_from("<qi", data, p)
            p += 12
            rec = {"time": t, "status": status}
            for f in TEXT_FIELDS:
                (n,) = struct.unpack_from("<H", data, p)
                rec[f] = data[p + 2:p + 2 + n].decode()
                p += 2 + n
            recs.append(rec)
        assert p == end, f"entry {number}: records do not fill the payload exactly"
        entries.append((number, recs))
        off = end + 16
    return entries, data[off:]


def journal_files(srv):
    if not srv.data_dir.exists():
        return []
    return sorted(p for p in srv.data_dir.iterdir() if p.name.startswith("audit-journal"))


def new_journal_name():
    return "audit-journal." + uuid.uuid4().hex[:16]


def record(secret, request_id, *, actor="admin", action="secret.resolve", t=None, **kw):
    """A record as the server would journal it for a resolve."""
    return {"time": int(time.time()) - 5 if t is None else t, "status": 200, "actor": actor,
            "action": action, "workspace": "default", "secret": secret, "target": "", "scope": "",
            "outcome": "success", "client": "127.0.0.1", "request_id": request_id, **kw}


# ---------------------------------------------------------------- helpers

def assert_verifies(srv):
    r = srv.get("/v2/audit/verify")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["first_bad_seq"] is None, body
    return body


def setup_resolver(srv, secrets=1):
    """Public secrets in `default`, a service principal bound there and its
    token."""
    names = [uniq("jrn") for _ in range(secrets)]
    for n in names:
        srv.create_secret("default", name=n, value=secret_value(n), visibility="public")
    svc = srv.create_principal(uniq("jsvc"), kind="service")
    srv.set_member("default", svc, "service")
    r = srv.post("/v2/tokens", json={"principal": svc})
    assert r.status_code == 201, r.text
    return SimpleNamespace(names=names, svc=svc, token=r.json()["token"], token_id=r.json()["id"])


def resolve(srv, token, name, source=None):
    return srv.post("/v2/workspaces/default/resolve", token=token, source=source,
                    json={"env": [{"envvar_name": "V", "secret_name": name}]})


def resolve_ok(srv, rv, name):
    r = resolve(srv, rv.token, name)
    assert r.status_code == 200, r.text
    return r.headers["X-Request-Id"]


def resolve_many(srv, rv, name, n, threads=8):
    """n resolves of name, concurrently; their request ids."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda _: resolve_ok(srv, rv, name), range(n)))


def assert_each_once(srv, name, request_ids):
    recs = audit_records(srv, action="secret.resolve", secret=name)
    got = sorted(r["request_id"] for r in recs)
    assert got == sorted(request_ids), \
        f"want each of {len(request_ids)} resolve records once, got {len(got)} " \
        f"({len(set(got))} distinct, missing {set(request_ids) - set(got)})"
    return recs


# ---------------------------------------------------------------- while running

def test_one_private_journal_file_per_worker_in_the_documented_format(server_factory):
    s = server_factory().start(extra_args=("--workers", "2"))
    files = journal_files(s)
    assert len(files) == 2, [f.name for f in files]
    rv = setup_resolver(s)
    ids = resolve_many(s, rv, rv.names[0], 40)
    files2 = journal_files(s)
    assert files2 == files, "the journal files changed while the server ran"
    all_recs = []
    for f in files:
        assert JOURNAL_RE.match(f.name), f.name
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, oct(f.stat().st_mode)
        data = f.read_bytes()
        s.assert_no_leak(data, f"journal file {f.name}")
        entries, rest = decode_journal(data)
        assert rest == b"", f"{f.name}: {len(rest)} bytes after the last whole entry"
        assert [n for n, _ in entries] == list(range(1, len(entries) + 1)), f"{f.name}: numbers"
        assert entries, f"{f.name}: no entry after 40 resolves on 2 workers"
        for _, recs in entries:
            assert len(recs) == 1
            all_recs += recs
    assert sorted(r["request_id"] for r in all_recs) == sorted(ids)
    now = time.time()
    for rec in all_recs:
        assert rec["actor"] == rv.svc and rec["action"] == "secret.resolve"
        assert rec["workspace"] == "default" and rec["secret"] == rv.names[0]
        assert rec["outcome"] == "success" and rec["status"] == 200 and rec["target"] == ""
        assert rec["client"] == "127.0.0.1" and abs(rec["time"] - now) < 60
    # What the journal holds is what the log holds.
    logged = {r["request_id"]: r for r in assert_each_once(s, rv.names[0], ids)}
    for rec in all_recs:
        got = logged[rec["request_id"]]
        assert parse_time(got["time"]).timestamp() == rec["time"]
        assert (got["actor"], got["status"], got["client"]) == (rec["actor"], 200, rec["client"])


def test_audit_list_right_after_each_answer_shows_the_record(server_factory):
    s = server_factory().start(extra_args=("--workers", "2"))
    rv = setup_resolver(s, secrets=2)
    for i in range(50):
        name = rv.names[i % 2]
        rid = resolve_ok(s, rv, name)
        recs = audit_records(s, action="secret.resolve", secret=name, actor=rv.svc)
        assert rid in [r["request_id"] for r in recs], f"resolve {i}: its record is not listed yet"
    assert_verifies(s)


class Raw:
    """A keep-alive connection written byte by byte (TLS in TLS mode), so that
    requests on several connections can be sent back to back."""

    def __init__(self, srv):
        self.sock = connect_raw(srv.port)

    def send(self, method, path, token, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Length: {len(data)}\r\n")
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + data)

    def recv(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            rest += chunk
        assert len(rest) == n, "more than one answer"
        return int(lines[0].split()[1]), hdrs, rest

    def close(self):
        self.sock.close()


def test_audit_list_in_the_same_loop_iteration_as_another_read_sees_moved_records(server_factory):
    """One worker. A write keeps the writer busy; a resolve answered meanwhile
    (its record journaled, not yet in the log); then, sent back to back, a slow
    read (a listing of 1000 secrets) and GET /v2/audit. The listing's read
    transaction begins before the writer moves the record and lasts until
    after; the audit list, served in the same loop iteration, must not read
    in that older snapshot: the resolve has answered, so its record must be
    listed."""
    s = server_factory().start(extra_args=("--workers", "1"))
    rv = setup_resolver(s)
    name = rv.names[0]
    r = s.post("/v2/workspaces/default/secrets:batch", json={"secrets_payload": [
        {"name": f"pad-{i:04d}", "action": "create", "type": "opaque", "data": {"k": "pad-value"}}
        for i in range(1000)]})
    assert r.status_code == 200, r.text[:300]
    conns = [Raw(s) for _ in range(4)]
    w, res, slow, aud = conns
    misses, last = [], 0
    try:
        for i in range(30):
            w.send("POST", "/v2/workspaces/default/secrets:batch", s.token, {"secrets_payload": [
                {"name": f"b-{i}-{j}", "action": "create", "type": "opaque", "data": {"k": "x" * 20}}
                for j in range(100)]})
            time.sleep(0.001)
            res.send("POST", "/v2/workspaces/default/resolve", rv.token,
                     {"env": [{"envvar_name": "V", "secret_name": name}]})
            status, hdrs, _ = res.recv()
            assert status == 200
            rid = hdrs["x-request-id"]
            slow.send("GET", "/v2/workspaces/default/secrets?page_size=1000", s.token)
            aud.send("GET", f"/v2/audit?action=secret.resolve&secret={name}&after={last}", s.token)
            status, _, body = aud.recv()
            assert status == 200, body
            assert slow.recv()[0] == 200
            assert w.recv()[0] == 200
            data = json.loads(body)["data"]
            if rid not in [x["request_id"] for x in data]:
                misses.append(i)
            if data:
                last = data[-1]["seq"]
    finally:
        for c in conns:
            c.close()
    assert not misses, f"GET /v2/audit right after a resolve's answer missed its record " \
                       f"in {len(misses)} of 30 rounds (rounds {misses})"
    assert_verifies(s)


# ---------------------------------------------------------------- stop and crash

def test_sigterm_removes_the_journal_and_the_log_keeps_each_record_once(server_factory):
    s = server_factory().start(extra_args=("--workers", "2"))
    rv = setup_resolver(s)
    ids = resolve_many(s, rv, rv.names[0], 30)
    assert journal_files(s)
    assert s.stop(signal.SIGTERM) == 0, s.log_tail()
    assert journal_files(s) == [], "journal files left after a clean stop"
    s.start(extra_args=("--workers", "2"))
    assert not MOVED_RE.search(s.log_text()), "a clean stop left records to move"
    assert_each_once(s, rv.names[0], ids)
    assert_verifies(s)


def test_sigkill_then_start_moves_what_the_log_lacks_exactly_once(server_factory):
    s = server_factory().start(extra_args=("--workers", "2"))
    rv = setup_resolver(s)
    ids = resolve_many(s, rv, rv.names[0], 40)
    assert s.stop(signal.SIGKILL) == -signal.SIGKILL
    left = journal_files(s)
    assert len(left) == 2, [f.name for f in left]
    journaled = []
    for f in left:
        entries, rest = decode_journal(f.read_bytes())
        assert rest == b""
        journaled += [rec["request_id"] for _, recs in entries for rec in recs]
    assert sorted(journaled) == sorted(ids), "an answered resolve is not in the journal"
    s.start(extra_args=("--workers", "2"))
    now = journal_files(s)
    assert not set(f.name for f in left) & set(f.name for f in now), "a journal file survived the start"
    assert all(f.stat().st_size == 0 for f in now), "the new journal files are not empty"
    assert_each_once(s, rv.names[0], ids)
    assert_verifies(s)


def test_entries_appended_after_a_crash_are_moved_and_moved_ones_are_not_repeated(server_factory):
    """After SIGKILL, an entry appended by hand to a worker's journal (the
    next number) is moved at start; the entries the log already held (the
    store's note of the file) are not moved again."""
    s = server_factory().start(extra_args=("--workers", "1"))
    rv = setup_resolver(s)
    ids = [resolve_ok(s, rv, rv.names[0]) for _ in range(5)]
    # The records are in the log (listing waits for them), so the store notes
    # all 5 entries as moved.
    assert_each_once(s, rv.names[0], ids)
    s.stop(signal.SIGKILL)
    (f,) = journal_files(s)
    entries, rest = decode_journal(f.read_bytes())
    assert [n for n, _ in entries] == [1, 2, 3, 4, 5] and rest == b""
    extra = uniq("jrn-late")
    rid = uuid.uuid4().hex[:16]
    with open(f, "ab") as out:
        out.write(encode_entry(6, [record(extra, rid, actor=rv.svc)]))
    s.start(extra_args=("--workers", "1"))
    assert not f.exists()
    m = MOVED_RE.findall(s.log_text())
    assert m == ["1"], f"log says moved {m}"
    assert_each_once(s, rv.names[0], ids)
    (got,) = audit_records(s, secret=extra)
    assert got["request_id"] == rid and got["actor"] == rv.svc
    assert_verifies(s)


# ---------------------------------------------------------------- journal files written by hand

@pytest.fixture
def stopped(server_factory):
    """A server that has started once (data dir, database, admin) and is
    stopped; the number of its last audit record."""
    s = server_factory().start()
    recs = audit_records(s)
    last = recs[-1]["seq"] if recs else 0
    assert s.stop() == 0
    return SimpleNamespace(srv=s, last=last)


def write_journal(srv, entries, name=None, cut=0):
    """A journal file in the data dir with the given (number, records)
    entries, its last `cut` bytes left out; its path."""
    path = srv.data_dir / (name or new_journal_name())
    data = b"".join(encode_entry(n, recs) for n, recs in entries)
    path.write_bytes(data[:len(data) - cut])
    os.chmod(path, 0o600)
    return path


def test_a_journal_left_behind_is_moved_into_the_log_at_start(stopped):
    s = stopped.srv
    tag = uniq("hand")
    t0 = int(time.time()) - 30
    recs = [record(f"{tag}-{i}", f"{i:016x}", t=t0 + i) for i in range(3)]
    other = record(f"{tag}-other", "ffffffffffffffff", t=t0 + 9, scope="project:p1")
    first = write_journal(s, [(1, recs[:1]), (2, recs[1:])])
    second = write_journal(s, [(1, [other])])
    s.start()
    assert not first.exists() and not second.exists(), "a recovered journal file was not removed"
    assert MOVED_RE.findall(s.log_text()) == ["4"], s.log_tail()
    log = [r for r in audit_records(s) if r["secret"] and r["secret"].startswith(tag)]
    assert sorted(r["secret"] for r in log) == sorted([f"{tag}-0", f"{tag}-1", f"{tag}-2", f"{tag}-other"])
    mine = [r for r in log if r["secret"] != f"{tag}-other"]
    assert [r["secret"] for r in mine] == [f"{tag}-0", f"{tag}-1", f"{tag}-2"], "not in entry order"
    assert all(r["seq"] > stopped.last for r in log)
    for got, want in zip(mine, recs):
        assert got["actor"] == "admin" and got["action"] == "secret.resolve"
        assert got["workspace"] == "default" and got["outcome"] == "success"
        assert got["status"] == 200 and got["request_id"] == want["request_id"]
        assert got["client"] == "127.0.0.1" and not got["target"] and not got["scope"]
        assert parse_time(got["time"]).timestamp() == want["time"]
    (o,) = [r for r in log if r["secret"] == f"{tag}-other"]
    assert o["scope"] == "project:p1"
    assert_verifies(s)
    # And once only: another restart moves nothing again.
    s.restart()
    assert len([r for r in audit_records(s) if (r["secret"] or "").startswith(tag)]) == 4
    assert len(MOVED_RE.findall(s.log_text())) == 1
    assert_verifies(s)


@pytest.mark.parametrize("damage", ["torn-header", "torn-record", "torn-checksum", "bad-checksum"])
def test_a_torn_or_damaged_entry_ends_the_journal(stopped, damage):
    """Whole entries before it are moved; it and anything after it are not,
    and the file is kept as audit-journal.<id>.damaged with a warning."""
    s = stopped.srv
    tag = uniq("torn")
    entries = [(n, [record(f"{tag}-{n}", f"{n:016x}")]) for n in (1, 2, 3)]
    if damage == "bad-checksum":
        # Entry 2 damaged in the middle of the file: 3 is whole but not moved.
        data = [bytearray(encode_entry(n, recs)) for n, recs in entries]
        data[1][-1] ^= 0xFF
        path = s.data_dir / new_journal_name()
        path.write_bytes(b"".join(data))
        want = [f"{tag}-1"]
    else:
        last = len(encode_entry(*entries[2]))
        cut = {"torn-header": last - 7, "torn-record": last - 30, "torn-checksum": 5}[damage]
        path = write_journal(s, entries, cut=cut)
    content = path.read_bytes()
    if damage != "bad-checksum":
        want = [f"{tag}-1", f"{tag}-2"]
    s.start()
    assert not path.exists()
    aside = path.with_name(path.name + ".damaged")
    assert aside.exists(), f"not kept as {aside.name}: {sorted(p.name for p in s.data_dir.iterdir())}"
    assert aside.read_bytes() == content
    assert re.search(rf"warn.*{path.name[len('audit-journal.'):]}.*torn or damaged", s.log_text()), s.log_tail()
    got = [r["secret"] for r in audit_records(s) if (r["secret"] or "").startswith(tag)]
    assert got == want
    assert MOVED_RE.findall(s.log_text()) == [str(len(want))]
    assert_verifies(s)
    # A .damaged file is not read again.
    s.restart()
    assert aside.exists()
    got = [r["secret"] for r in audit_records(s) if (r["secret"] or "").startswith(tag)]
    assert got == want
    assert len(MOVED_RE.findall(s.log_text())) == 1


# ---------------------------------------------------------------- --sync-read-audit

def test_sync_read_audit_uses_no_journal(server_factory):
    s = server_factory().start(extra_args=("--workers", "2", "--sync-read-audit"))
    assert journal_files(s) == []
    rv = setup_resolver(s)
    ids = resolve_many(s, rv, rv.names[0], 20)
    assert journal_files(s) == [], "a journal file was made with --sync-read-audit"
    assert_each_once(s, rv.names[0], ids)
    assert_verifies(s)
    # The records were on disk before the answers: SIGKILL loses none.
    s.stop(signal.SIGKILL)
    assert journal_files(s) == []
    s.start(extra_args=("--workers", "2", "--sync-read-audit"))
    assert_each_once(s, rv.names[0], ids)
    assert_verifies(s)


# ---------------------------------------------------------------- revocation

def test_revoked_token_resolves_nothing_after_the_revoke_answers(server_factory):
    s = server_factory().start(extra_args=("--workers", "2"))
    rv = setup_resolver(s)
    name = rv.names[0]
    results = []          # (sent at, answered at, status, request id)
    lock = threading.Lock()
    go = threading.Event()
    stop = threading.Event()

    def hammer():
        # An address of its own: a 401 counts against it (rate limiter).
        src = fresh_source()
        while not stop.is_set():
            sent = time.monotonic()
            r = resolve(s, rv.token, name, source=src)
            with lock:
                results.append((sent, time.monotonic(), r.status_code, r.headers.get("X-Request-Id")))
            if r.status_code != 200:
                return
            if len(results) >= 12:
                go.set()

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        assert go.wait(10), "no resolves"
        r = s.delete(f"/v2/tokens/{rv.token_id}")
        revoked = time.monotonic()
        assert r.status_code == 204, r.text
        # Right after the answer, from either worker.
        for _ in range(6):
            after = resolve(s, rv.token, name, source=fresh_source())
            assert after.status_code in (401, 403), after.text
            assert "env" not in after.json(), after.text
        time.sleep(0.05)
        stop.set()
        for f in futures:
            f.result()
    late = [x for x in results if x[0] > revoked and x[2] == 200]
    assert not late, f"{len(late)} resolves sent after the revoke answered succeeded"
    assert all(x[2] in (200, 401, 403) for x in results), {x[2] for x in results}
    ok_ids = {x[3] for x in results if x[2] == 200}
    log = audit_records(s)
    (rev,) = [x for x in log if x["action"] == "token.delete" and x["target"] == rv.token_id]
    by_svc = [x for x in log if x["action"] == "secret.resolve" and x["actor"] == rv.svc]
    assert {x["request_id"] for x in by_svc if x["outcome"] == "success"} == ok_ids
    after_rev = [x for x in by_svc if x["outcome"] == "success" and x["seq"] > rev["seq"]]
    assert not after_rev, f"successful resolves recorded after the revocation: {after_rev}"
    assert_verifies(s)

"""
Encryption key providers and key rotation (SPEC §7, docs/keys.md), end to end:
the real server with YAML configs of each provider family (secret_key,
passphrase, exec with the reference plugin tools/kms-plugin), restarts between
configs, the start-up check that refuses to run without a needed provider, and
POST/GET /v2/secrets/rotate-encryption-keys.

The crash test creates 20,000 secrets (atomic batches of 1000: about 10 s) and
rotates them to a plugin that answers after 150 us, so the rotation takes a few
seconds and the kill -9 lands in the middle: GET shows part done before the
kill, and both providers hold versions after the restart.
"""
import base64
import json
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import assert_error, run_cli, secret_value, uniq

ROTATE = "/v2/secrets/rotate-encryption-keys"
ROTATE_ALIAS = "/v2/rotate-encryption-keys"
ROTATE_TIMEOUT = 120.0
PROGRESS_KEYS = {"running", "current_provider", "total", "done", "remaining", "providers"}
DONE_LINE = "Completed rotation of encryption keys for all secrets: {n} re-wrapped, 0 failed, provider={p}"


# ---------------------------------------------------------------- helpers

def b64key(nbytes=32):
    return base64.b64encode(os.urandom(nbytes)).decode()


def private_file(path, text):
    path = Path(path)
    path.write_text(text)
    path.chmod(0o600)
    return path


def plugin_path(tresor_bin):
    p = Path(tresor_bin).parent / "tools" / "kms-plugin" / "tresor-kms-plugin"
    assert p.is_file() and os.access(p, os.X_OK), f"reference KMS plugin not built: {p}"
    return p


def config_text(current, providers):
    """YAML for secrets.encryption; providers: {family: {id: {setting: value}}}.
    Values are written as JSON, which YAML reads as flow scalars/sequences."""
    lines = ["secrets:", "  encryption:", f"    current_provider: {current}", "    providers:"]
    for family, items in providers.items():
        lines.append(f"      {family}:")
        for pid, settings in items.items():
            lines.append(f"        {pid}:")
            for key, value in settings.items():
                lines.append(f"          {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write_config(server, current, providers, name="tresor.yaml"):
    path = server.base_dir / name
    path.write_text(config_text(current, providers))
    return path


def start_with(server, config, *more):
    args = ("--config", str(config), *more) if config else tuple(more)
    return server.start(extra_args=args)


def run_server_once(server, config, env=None):
    """Runs `tresor server` on the data dir expecting it to refuse to start;
    returns the CompletedProcess (exit status and stderr)."""
    args = ["server", "--listen", "127.0.0.1:0", "--data-dir", server.data_dir, "--config", config]
    return run_cli(server.binary, args, env=env, timeout=30)


def progress(server, path=ROTATE, token=None, timeout=10.0):
    kw = {"token": token} if token is not None else {}
    r = server.get(path, timeout=timeout, **kw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == PROGRESS_KEYS, body
    assert body["done"] + body["remaining"] == body["total"]
    assert sum(body["providers"].values()) == body["total"]
    return body


def rotate(server, body=None, path=ROTATE):
    kw = {"json": body} if body is not None else {}
    r = server.post(path, timeout=ROTATE_TIMEOUT, **kw)
    assert r.status_code == 200, r.text
    res = r.json()
    assert set(res) == {"rotated_secrets", "failed", "success"}, res
    return res


def create_many(server, values, ws="default", **extra):
    """Creates one secret per name in values (name -> value)."""
    for name, value in values.items():
        server.create_secret(ws, name=name, value=value, **extra)


def create_batch(server, prefix, n):
    """Creates PREFIX-0000 ... with values PREFIX-value-0000 ... in one atomic
    batch (n at most 1000)."""
    items = [{"name": f"{prefix}-{i:04d}", "action": "create", "type": "opaque",
              "data": {"value": f"{prefix}-value-{i:04d}"}} for i in range(n)]
    r = server.post("/v2/workspaces/default/secrets:batch", json={"secrets_payload": items, "atomic": True},
                    timeout=60)
    assert r.status_code == 200, r.text[:500]


def assert_values(server, values, ws="default", **params):
    for name, value in values.items():
        assert server.access(ws, name, **params)["value"] == value, name


def stored_versions(server):
    """(secret_id, version) -> (provider, wrapped_key, ciphertext), read from
    the database file (the server is stopped or between transactions)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'tresor.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT secret_id, version, provider, wrapped_key, ciphertext FROM secret_versions")
        return {(r[0], r[1]): (r[2], bytes(r[3]), bytes(r[4])) for r in rows}
    finally:
        db.close()


def last_providers_line(server):
    """The last "key providers: ..." log line (one per start)."""
    lines = [ln for ln in server.log_text().splitlines() if "key providers: " in ln]
    assert lines, "no key providers line in the log"
    return lines[-1].split("key providers: ", 1)[1]


def plugin_processes(marker):
    """PIDs of processes whose command line mentions marker (a unique path)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append(int(d.name))
    return found


# ---------------------------------------------------------------- secret_key: the NeMo flow

def test_rotate_secret_key_v1_to_v2_then_drop_v1(server_factory, tmp_path, monkeypatch):
    s = server_factory()
    key1 = private_file(tmp_path / "key-v1", b64key() + "\n")
    key2 = b64key(48)
    monkeypatch.setenv("E2E_ROTATION_KEY_V2", key2)
    v1 = {"local_v1": {"from_file": str(key1)}}
    v2 = {"local_v2": {"from_env": "E2E_ROTATION_KEY_V2"}}

    # 1. Secrets written under local_v1, some with several versions, one scoped.
    start_with(s, write_config(s, "local_v1", {"secret_key": v1}))
    values = {uniq("rot"): secret_value("v1") for _ in range(12)}
    create_many(s, values)
    updated = list(values)[:3]
    for name in updated:
        for _ in range(2):
            values[name] = secret_value("v1-next")
            r = s.patch(f"/v2/workspaces/default/secrets/{name}", json={"value": values[name]})
            assert r.status_code == 200, r.text
    ws = s.create_workspace()
    scoped = {uniq("scoped"): secret_value("p1")}
    create_many(s, scoped, ws=ws, project="p1")
    versions = 12 + 3 * 2 + 1
    p = progress(s)
    assert p == {"running": False, "current_provider": "local_v1", "total": versions, "done": versions,
                 "remaining": 0, "providers": {"local_v1": versions}}
    s.stop()

    # 2. Add local_v2, make it current, restart: everything is still readable,
    # new writes go to local_v2, the rest waits for the rotation.
    start_with(s, write_config(s, "local_v2", {"secret_key": {**v1, **v2}}))
    assert f"{versions} of {versions} stored versions are not under the current key provider 'local_v2'" \
        in s.log_text()
    p = progress(s)
    assert p["current_provider"] == "local_v2"
    assert p["remaining"] == versions and p["done"] == 0 and p["providers"] == {"local_v1": versions}
    assert_values(s, values)
    fresh = {uniq("fresh"): secret_value("v2")}
    create_many(s, fresh)
    assert progress(s)["providers"] == {"local_v1": versions, "local_v2": 1}

    # 3. Rotate.
    assert rotate(s) == {"rotated_secrets": versions, "failed": 0, "success": True}
    p = progress(s)
    assert p == {"running": False, "current_provider": "local_v2", "total": versions + 1,
                 "done": versions + 1, "remaining": 0, "providers": {"local_v2": versions + 1}}
    assert DONE_LINE.format(n=versions, p="local_v2") in s.log_text()
    assert_values(s, values)
    assert_values(s, scoped, ws=ws, project="p1")
    assert {prov for prov, _, _ in stored_versions(s).values()} == {"local_v2"}

    # Safe to call again, on either path: nothing left to do.
    assert rotate(s) == {"rotated_secrets": 0, "failed": 0, "success": True}
    assert rotate(s, path=ROTATE_ALIAS) == {"rotated_secrets": 0, "failed": 0, "success": True}
    assert progress(s, path=ROTATE_ALIAS)["remaining"] == 0
    s.stop()

    # 4. Drop local_v1 from the config: still starts, still readable.
    start_with(s, write_config(s, "local_v2", {"secret_key": v2}))
    assert_values(s, values)
    assert_values(s, fresh)
    assert_values(s, scoped, ws=ws, project="p1")
    assert s.stop() == 0

    # Audited; no value and no key in the log.
    log = s.log_bytes()
    s.assert_no_leak(log, "server log")
    for key in (key1.read_text().strip(), key2):
        assert key.encode() not in log


def test_rotation_is_for_platform_admins_only(server_factory):
    s = server_factory().start()
    user = s.create_principal()
    s.set_member("default", user, "admin")
    token = s.mint(user)
    for path in (ROTATE, ROTATE_ALIAS):
        assert_error(s.post(path, token=token), 403, "forbidden", names="may not rotate encryption keys")
        assert_error(s.get(path, token=token), 403, "forbidden", names="may not rotate encryption keys")
    assert_error(s.post(ROTATE, token=None), 401, "unauthorized")
    # Body checks.
    assert_error(s.post(ROTATE, json={"reencrypt": "yes"}), 422, "validation_failed", names="reencrypt")
    assert_error(s.post(ROTATE, json={"provider": "x"}), 422, "validation_failed", names="provider")
    r = s.get("/v2/audit", params={"action": "keys.rotate"})
    assert r.status_code == 200, r.text
    outcomes = [(a["actor"], a["outcome"]) for a in r.json()["data"]]
    assert (user, "denied") in outcomes


def test_reencrypt_replaces_data_keys_and_records(server_factory):
    s = server_factory().start()
    values = {uniq("re"): secret_value("re") for _ in range(5)}
    create_many(s, values)
    before = stored_versions(s)
    assert rotate(s, {"reencrypt": True}) == {"rotated_secrets": 5, "failed": 0, "success": True}
    after = stored_versions(s)
    assert set(after) == set(before)
    for k in before:
        assert after[k][0] == "local"
        assert after[k][1] != before[k][1], "data key not replaced"
        assert after[k][2] != before[k][2], "record not sealed again"
    assert_values(s, values)
    r = s.get("/v2/audit", params={"action": "keys.rotate"})
    assert [a["outcome"] for a in r.json()["data"]] == ["success"]


# ---------------------------------------------------------------- the start-up check

def test_start_refuses_without_a_needed_provider(server_factory, tmp_path):
    s = server_factory()
    key1 = b64key()
    start_with(s, write_config(s, "local_v1", {"secret_key": {"local_v1": {"value": key1}}}))
    values = {uniq("need"): secret_value("need") for _ in range(4)}
    create_many(s, values)
    assert s.stop() == 0

    only_v2 = write_config(s, "local_v2", {"secret_key": {"local_v2": {"value": b64key()}}}, "v2.yaml")
    p = run_server_once(s, only_v2)
    assert p.returncode == 1, p.stderr
    assert "stored secrets need key providers that are not configured: 'local_v1' (4 versions)" in p.stderr
    # Another key under the same id: refused, saying which provider and how many versions.
    wrong = write_config(s, "local_v1", {"secret_key": {"local_v1": {"value": b64key()}}}, "wrong.yaml")
    p2 = run_server_once(s, wrong)
    assert p2.returncode == 1, p2.stderr
    assert "key provider 'local_v1' cannot unwrap the stored data keys it wraps (4 versions)" in p2.stderr
    for out in (p.stdout + p.stderr, p2.stdout + p2.stderr):
        s.assert_no_leak(out.encode(), "refused start")
        assert key1 not in out
    # Bad configs name the setting.
    missing_env = write_config(s, "local_v1", {"secret_key": {"local_v1": {"from_env": "E2E_NOT_SET_ANYWHERE"}}},
                               "env.yaml")
    p3 = run_server_once(s, missing_env)
    assert p3.returncode == 1
    assert ("secrets.encryption.providers.secret_key.local_v1: environment variable 'E2E_NOT_SET_ANYWHERE' "
            "is not set") in p3.stderr
    short = write_config(s, "k", {"secret_key": {"k": {"value": b64key(16)}}}, "short.yaml")
    p4 = run_server_once(s, short)
    assert p4.returncode == 1 and "at least 32 bytes" in p4.stderr
    # The right config still works, and nothing was lost.
    start_with(s, write_config(s, "local_v1", {"secret_key": {"local_v1": {"value": key1}}}, "ok.yaml"))
    assert_values(s, values)


def test_default_local_key_file_then_configured_provider(server_factory, tmp_path):
    """No config: DATA_DIR/master.key ("local"). With a config, "local" stays
    readable until its data is rotated away; then master.key can go."""
    s = server_factory().start()
    values = {uniq("loc"): secret_value("loc") for _ in range(3)}
    create_many(s, values)
    assert progress(s)["providers"] == {"local": 3}
    s.stop()
    cfg = write_config(s, "v2", {"secret_key": {"v2": {"value": b64key()}}})
    start_with(s, cfg)
    assert progress(s)["providers"] == {"local": 3}
    assert rotate(s) == {"rotated_secrets": 3, "failed": 0, "success": True}
    s.stop()
    (s.data_dir / "master.key").rename(s.base_dir / "master.key.retired")
    start_with(s, cfg)
    assert last_providers_line(s) == "v2 (secret_key, current)"
    assert_values(s, values)


def test_one_damaged_key_is_logged_and_skipped(server_factory):
    """A single altered wrapped key neither stops the server from starting
    nor the rotation of the others; it is counted, logged by name, and left
    as it was."""
    s = server_factory()
    v1 = {"local_v1": {"value": b64key()}}
    start_with(s, write_config(s, "local_v1", {"secret_key": v1}))
    names = [f"dmg-{i}" for i in range(5)]
    create_many(s, {n: secret_value("dmg") for n in names})
    s.stop()
    db = sqlite3.connect(str(s.data_dir / "tresor.db"))
    sid, ver, wk = db.execute("SELECT secret_id, version, wrapped_key FROM secret_versions "
                              "ORDER BY secret_id, version LIMIT 1").fetchone()
    wk = bytearray(wk)
    wk[-1] ^= 0x01
    db.execute("UPDATE secret_versions SET wrapped_key = ? WHERE secret_id = ? AND version = ?", (bytes(wk), sid, ver))
    db.commit()
    db.close()
    start_with(s, write_config(s, "local_v2", {"secret_key": {**v1, "local_v2": {"value": b64key()}}}))
    assert_error(s.get(f"/v2/workspaces/default/secrets/{names[0]}/access"), 500, "decryption_failed")
    assert rotate(s) == {"rotated_secrets": 4, "failed": 1, "success": False}
    log = s.log_text()
    assert f"key rotation: secret 'default/{names[0]}' version 1 (provider 'local_v1') failed: " \
           f"data key unwrap failed for provider 'local_v1'" in log
    assert "Rotation of encryption keys finished with failures: 4 re-wrapped, 1 failed, provider=local_v2" in log
    assert "Completed rotation" not in log
    assert progress(s)["providers"] == {"local_v1": 1, "local_v2": 4}
    assert rotate(s) == {"rotated_secrets": 0, "failed": 1, "success": False}
    for n in names[1:]:
        assert s.access("default", n)["value"]


# ---------------------------------------------------------------- exec and passphrase

def test_exec_plugin_provider(server_factory, tresor_bin, tmp_path):
    s = server_factory().start()
    values = {uniq("ex"): secret_value("ex") for _ in range(6)}
    create_many(s, values)
    s.stop()
    kms_key = private_file(tmp_path / "kms-e2e.key", b64key() + "\n")
    hsm = {"hsm": {"command": [str(plugin_path(tresor_bin)), "--key-file", str(kms_key)], "timeout_ms": "3000"}}
    cfg = write_config(s, "hsm", {"exec": hsm})
    start_with(s, cfg)
    assert last_providers_line(s) == "hsm (exec, current), local (secret_key)"
    assert len(plugin_processes(str(kms_key))) == 1
    assert rotate(s) == {"rotated_secrets": 6, "failed": 0, "success": True}
    assert progress(s)["providers"] == {"hsm": 6}
    more = {uniq("ex2"): secret_value("ex2")}
    create_many(s, more)
    assert_values(s, values)
    assert_values(s, more)
    assert s.stop() == 0
    # The plugin ends with the server.
    deadline = time.monotonic() + 5
    while plugin_processes(str(kms_key)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert plugin_processes(str(kms_key)) == []
    # Without master.key: only the plugin holds the keys now.
    (s.data_dir / "master.key").unlink()
    start_with(s, cfg)
    assert_values(s, values)
    s.stop()
    # A plugin that crashes at the greeting: the server refuses to start and says so.
    broken = {"hsm": {**hsm["hsm"], "command": hsm["hsm"]["command"] + ["--crash", "hello"]}}
    p = run_server_once(s, write_config(s, "hsm", {"exec": broken}, "broken.yaml"))
    assert p.returncode == 1
    assert "key provider 'hsm': plugin stopped during the hello request" in p.stderr


def test_passphrase_provider(server_factory, tmp_path, monkeypatch):
    s = server_factory()
    monkeypatch.setenv("E2E_PASSPHRASE", "a long and winding passphrase")
    pw = {"team_pw": {"from_env": "E2E_PASSPHRASE", "ops_limit": "1", "mem_limit_mib": "8"}}
    start_with(s, write_config(s, "team_pw", {"passphrase": pw}))
    values = {uniq("pw"): secret_value("pw") for _ in range(4)}
    create_many(s, values)
    s.stop()
    kdf = s.data_dir / "passphrase-team_pw.kdf"
    assert kdf.is_file() and (kdf.stat().st_mode & 0o777) == 0o600
    text = kdf.read_text()
    assert text.startswith("tresor-kdf-v1 argon2id13 ops=1 mem_kib=8192 salt=")
    assert "winding" not in text
    assert not (s.data_dir / "master.key").exists()

    # Restart: the key is derived again from the passphrase and the stored salt.
    start_with(s, write_config(s, "team_pw", {"passphrase": pw}))
    assert_values(s, values)
    s.stop()
    # A wrong passphrase is refused at start, by name.
    monkeypatch.setenv("E2E_PASSPHRASE", "not the passphrase at all")
    p = run_server_once(s, s.base_dir / "tresor.yaml")
    assert p.returncode == 1
    assert "wrong passphrase for key provider 'team_pw'" in p.stderr
    assert "passphrase at all" not in p.stderr
    monkeypatch.setenv("E2E_PASSPHRASE", "a long and winding passphrase")
    # Rotate away from it, to a secret_key provider.
    cfg = write_config(s, "v2", {"passphrase": pw, "secret_key": {"v2": {"value": b64key()}}})
    start_with(s, cfg)
    assert rotate(s) == {"rotated_secrets": 4, "failed": 0, "success": True}
    assert progress(s)["providers"] == {"v2": 4}
    assert_values(s, values)


# ---------------------------------------------------------------- failures in the middle

def test_provider_down_in_the_middle_then_resumed(server_factory, tresor_bin, tmp_path):
    """The target plugin crashes after 300 wraps and cannot restart (its key
    file is gone): the run stops with every secret readable (under one
    provider or the other); once the plugin can start again, the next call
    finishes the job."""
    s = server_factory().start()
    create_batch(s, "mid", 1000)
    s.stop()
    kms_key = private_file(tmp_path / "kms-mid.key", b64key() + "\n")
    hsm = {"hsm": {"command": [str(plugin_path(tresor_bin)), "--key-file", str(kms_key), "--crash", "wrap",
                               "--after", "301"], "timeout_ms": "3000"}}
    start_with(s, write_config(s, "hsm", {"exec": hsm}))
    saved = kms_key.read_text()
    kms_key.unlink()  # the running plugin holds the key; a restarted one cannot
    res = rotate(s)
    assert res == {"rotated_secrets": 300, "failed": 1, "success": False}, res
    log = s.log_text()
    assert "key rotation: secret 'default/mid-0300' version 1 (provider 'local') failed" in log
    assert "the current key provider 'hsm' cannot wrap data keys" in log
    assert "Rotation of encryption keys finished with failures: 300 re-wrapped, 1 failed, provider=hsm" in log
    assert progress(s)["providers"] == {"hsm": 300, "local": 700}
    # The ones still under "local" stay readable meanwhile.
    assert s.access("default", "mid-0999")["value"] == "mid-value-0999"
    # The plugin can start again (and crashes every 300 wraps: each crash is
    # one failure, the run goes on with a fresh plugin).
    private_file(kms_key, saved)
    res = rotate(s)
    assert res["success"] is False and res["failed"] == 2 and res["rotated_secrets"] == 698, res
    res = rotate(s)
    assert res == {"rotated_secrets": 2, "failed": 0, "success": True}, res
    assert progress(s)["providers"] == {"hsm": 1000}
    for i in (0, 299, 300, 301, 600, 999):
        assert s.access("default", f"mid-{i:04d}")["value"] == f"mid-value-{i:04d}"


def _create_20k(s):
    session = requests.Session()
    headers = {"Authorization": f"Bearer {s.token}"}
    for b in range(20):
        items = [{"name": f"bulk-{b:02d}-{i:03d}", "action": "create", "type": "opaque",
                  "data": {"value": f"bulk-value-{b:02d}-{i:03d}"}} for i in range(1000)]
        r = session.post(f"{s.url}/v2/workspaces/default/secrets:batch", headers=headers, timeout=120,
                         json={"secrets_payload": items, "atomic": True})
        assert r.status_code == 200, r.text[:300]
    session.close()


def _get_retrying(s, path, deadline, **kw):
    """A GET with short timeouts and new connections, until deadline: a
    server under a rotation and four workers' loads may answer late."""
    while time.monotonic() < deadline:
        try:
            return s.get(path, timeout=0.5, **kw)
        except requests.RequestException:
            continue
    raise AssertionError(f"GET {path}: no answer from any worker")


def test_kill_9_in_the_middle_of_rotating_20000(server_factory, tresor_bin, tmp_path):
    s = server_factory()
    key1 = {"local_v1": {"value": b64key()}}
    start_with(s, write_config(s, "local_v1", {"secret_key": key1}))
    _create_20k(s)
    s.stop()

    kms_key = private_file(tmp_path / "kms-bulk.key", b64key() + "\n")
    cmd = [str(plugin_path(tresor_bin)), "--key-file", str(kms_key)]
    slow = {"hsm": {"command": cmd + ["--delay-us", "150"], "timeout_ms": "5000"}}
    start_with(s, write_config(s, "hsm", {"secret_key": key1, "exec": slow}), "--workers", "4")
    assert progress(s)["remaining"] == 20000

    outcome = {}

    def post():
        try:
            outcome["response"] = s.post(ROTATE, timeout=ROTATE_TIMEOUT)
        except requests.RequestException as e:  # the kill
            outcome["error"] = e

    t = threading.Thread(target=post, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        r = _get_retrying(s, ROTATE, deadline)
        seen = r.json()
        if seen["running"] and seen["done"] >= 2000:
            break
        time.sleep(0.02)
    assert seen and seen["running"] and 2000 <= seen["done"] < 20000, f"rotation not caught mid-way: {seen}"
    # While it runs: a second POST is 409, reads and writes go on (on the
    # other workers).
    while True:
        try:
            r = s.post(ROTATE, timeout=0.5)
            break
        except requests.RequestException:
            continue
    assert_error(r, 409, "conflict", names="already running")
    r = _get_retrying(s, "/v2/workspaces/default/secrets/bulk-07-123/access", time.monotonic() + 10)
    assert r.status_code == 200 and r.json()["value"] == "bulk-value-07-123"
    while True:
        try:
            r = s.post("/v2/workspaces/default/secrets", json={"name": "during", "value": "written-during-rotation"},
                       timeout=0.5)
            break
        except requests.RequestException:
            continue
    # 409: an attempt that timed out on the client's side got through.
    assert r.status_code in (201, 409), r.text

    assert s.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    t.join(timeout=30)
    assert "response" not in outcome or outcome["response"].status_code != 200

    # Restart: mid-way for real (both providers hold versions), nothing lost.
    fast = {"hsm": {"command": cmd, "timeout_ms": "5000"}}
    cfg = write_config(s, "hsm", {"secret_key": key1, "exec": fast})
    start_with(s, cfg)
    p = progress(s)
    assert p["total"] == 20001
    assert 0 < p["providers"].get("local_v1", 0) < 20000 and p["providers"]["hsm"] > 2000, p
    left = p["remaining"]
    res = rotate(s)
    assert res == {"rotated_secrets": left, "failed": 0, "success": True}, res
    assert progress(s)["providers"] == {"hsm": 20001}
    # Nothing lost: every secret is listed, and a sample from every batch
    # (re-wrapped before the kill and after it) opens with its value.
    r = s.get("/v2/workspaces/default/secrets", params={"page_size": 1})
    assert r.status_code == 200 and r.json()["pagination"]["total_results"] == 20001, r.text[:300]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {s.token}"}
    for b in range(20):
        for i in (0, 333, 666, 999):
            r = session.get(f"{s.url}/v2/workspaces/default/secrets/bulk-{b:02d}-{i:03d}/access", headers=headers,
                            timeout=10)
            assert r.status_code == 200 and r.json()["value"] == f"bulk-value-{b:02d}-{i:03d}", r.text[:200]
    session.close()
    assert s.access("default", "during")["value"] == "written-during-rotation"


def _slow_hsm(tresor_bin, tmp_path, delay_us):
    kms_key = private_file(tmp_path / "kms-slow.key", b64key() + "\n")
    return {"hsm": {"command": [str(plugin_path(tresor_bin)), "--key-file", str(kms_key), "--delay-us",
                                str(delay_us)], "timeout_ms": "5000"}}


def _post_rotation_in_background(s, outcome):
    """POSTs a rotation on a thread of its own (its answer into outcome) and
    waits until progress shows it running; returns the thread and that
    progress."""
    t = threading.Thread(target=lambda: outcome.update(response=s.post(ROTATE, timeout=ROTATE_TIMEOUT)), daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not (seen := progress(s, timeout=4))["running"]:
        assert time.monotonic() < deadline, f"the rotation never started: {seen}"
        time.sleep(0.02)
    return t, seen


def test_the_one_worker_answers_while_a_rotation_runs(server_factory, tresor_bin, tmp_path):
    """The rotation runs on the server's background thread: with a single
    worker, other requests are answered while it runs (the worker's loop
    once waited for the whole run), a second POST is 409 at once, an audit
    verification (also a background job) waits for the run, and both are
    answered when it is over."""
    s = server_factory()
    key1 = {"local_v1": {"value": b64key()}}
    start_with(s, write_config(s, "local_v1", {"secret_key": key1}), "--workers", "1")
    create_batch(s, "bg", 300)
    s.stop()

    slow = _slow_hsm(tresor_bin, tmp_path, 30000)  # 300 wraps of 30 ms: a run of nine seconds or more
    start_with(s, write_config(s, "hsm", {"secret_key": key1, "exec": slow}), "--workers", "1")
    outcome, verify = {}, {}
    t, seen = _post_rotation_in_background(s, outcome)
    assert seen["done"] < 300, seen
    tv = threading.Thread(target=lambda: verify.update(response=s.get("/v2/audit/verify", timeout=ROTATE_TIMEOUT)),
                          daemon=True)
    tv.start()
    assert s.get("/healthz", timeout=4).status_code == 200
    assert_error(s.post(ROTATE, timeout=4), 409, "conflict", names="already running")
    r = s.get("/v2/workspaces/default/secrets/bg-0007/access", timeout=4)
    assert r.status_code == 200 and r.json()["value"] == "bg-value-0007", r.text
    assert "response" not in verify, "the verification ran beside the rotation"
    assert progress(s, timeout=4)["running"], "the run ended before the checks: make it longer"
    t.join(timeout=ROTATE_TIMEOUT)
    assert outcome["response"].status_code == 200, outcome["response"].text
    assert outcome["response"].json() == {"rotated_secrets": 300, "failed": 0, "success": True}
    tv.join(timeout=30)
    assert verify["response"].status_code == 200 and verify["response"].json()["ok"] is True, verify


def test_two_posts_at_once_make_one_run(server_factory, tresor_bin, tmp_path):
    """The run is claimed on the worker that takes the POST: of two at once
    (on two workers), one runs and the other is 409 at once."""
    s = server_factory()
    key1 = {"local_v1": {"value": b64key()}}
    start_with(s, write_config(s, "local_v1", {"secret_key": key1}), "--workers", "2")
    create_batch(s, "twice", 200)
    s.stop()
    cfg = write_config(s, "hsm", {"secret_key": key1, "exec": _slow_hsm(tresor_bin, tmp_path, 20000)})
    start_with(s, cfg, "--workers", "2")
    barrier = threading.Barrier(2)

    def post(_):
        barrier.wait(timeout=10)
        return s.post(ROTATE, json={"reencrypt": True}, timeout=ROTATE_TIMEOUT)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = sorted(pool.map(post, range(2)), key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [200, 409], [r.text for r in answers]
    assert answers[0].json() == {"rotated_secrets": 200, "failed": 0, "success": True}
    assert_error(answers[1], 409, "conflict", names="already running")
    r = s.get("/v2/audit", params={"action": "keys.rotate"})
    assert sorted((a["outcome"], a["status"]) for a in r.json()["data"]) == [("failure", 409), ("success", 200)], r.text


def test_sigterm_stops_a_run_and_the_next_post_finishes_it(server_factory, tresor_bin, tmp_path):
    """SIGTERM during a run: the run stops after its batch and is answered
    (200, success false), the server exits 0, and the next POST finishes."""
    s = server_factory()
    key1 = {"local_v1": {"value": b64key()}}
    start_with(s, write_config(s, "local_v1", {"secret_key": key1}))
    create_batch(s, "term", 300)
    s.stop()
    cfg = write_config(s, "hsm", {"secret_key": key1, "exec": _slow_hsm(tresor_bin, tmp_path, 20000)})
    start_with(s, cfg)
    outcome = {}
    t, _ = _post_rotation_in_background(s, outcome)
    time.sleep(1)  # some 50 of the 300 wraps
    assert s.stop() == 0, s.log_tail()
    t.join(timeout=30)
    res = outcome["response"]
    assert res.status_code == 200, res.text
    assert res.json()["success"] is False and res.json()["rotated_secrets"] < 300, res.json()
    start_with(s, cfg)
    assert rotate(s)["success"] is True
    assert progress(s)["remaining"] == 0
    assert_values(s, {"term-0000": "term-value-0000", "term-0299": "term-value-0299"})

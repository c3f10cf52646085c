"""
State that outlives the process, each test on a fresh server of its own:
the data directory's files and modes, restarts (SIGTERM and SIGINT exit 0 and
keep everything), the log (never a token), and encryption at rest: no stored
value appears, raw or encoded, in any file the server wrote.
"""
import signal
import socket
import stat

import pytest
import requests

from conftest import TOKEN_ANYWHERE_RE, TOKEN_RE, encoded_forms, free_port, list_all, run_cli, secret_value


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------- data directory

@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_first_start_creates_the_data_dir_with_private_modes(server_factory, umask):
    s = server_factory()
    s.umask = umask
    assert not s.data_dir.exists()
    s.start()
    d = s.data_dir
    assert d.is_dir()
    assert mode(d) == 0o700, oct(mode(d))
    key = d / "master.key"
    assert key.is_file() and key.stat().st_size == 32
    assert mode(key) == 0o600, oct(mode(key))
    assert key.read_bytes() != b"\0" * 32
    tok = d / "admin.token"
    assert mode(tok) == 0o600, oct(mode(tok))
    text = tok.read_text()
    assert TOKEN_RE.match(text.strip()), "admin.token does not hold a trs_ token"
    assert text in (text.strip(), text.strip() + "\n")
    db = d / "tresor.db"
    assert db.is_file()
    assert mode(db) == 0o600, oct(mode(db))
    # A write, so that the WAL exists; then every file in the directory is private.
    assert s.post("/v2/workspaces", json={"name": "modes"}).status_code == 201
    for f in all_files(d):
        assert mode(f) & 0o077 == 0, f"{f.name} is accessible to group/others: {oct(mode(f))}"
    assert s.stop() == 0


def test_first_start_has_default_workspace_and_admin_principal(fresh_server):
    r = fresh_server.get("/v2/workspaces")
    assert r.status_code == 200
    assert [w["name"] for w in r.json()["data"]] == ["default"]
    r = fresh_server.post("/v2/tokens", json={})
    assert r.status_code == 201 and r.json()["principal"] == "admin"
    assert list_all(fresh_server) == []


def test_second_start_reuses_key_token_and_database(fresh_server):
    s = fresh_server
    key = (s.data_dir / "master.key").read_bytes()
    tok = (s.data_dir / "admin.token").read_bytes()
    old_token = s.token
    s.restart()
    assert (s.data_dir / "master.key").read_bytes() == key
    assert (s.data_dir / "admin.token").read_bytes() == tok
    assert s.token == old_token
    assert s.get("/v2/workspaces").status_code == 200
    assert [w["name"] for w in s.get("/v2/workspaces").json()["data"]] == ["default"]


# ---------------------------------------------------------------- signals

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_with_exit_0(fresh_server, sig):
    s = fresh_server
    assert s.post("/v2/workspaces", json={"name": "before-stop"}).status_code == 201
    port = s.port
    assert s.stop(sig) == 0, s.log_tail()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_server_listens_on_127_0_0_1_only(fresh_server):
    """--listen 127.0.0.1:PORT binds that address, not every address:
    127.0.0.2 (also loopback on Linux) is refused."""
    with socket.socket() as c:
        c.settimeout(2)
        assert c.connect_ex(("127.0.0.1", fresh_server.port)) == 0
    with socket.socket() as c:
        c.settimeout(2)
        assert c.connect_ex(("127.0.0.2", fresh_server.port)) != 0, "server answers on 127.0.0.2"


# ---------------------------------------------------------------- restart keeps everything

def test_restart_keeps_workspaces_secrets_values_versions_and_tokens(fresh_server):
    s = fresh_server
    ws = s.create_workspace("keep-ws")
    empty_ws = s.create_workspace("empty-ws")
    v = {
        "plain": secret_value("plain"),
        "unicode": "ünïcødé-秘密-🔑-" + secret_value("uni"),
        "scoped-p": secret_value("scoped-p"),
        "scoped-c": secret_value("scoped-c"),
        "patched-old": secret_value("old"),
        "patched-new": secret_value("new"),
        "put": secret_value("put"),
    }
    data = {"access_key_id": "AKIAPERSIST000001", "secret_access_key": secret_value("s3")}
    s.create_secret(ws, name="plain", value=v["plain"], description="kept", tags=["a", "b"],
                    visibility="public")
    s.create_secret(ws, name="unicode", value=v["unicode"])
    s.create_secret(ws, name="plain", value=v["scoped-p"], project="p1")
    s.create_secret(ws, name="plain", value=v["scoped-c"], cluster="c1")
    s.create_secret(ws, name="s3-creds", type="s3", data=data)
    s.create_secret(ws, name="patched", value=v["patched-old"])
    assert s.patch(f"/v2/workspaces/{ws}/secrets/patched", json={"value": v["patched-new"]}).ok
    assert s.put(f"/v2/workspaces/{ws}/secrets/put-one", json={"value": v["put"]}).status_code == 201
    s.create_secret("default", name="in-default", value=v["plain"])
    kept = s.post("/v2/tokens", json={"description": "kept"}).json()
    dropped = s.post("/v2/tokens", json={"description": "dropped"}).json()
    assert s.delete(f"/v2/tokens/{dropped['id']}").status_code == 204

    before = {
        "workspaces": s.get("/v2/workspaces").json(),
        "ws": list_all(s, ws),
        "default": list_all(s, "default"),
        "tokens": s.get("/v2/tokens").json(),
    }

    def check():
        assert s.get("/v2/workspaces").json() == before["workspaces"]
        assert list_all(s, ws) == before["ws"]
        assert list_all(s, "default") == before["default"]
        assert list_all(s, empty_ws) == []
        assert s.get("/v2/tokens").json() == before["tokens"]
        assert s.access(ws, "plain")["value"] == v["plain"]
        assert s.access(ws, "unicode")["value"] == v["unicode"]
        assert s.access(ws, "plain", project="p1")["value"] == v["scoped-p"]
        assert s.access(ws, "plain", cluster="c1")["value"] == v["scoped-c"]
        assert s.access(ws, "s3-creds")["data"] == data
        assert s.access(ws, "patched")["value"] == v["patched-new"]
        assert s.get(f"/v2/workspaces/{ws}/secrets/patched").json()["version"] == 2
        assert s.access(ws, "put-one")["value"] == v["put"]
        assert s.access("default", "in-default")["value"] == v["plain"]
        assert s.get("/v2/workspaces", token=kept["token"]).status_code == 200
        assert s.get("/v2/workspaces", token=dropped["token"]).status_code == 401

    check()
    s.restart(signal.SIGTERM)
    check()
    s.restart(signal.SIGINT)
    check()
    # Still writable after the restarts, and versions carry on.
    assert s.patch(f"/v2/workspaces/{ws}/secrets/patched",
                   json={"value": secret_value()}).json()["version"] == 3


# ---------------------------------------------------------------- the log

def test_log_names_the_admin_token_file_but_never_a_token(fresh_server):
    s = fresh_server
    made = s.post("/v2/tokens", json={"description": "log"}).json()
    assert s.get("/v2/workspaces", token=made["token"]).status_code == 200
    unknown = "trs_" + "Q" * 43
    assert s.get("/v2/workspaces", token=unknown).status_code == 401
    assert s.get("/v2/workspaces", token=s.token + "x").status_code == 401
    assert s.delete(f"/v2/tokens/{made['id']}").status_code == 204
    assert s.get("/v2/workspaces", token=made["token"]).status_code == 401
    s.restart()
    log = s.log_text()
    assert "admin.token" in log, "the log does not say where the admin token is"
    assert s.token not in log
    assert made["token"] not in log
    assert not TOKEN_ANYWHERE_RE.search(log), "the log contains token text"
    assert s.token[4:24] not in log


# ---------------------------------------------------------------- encryption at rest

def test_no_stored_value_appears_in_any_file_of_the_data_dir_or_log(server_factory):
    s = server_factory().start(extra_args=("--log-level", "debug"))
    ws = s.create_workspace("at-rest")
    values = {
        "ascii": "AtRestAscii-" + secret_value("ascii"),
        "unicode": "Ätrest-ünïcødé-秘密のパスワード-🔐-" + secret_value("uni"),
        "data-a": "AtRestDataA-" + secret_value("da"),
        "data-b": "AtRestDataB-" + secret_value("db"),
        "patched-old": "AtRestOld-" + secret_value("old"),
        "patched-new": "AtRestNew-" + secret_value("new"),
        "put": "AtRestPut-" + secret_value("put"),
        "scoped": "AtRestScoped-" + secret_value("scoped"),
        "deleted": "AtRestDeleted-" + secret_value("deleted"),
        "hf": "hf_AtRestHuggingFace" + secret_value("hf").replace("-", ""),
        "cli": "AtRestCli-" + secret_value("cli"),
        "cli-stdin": "AtRestCliStdin-" + secret_value("clistdin"),
        "multiline": "-----BEGIN PRIVATE KEY-----\nAtRestPem" + secret_value("pem") + "\n-----END",
    }
    s.create_secret(ws, name="ascii", value=values["ascii"])
    s.create_secret(ws, name="unicode", value=values["unicode"])
    s.create_secret(ws, name="data", type="opaque",
                    data={"a": values["data-a"], "b": values["data-b"],
                          "pem": values["multiline"]})
    s.create_secret(ws, name="patched", value=values["patched-old"])
    assert s.patch(f"/v2/workspaces/{ws}/secrets/patched",
                   json={"value": values["patched-new"]}).status_code == 200
    assert s.put(f"/v2/workspaces/{ws}/secrets/put", json={"value": values["put"]}).status_code == 201
    s.create_secret(ws, name="scoped", value=values["scoped"], project="proj")
    s.create_secret(ws, name="deleted", value=values["deleted"])
    assert s.delete(f"/v2/workspaces/{ws}/secrets/deleted").status_code == 204
    s.create_secret(ws, name="hf", type="huggingface", data={"token": values["hf"]})
    assert s.cli("secrets", "create", f"{ws}/cli", "--value", values["cli"]).returncode == 0
    assert s.cli("secrets", "create", f"{ws}/cli-stdin", "--value", "-",
                 input=values["cli-stdin"]).returncode == 0
    # Read them all back (the value path runs, and may log).
    for n in ("ascii", "unicode", "data", "patched", "put", "hf", "cli", "cli-stdin"):
        s.access(ws, n)
    s.access(ws, "scoped", project="proj")
    minted = s.post("/v2/tokens", json={"description": "at-rest"}).json()["token"]

    def scan(when):
        found = []
        files = all_files(s.base_dir)
        assert any(f.name == "tresor.db" for f in files)
        for f in files:
            content = f.read_bytes()
            for label, value in values.items():
                raw = value.encode("utf-8")
                for form, needle in encoded_forms(raw).items():
                    if needle in content:
                        found.append(f"{when}: {f.relative_to(s.base_dir)} holds {label} ({form})")
                # any 24-byte window of the value, raw
                for i in range(0, max(1, len(raw) - 24), 8):
                    if raw[i:i + 24] in content:
                        found.append(f"{when}: {f.relative_to(s.base_dir)} holds part of {label}")
                        break
            if minted.encode() in content:
                found.append(f"{when}: {f.relative_to(s.base_dir)} holds a minted token")
            if f.name != "admin.token" and s.token.encode() in content:
                found.append(f"{when}: {f.relative_to(s.base_dir)} holds the admin token")
        assert not found, "\n".join(found)

    scan("running")
    assert s.stop() == 0
    scan("stopped")


def test_a_second_server_on_the_same_port_refuses_to_start(fresh_server, tmp_path):
    """SO_REUSEPORT must not let a second tresor share the first one's port."""
    out = run_cli(fresh_server.binary, ["server", "--listen", f"127.0.0.1:{fresh_server.port}",
                                        "--data-dir", str(tmp_path / "second")], timeout=20)
    assert out.returncode == 1
    assert "already in use" in out.stderr
    assert fresh_server.get("/healthz").status_code == 200


def test_a_second_server_on_the_same_data_directory_refuses_to_start(fresh_server):
    """One server per data directory: its caches see only its own commits."""
    out = run_cli(fresh_server.binary, ["server", "--listen", f"127.0.0.1:{free_port()}",
                                        "--data-dir", str(fresh_server.data_dir)], timeout=20)
    assert out.returncode == 1
    assert "in use by another tresor server" in out.stderr
    assert fresh_server.get("/healthz").status_code == 200
    # The lock goes with the process, however it ends.
    fresh_server.kill()
    fresh_server.start()
    assert fresh_server.get("/healthz").status_code == 200

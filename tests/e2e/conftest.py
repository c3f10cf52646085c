"""
End-to-end fixtures for tresor: the real binary, on loopback, in a temp dir.

TresorServer starts `tresor server --listen 127.0.0.1:PORT --data-dir DIR`,
waits (bounded) for GET /healthz, captures stderr/stdout to a log file beside
the data directory, and stops it with a signal. It also drives the CLI
(`cli()`) and the HTTP API (`request()`).

Every HTTP response that goes through request() is checked for leaks: it must
not contain the admin token, a token minted by the tests (except in the
response that mints it), or any secret value the tests have sent (except the
/access responses that exist to return them). Every CLI run is checked for
tokens the same way. So each test asserts "no value, no token in the output"
without having to say so.

Fixtures:
  tresor_bin      the binary (env TRESOR_BIN, default <repo>/build/tresor)
  server          one server for the whole session (read-mostly tests)
  server_factory  makes not-yet-started servers, each in its own temp dir,
                  all stopped after the test
  fresh_server    a started server of its own for tests where state matters

Rate limiting (docs/api.md): 10 failed authentications from one client
address within a minute block that address. Tests that fail authentication on
purpose send those requests from an address of their own
(`request(..., source=fresh_source())`, any of 127.0.0.0/8), so that
127.0.0.1, which every other request uses, is never blocked.

Test modules import the helpers below with `from conftest import ...`.
"""
import atexit
import base64
import contextlib
import ctypes
import itertools
import json as _json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "tresor"

START_TIMEOUT = 10.0   # seconds until /healthz answers 200
START_ATTEMPTS = 3     # ports tried when the server does not come up
STOP_TIMEOUT = 10.0    # seconds until the process exits after the signal
HTTP_TIMEOUT = 10.0    # per HTTP request
CLI_TIMEOUT = 30.0     # per CLI run

TOKEN_RE = re.compile(r"^trs_[A-Za-z0-9_-]{43}$")
TOKEN_ANYWHERE_RE = re.compile(r"trs_[A-Za-z0-9_-]{43}")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

# What every secret metadata object carries (docs/api.md "Secrets").
METADATA_KEYS = {
    "name", "workspace", "project", "cluster", "type", "description",
    "visibility", "tags", "keys", "version", "created_at", "updated_at",
    "created_by", "updated_by", "expires_at", "expired",
}
WORKSPACE_KEYS = {"name", "created_at", "created_by"}
TOKEN_CREATE_KEYS = {"id", "token", "principal", "description", "created_by", "created_at", "expires_at"}
TOKEN_LIST_KEYS = {"id", "principal", "description", "created_by", "created_at", "expires_at"}
PRINCIPAL_KEYS = {"name", "kind", "platform_admin", "created_at"}
MEMBER_KEYS = {"workspace", "principal", "role", "project", "cluster", "created_at", "created_by"}
AUDIT_KEYS = {"seq", "time", "actor", "action", "workspace", "secret", "target", "scope", "outcome",
              "status", "client", "request_id", "hash"}
PAGINATION_KEYS = {"page", "page_size", "current_page_size", "total_pages",
                   "total_results", "next_page_token"}

# Values shorter than this are not tracked for leaks (they could appear by chance).
MIN_TRACKED_LEN = 8

_UNSET = object()
_ADMIN = object()

# Every server process started by this suite, so none survives the session.
_LIVE = set()


# ---------------------------------------------------------------- helpers

def uniq(prefix="t"):
    """A fresh DNS-label-safe name: prefix-<10 hex>."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def secret_value(tag="v"):
    """A distinctive secret value, long enough to be tracked for leaks."""
    return f"sv-{tag}-{uuid.uuid4().hex}"


# ---------------------------------------------------------------- TLS mode

# With TRESOR_E2E_TLS=1 the whole suite runs against TLS listeners: every
# server gets a certificate from a CA made for this run, requests trust that
# CA (REQUESTS_CA_BUNDLE) and the CLI gets it as TRESOR_CACERT.
E2E_TLS = os.environ.get("TRESOR_E2E_TLS") == "1"
SCHEME = "https" if E2E_TLS else "http"


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=30)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr.decode(errors='replace')}"


def make_key(d, name):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", f"{name}.key", cwd=d)


def make_ca(d, name):
    make_key(d, name)
    _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN=tresor test {name}", cwd=d)


def issue_cert(d, name, ca, ext):
    """A certificate for a new key `name`, signed by `ca`, with extensions `ext`."""
    make_key(d, name)
    _openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=tresor test {name}", cwd=d)
    (Path(d) / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)


_TLS_DIR = None


def tls_server_args():
    """--tls-cert/--tls-key of this run's server certificate (TLS mode only);
    made on first use, with its CA trusted by requests from then on."""
    global _TLS_DIR
    if not E2E_TLS:
        return ()
    if _TLS_DIR is None:
        d = Path(tempfile.mkdtemp(prefix="tresor-e2e-pki-"))
        atexit.register(shutil.rmtree, d, True)
        make_ca(d, "ca")
        issue_cert(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                      "extendedKeyUsage=serverAuth\n")
        os.environ["REQUESTS_CA_BUNDLE"] = str(d / "ca.pem")
        _TLS_DIR = d
    return ("--tls-cert", str(_TLS_DIR / "server.pem"), "--tls-key", str(_TLS_DIR / "server.key"))


def connect_raw(port):
    """A socket connected to a server of this run on 127.0.0.1:port, wrapped
    in TLS in TLS mode: for requests written byte by byte."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if not E2E_TLS:
        return sock
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(_TLS_DIR / "ca.pem")
    return ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def tls_cli_env():
    """What the CLI needs to trust this run's servers (TLS mode only)."""
    return {"TRESOR_CACERT": str(_TLS_DIR / "ca.pem")} if E2E_TLS and _TLS_DIR else {}


_SOURCES = itertools.count(1)


def fresh_source():
    """A loopback address no other request of this run has come from
    (127.10.x.y): a client of its own for the server's rate limiter."""
    n = next(_SOURCES)
    return f"127.{10 + n // 62500 % 200}.{n // 250 % 250 + 1}.{n % 250 + 1}"


class _SourceAdapter(requests.adapters.HTTPAdapter):
    """Sends from a given local address (one of 127.0.0.0/8)."""

    def __init__(self, source, **kw):
        self._source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kw)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url():
    """An http URL on loopback where nothing listens (bound, then closed)."""
    return f"{SCHEME}://127.0.0.1:{free_port()}"


def parse_time(text):
    assert isinstance(text, str) and TIME_RE.match(text), f"not an RFC 3339 UTC time: {text!r}"
    base = text[:19]
    return datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def leak_forms(value):
    """The byte strings under which `value` could show up in a response body:
    raw UTF-8 and JSON-escaped (ASCII-only escapes and UTF-8)."""
    forms = {value.encode("utf-8")}
    forms.add(_json.dumps(value)[1:-1].encode("utf-8"))
    forms.add(_json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8"))
    return forms


def encoded_forms(raw):
    """Raw bytes plus hex (both cases) and base64 (std and url-safe, at all
    three alignments, without padding) of raw: what an at-rest scan looks for."""
    forms = {"raw": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for off in range(3):
        chunk = raw[off:]
        chunk = chunk[: len(chunk) - len(chunk) % 3]
        if len(chunk) < 6:
            continue
        forms[f"b64@{off}"] = base64.b64encode(chunk)
        forms[f"b64url@{off}"] = base64.urlsafe_b64encode(chunk)
    return forms


def error_body(resp):
    """Asserts the documented error shape and returns (code, message)."""
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", \
        f"error Content-Type is {ctype!r}; body {resp.text[:300]!r}"
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {resp.text[:300]!r}")
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, f"error object shape: {err!r}"
    assert isinstance(err["code"], str) and isinstance(err["message"], str), err
    assert err["message"], "error message is empty"
    return err["code"], err["message"]


def assert_error(resp, status, code, message=None, names=None):
    """Asserts status, the exact error JSON shape and code; optionally the
    exact message, or that the message names one of `names` (a field...)."""
    assert resp.status_code == status, \
        f"expected {status} {code}, got {resp.status_code}: {resp.text[:500]!r}"
    got_code, got_message = error_body(resp)
    assert got_code == code, f"expected code {code!r}, got {got_code!r} ({got_message!r})"
    if message is not None:
        assert got_message == message
    if names:
        if isinstance(names, str):
            names = (names,)
        assert any(n in got_message for n in names), \
            f"message {got_message!r} names none of {names!r}"
    return got_message


def list_all(server, ws="default", **params):
    """Every secret of a listing (one page of 1000; the tests stay below)."""
    params.setdefault("page_size", 1000)
    r = server.get(f"/v2/workspaces/{ws}/secrets", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def audit_records(srv, token=None, **params):
    """Every audit record matching params, oldest first, following next_after."""
    out, after = [], 0
    while True:
        query = {**params, "page_size": 1000, "after": after}
        kw = {"params": query} if token is None else {"params": query, "token": token}
        r = srv.get("/v2/audit", **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_after"}, body.keys()
        out += body["data"]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


def names_of(items):
    return [i["name"] for i in items]


def _preexec(umask=None):
    """preexec_fn: the server gets SIGTERM if the test process dies, and
    optionally runs under the given umask."""
    def run():
        if umask is not None:
            os.umask(umask)
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - best effort
            pass
    return run


def clean_env():
    """The environment without any TRESOR_* variable of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}


def run_cli(binary, args, *, env=None, input=None, cwd=None, timeout=CLI_TIMEOUT):
    """Runs the tresor binary with a clean environment plus `env` (a value of
    None removes a variable). Returns a CompletedProcess with str stdout and
    stderr (UTF-8) and the raw bytes as .stdout_bytes/.stderr_bytes."""
    e = clean_env()
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    if isinstance(input, str):
        input = input.encode("utf-8")
    argv = [str(binary), *[str(a) for a in args]]
    p = subprocess.run(argv, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                       capture_output=True, env=e, cwd=cwd, timeout=timeout)
    out = subprocess.CompletedProcess(argv, p.returncode,
                                      p.stdout.decode("utf-8", "replace"),
                                      p.stderr.decode("utf-8", "replace"))
    out.stdout_bytes = p.stdout
    out.stderr_bytes = p.stderr
    return out


# ---------------------------------------------------------------- the server

class TresorServer:
    """One tresor server process in its own temp dir:
        base_dir/data        the data directory (created by the server)
        base_dir/server.log  its stderr and stdout, appended across restarts
        base_dir/cwd         the working directory of the server and the CLI
    """

    def __init__(self, binary, base_dir):
        self.binary = Path(binary)
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "server.log"
        self.cwd = self.base_dir / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.proc = None
        self.port = None
        self.umask = None             # umask for the server process (None: inherit)
        self.exit_codes = []          # one per stop, in order
        self._token = None
        self._log_file = None
        self._values = {}             # value -> leak forms (tracked secret values)
        self._tokens = set()          # tokens minted through request()

    # ---- lifecycle

    @property
    def url(self):
        assert self.port is not None, "server not started"
        return f"{SCHEME}://127.0.0.1:{self.port}"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, extra_args=()):
        """Starts the server and waits until /healthz is 200 (bounded). Tries
        another port when the process exits early (e.g. the port was taken)."""
        assert not self.running, "already running"
        last = ""
        for _attempt in range(START_ATTEMPTS):
            port = free_port()
            self._log_file = open(self.log_path, "ab")
            argv = [str(self.binary), "server", "--listen", f"127.0.0.1:{port}",
                    "--data-dir", str(self.data_dir), *tls_server_args(), *extra_args]
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=self._log_file, stderr=self._log_file,
                                         cwd=self.cwd, env=clean_env(),
                                         preexec_fn=_preexec(self.umask))
            _LIVE.add(self)
            self.port = port
            state = self._wait_ready(START_TIMEOUT)
            if state == "ready":
                self._token = None
                return self
            if state == "exited":
                last = f"exited with {self.proc.returncode}"
                self._close_log()
                _LIVE.discard(self)
                self.proc = None
                continue
            # Still running but never healthy: no point in another port.
            self.kill()
            raise RuntimeError(f"tresor server did not answer /healthz within {START_TIMEOUT}s\n"
                               f"--- log ---\n{self.log_tail()}")
        raise RuntimeError(f"tresor server failed to start ({last}) after {START_ATTEMPTS} "
                           f"attempts\n--- log ---\n{self.log_tail()}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                r = requests.get(f"{self.url}/healthz", timeout=0.5)
                if r.status_code == 200:
                    return "ready"
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return "timeout"

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits (bounded) for the exit; kills it if it hangs.
        Returns the exit status (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
                code = self.proc.returncode
                self._finish(code)
                raise AssertionError(f"server did not exit within {timeout}s of signal {sig}; killed")
        code = self.proc.returncode
        self._finish(code)
        return code

    def kill(self):
        """Last-resort cleanup: SIGKILL, bounded wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self._finish(self.proc.returncode)

    def restart(self, sig=signal.SIGTERM):
        """Stops with sig (asserting exit 0) and starts again on the same data dir."""
        code = self.stop(sig)
        assert code == 0, f"server exited with {code} on {sig!r}\n{self.log_tail()}"
        return self.start()

    def _finish(self, code):
        self.exit_codes.append(code)
        self.proc = None
        self._close_log()
        _LIVE.discard(self)

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # ---- files

    @property
    def token(self):
        """The platform admin's token from DATA/admin.token (whitespace stripped)."""
        if self._token is None:
            self._token = (self.data_dir / "admin.token").read_text().strip()
        return self._token

    def log_bytes(self):
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def log_text(self):
        return self.log_bytes().decode("utf-8", "replace")

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ---- leak tracking

    def track_value(self, value):
        if isinstance(value, str) and len(value) >= MIN_TRACKED_LEN:
            self._values.setdefault(value, leak_forms(value))

    def track_token(self, token):
        if isinstance(token, str) and token:
            self._tokens.add(token)

    def tracked_values(self):
        return list(self._values)

    def _track_body(self, path, body):
        if "/secrets" not in path or not isinstance(body, dict):
            return
        self.track_value(body.get("value"))
        data = body.get("data")
        if isinstance(data, dict):
            for v in data.values():
                self.track_value(v)

    def assert_no_leak(self, text_bytes, where, values=True, tokens=True):
        """Asserts text_bytes contains no tracked value and no known token."""
        if tokens:
            secrets_ = [self.token] if self.data_dir.joinpath("admin.token").exists() else []
            for t in secrets_ + sorted(self._tokens):
                assert t.encode() not in text_bytes, f"{where}: contains a token"
        if values:
            for value, forms in self._values.items():
                for f in forms:
                    assert f not in text_bytes, \
                        f"{where}: contains the stored value {value[:40]!r}"

    # ---- HTTP

    def request(self, method, path, *, json=_UNSET, data=None, headers=None, params=None,
                token=_ADMIN, timeout=HTTP_TIMEOUT, check_leaks=True, source=None):
        """One HTTP request (a new connection each time). json= sends a JSON
        body with Content-Type application/json; data= sends raw bytes with
        only the headers given. token=None sends no Authorization header.
        source= sends from that local address (see fresh_source)."""
        hdrs = {}
        if token is _ADMIN:
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if json is not _UNSET:
            data = _json.dumps(json).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
            self._track_body(path, json)
        if headers:
            hdrs.update(headers)
        if source is None:
            resp = requests.request(method, self.url + path, data=data, headers=hdrs,
                                    params=params, timeout=timeout, allow_redirects=False)
        else:
            with requests.Session() as session:
                session.mount("http://", _SourceAdapter(source))
                session.mount("https://", _SourceAdapter(source))
                resp = session.request(method, self.url + path, data=data, headers=hdrs,
                                       params=params, timeout=timeout, allow_redirects=False)
        if check_leaks:
            # /access and /resolve exist to return values (when they succeed);
            # tokens never.
            is_access = path.split("?")[0].endswith(("/access", "/resolve")) \
                and resp.status_code == 200
            mints = method.upper() == "POST" and path.rstrip("/") == "/v2/tokens"
            self.assert_no_leak(resp.content, f"{method} {path} -> {resp.status_code}",
                                values=not is_access, tokens=not mints)
            if mints and resp.status_code == 201:
                # only the token minted here, never the admin's
                assert self.token.encode() not in resp.content
        if method.upper() == "POST" and path.rstrip("/") == "/v2/tokens" and resp.status_code == 201:
            try:
                self.track_token(resp.json().get("token"))
            except ValueError:
                pass
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- convenience for tests

    def create_workspace(self, name=None):
        name = name or uniq("ws")
        r = self.post("/v2/workspaces", json={"name": name})
        assert r.status_code == 201, r.text
        return name

    def create_secret(self, ws="default", **body):
        body.setdefault("name", uniq("s"))
        if "value" not in body and "data" not in body:
            body["value"] = secret_value()
        r = self.post(f"/v2/workspaces/{ws}/secrets", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def create_principal(self, name=None, kind="user", platform_admin=False, token=_ADMIN):
        body = {"name": name or uniq(kind[:3]), "kind": kind}
        if platform_admin:
            body["platform_admin"] = True
        r = self.post("/v2/principals", json=body, token=token)
        assert r.status_code == 201, r.text
        return body["name"]

    def set_member(self, ws, principal, role, token=_ADMIN, **scope):
        r = self.put(f"/v2/workspaces/{ws}/members/{principal}", json={"role": role, **scope},
                     token=token)
        assert r.status_code == 200, r.text
        return r.json()

    def mint(self, principal=None, token=_ADMIN, **body):
        """A new token's text (for principal, default: the caller)."""
        if principal is not None:
            body["principal"] = principal
        r = self.post("/v2/tokens", json=body, token=token)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def access(self, ws, name, **params):
        r = self.get(f"/v2/workspaces/{ws}/secrets/{name}/access", params=params or None)
        assert r.status_code == 200, r.text
        return r.json()

    # ---- CLI

    def cli(self, *args, input=None, env=None, cwd=None, timeout=CLI_TIMEOUT, check_leaks=True):
        """Runs `tresor ARGS` against this server (TRESOR_ADDR and TRESOR_TOKEN
        set; `env` overrides, None removes). Asserts that no known token shows
        up in stdout or stderr unless check_leaks is False."""
        e = {"TRESOR_ADDR": self.url, "TRESOR_TOKEN": self.token, **tls_cli_env()}
        e.update(env or {})
        out = run_cli(self.binary, args, env=e, input=input, cwd=cwd or self.cwd, timeout=timeout)
        if check_leaks:
            self.assert_no_leak(out.stdout_bytes + b"\n" + out.stderr_bytes,
                                f"tresor {' '.join(map(str, args))}", values=False)
        return out


def stop_all_live():
    for s in list(_LIVE):
        s.kill()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def tresor_bin():
    path = Path(os.environ.get("TRESOR_BIN") or DEFAULT_BIN).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"tresor binary not found or not executable: {path} "
                    f"(build it, or set TRESOR_BIN)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def server(tresor_bin, tmp_path_factory):
    """One server shared by the session (log level debug). Tests use unique
    names. At the end it must still be running, stop with 0 on SIGTERM, and
    its log must hold none of the values and tokens the session sent (a
    failure shows as an error at teardown of the last test that used it)."""
    s = TresorServer(tresor_bin, tmp_path_factory.mktemp("session"))
    try:
        # debug: the most verbose log is the one most likely to leak
        s.start(extra_args=("--log-level", "debug"))
        yield s
        crashed = not s.running
        code = s.stop()
        assert not crashed, f"session server died during the run (exit {code})\n{s.log_tail()}"
        assert code == 0, f"session server exited with {code} on SIGTERM\n{s.log_tail()}"
        log = s.log_bytes()
        s.assert_no_leak(log, "session server log")
        m = TOKEN_ANYWHERE_RE.search(log.decode("utf-8", "replace"))
        assert not m, "session server log contains token text"
    finally:
        s.kill()


@pytest.fixture
def server_factory(tresor_bin, tmp_path):
    """Makes TresorServer objects (not started) in temp dirs of this test; all
    of them are stopped at the end of the test, whatever happened."""
    made = []

    def make():
        s = TresorServer(tresor_bin, tmp_path / f"srv{len(made)}")
        made.append(s)
        return s

    try:
        yield make
    finally:
        for s in made:
            s.kill()


@pytest.fixture
def fresh_server(server_factory):
    return server_factory().start()


@pytest.fixture
def state_unchanged(server):
    """Context-manager factory: `with state_unchanged(ws1, ws2): ...` asserts
    that the workspace list, the secret listings of the given workspaces (and
    `default`), the values of every secret in the non-default ones, and the
    token list are the same after the block as before it."""

    def snapshot(workspaces):
        snap = {}
        r = server.get("/v2/workspaces")
        assert r.status_code == 200, r.text
        snap["workspaces"] = r.json()
        r = server.get("/v2/tokens")
        assert r.status_code == 200, r.text
        snap["tokens"] = r.json()
        for ws in ("default", *workspaces):
            items = list_all(server, ws)
            snap[f"secrets:{ws}"] = items
            if ws != "default":
                for it in items:
                    params = {}
                    if it.get("project"):
                        params["project"] = it["project"]
                    if it.get("cluster"):
                        params["cluster"] = it["cluster"]
                    snap[f"value:{ws}/{it['name']}/{it.get('project')}/{it.get('cluster')}"] = \
                        server.access(ws, it["name"], **params)
        return snap

    @contextlib.contextmanager
    def check(*workspaces):
        before = snapshot(workspaces)
        yield
        after = snapshot(workspaces)
        assert after == before, "a failed request changed the store"

    return check


# ---------------------------------------------------------------- hooks

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of the server log(s) the test used."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for name in ("server", "fresh_server"):
        s = funcargs.get(name)
        if isinstance(s, TresorServer):
            rep.sections.append((f"tresor log ({name})", s.log_tail(60)))


def pytest_sessionfinish(session, exitstatus):
    stop_all_live()

"""
TLS on `tresor server` (docs/server.md "TLS") and the loopback rule.

A throwaway PKI is made at test time with the `openssl` CLI (Debian package
openssl): a CA and a server certificate for 127.0.0.1/localhost, a second
CA nobody trusts, a client CA with a client certificate, and a key that
belongs to no certificate. The real binary then runs with those files:
  - https works end to end (health, an authenticated create/access);
  - the CLI checks the name or IP address the server's certificate is for;
  - plain HTTP, a wrong CA, TLS 1.1 and non-AEAD TLS 1.2 ciphers fail,
    and the server keeps serving afterwards;
  - with --tls-client-ca, no client certificate or one from another CA is
    refused; one from that CA works, and the bearer token is still needed;
  - without TLS, a non-loopback --listen is refused unless --insecure-listen;
  - a key that does not match its certificate refuses to start, and no key
    material shows up in any output.
Every process started here is stopped, also when a test fails.
"""
import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest
import requests

from conftest import (
    E2E_TLS, STOP_TIMEOUT, TresorServer, _openssl, _preexec, clean_env, free_port, issue_cert,
    make_ca, make_key, run_cli, secret_value, uniq,
)

# This file runs its own TLS servers; in the suite's TLS mode it has nothing to add.
pytestmark = pytest.mark.skipif(E2E_TLS, reason="test_tls.py runs its own TLS servers")

START_TIMEOUT = 10.0
REFUSE_TIMEOUT = 10.0  # a server that must not start has this long to exit


# ---------------------------------------------------------------- the PKI

class Pki:
    def __init__(self, d):
        self.dir = d
        for ca in ("ca", "other_ca", "client_ca"):
            make_ca(d, ca)
        issue_cert(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                  "extendedKeyUsage=serverAuth\n")
        issue_cert(d, "client", "client_ca", "extendedKeyUsage=clientAuth\n")
        issue_cert(d, "stranger", "other_ca", "extendedKeyUsage=clientAuth\n")
        # certificates from the trusted CA that name only one of the two
        issue_cert(d, "localhost_only", "ca", "subjectAltName=DNS:localhost\n"
                                          "extendedKeyUsage=serverAuth\n")
        issue_cert(d, "ip_only", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        make_key(d, "lonely")  # belongs to no certificate
        for f in d.glob("*.key"):
            f.chmod(0o600)

    def __getattr__(self, name):
        # pki.ca -> .../ca.pem, pki.server_key -> .../server.key
        if name.endswith("_key"):
            return str(self.dir / f"{name[:-4]}.key")
        return str(self.dir / f"{name}.pem")

    def key_material(self):
        """Every private key's base64 lines, to check no output carries them."""
        lines = set()
        for f in self.dir.glob("*.key"):
            for line in f.read_text().splitlines():
                if line and not line.startswith("-----"):
                    lines.add(line)
        return lines


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command-line tool is needed (Debian package openssl)", pytrace=False)
    return Pki(tmp_path_factory.mktemp("pki"))


def assert_no_key_material(pki, text, where):
    assert "PRIVATE KEY" not in text, f"{where}: shows a private key"
    for line in pki.key_material():
        assert line not in text, f"{where}: shows key material"


# ---------------------------------------------------------------- servers

class TlsServer(TresorServer):
    """TresorServer over https: conftest's lifecycle (ports, log, stop, kill),
    with the URL and the readiness probe switched to TLS. `ca` verifies the
    server; `client_cert` is a (cert, key) pair presented when set."""

    def __init__(self, binary, base_dir, ca, client_cert=None):
        super().__init__(binary, base_dir)
        self.ca = ca
        self.client_cert = client_cert

    @property
    def url(self):
        assert self.port is not None, "server not started"
        return f"https://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                if self.https("GET", "/healthz", token=None, timeout=0.5).status_code == 200:
                    return "ready"
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return "timeout"

    def https(self, method, path, *, token="admin", verify=None, cert="default", timeout=10, **kw):
        """One request on a new connection, verified against self.ca unless
        verify= says otherwise; token="admin" sends the admin's token."""
        headers = kw.pop("headers", {})
        if token == "admin":
            token = self.token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=timeout,
                                verify=self.ca if verify is None else verify,
                                cert=self.client_cert if cert == "default" else cert, **kw)


@contextlib.contextmanager
def started(server, *args):
    """Starts server with args; always kills it on the way out."""
    try:
        server.start(extra_args=args)
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def tls_server(tresor_bin, pki, tmp_path_factory):
    s = TlsServer(tresor_bin, tmp_path_factory.mktemp("tls"), pki.ca)
    with started(s, "--tls-cert", pki.server, "--tls-key", pki.server_key, "--workers", "2"):
        yield s
        assert s.running, f"TLS server died during the tests\n{s.log_tail()}"
        assert s.stop() == 0, s.log_tail()
    assert_no_key_material(pki, s.log_text(), "server log")


@pytest.fixture(scope="module")
def mtls_server(tresor_bin, pki, tmp_path_factory):
    s = TlsServer(tresor_bin, tmp_path_factory.mktemp("mtls"), pki.ca,
                  client_cert=(pki.client, pki.client_key))
    with started(s, "--tls-cert", pki.server, "--tls-key", pki.server_key,
                 "--tls-client-ca", pki.client_ca, "--workers", "1"):
        yield s
        assert s.running, f"mTLS server died during the tests\n{s.log_tail()}"
        assert s.stop() == 0, s.log_tail()


@contextlib.contextmanager
def raw_server(binary, tmp_path, args, env=None):
    """`tresor server ARGS --data-dir TMP` as is (no --listen added), killed
    on the way out. Yields the Popen; its output goes to tmp_path/raw.log."""
    e = clean_env()
    e.update(env or {})
    log = open(tmp_path / "raw.log", "ab")
    proc = subprocess.Popen([str(binary), "server", *args, "--data-dir", str(tmp_path / "raw-data")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=e,
                            cwd=tmp_path, preexec_fn=_preexec())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
        log.close()


def wait_healthy(proc, url, timeout=START_TIMEOUT, **kw):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            if requests.get(url + "/healthz", timeout=0.5, **kw).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"no healthy server at {url} within {timeout}s")


@contextlib.contextmanager
def serve_on_all_addresses(binary, tmp_path, args, env=None, scheme="http", **kw):
    """A server on 0.0.0.0 at a free port, healthy. A port that looked free on
    127.0.0.1 can still be taken on 0.0.0.0 (by a client socket's local
    port): then another port is tried, at most three."""
    for _attempt in range(3):
        port = free_port()
        with raw_server(binary, tmp_path, ["--listen", f"0.0.0.0:{port}", *args], env) as proc:
            try:
                wait_healthy(proc, f"{scheme}://127.0.0.1:{port}", **kw)
            except AssertionError:
                if "in use" in (tmp_path / "raw.log").read_text():
                    continue
                raise
            yield proc
            return
    pytest.fail("no free port on 0.0.0.0 after three tries")


def refuse(binary, tmp_path, *args, env=None):
    """Runs a server that must not start; returns (exit code, output)."""
    out = run_cli(binary, ["server", *args, "--data-dir", str(tmp_path / "refused")],
                  env=env, cwd=tmp_path, timeout=REFUSE_TIMEOUT)
    assert not (tmp_path / "refused").exists(), "a refused server created its data directory"
    return out.returncode, out.stdout + out.stderr


# ---------------------------------------------------------------- https works

def test_health_over_https(tls_server):
    r = tls_server.https("GET", "/healthz", token=None)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert f"listening on https://127.0.0.1:{tls_server.port}" in tls_server.log_text()


def test_localhost_name_verifies_too(tls_server):
    r = requests.get(f"https://localhost:{tls_server.port}/healthz", verify=tls_server.ca, timeout=10)
    assert r.status_code == 200


def test_secret_round_trip_over_https(tls_server):
    name, value = uniq("tls"), secret_value("tls")
    r = tls_server.https("POST", "/v2/workspaces/default/secrets", json={"name": name, "value": value})
    assert r.status_code == 201, r.text
    assert value not in r.text
    r = tls_server.https("GET", f"/v2/workspaces/default/secrets/{name}/access")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": name, "workspace": "default", "value": value}
    assert tls_server.https("GET", f"/v2/workspaces/default/secrets/{name}/access",
                            token=None).status_code == 401
    assert value not in tls_server.log_text()


# ---------------------------------------------------------------- what fails

def test_plain_http_to_the_tls_port_fails(tls_server):
    try:
        r = requests.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=5)
    except requests.RequestException:
        pass  # reset or closed: fine
    else:
        assert r.status_code >= 400 and "ok" not in r.text, r.text
    # the raw bytes: nothing that looks like an HTTP answer comes back in clear
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = s.recv(4096)
        except OSError:
            got = b""
    assert b"status" not in got and b"200 OK" not in got, got[:200]
    assert tls_server.https("GET", "/healthz", token=None).status_code == 200


def test_wrong_ca_fails_verification(tls_server, pki):
    with pytest.raises(requests.exceptions.SSLError):
        tls_server.https("GET", "/healthz", token=None, verify=pki.other_ca)
    assert tls_server.https("GET", "/healthz", token=None).status_code == 200


def _handshake(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version(), s.cipher()[0]


def _client_ctx(ca, *, maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def test_tls_1_2_and_1_3_accepted(tls_server):
    assert _handshake(tls_server.port, _client_ctx(tls_server.ca))[0] == "TLSv1.3"
    version, cipher = _handshake(tls_server.port, _client_ctx(tls_server.ca,
                                                              maximum=ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher


def test_tls_1_1_refused(tls_server):
    ctx = _client_ctx(tls_server.ca)
    try:
        # Debian's OpenSSL hides TLS < 1.2 at security level 2; level 0 lets
        # the client offer it, so that only the server can say no.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError) as e:
        pytest.skip(f"the local OpenSSL cannot offer TLS 1.1: {e}")
    with pytest.raises(ssl.SSLError) as info:
        _handshake(tls_server.port, ctx)
    print("TLS 1.1 refused:", info.value.reason)
    if info.value.reason == "NO_PROTOCOLS_AVAILABLE":
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    assert info.value.reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL",
                                 "WRONG_SSL_VERSION", "WRONG_VERSION_NUMBER"), info.value
    assert tls_server.https("GET", "/healthz", token=None).status_code == 200


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA"])
def test_tls_1_2_without_ecdhe_aead_refused(tls_server, cipher):
    ctx = _client_ctx(tls_server.ca, maximum=ssl.TLSVersion.TLSv1_2, ciphers=cipher)
    with pytest.raises(ssl.SSLError):
        _handshake(tls_server.port, ctx)


# ---------------------------------------------------------------- client certificates

def test_client_without_certificate_refused(mtls_server):
    with pytest.raises(requests.RequestException):
        mtls_server.https("GET", "/healthz", token=None, cert=None)


def test_client_certificate_from_another_ca_refused(mtls_server, pki):
    with pytest.raises(requests.RequestException):
        mtls_server.https("GET", "/healthz", token=None, cert=(pki.stranger, pki.stranger_key))


def test_client_certificate_from_the_ca_accepted_token_still_needed(mtls_server):
    assert mtls_server.https("GET", "/healthz", token=None).status_code == 200
    assert mtls_server.https("GET", "/v2/workspaces").status_code == 200
    assert mtls_server.https("GET", "/v2/workspaces", token=None).status_code == 401
    assert mtls_server.https("GET", "/v2/workspaces", token="trs_" + "x" * 43).status_code == 401


# ---------------------------------------------------------------- the loopback rule

@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "192.0.2.1"])
def test_non_loopback_without_tls_refused(tresor_bin, tmp_path, host):
    code, out = refuse(tresor_bin, tmp_path, "--listen", f"{host}:{free_port()}")
    assert code == 1, out
    assert "refusing to listen" in out and "--insecure-listen" in out and "--tls-cert" in out, out


def test_non_loopback_refused_from_environment_and_config(tresor_bin, tmp_path):
    code, out = refuse(tresor_bin, tmp_path, env={"TRESOR_LISTEN": f"0.0.0.0:{free_port()}"})
    assert code == 1 and "--insecure-listen" in out, out
    cfg = tmp_path / "tresor.yaml"
    cfg.write_text(f"server:\n  listen: 0.0.0.0:{free_port()}\n  insecure_listen: false\n")
    code, out = refuse(tresor_bin, tmp_path, "--config", str(cfg))
    assert code == 1 and "--insecure-listen" in out, out


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_insecure_listen_allows_plain_http_on_any(tresor_bin, tmp_path, how):
    args, env = ["--workers", "1"], {}
    if how == "flag":
        args.append("--insecure-listen")
    elif how == "env":
        env["TRESOR_INSECURE_LISTEN"] = "1"
    else:
        cfg = tmp_path / "tresor.yaml"
        cfg.write_text("server:\n  insecure_listen: true\n")
        args += ["--config", str(cfg)]
    with serve_on_all_addresses(tresor_bin, tmp_path, args, env) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0
    assert "--insecure-listen" in (tmp_path / "raw.log").read_text()


def test_tls_lifts_the_loopback_rule(tresor_bin, tmp_path, pki):
    args = ["--workers", "1", "--tls-cert", pki.server, "--tls-key", pki.server_key]
    with serve_on_all_addresses(tresor_bin, tmp_path, args, scheme="https", verify=pki.ca) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost"])
def test_loopback_needs_no_flag(tresor_bin, tmp_path, host):
    port = free_port()
    with raw_server(tresor_bin, tmp_path, ["--listen", f"{host}:{port}", "--workers", "1"]) as proc:
        wait_healthy(proc, f"http://{'127.0.0.1' if host == 'localhost' else host}:{port}")


# ---------------------------------------------------------------- bad TLS settings

def test_mismatched_key_refuses_to_start(tresor_bin, tmp_path, pki):
    code, out = refuse(tresor_bin, tmp_path, "--listen", "127.0.0.1:0",
                       "--tls-cert", pki.server, "--tls-key", pki.lonely_key)
    assert code == 1, out
    assert "does not match" in out and "lonely.key" in out and "server.pem" in out, out
    assert_no_key_material(pki, out, "start-up output")


@pytest.mark.parametrize("args, words", [
    (["--tls-cert", "{server}"], "both"),
    (["--tls-key", "{server_key}"], "both"),
    (["--tls-cert", "{server}", "--tls-key", "{tmp}/missing.key"], "missing.key"),
    (["--tls-cert", "{server_key}", "--tls-key", "{server_key}"], "certificate"),
    (["--tls-cert", "{server}", "--tls-key", "{server}"], "private key"),
    (["--tls-cert", "{server}", "--tls-key", "{server_key}", "--tls-client-ca", "{server_key}"],
     "client CA"),
    (["--tls-client-ca", "{ca}"], "--tls-client-ca"),
])
def test_bad_tls_settings_refuse_to_start(tresor_bin, tmp_path, pki, args, words):
    files = {"server": pki.server, "server_key": pki.server_key, "ca": pki.ca, "tmp": str(tmp_path)}
    code, out = refuse(tresor_bin, tmp_path, "--listen", "127.0.0.1:0",
                       *[a.format(**files) for a in args])
    assert code == 1, out
    assert words in out, out
    assert_no_key_material(pki, out, "start-up output")


def test_encrypted_key_fails_without_prompting(tresor_bin, tmp_path, pki):
    enc = tmp_path / "enc.key"
    _openssl("pkey", "-in", pki.server_key, "-aes256", "-passout", "pass:e2e-pass",
             "-out", str(enc), cwd=tmp_path)
    code, out = refuse(tresor_bin, tmp_path, "--listen", "127.0.0.1:0",
                       "--tls-cert", pki.server, "--tls-key", str(enc))
    assert code == 1 and "unencrypted" in out, out


def test_tls_settings_from_environment(tresor_bin, tmp_path, pki):
    port = free_port()
    env = {"TRESOR_TLS_CERT": pki.server, "TRESOR_TLS_KEY": pki.server_key,
           "TRESOR_TLS_CLIENT_CA": pki.client_ca}
    with raw_server(tresor_bin, tmp_path, ["--listen", f"127.0.0.1:{port}", "--workers", "1"],
                    env) as proc:
        wait_healthy(proc, f"https://127.0.0.1:{port}", verify=pki.ca,
                     cert=(pki.client, pki.client_key))
        with pytest.raises(requests.RequestException):
            requests.get(f"https://127.0.0.1:{port}/healthz", verify=pki.ca, timeout=5)


# ---------------------------------------------------------------- the CLI

def _cli_has_cacert(binary):
    out = run_cli(binary, ["--help"])
    return "--cacert" in out.stdout + out.stderr


def test_cli_with_cacert(tls_server):
    if not _cli_has_cacert(tls_server.binary):
        pytest.skip("TODO: the CLI has no --cacert yet (issue 3, client side)")
    out = tls_server.cli("--addr", tls_server.url, "--cacert", tls_server.ca, "secrets", "list")
    assert out.returncode == 0, out.stderr
    out = tls_server.cli("secrets", "list", env={"TRESOR_ADDR": tls_server.url,
                                                 "TRESOR_CACERT": tls_server.ca})
    assert out.returncode == 0, out.stderr


def test_cli_without_the_ca_does_not_trust_the_server(tls_server, pki):
    if not _cli_has_cacert(tls_server.binary):
        pytest.skip("TODO: the CLI has no --cacert yet (issue 3, client side)")
    out = tls_server.cli("--addr", tls_server.url, "secrets", "list")
    assert out.returncode != 0, out.stdout
    out = tls_server.cli("--addr", tls_server.url, "--cacert", pki.other_ca, "secrets", "list")
    assert out.returncode != 0, out.stdout


class LocalhostTlsServer(TlsServer):
    """A TLS server reached as https://localhost (its certificate may not
    name 127.0.0.1)."""

    @property
    def url(self):
        assert self.port is not None, "server not started"
        return f"https://localhost:{self.port}"


@pytest.mark.parametrize("cert, good, bad, why", [
    ("localhost_only", "localhost", "127.0.0.1", "IP address mismatch"),
    ("ip_only", "127.0.0.1", "localhost", "hostname mismatch"),
])
def test_cli_checks_the_name_in_the_certificate(tresor_bin, pki, tmp_path, cert, good, bad, why):
    """A certificate from the trusted CA is not enough: it must be for the
    host name or IP address of --addr."""
    s = (LocalhostTlsServer if good == "localhost" else TlsServer)(tresor_bin, tmp_path, pki.ca)
    with started(s, "--tls-cert", getattr(pki, cert), "--tls-key", getattr(pki, f"{cert}_key"),
                 "--workers", "1"):
        out = s.cli("--addr", f"https://{good}:{s.port}", "--cacert", pki.ca, "secrets", "list")
        assert out.returncode == 0, out.stderr
        out = s.cli("--addr", f"https://{bad}:{s.port}", "--cacert", pki.ca, "secrets", "list")
        assert out.returncode == 6, out.stdout + out.stderr
        assert why in out.stderr and f"https://{bad}:{s.port}" in out.stderr, out.stderr

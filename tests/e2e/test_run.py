"""
`tresor run` and `tresor explain` end to end (docs/injection.md): the AI
Blueprints recipe of the seed (hf-secret / HF_TOKEN) with a child that prints
its environment and arguments, $(VAR) expansion, scope precedence and version
pins, failures that name what is missing before the command starts, --files,
a registry secret read back from $DOCKER_CONFIG/config.json, masking of a
child that echoes its secrets (raw, encoded, split across writes, on stdout
and stderr, through a pseudo-terminal), exit codes and signals, stdin, and
explain. Runs on the session server in a workspace of its own, with a
service account's token.
"""
import base64
import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from types import SimpleNamespace

import pytest

from conftest import run_cli, secret_value, tls_cli_env, uniq

PY = sys.executable

# A child that prints what it got as one JSON line.
DUMP = ("import json, os, sys; print(json.dumps({'env': {k: v for k, v in os.environ.items() "
        "if not k.startswith(('LC_', 'PWD', 'SHLVL', '_'))}, 'args': sys.argv[1:]}))")


@pytest.fixture(scope="module")
def ws(server):
    """A workspace with a service account (token minted by the platform
    admin), the seed's hf-secret, a registry secret and a layered secret."""
    name = server.create_workspace(uniq("run"))
    svc = server.create_principal(uniq("runsvc"), kind="service")
    server.set_member(name, svc, "service")
    ns = SimpleNamespace(server=server, ws=name, token=server.mint(svc), values={})
    ns.values["hf"] = "hf_" + uuid_hex(24)
    make(ns, "hf-secret", data={"hf-token": ns.values["hf"]})
    ns.values["password"] = "nvapi-" + uuid_hex(20)
    make(ns, "iad-creds", type="container_registry",
         data={"registry_server": "nvcr.io", "username": "$oauthtoken",
               "password": ns.values["password"], "email": "ops@example.com"})
    for scope, extra in (("workspace", {}), ("cluster", {"cluster": "c1"}), ("project", {"project": "p1"})):
        ns.values[f"layer-{scope}"] = secret_value(f"layer-{scope}")
        make(ns, "layered", value=ns.values[f"layer-{scope}"], **extra)
    return ns


def uuid_hex(n):
    return os.urandom(n).hex()[:n]


def make(ns, name, **body):
    body.setdefault("visibility", "public")
    return ns.server.create_secret(ns.ws, name=name, **body)


def tresor(ns, *args, input=None, env=None, cwd=None, timeout=60):
    """tresor ARGS with the service token, in the workspace of ns."""
    e = {"TRESOR_TOKEN": ns.token}
    e.update(env or {})
    return ns.server.cli(*args, input=input, env=e, cwd=cwd, timeout=timeout)


def run(ns, *args, **kw):
    return tresor(ns, "run", "-w", ns.ws, *args, **kw)


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout[:800]}\nstderr: {res.stderr[:800]}"
    return res


def dumped(res):
    ok(res)
    return json.loads(res.stdout.strip().splitlines()[-1])


def recipe_file(tmp_path, recipe):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


SEED_RECIPE = {
    "recipe_environment_secrets": [
        {"envvar_name": "HF_TOKEN", "secret_name": "hf-secret", "secret_key": "hf-token"},
    ],
    "recipe_container_command_args": ["--token", "$(HF_TOKEN)"],
}


# ---------------------------------------------------------------- the seed's recipe

def test_seed_recipe_sets_the_variable_and_expands_the_argument(ws, tmp_path):
    recipe = recipe_file(tmp_path, SEED_RECIPE)
    out = dumped(run(ws, "--recipe", recipe, "--no-mask", "--", PY, "-c", DUMP))
    assert out["env"]["HF_TOKEN"] == ws.values["hf"]
    assert out["args"] == ["--token", ws.values["hf"]]


def test_seed_recipe_output_is_masked_by_default(ws, tmp_path):
    recipe = recipe_file(tmp_path, SEED_RECIPE)
    res = run(ws, "--recipe", recipe, "--", PY, "-c", DUMP)
    out = dumped(res)
    assert out["env"]["HF_TOKEN"] == "***"
    assert out["args"] == ["--token", "***"]
    assert ws.values["hf"] not in res.stdout + res.stderr


def test_recipe_args_alone_are_the_command(ws, tmp_path):
    recipe = recipe_file(tmp_path, {**SEED_RECIPE,
                                    "recipe_container_command_args": [PY, "-c", DUMP, "$(HF_TOKEN)"]})
    out = dumped(run(ws, "--recipe", recipe, "--no-mask"))
    assert out["args"] == [ws.values["hf"]]


def test_command_line_mapping_replaces_the_recipes(ws, tmp_path):
    recipe = recipe_file(tmp_path, SEED_RECIPE)
    out = dumped(run(ws, "--recipe", recipe, "--no-mask", "-e", "HF_TOKEN=plain-override",
                     "--", PY, "-c", DUMP))
    assert out["env"]["HF_TOKEN"] == "plain-override"
    assert out["args"] == ["--token", "plain-override"]


def test_secret_and_env_options(ws):
    out = dumped(run(ws, "--no-mask", "-s", "A=hf-secret#hf-token", "-s", "B=hf-secret",
                     "-e", "C=secret:hf-secret", "-e", "D=secret:iad-creds#password",
                     "-e", "PLAIN=just text", "--secret", "E=hf-secret", "--env", "F=x=y",
                     "--", PY, "-c", DUMP))
    env = out["env"]
    assert env["A"] == env["B"] == env["C"] == env["E"] == ws.values["hf"]
    assert env["D"] == ws.values["password"]
    assert env["PLAIN"] == "just text" and env["F"] == "x=y"


def test_the_token_is_not_passed_to_the_child(ws):
    out = dumped(run(ws, "--no-mask", "-s", "A=hf-secret", "--", PY, "-c", DUMP))
    assert "TRESOR_TOKEN" not in out["env"]
    assert out["env"]["TRESOR_ADDR"]  # the rest of the environment is inherited


# ---------------------------------------------------------------- $(VAR)

def test_kubernetes_expansion_rules(ws):
    out = dumped(run(ws, "--no-mask", "-s", "T=hf-secret", "-e", "P=plain",
                     "--", PY, "-c", DUMP, "$(T)", "$$(T)", "$(UNKNOWN)", "x$(P)y", "$$$$", "$(P",
                     "$(HOME)", "${P}"))
    assert out["args"] == [ws.values["hf"], "$(T)", "$(UNKNOWN)", "xplainy", "$$", "$(P",
                           "$(HOME)", "${P}"]


# ---------------------------------------------------------------- precedence, pins

@pytest.mark.parametrize("scope_args,scope,overrode", [
    (["--project", "p1", "--cluster", "c1"], "project", ["cluster", "workspace"]),
    (["--project", "p1"], "project", ["workspace"]),
    (["--project", "p9", "--cluster", "c1"], "cluster", ["workspace"]),
    (["--cluster", "c1"], "cluster", ["workspace"]),
    ([], "workspace", []),
    (["--project", "p9"], "workspace", []),
])
def test_precedence_across_scopes(ws, scope_args, scope, overrode):
    out = dumped(run(ws, *scope_args, "--no-mask", "-s", "L=layered", "--", PY, "-c", DUMP))
    assert out["env"]["L"] == ws.values[f"layer-{scope}"]
    res = ok(tresor(ws, "explain", "-w", ws.ws, *scope_args, "-s", "L=layered", "-o", "json"))
    (var,) = json.loads(res.stdout)["variables"]
    assert (var["envvar_name"], var["secret_name"], var["scope"]) == ("L", "layered", scope)
    assert var["overrode"] == overrode
    assert "value" not in var


def test_version_pin_keeps_the_old_value(ws):
    name = uniq("pin")
    v1 = secret_value("v1")
    make(ws, name, value=v1)
    v2 = secret_value("v2")
    r = ws.server.patch(f"/v2/workspaces/{ws.ws}/secrets/{name}", json={"value": v2})
    assert r.status_code == 200, r.text
    out = dumped(run(ws, "--no-mask", "-s", f"OLD={name}@1", "-s", f"NEW={name}", "--", PY, "-c", DUMP))
    assert (out["env"]["OLD"], out["env"]["NEW"]) == (v1, v2)
    res = ok(tresor(ws, "explain", "-w", ws.ws, "-s", f"OLD={name}@1", "-s", f"NEW={name}"))
    lines = {line.split()[0]: line.split() for line in res.stdout.splitlines()[1:]}
    assert lines["OLD"][1] == f"{name}@1" and lines["OLD"][4] == "1"
    assert lines["NEW"][4] == "2"
    assert v1 not in res.stdout and v2 not in res.stdout


# ---------------------------------------------------------------- failures before the start

@pytest.mark.parametrize("mapping,named", [
    ("X=no-such-secret", "no-such-secret"),
    ("X=hf-secret#no-such-key", "no-such-key"),
    ("X=hf-secret@99", "version 99"),
])
def test_missing_secret_key_or_version_fails_before_the_command(ws, tmp_path, mapping, named):
    marker = tmp_path / "ran"
    res = run(ws, "-s", "OK=hf-secret", "-s", mapping, "--", "touch", marker)
    assert res.returncode == 2, res.stderr
    assert named in res.stderr
    assert not marker.exists(), "the command ran although a secret was missing"
    assert ws.values["hf"] not in res.stdout + res.stderr


def test_a_multi_key_secret_needs_a_key(ws, tmp_path):
    res = run(ws, "-s", "X=iad-creds", "--", "true")
    assert res.returncode == 5 and "name one" in res.stderr


def test_not_a_service_token_is_refused(ws):
    res = ws.server.cli("run", "-w", ws.ws, "-s", "X=hf-secret", "--", "true")
    assert res.returncode == 4, res.stderr


@pytest.mark.parametrize("args,message", [
    (["-s", "X"], "VAR="),
    (["-s", "1X=hf-secret"], "variable name"),
    (["-s", "X=hf-secret#"], "SECRET"),
    (["-s", "X=a", "-s", "X=b"], "twice"),
    ([], "no command"),
])
def test_usage_errors(ws, args, message):
    res = tresor(ws, "run", *args, *(["--", "true"] if args else []))
    assert res.returncode == 1, res.stderr
    assert message in res.stderr


def test_a_command_that_cannot_run_is_127(ws):
    res = run(ws, "-s", "X=hf-secret", "--", "/nonexistent/command")
    assert res.returncode == 127
    assert "cannot run" in res.stderr


def test_a_file_that_cannot_be_executed_is_126(ws, tmp_path):
    plain = tmp_path / "not-executable"
    plain.write_text("echo never\n")
    res = run(ws, "-s", "X=hf-secret", "--", str(plain))
    assert res.returncode == 126
    assert "cannot run" in res.stderr and "Permission denied" in res.stderr
    assert "never" not in res.stdout


def test_a_script_without_an_interpreter_line_runs_under_sh(ws, tmp_path):
    script = tmp_path / "plain-script"
    script.write_text('echo "got $X" "$1"\n')
    script.chmod(0o700)
    res = ok(run(ws, "--no-mask", "-s", "X=hf-secret", "--", str(script), "arg1"))
    assert res.stdout.split() == ["got", ws.values["hf"], "arg1"], res.stdout


def test_recipe_errors_name_the_problem(ws, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"recipe_environment_secrets": [{"envvar_name": "X"}]}')
    res = run(ws, "--recipe", bad, "--", "true")
    assert res.returncode == 5 and "secret_name" in res.stderr
    bad.write_text("hf_not_json_value")
    res = run(ws, "--recipe", bad, "--", "true")
    assert res.returncode == 5 and "not valid JSON (line 1" in res.stderr
    assert "hf_not_json_value" not in res.stderr  # the input is never echoed
    bad.write_text("[1, 2]")
    res = run(ws, "--recipe", bad, "--", "true")
    assert res.returncode == 5 and "not a JSON object" in res.stderr


# ---------------------------------------------------------------- --files

def test_files_gives_each_secret_as_a_private_file(ws, tmp_path):
    script = ("import json, os, stat; d = os.environ['CREDENTIALS_DIRECTORY']; "
              "print(json.dumps({'dir': d, 'dir_mode': stat.S_IMODE(os.stat(d).st_mode), "
              "'files': {n: [open(os.path.join(d, n)).read(), stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode)] "
              "for n in sorted(os.listdir(d))}, 'env': 'HF_TOKEN' in os.environ, "
              "'plain': os.environ.get('PLAIN')}))")
    out = dumped(run(ws, "--files", tmp_path, "--no-mask", "-s", "HF_TOKEN=hf-secret",
                     "-s", "PW=iad-creds#password", "-e", "PLAIN=visible", "--", PY, "-c", script))
    assert out["files"] == {"HF_TOKEN": [ws.values["hf"], 0o400], "PW": [ws.values["password"], 0o400]}
    assert out["dir_mode"] == 0o500
    assert os.path.dirname(out["dir"]) == str(tmp_path)
    assert out["env"] is False, "a --files secret is in the environment too"
    assert out["plain"] == "visible"
    assert not os.path.exists(out["dir"]), "the credentials directory outlived the command"


def test_files_are_removed_when_the_command_fails(ws, tmp_path):
    res = run(ws, "--files", tmp_path, "-s", "A=hf-secret", "--", "sh", "-c",
              'echo "$CREDENTIALS_DIRECTORY"; exit 9')
    assert res.returncode == 9
    assert not os.path.exists(res.stdout.strip())
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- registry secrets

def test_registry_secret_becomes_docker_config(ws, tmp_path):
    recipe = recipe_file(tmp_path, {**SEED_RECIPE, "recipe_container_secret_name": "iad-creds"})
    script = ("import json, os, stat; d = os.environ['DOCKER_CONFIG']; p = os.path.join(d, 'config.json'); "
              "print(json.dumps({'dir': d, 'dir_mode': stat.S_IMODE(os.stat(d).st_mode), "
              "'mode': stat.S_IMODE(os.stat(p).st_mode), 'config': json.load(open(p))}))")
    out = dumped(run(ws, "--recipe", recipe, "--no-mask", "--", PY, "-c", script))
    assert out["dir_mode"] == 0o700 and out["mode"] == 0o600
    entry = out["config"]["auths"]["nvcr.io"]
    assert base64.b64decode(entry["auth"]).decode() == f"$oauthtoken:{ws.values['password']}"
    assert not os.path.exists(out["dir"]), "DOCKER_CONFIG outlived the command"


def test_registry_credentials_are_masked_in_every_form(ws, tmp_path):
    recipe = recipe_file(tmp_path, {"recipe_container_secret_name": "iad-creds"})
    res = run(ws, "--recipe", recipe, "--", "sh", "-c", 'cat "$DOCKER_CONFIG/config.json"')
    ok(res)
    pair = f"$oauthtoken:{ws.values['password']}".encode()
    assert base64.b64encode(pair).decode() not in res.stdout
    assert ws.values["password"] not in res.stdout
    assert "nvcr.io" in res.stdout and "***" in res.stdout


# ---------------------------------------------------------------- masking

ECHO_FORMS = r"""
import base64, json, os, sys, time, urllib.parse
v = os.environ['V']
forms = [v, base64.b64encode(v.encode()).decode(), base64.urlsafe_b64encode(v.encode()).decode(),
         urllib.parse.quote(v, safe=''), urllib.parse.quote_plus(v), json.dumps(v), json.dumps(v, ensure_ascii=False)]
for f in forms:
    print('form:', f, flush=True)
# one byte at a time, on stdout and stderr
for stream in (sys.stdout, sys.stderr):
    for ch in 'split:' + v + '\n':
        stream.write(ch); stream.flush(); time.sleep(0.001)
print('short:', os.environ['SHORT'], flush=True)
"""


def test_child_echoing_its_secrets_is_masked(ws):
    value = "s3cr3t/v@lue with spaces+&\"quotes\" \u00e9\u20ac"
    name = uniq("maskme")
    make(ws, name, value=value)
    short = uniq("short")
    make(ws, short, value="12345")
    res = run(ws, "-s", f"V={name}", "-s", f"SHORT={short}", "--", PY, "-c", ECHO_FORMS)
    ok(res)
    both = res.stdout + res.stderr
    for form in (value, base64.b64encode(value.encode()).decode(),
                 urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
                 json.dumps(value), json.dumps(value, ensure_ascii=False)[1:-1]):
        assert form not in both, f"a form of the value shows: {form!r}"
    forms = [line for line in res.stdout.splitlines() if line.startswith("form: ")]
    assert len(forms) == 7 and all(f in ("form: ***", 'form: "***"') for f in forms), res.stdout
    assert "split:***" in res.stdout and "split:***" in res.stderr
    assert "short: 12345" in res.stdout, "a value under 6 bytes was masked"


def test_no_mask_streams_output_untouched(ws):
    res = ok(run(ws, "--no-mask", "-s", "V=hf-secret", "--", "sh", "-c", 'printf "%s" "$V"; printf "%s" "$V" >&2'))
    assert res.stdout == ws.values["hf"] and res.stderr == ws.values["hf"]


def test_binary_output_passes_through(ws):
    script = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 64)"
    res = ok(run(ws, "-s", "V=hf-secret", "--", PY, "-c", script))
    assert res.stdout_bytes == bytes(range(256)) * 64


def run_in_pty(ns, *args, input=b"", timeout=30):
    """Runs tresor with a pseudo-terminal as stdin, stdout and stderr;
    returns (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    env.update({"TRESOR_ADDR": ns.server.url, "TRESOR_TOKEN": ns.token, **tls_cli_env()})
    p = subprocess.Popen([str(ns.server.binary), "run", "-w", ns.ws, *args], stdin=slave, stdout=slave,
                         stderr=slave, env=env, close_fds=True, start_new_session=True)
    os.close(slave)
    if input:
        os.write(master, input)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    code = p.wait(timeout=10)
    os.close(master)
    return code, out


def test_a_terminal_gets_a_terminal_and_masking_still_works(ws):
    script = ("import os, sys; print('tty', sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty()); "
              "print('value', os.environ['V']); print('err', os.environ['V'], file=sys.stderr); "
              "print('read', input())")
    code, out = run_in_pty(ws, "-s", "V=hf-secret", "--", PY, "-c", script, input=b"typed line\n")
    text = out.decode("utf-8", "replace")
    assert code == 0, text
    assert "tty True True True" in text
    assert "value ***" in text and "err ***" in text
    assert "read typed line" in text
    assert ws.values["hf"] not in text


# ---------------------------------------------------------------- exit codes, signals, stdin

def test_exit_status_is_the_commands(ws):
    assert run(ws, "-s", "V=hf-secret", "--", "sh", "-c", "exit 3").returncode == 3
    assert run(ws, "-s", "V=hf-secret", "--", "sh", "-c", "exit 0").returncode == 0
    assert run(ws, "--no-mask", "-s", "V=hf-secret", "--", "sh", "-c", "exit 77").returncode == 77


def test_death_by_signal_is_128_plus_n(ws):
    assert run(ws, "-s", "V=hf-secret", "--", "sh", "-c", "kill -KILL $$$$").returncode == 128 + 9
    assert run(ws, "-s", "V=hf-secret", "--", "sh", "-c", "kill -TERM $$$$").returncode == 128 + 15


def start(ns, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    env.update({"TRESOR_ADDR": ns.server.url, "TRESOR_TOKEN": ns.token, **tls_cli_env()})
    return subprocess.Popen([str(ns.server.binary), "run", "-w", ns.ws, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for_line(p, text, timeout=20):
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            line = p.stdout.readline()
            if text.encode() in line:
                return
    pytest.fail(f"the child did not print {text!r}")


TRAPPER = ("import signal, sys, time\n"
           "def h(n, f):\n"
           "    print('got', n, flush=True); sys.exit(40 + n % 20)\n"
           "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, h)\n"
           "print('ready', flush=True)\n"
           "time.sleep(30)\n")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_are_forwarded_once(ws, sig):
    p = start(ws, "-s", "V=hf-secret", "--", PY, "-c", TRAPPER)
    try:
        wait_for_line(p, "ready")
        p.send_signal(sig)
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 40 + int(sig) % 20
    assert out.decode().count("got") == 1


def test_a_command_without_handlers_dies_of_the_forwarded_signal(ws):
    p = start(ws, "--no-mask", "-s", "V=hf-secret", "--", PY, "-c", "print('ready', flush=True); "
              "import time; time.sleep(30)")
    try:
        wait_for_line(p, "ready")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 128 + signal.SIGTERM


def test_stdin_passes_through(ws):
    data = "line 1\nline 2 " + "x" * 100000 + "\n"
    res = ok(run(ws, "-s", "V=hf-secret", "--", "cat", input=data))
    assert res.stdout == data


# ---------------------------------------------------------------- explain

def test_explain_lists_every_variable_without_values(ws, tmp_path):
    recipe = recipe_file(tmp_path, {**SEED_RECIPE, "recipe_container_secret_name": "iad-creds"})
    res = ok(tresor(ws, "explain", "-w", ws.ws, "--recipe", recipe, "--project", "p1",
                    "-s", "L=layered", "-e", "PLAIN=some-plain-value"))
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert set(rows) == {"HF_TOKEN", "L", "PLAIN", "DOCKER_CONFIG"}
    assert "hf-secret" in rows["HF_TOKEN"] and "recipe" in rows["HF_TOKEN"]
    assert "project:p1" in rows["L"] and "workspace" in rows["L"]
    assert "iad-creds" in rows["DOCKER_CONFIG"]
    assert "some-plain-value" not in res.stdout
    for v in ws.values.values():
        assert v not in res.stdout + res.stderr
    res = ok(tresor(ws, "explain", "-w", ws.ws, "--recipe", recipe, "-e", "HF_TOKEN=secret:layered", "-o", "json"))
    out = json.loads(res.stdout)
    by_name = {v["envvar_name"]: v for v in out["variables"]}
    assert by_name["HF_TOKEN"]["secret_name"] == "layered" and by_name["HF_TOKEN"]["replaced_recipe"] is True
    assert all("value" not in v and "dockerconfigjson" not in v for v in out["variables"])

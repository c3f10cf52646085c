"""
`tresor export` and `tresor import` end to end (docs/injection.md): a .env
file whose values read back exactly through a POSIX shell and python-dotenv,
Kubernetes Secret manifests (Opaque and kubernetes.io/dockerconfigjson), a
merged Docker config, the two ways values leave the server (a platform
admin's /access, a service's /resolve) and that both are audited, values no
.env quoting can carry refused without showing them, and export -> import
round trips in both formats. Runs on the session server, each test in
workspaces of its own.
"""
import base64
import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import secret_value, uniq

PY = sys.executable

# Values a .env file must carry: quotes, newlines, $, #, spaces, unicode.
TRICKY = {
    "quotes": "it's \"quoted\"",
    "newlines": "line 1\nline 2\n",
    "dollars": "pa$$word $HOME ${HOME} $(cmd) `not` run",
    "hash": "value # not a comment",
    "spaces": "  padded  ",
    "unicode": "caf\u00e9 \u20ac \U0001f511",
    "backslash": "C:\\Users\\me",
    "json": "{\"auths\":{\"r.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
    "pem": "-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----\n",
    "equals": "a=b=c",
}
# Readable alike by a shell and python-dotenv only with python-dotenv's
# interpolation off: it expands ${NAME} inside every value.
INTERPOLATED = {"dollars"}


@pytest.fixture
def env(server):
    """A workspace with a service account's token; secrets are public."""
    ws = server.create_workspace(uniq("exp"))
    svc = server.create_principal(uniq("expsvc"), kind="service")
    server.set_member(ws, svc, "service")
    return type("Env", (), {"server": server, "ws": ws, "svc": server.mint(svc)})


def make(env, name, **body):
    body.setdefault("visibility", "public")
    return env.server.create_secret(env.ws, name=name, **body)


def admin(env, *args, **kw):
    return env.server.cli(*args, **kw)


def service(env, *args, **kw):
    e = {"TRESOR_TOKEN": env.svc}
    e.update(kw.pop("env", {}))
    return env.server.cli(*args, env=e, **kw)


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout[:800]}\nstderr: {res.stderr[:800]}"
    return res


def values_of(env, ws, name):
    return env.server.access(ws, name).get("data") or {"value": env.server.access(ws, name)["value"]}


# ---------------------------------------------------------------- .env

def shell_read(path, names):
    """The variables as a POSIX shell sees them after `set -a; . FILE`."""
    dump = "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))"
    p = subprocess.run(["sh", "-c", 'set -a; . "$1"; set +a; shift; exec "$@"', "sh", str(path),
                        PY, "-c", dump, *names], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_env_values_round_trip_through_a_shell_and_python_dotenv(env, tmp_path):
    make(env, "tricky", data=TRICKY)
    out = tmp_path / "tricky.env"
    ok(admin(env, "export", "--format", "env", "-w", env.ws, "--out", out, "tricky"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    names = {f"TRICKY_{k.upper()}": v for k, v in TRICKY.items()}
    got = shell_read(out, list(names))
    for name, value in names.items():
        assert got[name] == value, f"the shell read {name} as {got[name]!r}"
    dotenv = pytest.importorskip("dotenv")
    raw = dotenv.dotenv_values(out, interpolate=False)
    assert {k: raw[k] for k in names} == names
    expanded = dotenv.dotenv_values(out)
    for k, value in TRICKY.items():
        if k not in INTERPOLATED:
            assert expanded[f"TRICKY_{k.upper()}"] == value


def test_env_names_and_annotations(env):
    make(env, "hf-secret", data={"hf-token": "hf_" + uniq("x")})
    make(env, "single", value=secret_value())
    res = ok(admin(env, "export", "--format", "env", "-w", env.ws, "hf-secret", "single", "HF=hf-secret#hf-token"))
    lines = res.stdout.splitlines()
    assert "# tresor: secret=hf-secret key=hf-token type=opaque" in lines
    assert any(line.startswith("HF_SECRET_HF_TOKEN='hf_") for line in lines)
    assert any(line.startswith("SINGLE='sv-") for line in lines)
    assert any(line.startswith("HF='hf_") for line in lines)


def test_a_value_no_quoting_carries_is_refused_without_showing_it(env):
    value = "it's $HOME " + uniq("v")
    make(env, "unquotable", value=value)
    res = admin(env, "export", "--format", "env", "-w", env.ws, "unquotable")
    assert res.returncode == 5
    assert "UNQUOTABLE" in res.stderr
    assert value not in res.stdout + res.stderr
    assert res.stdout == ""


def test_env_export_import_round_trip(env):
    make(env, "tricky", data=TRICKY)
    make(env, "single", value=secret_value())
    make(env, "iad-creds", type="container_registry",
         data={"registry_server": "nvcr.io", "username": "$oauthtoken", "password": secret_value("pw"),
               "email": "a@b.c"})
    text = ok(admin(env, "export", "--format", "env", "-w", env.ws)).stdout
    other = env.server.create_workspace(uniq("imp"))
    res = ok(admin(env, "import", "--format", "env", "-w", other, "-", input=text))
    assert sorted(res.stdout.splitlines()) == sorted(
        f"created secret {other}/{n} (version 1)" for n in ("tricky", "single", "iad-creds"))
    for name in ("tricky", "single", "iad-creds"):
        assert values_of(env, other, name) == values_of(env, env.ws, name)
    meta = env.server.get(f"/v2/workspaces/{other}/secrets/iad-creds").json()
    assert meta["type"] == "container_registry"
    # again: the same secrets are replaced, a version up
    res = ok(admin(env, "import", "--format", "env", "-w", other, "-", input=text))
    assert all(line.startswith("replaced secret") and line.endswith("(version 2)") for line in res.stdout.splitlines())


def test_plain_env_file_import(env, tmp_path):
    f = tmp_path / "plain.env"
    value = secret_value()
    f.write_text(f"# a comment\nexport API_KEY={value}\nQUOTED=\"two\\nlines\"\n")
    ok(admin(env, "import", "--format", "env", "-w", env.ws, f))
    assert values_of(env, env.ws, "API_KEY") == {"value": value}
    assert values_of(env, env.ws, "QUOTED") == {"value": "two\nlines"}


# ---------------------------------------------------------------- Kubernetes

def test_k8s_manifests(env):
    make(env, "hf-secret", data={"hf-token": "hf_" + uniq("x")})
    pw = secret_value("pw")
    make(env, "iad-creds", type="container_registry",
         data={"registry_server": "nvcr.io", "username": "u", "password": pw, "email": "a@b.c"})
    res = ok(admin(env, "export", "--format", "k8s", "-w", env.ws, "hf-secret", "iad-creds"))
    docs = res.stdout.split("---\n")[1:]
    assert len(docs) == 2
    assert "kind: Secret" in docs[0] and "type: Opaque" in docs[0]
    assert "type: kubernetes.io/dockerconfigjson" in docs[1]
    assert 'tresor/type: "container_registry"' in docs[1]
    for line in docs[1].splitlines():
        if line.strip().startswith('".dockerconfigjson"'):
            cfg = json.loads(base64.b64decode(line.split(": ", 1)[1].strip('"')))
            assert base64.b64decode(cfg["auths"]["nvcr.io"]["auth"]).decode() == f"u:{pw}"
            break
    else:
        pytest.fail("no .dockerconfigjson in the registry manifest")
    assert pw not in res.stdout, "a value shows unencoded in a manifest"


def test_k8s_export_import_round_trip(env):
    make(env, "tricky", data=TRICKY)
    make(env, "Upper_Name", value=secret_value())
    make(env, "iad-creds", type="container_registry",
         data={"registry_server": "nvcr.io", "username": "u", "password": secret_value("pw"), "email": "a@b.c"})
    text = ok(admin(env, "export", "--format", "k8s", "-w", env.ws)).stdout
    assert 'name: "upper-name"' in text and 'tresor/name: "Upper_Name"' in text
    other = env.server.create_workspace(uniq("imp"))
    ok(admin(env, "import", "--format", "k8s", "-w", other, "-", input=text))
    for name in ("tricky", "Upper_Name", "iad-creds"):
        assert values_of(env, other, name) == values_of(env, env.ws, name)
    assert env.server.get(f"/v2/workspaces/{other}/secrets/iad-creds").json()["type"] == "container_registry"


def test_import_of_hand_written_manifests(env, tmp_path):
    value = secret_value()
    yaml_text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Secret\n  metadata: {name: from-list}\n  type: Opaque\n"
        f"  stringData:\n    token: {value}\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\ndata: {a: b}\n"
    )
    f = tmp_path / "m.yaml"
    f.write_text(yaml_text)
    ok(admin(env, "import", "--format", "k8s", "-w", env.ws, f))
    assert values_of(env, env.ws, "from-list") == {"token": value}
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "from-json"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(b'{"auths":{"r.io":{"auth":"dXNlcjpwYXNz"}}}').decode()}}
    ok(admin(env, "import", "--format", "k8s", "-w", env.ws, "-", input=json.dumps(manifest)))
    meta = env.server.get(f"/v2/workspaces/{env.ws}/secrets/from-json").json()
    assert meta["type"] == "container_registry"
    bad = admin(env, "import", "--format", "k8s", "-w", env.ws, "-",
                input="kind: Secret\nmetadata: {name: x}\ndata: {k: '%%%'}\n")
    assert bad.returncode == 5 and "not base64" in bad.stderr
    none = admin(env, "import", "--format", "k8s", "-w", env.ws, "-", input="kind: ConfigMap\n")
    assert none.returncode == 5 and "no Secret" in none.stderr


# ---------------------------------------------------------------- Docker config

def test_dockerconfig_merges_registry_secrets(env):
    make(env, "nvcr", type="container_registry",
         data={"registry_server": "nvcr.io", "username": "$oauthtoken", "password": secret_value("a"),
               "email": "a@b.c"})
    make(env, "ghcr", type="container_registry",
         data={".dockerconfigjson": json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(
             b"me:" + secret_value("b").encode()).decode()}}})})
    make(env, "not-registry", value=secret_value())
    for who in (admin, service):
        cfg = json.loads(ok(who(env, "export", "--format", "dockerconfig", "-w", env.ws, "nvcr", "ghcr")).stdout)
        assert set(cfg["auths"]) == {"nvcr.io", "ghcr.io"}
    res = admin(env, "export", "--format", "dockerconfig", "-w", env.ws, "nvcr", "not-registry")
    assert res.returncode in (2, 5) and "not-registry" in res.stderr


# ---------------------------------------------------------------- who may export, and the audit

def test_service_exports_through_resolve_with_pins_and_precedence(env):
    v1 = secret_value("v1")
    make(env, "pinned", value=v1)
    v2 = secret_value("v2")
    assert env.server.patch(f"/v2/workspaces/{env.ws}/secrets/pinned", json={"value": v2}).status_code == 200
    make(env, "scoped", value=secret_value("ws"))
    in_project = secret_value("p1")
    make(env, "scoped", value=in_project, project="p1")
    res = ok(service(env, "export", "--format", "env", "-w", env.ws, "--project", "p1",
                     "OLD=pinned@1", "NEW=pinned", "S=scoped"))
    assert f"OLD='{v1}'" in res.stdout and f"NEW='{v2}'" in res.stdout and f"S='{in_project}'" in res.stdout
    # the admin path applies the same precedence
    res = ok(admin(env, "export", "--format", "env", "-w", env.ws, "--project", "p1", "S=scoped"))
    assert f"S='{in_project}'" in res.stdout


def test_only_admins_and_services_export_and_it_is_audited(env):
    make(env, "audited", value=secret_value())
    editor = env.server.create_principal(uniq("ed"))
    env.server.set_member(env.ws, editor, "editor")
    res = env.server.cli("export", "--format", "env", "-w", env.ws, "audited",
                         env={"TRESOR_TOKEN": env.server.mint(editor)})
    assert res.returncode == 4
    assert service(env, "export", "--format", "env", "-w", env.ws, "--via", "access", "audited").returncode == 4
    assert admin(env, "export", "--format", "env", "-w", env.ws, "--via", "resolve", "audited").returncode == 4
    ok(admin(env, "export", "--format", "env", "-w", env.ws, "audited"))
    ok(service(env, "export", "--format", "env", "-w", env.ws, "audited"))
    records = env.server.get("/v2/audit", params={"workspace": env.ws, "secret": "audited",
                                                 "page_size": 1000}).json()["data"]
    actions = [(r["action"], r["outcome"]) for r in records]
    assert ("secret.access", "success") in actions
    assert ("secret.resolve", "success") in actions


def test_service_cannot_list_a_workspace(env):
    res = service(env, "export", "--format", "env", "-w", env.ws, "--via", "resolve")
    assert res.returncode == 1 and "name the secrets" in res.stderr


def test_usage_errors(env):
    assert admin(env, "export", "-w", env.ws).returncode == 1
    assert admin(env, "export", "--format", "yaml").returncode == 1
    assert admin(env, "export", "--format", "k8s", "V=x").returncode == 1
    assert admin(env, "import", "--format", "dockerconfig", "f").returncode == 1
    assert admin(env, "export", "--format", "env", "--via", "magic").returncode == 1

"""
POST /v2/workspaces/{ws}/resolve end to end (docs/api.md, "Resolve"): scope
precedence project > cluster > workspace with `overrode`, pinned versions,
all-or-nothing answers with the missing thing named, the single-key
shortcut, service bindings limited to a project, container registry secrets
as dockerconfigjson, the AI Blueprints recipe example as it is written, and
Cache-Control: no-store. Runs on the session server in a workspace of its own.
"""
import base64
import json
import time
from types import SimpleNamespace

import pytest

from conftest import assert_error, secret_value, uniq

ENV_KEYS = {"envvar_name", "secret_name", "secret_key", "value", "scope", "project", "cluster",
            "version", "overrode"}
CONTAINER_KEYS = {"secret_name", "scope", "project", "cluster", "version", "dockerconfigjson"}
DOCKERCONFIG = '{"auths":{"nvcr.io":{"auth":"dXNlcjpwYXNz"}}}'


@pytest.fixture(scope="module")
def rs(server):
    """A workspace with a service account bound without limits (token minted
    by the platform admin) and one limited to project p1."""
    ws = server.create_workspace(uniq("rsv"))
    svc = server.create_principal(uniq("rsvc"), kind="service")
    svc_p1 = server.create_principal(uniq("rsvc-p1"), kind="service")
    server.set_member(ws, svc, "service")
    server.set_member(ws, svc_p1, "service", project="p1")
    return SimpleNamespace(server=server, ws=ws, token=server.mint(svc), token_p1=server.mint(svc_p1))


def resolve(rs, body, token=None):
    return rs.server.post(f"/v2/workspaces/{rs.ws}/resolve", json=body, token=token or rs.token)


def resolved(rs, body, token=None):
    r = resolve(rs, body, token)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"env", "container_secret"}, out.keys()
    for e in out["env"]:
        assert set(e) == ENV_KEYS, e
    return out


def env(*entries):
    """[(envvar_name, secret_name, secret_key or None)...] as the env array."""
    keys = ("envvar_name", "secret_name", "secret_key")
    return [{k: v for k, v in zip(keys, e) if v is not None} for e in entries]


def make(rs, name, **body):
    if "value" not in body and "data" not in body:
        body["value"] = secret_value(name)
    body.setdefault("visibility", "public")
    rs.server.create_secret(rs.ws, name=name, **body)
    return body.get("value")


# ---------------------------------------------------------------- precedence

@pytest.fixture(scope="module")
def layered(rs):
    values = {}
    for scope in ("workspace", "cluster", "project"):
        extra = {"cluster": {"cluster": "c1"}, "project": {"project": "p1"}}.get(scope, {})
        values[scope] = make(rs, "layered", value=secret_value(f"layer-{scope}"), **extra)
    return values


@pytest.mark.parametrize("project,cluster,scope,overrode", [
    ("p1", "c1", "project", ["cluster", "workspace"]),
    ("p1", None, "project", ["workspace"]),
    ("p2", "c1", "cluster", ["workspace"]),
    (None, "c1", "cluster", ["workspace"]),
    ("p2", "c2", "workspace", []),
    (None, None, "workspace", []),
])
def test_project_beats_cluster_beats_workspace(rs, layered, project, cluster, scope, overrode):
    body = {"env": env(("LAYERED", "layered", "value"))}
    if project:
        body["project"] = project
    if cluster:
        body["cluster"] = cluster
    e = resolved(rs, body)["env"][0]
    assert e["value"] == layered[scope]
    assert e["scope"] == scope and e["overrode"] == overrode
    assert (e["envvar_name"], e["secret_name"], e["secret_key"]) == ("LAYERED", "layered", "value")
    assert e["project"] == ("p1" if scope == "project" else None)
    assert e["cluster"] == ("c1" if scope == "cluster" else None)
    assert e["version"] == 1


def test_several_entries_resolve_together(rs, layered):
    other = make(rs, uniq("other"))
    out = resolved(rs, {"project": "p1", "env": env(("A", "layered", "value"),
                                                    ("B", "layered", None))})
    assert [e["envvar_name"] for e in out["env"]] == ["A", "B"]
    assert all(e["value"] == layered["project"] for e in out["env"])
    assert out["container_secret"] is None
    assert other not in json.dumps(out)


# ---------------------------------------------------------------- versions

def test_pinned_version_returns_the_old_value(rs):
    name = uniq("pinned")
    v1 = make(rs, name)
    v2 = secret_value("v2")
    r = rs.server.patch(f"/v2/workspaces/{rs.ws}/secrets/{name}", json={"value": v2})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    out = resolved(rs, {"env": env(("OLD", f"{name}@1", "value"), ("NEW", name, "value"),
                                   ("PIN2", f"{name}@2", "value"))})
    got = {e["envvar_name"]: (e["value"], e["version"]) for e in out["env"]}
    assert got == {"OLD": (v1, 1), "NEW": (v2, 2), "PIN2": (v2, 2)}
    assert out["env"][0]["secret_name"] == f"{name}@1"


# ---------------------------------------------------------------- nothing unless everything

@pytest.fixture(scope="module")
def present(rs):
    name = uniq("present")
    return SimpleNamespace(name=name, value=make(rs, name))


@pytest.mark.parametrize("kind", ["secret", "key", "version"])
def test_missing_piece_is_404_naming_it_and_returns_nothing(rs, present, kind):
    missing = {
        "secret": (("M", "no-such-secret", None), f"Secret '{rs.ws}/no-such-secret' not found"),
        "key": (("M", present.name, "nokey"), f"Secret '{rs.ws}/{present.name}' has no key 'nokey'"),
        "version": (("M", f"{present.name}@3", None),
                    f"Secret '{rs.ws}/{present.name}' has no version 3"),
    }[kind]
    r = resolve(rs, {"env": env(("OK", present.name, "value"), missing[0])})
    assert_error(r, 404, "not_found", message=missing[1])
    assert present.value not in r.text


def test_expired_secret_does_not_resolve(rs):
    name = uniq("expiring")
    value = make(rs, name, expires_in=1)
    deadline = time.monotonic() + 4.0
    while True:
        r = resolve(rs, {"env": env(("E", name, None))})
        if r.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert_error(r, 404, "not_found", message=f"Secret '{rs.ws}/{name}' not found")
    assert value not in r.text


def test_secret_key_may_be_left_out_for_a_single_key_secret(rs):
    single = uniq("single")
    value = secret_value("single")
    make(rs, single, data={"only-key": value})
    e = resolved(rs, {"env": [{"envvar_name": "S", "secret_name": single}]})["env"][0]
    assert e["value"] == value and e["secret_key"] in ("only-key", None)


def test_secret_key_is_needed_for_a_secret_with_several_keys(rs):
    multi = uniq("multi")
    a, b = secret_value("ka"), secret_value("kb")
    make(rs, multi, data={"ka": a, "kb": b})
    r = resolve(rs, {"env": [{"envvar_name": "M", "secret_name": multi}]})
    assert 400 <= r.status_code < 500, r.text
    assert a not in r.text and b not in r.text
    e = resolved(rs, {"env": env(("M", multi, "kb"))})["env"][0]
    assert e["value"] == b


@pytest.mark.parametrize("body", [
    {},
    {"env": "HF_TOKEN"},
    {"env": [{"secret_name": "x"}]},
    {"env": [{"envvar_name": "X"}]},
    {"env": [{"envvar_name": "X", "secret_name": "x"}] * 257},
    {"env": [], "colour": "red"},
], ids=["no-env", "env-not-array", "no-envvar", "no-secret-name", "too-many", "unknown-field"])
def test_malformed_resolve_requests_are_refused(rs, body):
    r = resolve(rs, body)
    assert r.status_code in (400, 422), r.text


# ---------------------------------------------------------------- service bindings

def test_binding_limited_to_a_project_resolves_only_there(rs, layered):
    body = {"env": env(("L", "layered", "value"))}
    e = resolved(rs, {**body, "project": "p1"}, token=rs.token_p1)["env"][0]
    assert e["value"] == layered["project"]
    for other in ({"project": "p2"}, {"project": "p2", "cluster": "c1"}, {}):
        r = resolve(rs, {**body, **other}, token=rs.token_p1)
        assert_error(r, 403, "forbidden")
        for v in layered.values():
            assert v not in r.text


# ---------------------------------------------------------------- container registry

def test_container_secret_name_returns_the_dockerconfigjson(rs, present):
    name = uniq("regcreds")
    rs.server.create_secret(rs.ws, name=name, type="container_registry",
                            data={".dockerconfigjson": DOCKERCONFIG}, visibility="public")
    out = resolved(rs, {"env": env(("P", present.name, None)), "container_secret_name": name})
    cs = out["container_secret"]
    assert CONTAINER_KEYS <= set(cs), cs.keys()
    assert cs["secret_name"] == name and cs["scope"] == "workspace" and cs["version"] == 1
    assert cs["project"] is None and cs["cluster"] is None
    assert json.loads(cs["dockerconfigjson"]) == json.loads(DOCKERCONFIG)
    assert out["env"][0]["value"] == present.value


def test_container_secret_must_be_a_container_registry_secret(rs, present):
    r = resolve(rs, {"env": env(("P", present.name, None)), "container_secret_name": present.name})
    assert 400 <= r.status_code < 500, r.text
    assert present.value not in r.text
    r = resolve(rs, {"env": env(("P", present.name, None)), "container_secret_name": "no-regcreds"})
    assert_error(r, 404, "not_found", message=f"Secret '{rs.ws}/no-regcreds' not found")
    assert present.value not in r.text


@pytest.fixture(scope="module")
def blueprints(server):
    """The secrets of the AI Blueprints documentation: hf-secret (opaque,
    key hf-token) and iad-creds (container_registry in the structured form)."""
    ws = server.create_workspace(uniq("blueprints"))
    svc = server.create_principal(uniq("bp-svc"), kind="service")
    server.set_member(ws, svc, "service")
    hf = "hf_" + secret_value("bp")[3:]
    server.create_secret(ws, name="hf-secret", type="opaque", data={"hf-token": hf},
                         visibility="public")
    server.create_secret(ws, name="iad-creds", type="container_registry", visibility="public",
                         data={"registry_server": "nvcr.io", "username": "$oauthtoken",
                               "password": "nvapi-bp-password-value", "email": "ops@example.com"})
    return SimpleNamespace(server=server, ws=ws, token=server.mint(svc), hf=hf)


HF_ENTRY = {"envvar_name": "HF_TOKEN", "secret_name": "hf-secret", "secret_key": "hf-token"}


def test_ai_blueprints_environment_secret_works_verbatim(blueprints):
    """recipe_environment_secrets' entry, as the AI Blueprints docs write it."""
    bp = blueprints
    body = json.loads('''{"project":"p1","cluster":"c1",
 "env":[{"envvar_name":"HF_TOKEN","secret_name":"hf-secret","secret_key":"hf-token"}]}''')
    r = bp.server.post(f"/v2/workspaces/{bp.ws}/resolve", json=body, token=bp.token)
    assert r.status_code == 200, r.text
    assert r.json() == {"env": [{**HF_ENTRY, "value": bp.hf, "scope": "workspace", "project": None,
                                 "cluster": None, "version": 1, "overrode": []}],
                        "container_secret": None}


def test_structured_registry_secret_resolves_as_dockerconfigjson(blueprints):
    """docs/api.md's example request in full: iad-creds was created in the
    structured form (SPEC §3: stored as the equivalent .dockerconfigjson)."""
    bp = blueprints
    body = json.loads('''{"project":"p1","cluster":"c1",
 "env":[{"envvar_name":"HF_TOKEN","secret_name":"hf-secret","secret_key":"hf-token"}],
 "container_secret_name":"iad-creds"}''')
    r = bp.server.post(f"/v2/workspaces/{bp.ws}/resolve", json=body, token=bp.token)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["env"][0]["value"] == bp.hf
    assert out["container_secret"]["secret_name"] == "iad-creds"
    entry = json.loads(out["container_secret"]["dockerconfigjson"])["auths"]["nvcr.io"]
    assert base64.b64decode(entry["auth"]).decode() == "$oauthtoken:nvapi-bp-password-value"


def test_answer_is_not_cached(rs, present):
    r = resolve(rs, {"env": env(("P", present.name, None))})
    assert r.status_code == 200
    assert "no-store" in r.headers.get("Cache-Control", "").lower()
    assert r.headers.get("X-Request-Id")

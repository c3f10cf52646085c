"""
Access control end to end (docs/api.md, "Who may do what", "Principals",
"Members", "Tokens"): one authorization matrix, generated from the one table
MATRIX below, run against one fresh server; then visibility between two
editors, isolation between workspaces, what deleting a principal does to its
tokens, who may mint tokens for a service account, whose private secrets a
service token resolves; and the `principals`, `members` and `tokens` commands
of the CLI.

Requests that are meant to fail authentication come from addresses of their
own (conftest.fresh_source), so the rate limiter never blocks 127.0.0.1.
"""
import json
import time
import uuid
from types import SimpleNamespace

import pytest

from conftest import (MEMBER_KEYS, PRINCIPAL_KEYS, TOKEN_CREATE_KEYS, TOKEN_LIST_KEYS, TOKEN_RE,
                      TresorServer, assert_error, closed_port_url, fresh_source, parse_time,
                      run_cli, secret_value)

# ---------------------------------------------------------------- the matrix

# Who calls, in the order of MATRIX's columns.
CALLERS = ("padmin", "admin", "editor", "viewer", "service", "other", "expired", "none", "garbage")
AUTH_FAILS = {"expired", "none", "garbage"}

# THE table: route -> expected status per caller. "padmin" is a platform admin
# (made through the API, not the bootstrap one); "admin", "editor", "viewer"
# and "service" hold that role in workspace A; "other" is workspace B's admin
# and has no role in A. Every per-route resource is created fresh for its
# row (as public secrets, so that roles and not visibility decide).
#
#                        padmin admin editor viewer service other  expired none garbage
MATRIX = {
    "workspaces.create":   (201,  403,  403,   403,   403,    403,   401,    401, 401),
    "workspaces.list":     (200,  200,  200,   200,   200,    200,   401,    401, 401),
    "workspaces.get":      (200,  200,  200,   200,   200,    404,   401,    401, 401),
    "workspaces.delete":   (204,  403,  403,   403,   403,    404,   401,    401, 401),
    "secrets.create":      (201,  201,  201,   403,   403,    404,   401,    401, 401),
    "secrets.list":        (200,  200,  200,   200,   403,    404,   401,    401, 401),
    "secrets.get":         (200,  200,  200,   200,   403,    404,   401,    401, 401),
    "secrets.patch":       (200,  200,  200,   403,   403,    404,   401,    401, 401),
    "secrets.put":         (200,  200,  200,   403,   403,    404,   401,    401, 401),
    "secrets.delete":      (204,  204,  204,   403,   403,    404,   401,    401, 401),
    "secrets.access":      (200,  403,  403,   403,   403,    404,   401,    401, 401),
    "resolve":             (403,  403,  403,   403,   200,    404,   401,    401, 401),
    "members.put":         (200,  200,  403,   403,   403,    404,   401,    401, 401),
    "members.list":        (200,  200,  403,   403,   403,    404,   401,    401, 401),
    "members.delete":      (204,  204,  403,   403,   403,    404,   401,    401, 401),
    "principals.create":   (201,  403,  403,   403,   403,    403,   401,    401, 401),
    "principals.list":     (200,  403,  403,   403,   403,    403,   401,    401, 401),
    "principals.delete":   (204,  403,  403,   403,   403,    403,   401,    401, 401),
    "tokens.create-self":  (201,  201,  201,   201,   403,    201,   401,    401, 401),
    "tokens.list":         (200,  200,  200,   200,   200,    200,   401,    401, 401),
    "audit.list":          (200,  403,  403,   403,   403,    403,   401,    401, 401),
    "audit.list-ws":       (200,  200,  403,   403,   403,    404,   401,    401, 401),
    "audit.verify":        (200,  403,  403,   403,   403,    403,   401,    401, 401),
}

STATUS_CODES = {200: None, 201: None, 204: None, 401: "unauthorized", 403: "forbidden",
                404: "not_found"}


@pytest.fixture(scope="module")
def world(tresor_bin, tmp_path_factory):
    """One fresh server with workspaces A and B, a principal per caller
    (bound as MATRIX's header says), and a token for each."""
    srv = TresorServer(tresor_bin, tmp_path_factory.mktemp("access"))
    try:
        srv.start()
        yield _populate(srv)
    finally:
        srv.kill()


def _populate(srv):
    w = SimpleNamespace(srv=srv, a=srv.create_workspace("ws-a"), b=srv.create_workspace("ws-b"))
    # The expired token first, so that it has expired by the time it is used.
    expired_user = srv.create_principal("m-expired")
    srv.set_member(w.a, expired_user, "admin")
    expiring = srv.mint(expired_user, expires_in=1)
    names = {
        "padmin": srv.create_principal("m-padmin", platform_admin=True),
        "admin": srv.create_principal("m-admin"),
        "editor": srv.create_principal("m-editor"),
        "viewer": srv.create_principal("m-viewer"),
        "service": srv.create_principal("m-service", kind="service"),
        "other": srv.create_principal("m-other"),
    }
    for role in ("admin", "editor", "viewer", "service"):
        srv.set_member(w.a, names[role], role)
    srv.set_member(w.b, names["other"], "admin")
    w.names = names
    w.tokens = {caller: srv.mint(name) for caller, name in names.items()}
    w.tokens["none"] = None
    w.tokens["garbage"] = "garbage-" + uuid.uuid4().hex
    w.tokens["expired"] = expiring
    _wait_expired(srv, expiring)
    return w


def _wait_expired(srv, token):
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        if srv.get("/v2/tokens", token=token, source=fresh_source()).status_code == 401:
            return
        time.sleep(0.25)
    pytest.fail("a token with expires_in=1 was still accepted after 4 s")


def _secret(w, row, **extra):
    """A public secret of A for one row; returns (name, value)."""
    value = secret_value(row)
    w.srv.create_secret(w.a, name=f"m-{row}", value=value, visibility="public", **extra)
    return f"m-{row}", value


def _request(w, caller, method, path, body=None, params=None):
    token = w.tokens[caller]
    kw = {"token": token, "params": params}
    if body is not None:
        kw["json"] = body
    if caller in AUTH_FAILS:
        kw["source"] = fresh_source()
    return w.srv.request(method, path, **kw)


def _exists(w, path, params=None):
    r = w.srv.get(path, params=params)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


# Each route: prepare what the row needs, send the request, check the state
# after it against the outcome. `ok` is whether the expected status is 2xx.

def route_workspaces_create(w, caller, row, ok):
    name = f"wc-{row}"
    r = _request(w, caller, "POST", "/v2/workspaces", {"name": name})
    assert _exists(w, f"/v2/workspaces/{name}") == (r.status_code == 201)
    return r


def route_workspaces_list(w, caller, row, ok):
    r = _request(w, caller, "GET", "/v2/workspaces")
    if r.status_code == 200:
        names = [x["name"] for x in r.json()["data"]]
        assert (w.a in names) == (caller != "other"), names
        assert (w.b in names) == (caller in ("padmin", "other")), names
    return r


def route_workspaces_get(w, caller, row, ok):
    r = _request(w, caller, "GET", f"/v2/workspaces/{w.a}")
    if r.status_code == 200:
        assert r.json()["name"] == w.a
    return r


def route_workspaces_delete(w, caller, row, ok):
    # A workspace of its own, where the caller holds the same role as in A.
    name = w.srv.create_workspace(f"wd-{row}")
    if caller in ("admin", "editor", "viewer", "service"):
        w.srv.set_member(name, w.names[caller], caller)
    r = _request(w, caller, "DELETE", f"/v2/workspaces/{name}")
    assert _exists(w, f"/v2/workspaces/{name}") == (r.status_code != 204)
    return r


def route_secrets_create(w, caller, row, ok):
    name = f"m-{row}"
    r = _request(w, caller, "POST", f"/v2/workspaces/{w.a}/secrets",
                 {"name": name, "value": secret_value(row), "visibility": "public"})
    assert _exists(w, f"/v2/workspaces/{w.a}/secrets/{name}") == (r.status_code == 201)
    if r.status_code == 201:
        assert r.json()["created_by"] == w.names[caller]
    return r


def route_secrets_list(w, caller, row, ok):
    name, _ = _secret(w, row)
    r = _request(w, caller, "GET", f"/v2/workspaces/{w.a}/secrets", params={"page_size": 1000})
    if r.status_code == 200:
        assert name in [s["name"] for s in r.json()["data"]]
    return r


def route_secrets_get(w, caller, row, ok):
    name, _ = _secret(w, row)
    r = _request(w, caller, "GET", f"/v2/workspaces/{w.a}/secrets/{name}")
    if r.status_code == 200:
        assert r.json()["name"] == name and "value" not in r.json()
    return r


def route_secrets_patch(w, caller, row, ok):
    name, _ = _secret(w, row)
    r = _request(w, caller, "PATCH", f"/v2/workspaces/{w.a}/secrets/{name}",
                 {"description": f"by {caller}"})
    got = w.srv.get(f"/v2/workspaces/{w.a}/secrets/{name}").json()
    assert (got["description"] == f"by {caller}") == (r.status_code == 200)
    return r


def route_secrets_put(w, caller, row, ok):
    name, old = _secret(w, row)
    new = secret_value(row + "-new")
    r = _request(w, caller, "PUT", f"/v2/workspaces/{w.a}/secrets/{name}",
                 {"value": new, "visibility": "public"})
    value = w.srv.access(w.a, name)["value"]
    assert value == (new if r.status_code == 200 else old)
    return r


def route_secrets_delete(w, caller, row, ok):
    name, _ = _secret(w, row)
    r = _request(w, caller, "DELETE", f"/v2/workspaces/{w.a}/secrets/{name}")
    assert _exists(w, f"/v2/workspaces/{w.a}/secrets/{name}") == (r.status_code != 204)
    return r


def route_secrets_access(w, caller, row, ok):
    name, value = _secret(w, row)
    r = _request(w, caller, "GET", f"/v2/workspaces/{w.a}/secrets/{name}/access")
    if r.status_code == 200:
        assert r.json()["value"] == value
    else:
        assert value not in r.text
    return r


def route_resolve(w, caller, row, ok):
    name, value = _secret(w, row)
    r = _request(w, caller, "POST", f"/v2/workspaces/{w.a}/resolve",
                 {"env": [{"envvar_name": "V", "secret_name": name}]})
    if r.status_code == 200:
        assert r.json()["env"][0]["value"] == value
    else:
        assert value not in r.text
    return r


def route_members_put(w, caller, row, ok):
    who = w.srv.create_principal(f"mp-{row}")
    r = _request(w, caller, "PUT", f"/v2/workspaces/{w.a}/members/{who}", {"role": "viewer"})
    members = [m["principal"] for m in w.srv.get(f"/v2/workspaces/{w.a}/members").json()["data"]]
    assert (who in members) == (r.status_code == 200)
    return r


def route_members_list(w, caller, row, ok):
    r = _request(w, caller, "GET", f"/v2/workspaces/{w.a}/members")
    if r.status_code == 200:
        assert w.names["editor"] in [m["principal"] for m in r.json()["data"]]
    return r


def route_members_delete(w, caller, row, ok):
    who = w.srv.create_principal(f"md-{row}")
    w.srv.set_member(w.a, who, "viewer")
    r = _request(w, caller, "DELETE", f"/v2/workspaces/{w.a}/members/{who}")
    members = [m["principal"] for m in w.srv.get(f"/v2/workspaces/{w.a}/members").json()["data"]]
    assert (who in members) == (r.status_code != 204)
    return r


def _principals(w):
    return [p["name"] for p in w.srv.get("/v2/principals").json()["data"]]


def route_principals_create(w, caller, row, ok):
    name = f"pc-{row}"
    r = _request(w, caller, "POST", "/v2/principals", {"name": name})
    assert (name in _principals(w)) == (r.status_code == 201)
    return r


def route_principals_list(w, caller, row, ok):
    r = _request(w, caller, "GET", "/v2/principals")
    if r.status_code == 200:
        assert w.names["service"] in [p["name"] for p in r.json()["data"]]
    return r


def route_principals_delete(w, caller, row, ok):
    name = w.srv.create_principal(f"pd-{row}")
    r = _request(w, caller, "DELETE", f"/v2/principals/{name}")
    assert (name in _principals(w)) == (r.status_code != 204)
    return r


def route_tokens_create_self(w, caller, row, ok):
    r = _request(w, caller, "POST", "/v2/tokens", {"description": row})
    if r.status_code == 201:
        body = r.json()
        assert body["principal"] == w.names[caller] and body["created_by"] == w.names[caller]
        w.srv.track_token(body["token"])
    return r


def route_tokens_list(w, caller, row, ok):
    r = _request(w, caller, "GET", "/v2/tokens")
    if r.status_code == 200:
        principals = {t["principal"] for t in r.json()["data"]}
        if caller == "padmin":
            assert w.names["viewer"] in principals
        else:
            # others see only the tokens they hold or minted
            assert principals <= {w.names[caller]}, principals
    return r


def route_audit_list(w, caller, row, ok):
    return _request(w, caller, "GET", "/v2/audit")


def route_audit_list_ws(w, caller, row, ok):
    r = _request(w, caller, "GET", "/v2/audit", params={"workspace": w.a})
    if r.status_code == 200:
        assert r.json()["data"], "no records for workspace A"
        assert {x["workspace"] for x in r.json()["data"]} == {w.a}
    return r


def route_audit_verify(w, caller, row, ok):
    r = _request(w, caller, "GET", "/v2/audit/verify")
    if r.status_code == 200:
        assert r.json()["ok"] is True
    return r


ROUTES = {
    "workspaces.create": route_workspaces_create,
    "workspaces.list": route_workspaces_list,
    "workspaces.get": route_workspaces_get,
    "workspaces.delete": route_workspaces_delete,
    "secrets.create": route_secrets_create,
    "secrets.list": route_secrets_list,
    "secrets.get": route_secrets_get,
    "secrets.patch": route_secrets_patch,
    "secrets.put": route_secrets_put,
    "secrets.delete": route_secrets_delete,
    "secrets.access": route_secrets_access,
    "resolve": route_resolve,
    "members.put": route_members_put,
    "members.list": route_members_list,
    "members.delete": route_members_delete,
    "principals.create": route_principals_create,
    "principals.list": route_principals_list,
    "principals.delete": route_principals_delete,
    "tokens.create-self": route_tokens_create_self,
    "tokens.list": route_tokens_list,
    "audit.list": route_audit_list,
    "audit.list-ws": route_audit_list_ws,
    "audit.verify": route_audit_verify,
}

CASES = [(route, caller, MATRIX[route][i]) for route in MATRIX for i, caller in enumerate(CALLERS)]


def test_matrix_covers_every_route_and_caller():
    assert set(ROUTES) == set(MATRIX)
    assert all(len(row) == len(CALLERS) for row in MATRIX.values())


@pytest.mark.parametrize("route,caller,expected", CASES,
                         ids=[f"{r}[{c}]" for r, c, _ in CASES])
def test_access_matrix(world, route, caller, expected):
    row = f"{route.replace('.', '-')}-{caller}"
    r = ROUTES[route](world, caller, row, 200 <= expected < 300)
    assert r.status_code == expected, \
        f"{route} as {caller}: expected {expected}, got {r.status_code}: {r.text[:300]}"
    if STATUS_CODES[expected]:
        assert_error(r, expected, STATUS_CODES[expected])
    if expected == 204:
        assert r.content == b""


# ---------------------------------------------------------------- visibility

@pytest.fixture(scope="module")
def two_editors(world):
    srv = world.srv
    ws = srv.create_workspace("ws-vis")
    e1 = srv.create_principal("vis-e1")
    e2 = srv.create_principal("vis-e2")
    for e in (e1, e2):
        srv.set_member(ws, e, "editor")
    t1, t2 = srv.mint(e1), srv.mint(e2)
    priv, pub = secret_value("priv"), secret_value("pub")
    r = srv.post(f"/v2/workspaces/{ws}/secrets", token=t1, json={"name": "mine", "value": priv})
    assert r.status_code == 201 and r.json()["visibility"] == "private", r.text
    r = srv.post(f"/v2/workspaces/{ws}/secrets", token=t1,
                 json={"name": "ours", "value": pub, "visibility": "public"})
    assert r.status_code == 201, r.text
    return SimpleNamespace(srv=srv, ws=ws, e1=e1, e2=e2, t1=t1, t2=t2, priv=priv, pub=pub)


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None),
    ("PATCH", "", {"description": "taken over"}),
    ("PUT", "", {"value": "sv-overwritten-by-e2"}),
    ("DELETE", "", None),
    ("GET", "/access", None),
])
def test_private_secret_is_404_for_another_editor(two_editors, method, suffix, body):
    v = two_editors
    kw = {"token": v.t2}
    if body is not None:
        kw["json"] = body
    r = v.srv.request(method, f"/v2/workspaces/{v.ws}/secrets/mine{suffix}", **kw)
    if method == "PUT" and r.status_code == 409:
        # PUT creates when nothing is there for the caller, and the name is
        # taken: the same 409 that POST gives. (Unique names make a private
        # name guessable through create; 404 would be fine too.)
        assert_error(r, 409, "conflict")
    else:
        msg = assert_error(r, 404, "not_found")
        assert msg == f"Secret '{v.ws}/mine' not found"
    assert v.priv not in r.text
    # ... and it is untouched
    meta = v.srv.get(f"/v2/workspaces/{v.ws}/secrets/mine").json()
    assert meta["description"] == "" and meta["version"] == 1 and meta["visibility"] == "private"
    assert v.srv.access(v.ws, "mine")["value"] == v.priv


def test_private_secret_is_missing_from_another_editors_list(two_editors):
    v = two_editors
    for token, expect in ((v.t2, ["ours"]), (v.t1, ["mine", "ours"]), (None, ["mine", "ours"])):
        kw = {} if token is None else {"token": token}
        body = v.srv.get(f"/v2/workspaces/{v.ws}/secrets", **kw).json()
        assert [s["name"] for s in body["data"]] == expect
        assert body["pagination"]["total_results"] == len(expect)
    body = v.srv.get(f"/v2/workspaces/{v.ws}/secrets", token=v.t2,
                     params={"visibility": "private"}).json()
    assert body["data"] == [] and body["pagination"]["total_results"] == 0
    body = v.srv.get(f"/v2/workspaces/{v.ws}/secrets", token=v.t2, params={"search": "mine"}).json()
    assert body["data"] == [] and body["pagination"]["total_results"] == 0


def test_public_secret_is_visible_to_another_editor(two_editors):
    v = two_editors
    r = v.srv.get(f"/v2/workspaces/{v.ws}/secrets/ours", token=v.t2)
    assert r.status_code == 200 and r.json()["created_by"] == v.e1
    r = v.srv.patch(f"/v2/workspaces/{v.ws}/secrets/ours", token=v.t2, json={"description": "e2"})
    assert r.status_code == 200 and r.json()["updated_by"] == v.e2
    # Editors never read values, public or not.
    assert_error(v.srv.get(f"/v2/workspaces/{v.ws}/secrets/ours/access", token=v.t2),
                 403, "forbidden")


def test_creator_sees_own_private_secret_but_may_not_read_its_value(two_editors):
    v = two_editors
    assert v.srv.get(f"/v2/workspaces/{v.ws}/secrets/mine", token=v.t1).status_code == 200
    assert_error(v.srv.get(f"/v2/workspaces/{v.ws}/secrets/mine/access", token=v.t1),
                 403, "forbidden")


# ---------------------------------------------------------------- isolation

@pytest.fixture(scope="module")
def two_workspaces(world):
    srv = world.srv
    a, b = srv.create_workspace("iso-a"), srv.create_workspace("iso-b")
    a_admin, b_admin = srv.create_principal("iso-a-admin"), srv.create_principal("iso-b-admin")
    srv.set_member(a, a_admin, "admin")
    srv.set_member(b, b_admin, "admin")
    srv.create_secret(b, name="b-secret", visibility="public")
    return SimpleNamespace(srv=srv, a=a, b=b, a_admin=a_admin, b_admin=b_admin,
                           ta=srv.mint(a_admin))


@pytest.mark.parametrize("method,path,body,params", [
    ("GET", "/v2/workspaces/{ws}", None, None),
    ("DELETE", "/v2/workspaces/{ws}", None, None),
    ("GET", "/v2/workspaces/{ws}/secrets", None, None),
    ("POST", "/v2/workspaces/{ws}/secrets", {"name": "planted", "value": "sv-planted-value"}, None),
    ("GET", "/v2/workspaces/{ws}/secrets/b-secret", None, None),
    ("PATCH", "/v2/workspaces/{ws}/secrets/b-secret", {"description": "x"}, None),
    ("DELETE", "/v2/workspaces/{ws}/secrets/b-secret", None, None),
    ("GET", "/v2/workspaces/{ws}/members", None, None),
    ("PUT", "/v2/workspaces/{ws}/members/iso-a-admin", {"role": "admin"}, None),
    ("DELETE", "/v2/workspaces/{ws}/members/iso-b-admin", None, None),
    ("POST", "/v2/workspaces/{ws}/resolve", {"env": [{"envvar_name": "X", "secret_name": "b-secret"}]},
     None),
    ("GET", "/v2/audit", None, {"workspace": "{ws}"}),
], ids=["get-ws", "delete-ws", "list-secrets", "create-secret", "get-secret", "patch-secret",
        "delete-secret", "list-members", "put-member", "delete-member", "resolve", "audit"])
def test_other_workspace_is_not_found_for_a_workspace_admin(two_workspaces, method, path, body,
                                                            params):
    iso = two_workspaces
    statuses = {}
    for ws in (iso.b, "no-such-ws"):
        kw = {"token": iso.ta}
        if body is not None:
            kw["json"] = body
        if params:
            kw["params"] = {k: v.format(ws=ws) for k, v in params.items()}
        r = iso.srv.request(method, path.format(ws=ws), **kw)
        statuses[ws] = r.status_code
        assert_error(r, 404, "not_found")
    # B's existence does not show: the same answer as for no workspace at all.
    assert statuses[iso.b] == statuses["no-such-ws"]
    assert iso.srv.get(f"/v2/workspaces/{iso.b}/secrets/b-secret").status_code == 200
    members = iso.srv.get(f"/v2/workspaces/{iso.b}/members").json()["data"]
    assert [m["principal"] for m in members] == [iso.b_admin]
    assert iso.srv.get(f"/v2/workspaces/{iso.b}/secrets/planted").status_code == 404


def test_other_workspace_is_not_listed(two_workspaces):
    iso = two_workspaces
    names = [w["name"] for w in iso.srv.get("/v2/workspaces", token=iso.ta).json()["data"]]
    assert iso.a in names and iso.b not in names
    assert "default" not in names, "a workspace admin sees 'default' without a role in it"


# ---------------------------------------------------------------- principals and tokens

def test_principal_objects_have_the_documented_fields(world):
    srv = world.srv
    r = srv.post("/v2/principals", json={"name": "shape-bot", "kind": "service"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == PRINCIPAL_KEYS
    assert body["name"] == "shape-bot" and body["kind"] == "service"
    assert body["platform_admin"] is False
    parse_time(body["created_at"])
    r = srv.post("/v2/principals", json={"name": "shape-user"})
    assert r.status_code == 201 and r.json()["kind"] == "user"
    listed = srv.get("/v2/principals").json()["data"]
    names = [p["name"] for p in listed]
    assert names == sorted(names) and "shape-bot" in names and "admin" in names
    assert all(set(p) == PRINCIPAL_KEYS for p in listed)


@pytest.mark.parametrize("body,status", [
    ({"name": "bad name"}, 422),
    ({"name": "x" * 64}, 422),
    ({"name": "ok-name", "kind": "robot"}, 422),
    ({"name": "svc-admin", "kind": "service", "platform_admin": True}, 422),
    ({"name": "ok-name", "colour": "red"}, 422),
    ({"name": "admin"}, 409),
])
def test_bad_principals_are_refused(world, body, status):
    r = world.srv.post("/v2/principals", json=body)
    assert_error(r, status, "validation_failed" if status == 422 else "conflict")
    if status == 422:
        assert body["name"] not in _principals(world)


def test_deleting_yourself_is_a_conflict(world):
    name = world.srv.create_principal("self-deleter", platform_admin=True)
    token = world.srv.mint(name)
    assert_error(world.srv.delete(f"/v2/principals/{name}", token=token), 409, "conflict")
    assert world.srv.get("/v2/principals", token=token).status_code == 200


def test_member_objects_and_validation(world):
    srv = world.srv
    ws = srv.create_workspace("mem-shape")
    user, bot = srv.create_principal("mem-user"), srv.create_principal("mem-bot", kind="service")
    body = srv.set_member(ws, user, "editor")
    assert set(body) == MEMBER_KEYS
    assert (body["workspace"], body["principal"], body["role"]) == (ws, user, "editor")
    assert body["project"] is None and body["cluster"] is None and body["created_by"] == "admin"
    body = srv.set_member(ws, bot, "service", project="p1")
    assert body["project"] == "p1" and body["cluster"] is None
    # PUT replaces
    assert srv.set_member(ws, user, "viewer")["role"] == "viewer"
    listed = srv.get(f"/v2/workspaces/{ws}/members").json()["data"]
    assert [(m["principal"], m["role"]) for m in listed] == sorted([(user, "viewer"), (bot, "service")])
    for bad in ({"role": "owner"}, {"role": "editor", "project": "p1"},
                {"role": "service", "project": "p1", "cluster": "c1"}):
        target = bot if bad["role"] == "service" else user
        assert_error(srv.put(f"/v2/workspaces/{ws}/members/{target}", json=bad), 422,
                     "validation_failed")
    assert_error(srv.put(f"/v2/workspaces/{ws}/members/{user}", json={"role": "service"}),
                 422, "validation_failed")
    assert_error(srv.put(f"/v2/workspaces/{ws}/members/{bot}", json={"role": "editor"}),
                 422, "validation_failed")
    assert_error(srv.put(f"/v2/workspaces/{ws}/members/nobody-here", json={"role": "viewer"}),
                 404, "not_found")
    assert_error(srv.put(f"/v2/workspaces/no-such-ws/members/{user}", json={"role": "viewer"}),
                 404, "not_found")
    assert_error(srv.delete(f"/v2/workspaces/{ws}/members/nobody-here"), 404, "not_found")
    # the failed PUTs changed nothing
    after = srv.get(f"/v2/workspaces/{ws}/members").json()["data"]
    assert after == listed


def test_deleted_principals_tokens_get_401_and_its_bindings_go(world):
    srv = world.srv
    name = srv.create_principal("doomed")
    srv.set_member(world.a, name, "viewer")
    token = srv.mint(name)
    assert srv.get("/v2/workspaces", token=token).status_code == 200
    assert srv.delete(f"/v2/principals/{name}").status_code == 204
    assert_error(srv.get("/v2/workspaces", token=token, source=fresh_source()), 401, "unauthorized")
    assert name not in [m["principal"] for m in srv.get(f"/v2/workspaces/{world.a}/members").json()["data"]]
    assert name not in [t["principal"] for t in srv.get("/v2/tokens").json()["data"]]
    assert_error(srv.delete(f"/v2/principals/{name}"), 404, "not_found")


@pytest.fixture(scope="module")
def minting(world):
    """User u is admin of w1 and editor of w2; s1 is a service account bound in
    w1, s2 one bound in w2 only."""
    srv = world.srv
    w1, w2 = srv.create_workspace("mint-w1"), srv.create_workspace("mint-w2")
    u, v = srv.create_principal("mint-u"), srv.create_principal("mint-v")
    s1 = srv.create_principal("mint-s1", kind="service")
    s2 = srv.create_principal("mint-s2", kind="service")
    srv.set_member(w1, u, "admin")
    srv.set_member(w2, u, "editor")
    srv.set_member(w1, v, "editor")
    srv.set_member(w1, s1, "service")
    srv.set_member(w2, s2, "service")
    return SimpleNamespace(srv=srv, w1=w1, w2=w2, u=u, v=v, s1=s1, s2=s2,
                           tu=srv.mint(u), tv=srv.mint(v))


def test_workspace_admin_mints_for_a_service_account_bound_there(minting):
    m = minting
    r = m.srv.post("/v2/tokens", token=m.tu, json={"principal": m.s1, "expires_in": 600})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == TOKEN_CREATE_KEYS and TOKEN_RE.match(body["token"])
    assert body["principal"] == m.s1 and body["created_by"] == m.u
    listed = {t["id"]: t for t in m.srv.get("/v2/tokens", token=m.tu).json()["data"]}
    assert body["id"] in listed and listed[body["id"]]["created_by"] == m.u
    assert all(set(t) == TOKEN_LIST_KEYS for t in listed.values())
    admin_view = {t["id"]: t for t in m.srv.get("/v2/tokens").json()["data"]}
    assert admin_view[body["id"]]["created_by"] == m.u


@pytest.mark.parametrize("who,target", [
    ("tu", "s2"),    # u is only an editor where s2 is bound
    ("tv", "s1"),    # v is an editor where s1 is bound
    ("tu", "v"),     # a user never mints for another user
    ("tu", "admin"),
])
def test_minting_for_others_without_being_their_admin_is_403(minting, who, target):
    m = minting
    principal = getattr(m, target) if target != "admin" else "admin"
    before = len(m.srv.get("/v2/tokens").json()["data"])
    r = m.srv.post("/v2/tokens", token=getattr(m, who), json={"principal": principal})
    assert_error(r, 403, "forbidden")
    assert len(m.srv.get("/v2/tokens").json()["data"]) == before


def test_service_token_resolves_its_minters_private_secrets_only(minting):
    m = minting
    own, others = secret_value("u-private"), secret_value("v-private")
    r = m.srv.post(f"/v2/workspaces/{m.w1}/secrets", token=m.tu, json={"name": "u-priv", "value": own})
    assert r.status_code == 201 and r.json()["visibility"] == "private", r.text
    r = m.srv.post(f"/v2/workspaces/{m.w1}/secrets", token=m.tv, json={"name": "v-priv", "value": others})
    assert r.status_code == 201, r.text
    by_u = m.srv.mint(m.s1, token=m.tu)
    by_admin = m.srv.mint(m.s1)
    path = f"/v2/workspaces/{m.w1}/resolve"

    def resolve(token, name):
        return m.srv.post(path, token=token, json={"env": [{"envvar_name": "X", "secret_name": name}]})

    r = resolve(by_u, "u-priv")
    assert r.status_code == 200, r.text
    assert r.json()["env"][0]["value"] == own
    for token, name in ((by_u, "v-priv"), (by_admin, "u-priv"), (by_admin, "v-priv")):
        r = resolve(token, name)
        assert_error(r, 404, "not_found", message=f"Secret '{m.w1}/{name}' not found")
        assert own not in r.text and others not in r.text


# ---------------------------------------------------------------- the CLI

NEW_HELP = [
    ["principals"], ["principals", "create"], ["principals", "list"], ["principals", "delete"],
    ["members"], ["members", "set"], ["members", "list"], ["members", "delete"],
    ["audit"], ["audit", "list"], ["audit", "verify"],
]


@pytest.mark.parametrize("words", NEW_HELP, ids=[" ".join(w) for w in NEW_HELP])
def test_help_for_the_new_commands(tresor_bin, tmp_path, words):
    res = run_cli(tresor_bin, [*words, "--help"], env={"TRESOR_ADDR": closed_port_url()}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert words[-1] in res.stdout and "usage: tresor" in res.stdout
    if words == ["members", "set"]:
        for opt in ("--role", "--project", "--cluster"):
            assert opt in res.stdout
    if words == ["audit", "list"]:
        for opt in ("--workspace", "--secret", "--actor", "--action", "--outcome", "--since",
                    "--until", "--after", "--limit"):
            assert opt in res.stdout
    main = run_cli(tresor_bin, ["--help"], cwd=tmp_path)
    assert f"{words[0]} " in main.stdout


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res


def fails(res, code):
    assert res.returncode == code, \
        f"expected exit {code}, got {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    assert res.stderr.startswith("tresor: "), res.stderr
    return res


def js(res):
    return json.loads(ok(res).stdout)


def test_cli_principals(world):
    srv = world.srv
    res = ok(srv.cli("principals", "create", "cli-user"))
    assert res.stdout.strip() == "created user cli-user"
    res = ok(srv.cli("principals", "create", "cli-bot", "--kind", "service"))
    assert res.stdout.strip() == "created service account cli-bot"
    res = ok(srv.cli("principals", "create", "cli-root", "--platform-admin"))
    assert res.stdout.strip() == "created user cli-root (platform admin)"
    made = js(srv.cli("principals", "create", "cli-json", "-o", "json"))
    assert set(made) == PRINCIPAL_KEYS and made["name"] == "cli-json"

    table = ok(srv.cli("principals", "list")).stdout.splitlines()
    assert table[0].split() == ["NAME", "KIND", "PLATFORM", "ADMIN", "CREATED"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["cli-bot"][1:3] == ["service", "no"]
    assert rows["cli-root"][1:3] == ["user", "yes"]
    listed = js(srv.cli("principals", "list", "-o", "json"))
    assert listed == srv.get("/v2/principals").json()

    fails(srv.cli("principals", "create", "cli-user"), 3)
    fails(srv.cli("principals", "create", "cli-x", "--kind", "robot"), 5)
    fails(srv.cli("principals", "create"), 1)
    fails(srv.cli("principals", "list", env={"TRESOR_TOKEN": world.tokens["admin"]}), 4)
    fails(srv.cli("principals", "create", "cli-y", env={"TRESOR_TOKEN": world.tokens["editor"]}), 4)
    res = ok(srv.cli("principals", "delete", "cli-user"))
    assert res.stdout.strip() == "deleted principal cli-user"
    fails(srv.cli("principals", "delete", "cli-user"), 2)
    assert "cli-user" not in _principals(world)


def test_cli_members(world):
    srv = world.srv
    ws = srv.create_workspace("cli-members")
    user = srv.create_principal("cli-m-user")
    bot = srv.create_principal("cli-m-bot", kind="service")
    res = ok(srv.cli("members", "set", ws, user, "--role", "editor"))
    assert res.stdout.strip() == f"{user} is editor in {ws}"
    res = ok(srv.cli("members", "set", ws, bot, "--role", "service", "--project", "p1"))
    assert res.stdout.strip() == f"{bot} is service in {ws} (project:p1)"
    made = js(srv.cli("members", "set", ws, user, "--role", "viewer", "-o", "json"))
    assert set(made) == MEMBER_KEYS and made["role"] == "viewer"

    table = ok(srv.cli("members", "list", ws)).stdout.splitlines()
    assert table[0].split() == ["PRINCIPAL", "ROLE", "SCOPE", "CREATED", "CREATED", "BY"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[bot][1:3] == ["service", "project:p1"]
    assert rows[user][1:3] == ["viewer", "workspace"]
    assert rows[user][-1] == "admin"
    assert js(srv.cli("members", "list", ws, "-o", "json")) == srv.get(f"/v2/workspaces/{ws}/members").json()

    fails(srv.cli("members", "set", ws, user), 1)                                    # no --role
    fails(srv.cli("members", "set", ws, bot, "--role", "service", "--project", "p",
                  "--cluster", "c"), 1)
    fails(srv.cli("members", "set", ws, user, "--role", "owner"), 5)
    fails(srv.cli("members", "set", ws, user, "--role", "editor", "--project", "p1"), 5)
    fails(srv.cli("members", "set", ws, "cli-nobody", "--role", "viewer"), 2)
    fails(srv.cli("members", "list", "no-such-ws"), 2)
    fails(srv.cli("members", "list", ws, env={"TRESOR_TOKEN": world.tokens["editor"]}), 2)
    fails(srv.cli("members", "list", world.a, env={"TRESOR_TOKEN": world.tokens["editor"]}), 4)
    res = ok(srv.cli("members", "delete", ws, user))
    assert res.stdout.strip() == f"removed {user} from {ws}"
    fails(srv.cli("members", "delete", ws, user), 2)
    assert [m["principal"] for m in srv.get(f"/v2/workspaces/{ws}/members").json()["data"]] == [bot]


def test_cli_tokens_list_shows_who_minted(world):
    srv = world.srv
    ws = srv.create_workspace("cli-mint")
    user = srv.create_principal("cli-minter")
    bot = srv.create_principal("cli-minted", kind="service")
    srv.set_member(ws, user, "admin")
    srv.set_member(ws, bot, "service")
    utoken = srv.mint(user)
    made = js(srv.cli("tokens", "create", "--principal", bot, "--expires-in", "600", "-o", "json",
                      env={"TRESOR_TOKEN": utoken}, check_leaks=False))
    srv.track_token(made["token"])
    assert made["principal"] == bot and made["created_by"] == user
    table = ok(srv.cli("tokens", "list", env={"TRESOR_TOKEN": utoken})).stdout.splitlines()
    assert "CREATED BY" in table[0]
    row = next(line for line in table if made["id"] in line)
    assert bot in row and user in row
    fails(srv.cli("tokens", "create", "--principal", world.names["service"],
                  env={"TRESOR_TOKEN": utoken}), 4)

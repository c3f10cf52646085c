"""
Every error of docs/api.md, end to end: status, the exact JSON shape
{"error":{"code","message"}}, Content-Type application/json, the documented
message where there is one, and that the failed request changed nothing
(`state_unchanged`). Error messages never carry a submitted value: the server
fixture checks every response for tracked values, and the tests that are
about it check explicitly too.
"""
import json
import secrets as pysecrets

import pytest

from conftest import assert_error, error_body, fresh_source, leak_forms, secret_value, uniq

SECRETS = "/v2/workspaces/default/secrets"


@pytest.fixture(scope="module")
def errws(server):
    """A workspace holding `sentinel` (a value) and `sentinel-data` (s3 data),
    the targets of failing PATCH/PUT/DELETE requests."""
    ws = server.create_workspace(uniq("err"))
    server.create_secret(ws, name="sentinel", value=secret_value("sentinel"))
    server.create_secret(ws, name="sentinel-data", type="s3",
                         data={"access_key_id": "AKIASENTINEL0001",
                               "secret_access_key": secret_value("sentinel-s3")})
    return ws


def raw(server, method, path, body, content_type="application/json", **kw):
    """Sends body (bytes or str) as is, with the given Content-Type (None: none)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return server.request(method, path, data=body, headers=headers, **kw)


def assert_message_clean(resp, *values):
    """The error message (and the whole body) carries none of the values."""
    for v in values:
        for form in leak_forms(v):
            assert form not in resp.content, f"error response echoes {v[:30]!r}: {resp.text[:300]}"


# ---------------------------------------------------------------- 400

def body_routes(errws):
    return [
        ("POST", "/v2/workspaces"),
        ("POST", SECRETS),
        ("POST", f"/v2/workspaces/{errws}/secrets"),
        ("PATCH", f"/v2/workspaces/{errws}/secrets/sentinel"),
        ("PUT", f"/v2/workspaces/{errws}/secrets/sentinel"),
        ("POST", "/v2/tokens"),
    ]


ROUTE_IDS = ["post-ws", "post-secret-default", "post-secret", "patch", "put", "post-token"]


@pytest.mark.parametrize("route", range(6), ids=ROUTE_IDS)
@pytest.mark.parametrize("body", ['{"name":', '{"name": "x",}', "{name: 'x'}", "not json",
                                  '{"a":1}{"b":2}', "\xff\xfe"],
                         ids=["truncated", "trailing-comma", "unquoted", "text", "two-objects",
                              "bad-utf8"])
def test_malformed_json_is_400(server, errws, state_unchanged, route, body):
    method, path = body_routes(errws)[route]
    payload = body.encode("latin-1") if body == "\xff\xfe" else body
    with state_unchanged(errws):
        r = raw(server, method, path, payload)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("route", range(6), ids=ROUTE_IDS)
@pytest.mark.parametrize("body", ["[]", '[{"name":"x"}]', '"name"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_400(server, errws, state_unchanged, route, body):
    method, path = body_routes(errws)[route]
    with state_unchanged(errws):
        r = raw(server, method, path, body)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("route", [1, 3, 4], ids=["post-secret", "patch", "put"])
def test_empty_body_on_a_secret_write_is_400(server, errws, state_unchanged, route):
    method, path = body_routes(errws)[route]
    with state_unchanged(errws):
        r = raw(server, method, path, b"")
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("body", [
    '{"name":"leaky","value":SECRET}',          # unquoted token
    '{"name":"leaky","value":"SECRET',          # unterminated string
    '{"name":"leaky","value":"SECRET",}',       # trailing comma after it
    '{"name":"leaky","data":{"k":"SECRET"}',    # missing brace
])
def test_malformed_json_message_does_not_echo_the_value(server, state_unchanged, body):
    value = "LEAKCHECK" + pysecrets.token_hex(12)
    with state_unchanged():
        r = raw(server, "POST", SECRETS, body.replace("SECRET", value))
    assert_error(r, 400, "invalid_request")
    assert_message_clean(r, value, value[:12])


@pytest.mark.parametrize("params", [
    {"sort": "bogus"}, {"sort": "-"}, {"sort": "value"},
    {"page": "0"}, {"page": "-1"}, {"page": "abc"}, {"page": "1.5"},
    {"page_size": "0"}, {"page_size": "1001"}, {"page_size": "-5"}, {"page_size": "many"},
    {"type": "no-such-type"}, {"use_case": "no-such-type"},
], ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_bad_list_parameter_is_400(server, params):
    r = server.get(SECRETS, params=params)
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("page_size", ["1", "1000"])
def test_page_size_bounds_are_accepted(server, page_size):
    r = server.get(SECRETS, params={"page_size": page_size})
    assert r.status_code == 200, r.text
    assert r.json()["pagination"]["page_size"] == int(page_size)


# ---------------------------------------------------------------- 401

BAD_AUTH = {
    "missing": None,
    "empty": "",
    "bearer-only": "Bearer",
    "bearer-space": "Bearer ",
    "garbage": "Bearer garbage",
    "basic": "Basic YWRtaW46YWRtaW4=",
    "unknown-wellformed": "UNKNOWN",
    "prefix-only": "Bearer trs_",
    "too-long": "ADMIN+x",
    "truncated": "ADMIN-1",
    "no-scheme": "ADMINRAW",
}


def auth_header(server, kind):
    v = BAD_AUTH[kind]
    if v == "UNKNOWN":
        return "Bearer trs_" + pysecrets.token_urlsafe(32)[:43]
    if v == "ADMIN+x":
        return f"Bearer {server.token}x"
    if v == "ADMIN-1":
        return f"Bearer {server.token[:-1]}"
    if v == "ADMINRAW":
        return server.token
    return v


@pytest.mark.parametrize("kind", list(BAD_AUTH))
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v2/workspaces", None),
    ("POST", "/v2/workspaces", {"name": "never-made"}),
    ("GET", SECRETS, None),
    ("POST", SECRETS, {"name": "never-made", "value": "never-stored-value-1"}),
    ("GET", "/v2/tokens", None),
    ("POST", "/v2/tokens", {}),
    ("GET", "/v2/workspaces/ERRWS/secrets/sentinel/access", None),
    ("DELETE", "/v2/workspaces/ERRWS/secrets/sentinel", None),
], ids=["list-ws", "create-ws", "list-secrets", "create-secret", "list-tokens",
        "create-token", "access", "delete-secret"])
def test_missing_or_bad_token_is_401(server, errws, state_unchanged, kind, method, path, body):
    path = path.replace("ERRWS", errws)
    header = auth_header(server, kind)
    headers = {} if header is None else {"Authorization": header}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    with state_unchanged(errws):
        # From an address of its own: these 88 failures must not get the
        # session's 127.0.0.1 rate-limited (docs/api.md, Rate limiting).
        r = server.request(method, path, data=data, headers=headers, token=None,
                           source=fresh_source())
    msg = assert_error(r, 401, "unauthorized")
    if header and len(header) > 12:
        assert header.split()[-1] not in msg, "401 message echoes the token"
        assert header.split()[-1] not in r.text


# ---------------------------------------------------------------- 404

@pytest.mark.parametrize("method,path", [
    ("GET", "/v2/nope"),
    ("GET", "/v2"),
    ("GET", "/v2/workspaces/default/nope"),
    ("GET", "/v2/workspaces/default/secrets/x/nope"),
    ("GET", "/v2/workspaces/default/secrets/x/access/more"),
    ("POST", "/v2/nope"),
    ("GET", "/v1/workspaces"),
])
def test_unknown_route_is_404(server, state_unchanged, method, path):
    with state_unchanged():
        r = server.request(method, path)
    assert_error(r, 404, "not_found")


def test_unknown_route_outside_v2_is_404_without_token(server):
    r = server.get("/no-such-page", token=None)
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None),
    ("DELETE", "", None),
    ("GET", "/secrets", None),
    ("POST", "/secrets", {"name": "n", "value": "value-for-missing-ws"}),
    ("GET", "/secrets/x", None),
    ("PATCH", "/secrets/x", {"description": "d"}),
    ("DELETE", "/secrets/x", None),
    ("GET", "/secrets/x/access", None),
])
def test_unknown_workspace_is_404_with_message(server, state_unchanged, method, suffix, body):
    ws = uniq("nows")
    kw = {} if body is None else {"json": body}
    with state_unchanged():
        r = server.request(method, f"/v2/workspaces/{ws}{suffix}", **kw)
    msg = assert_error(r, 404, "not_found")
    if suffix in ("", "/secrets"):
        assert msg == f"Workspace '{ws}' not found"
    else:
        assert ws in msg


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None),
    ("PATCH", "", {"description": "d"}),
    ("PATCH", "", {"value": "patched-value-for-x"}),
    ("DELETE", "", None),
    ("GET", "/access", None),
])
def test_unknown_secret_is_404_with_message(server, state_unchanged, method, suffix, body):
    kw = {} if body is None else {"json": body}
    with state_unchanged():
        r = server.request(method, f"{SECRETS}/x{suffix}", **kw)
    assert_error(r, 404, "not_found", "Secret 'default/x' not found")


def test_unknown_token_id_is_404(server, state_unchanged):
    with state_unchanged():
        r = server.delete("/v2/tokens/tok_ffffffffffffffff")
    assert_error(r, 404, "not_found")


def test_token_for_unknown_principal_is_404(server, state_unchanged):
    with state_unchanged():
        r = server.post("/v2/tokens", json={"principal": uniq("ghost")})
    assert_error(r, 404, "not_found")


# ---------------------------------------------------------------- 405

@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v2/workspaces", {"GET", "POST"}),
    ("PUT", "/v2/workspaces", {"GET", "POST"}),
    ("PUT", "/v2/workspaces/default", {"GET", "DELETE"}),
    ("POST", "/v2/workspaces/default", {"GET", "DELETE"}),
    ("DELETE", SECRETS, {"GET", "POST"}),
    ("POST", f"{SECRETS}/x", {"GET", "PATCH", "PUT", "DELETE"}),
    ("POST", f"{SECRETS}/x/access", {"GET"}),
    ("DELETE", f"{SECRETS}/x/access", {"GET"}),
    ("PATCH", "/v2/tokens", {"GET", "POST"}),
    ("GET", "/v2/tokens/tok_0000000000000000", {"DELETE"}),
    ("POST", "/healthz", {"GET"}),
])
def test_wrong_method_is_405_with_allow_header(server, state_unchanged, method, path, allowed):
    with state_unchanged():
        r = server.request(method, path)
    assert_error(r, 405, "method_not_allowed")
    assert "Allow" in r.headers, f"no Allow header: {dict(r.headers)}"
    got = {m.strip().upper() for m in r.headers["Allow"].split(",") if m.strip()}
    assert allowed <= got, f"Allow {r.headers['Allow']!r} lacks some of {allowed}"
    assert method not in got
    assert got <= allowed | {"HEAD", "OPTIONS"}, f"Allow {r.headers['Allow']!r} lists too much"


@pytest.mark.parametrize("path", [f"{SECRETS}/%00", f"{SECRETS}/" + "x" * 1025])
def test_a_name_that_does_not_decode_is_404_not_405(server, state_unchanged, path):
    # The route's method matches; its name capture cannot be decoded (empty
    # or longer than any name), so no route takes the request.
    with state_unchanged():
        r = server.get(path)
    assert_error(r, 404, "not_found")
    assert "Allow" not in r.headers


# ---------------------------------------------------------------- 409

def test_duplicate_secret_is_409_with_message_and_keeps_the_original(server, state_unchanged):
    original = secret_value("orig")
    r = server.post(SECRETS, json={"name": "x", "value": original})
    assert r.status_code == 201, r.text
    try:
        dup = secret_value("dup")
        with state_unchanged():
            r = server.post(SECRETS, json={"name": "x", "value": dup, "description": "dup"})
        assert_error(r, 409, "conflict", "Secret 'default/x' already exists")
        assert_message_clean(r, original, dup)
        meta = server.get(f"{SECRETS}/x").json()
        assert (meta["version"], meta["description"]) == (1, "")
        assert server.access("default", "x")["value"] == original
    finally:
        assert server.delete(f"{SECRETS}/x").status_code == 204


def test_duplicate_workspace_is_409(server, errws, state_unchanged):
    with state_unchanged(errws):
        r = server.post("/v2/workspaces", json={"name": errws})
    assert_error(r, 409, "conflict", f"Workspace '{errws}' already exists")


def test_deleting_a_workspace_that_holds_secrets_is_409(server, errws, state_unchanged):
    with state_unchanged(errws):
        r = server.delete(f"/v2/workspaces/{errws}")
    assert_error(r, 409, "conflict")


@pytest.mark.parametrize("query", ["", "?force=true"])
def test_deleting_default_is_409(server, state_unchanged, query):
    with state_unchanged():
        r = server.delete(f"/v2/workspaces/default{query}")
    assert_error(r, 409, "conflict")


# ---------------------------------------------------------------- 413

MIB = 1024 * 1024
KIB64 = 64 * 1024


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/workspaces/ERRWS/secrets"),
    ("PATCH", "/v2/workspaces/ERRWS/secrets/sentinel"),
    ("PUT", "/v2/workspaces/ERRWS/secrets/sentinel"),
    ("POST", "/v2/workspaces"),
    ("POST", "/v2/tokens"),
])
def test_body_over_1mib_is_413(server, errws, state_unchanged, method, path):
    path = path.replace("ERRWS", errws)
    prefix = b'{"name":"big","value":"'
    body = prefix + b"B" * (MIB + 1 - len(prefix) - 2) + b'"}'
    assert len(body) == MIB + 1
    with state_unchanged(errws):
        r = raw(server, method, path, body)
    assert_error(r, 413, "payload_too_large")


def test_chunked_body_over_1mib_is_413(server, errws, state_unchanged):
    def gen():
        yield b'{"name":"chunky","value":"'
        for _ in range(17):
            yield b"C" * (64 * 1024)
        yield b'"}'
    with state_unchanged(errws):
        r = server.request("POST", f"/v2/workspaces/{errws}/secrets", data=gen(),
                           headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def _over(n):
    return "D" * n


@pytest.mark.parametrize("method,path,body", [
    # "value" (5 bytes) + value: one byte over 64 KiB
    ("POST", "/v2/workspaces/ERRWS/secrets", {"name": "toobig", "value": _over(KIB64 - 5 + 1)}),
    ("POST", "/v2/workspaces/ERRWS/secrets",
     {"name": "toobig", "type": "opaque", "data": {"a": _over(KIB64 // 2), "b": _over(KIB64 // 2)}}),
    ("POST", "/v2/workspaces/ERRWS/secrets", {"name": "toobig", "value": _over(512 * 1024)}),
    ("PATCH", "/v2/workspaces/ERRWS/secrets/sentinel", {"value": _over(KIB64)}),
    ("PUT", "/v2/workspaces/ERRWS/secrets/sentinel", {"value": _over(KIB64)}),
    ("PUT", "/v2/workspaces/ERRWS/secrets/newbig", {"value": _over(KIB64)}),
], ids=["create-value", "create-two-keys", "create-512k", "patch", "put-replace", "put-create"])
def test_secret_data_over_64kib_is_413(server, errws, state_unchanged, method, path, body):
    path = path.replace("ERRWS", errws)
    with state_unchanged(errws):
        r = server.request(method, path, json=body)
    assert_error(r, 413, "payload_too_large")


def test_secret_data_of_exactly_64kib_is_accepted(server, errws):
    name = uniq("exact64k")
    value = "E" * (KIB64 - len("value"))
    r = server.post(f"/v2/workspaces/{errws}/secrets", json={"name": name, "value": value})
    try:
        assert r.status_code == 201, r.text[:300]
        assert server.access(errws, name)["value"] == value
    finally:
        server.delete(f"/v2/workspaces/{errws}/secrets/{name}")


# ---------------------------------------------------------------- 415

@pytest.mark.parametrize("route", range(6), ids=ROUTE_IDS)
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/xml", "multipart/form-data; boundary=xyz",
                                   "application/jsonx"])
def test_body_without_json_content_type_is_415(server, errws, state_unchanged, route, ctype):
    method, path = body_routes(errws)[route]
    body = {"name": uniq("ct"), "value": secret_value("ct"), "description": "d"}
    if method in ("PATCH", "PUT"):
        body.pop("name")
    if path == "/v2/workspaces":
        body = {"name": uniq("ct")}
    if path == "/v2/tokens":
        body = {"description": "ct"}
    with state_unchanged(errws):
        r = raw(server, method, path, json.dumps(body), content_type=ctype)
    assert_error(r, 415, "unsupported_media_type")


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8",
                                   "application/json;charset=UTF-8"])
def test_json_content_type_with_parameters_is_accepted(server, errws, ctype):
    name = uniq("charset")
    r = raw(server, "POST", f"/v2/workspaces/{errws}/secrets",
            json.dumps({"name": name, "value": secret_value()}), content_type=ctype)
    try:
        assert r.status_code == 201, r.text
    finally:
        server.delete(f"/v2/workspaces/{errws}/secrets/{name}")


# ---------------------------------------------------------------- 422: names

@pytest.mark.parametrize("name", ["", "a/b", "a b", "x" * 256, "a@b", "naïve", "a\nb", "tab\there",
                                  "semi;colon", "a#b", "a?b", "a%2Fb"],
                         ids=["empty", "slash", "space", "256-chars", "at", "non-ascii",
                              "newline", "tab", "semicolon", "hash", "question", "percent"])
def test_invalid_secret_name_is_422_naming_the_field(server, errws, state_unchanged, name):
    with state_unchanged(errws):
        r = server.post(f"/v2/workspaces/{errws}/secrets", json={"name": name, "value": secret_value()})
    assert_error(r, 422, "validation_failed", names="name")


@pytest.mark.parametrize("name", ["hf-token", "nim-api-key", "wandb.key.production", "my_secret_1",
                                  "A", "x" * 255, "UPPER.lower-0_9"])
def test_valid_secret_names_are_accepted(server, errws, name):
    r = server.post(f"/v2/workspaces/{errws}/secrets", json={"name": name, "value": secret_value()})
    try:
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name
        assert server.get(f"/v2/workspaces/{errws}/secrets/{name}").status_code == 200
    finally:
        server.delete(f"/v2/workspaces/{errws}/secrets/{name}")


@pytest.mark.parametrize("name", ["", "Team-A", "-team", "team-", "team_a", "a.b", "a b", "ä",
                                  "a" * 64, "a/b"],
                         ids=["empty", "upper", "leading-dash", "trailing-dash", "underscore",
                              "dot", "space", "non-ascii", "64-chars", "slash"])
def test_invalid_workspace_name_is_422_naming_the_field(server, state_unchanged, name):
    with state_unchanged():
        r = server.post("/v2/workspaces", json={"name": name})
    assert_error(r, 422, "validation_failed", names="name")


@pytest.mark.parametrize("body,field", [
    ({}, "name"),
    ({"name": 5}, "name"),
    ({"name": None}, "name"),
    ({"name": "ok", "extra": 1}, "extra"),
], ids=["missing-name", "number", "null", "unknown-field"])
def test_invalid_workspace_body_is_422_naming_the_field(server, state_unchanged, body, field):
    with state_unchanged():
        r = server.post("/v2/workspaces", json=body)
    assert_error(r, 422, "validation_failed", names=field)


# ---------------------------------------------------------------- 422: secret fields

def tags(n, size=4):
    return [f"t{i:0{size - 1}d}" for i in range(n)]


def keys(n):
    return {f"k{i}": f"value-of-key-{i}" for i in range(n)}


INVALID_CREATE = [
    # (id, body without name, fields one of which the message must name)
    ("missing-name", {"NONAME": True, "value": "a-valid-value-1"}, ("name",)),
    ("name-number", {"name": 42, "value": "a-valid-value-1"}, ("name",)),
    ("no-value-or-data", {}, ("value", "data")),
    ("empty-value", {"value": ""}, ("value",)),
    ("value-number", {"value": 42}, ("value",)),
    ("value-null", {"value": None}, ("value",)),
    ("value-object", {"value": {"a": "b"}}, ("value",)),
    ("value-and-data", {"value": "a-valid-value-1", "data": {"k": "a-valid-value-2"}},
     ("value", "data")),
    ("data-empty", {"type": "opaque", "data": {}}, ("data",)),
    ("data-string", {"type": "opaque", "data": "k=v"}, ("data",)),
    ("data-array", {"type": "opaque", "data": ["a"]}, ("data",)),
    ("data-empty-value", {"type": "opaque", "data": {"k": ""}}, ("data", "k")),
    ("data-number-value", {"type": "opaque", "data": {"k": 5}}, ("data", "k")),
    ("data-bad-key", {"type": "opaque", "data": {"bad key": "a-valid-value-1"}}, ("data", "key")),
    ("data-slash-key", {"type": "opaque", "data": {"a/b": "a-valid-value-1"}}, ("data", "key")),
    ("data-254-char-key", {"type": "opaque", "data": {"k" * 254: "a-valid-value-1"}},
     ("data", "key")),
    ("data-65-keys", {"type": "opaque", "data": keys(65)}, ("data", "keys")),
    ("unknown-field", {"value": "a-valid-value-1", "bogus": "x"}, ("bogus",)),
    ("unknown-field-value", {"value": "a-valid-value-1", "secret_value": "x"}, ("secret_value",)),
    ("tags-string", {"value": "a-valid-value-1", "tags": "prod"}, ("tags",)),
    ("tags-space", {"value": "a-valid-value-1", "tags": ["bad tag"]}, ("tag",)),
    ("tags-empty-string", {"value": "a-valid-value-1", "tags": [""]}, ("tag",)),
    ("tags-64-chars", {"value": "a-valid-value-1", "tags": ["t" * 64]}, ("tag",)),
    ("tags-number", {"value": "a-valid-value-1", "tags": [1]}, ("tag",)),
    ("tags-17", {"value": "a-valid-value-1", "tags": tags(17)}, ("tag",)),
    ("tags-slash", {"value": "a-valid-value-1", "tags": ["a/b"]}, ("tag",)),
    ("visibility-bad", {"value": "a-valid-value-1", "visibility": "secret"}, ("visibility",)),
    ("visibility-empty", {"value": "a-valid-value-1", "visibility": ""}, ("visibility",)),
    ("visibility-number", {"value": "a-valid-value-1", "visibility": 1}, ("visibility",)),
    ("project-and-cluster", {"value": "a-valid-value-1", "project": "p1", "cluster": "c1"},
     ("project", "cluster")),
    ("project-bad-name", {"value": "a-valid-value-1", "project": "Bad_Project"}, ("project",)),
    ("cluster-bad-name", {"value": "a-valid-value-1", "cluster": "-c"}, ("cluster",)),
    ("cluster-number", {"value": "a-valid-value-1", "cluster": 7}, ("cluster",)),
    ("type-unknown", {"type": "nonsense", "data": {"k": "a-valid-value-1"}}, ("type",)),
    ("type-number", {"type": 5, "data": {"k": "a-valid-value-1"}}, ("type",)),
    ("type-empty", {"type": "", "data": {"k": "a-valid-value-1"}}, ("type",)),
    ("huggingface-no-token", {"type": "huggingface", "data": {"hf_token": "hf_abcdefgh12"}},
     ("token",)),
    ("s3-no-secret-key", {"type": "s3", "data": {"access_key_id": "AKIA00000000001"}},
     ("secret_access_key",)),
    ("s3-bad-endpoint", {"type": "s3", "data": {"access_key_id": "AKIA00000000001",
                                                "secret_access_key": "a-valid-value-3",
                                                "endpoint_url": "ftp://files.example.com"}},
     ("endpoint_url",)),
    ("database-missing", {"type": "database", "data": {"host": "db.example.com"}},
     ("url", "user", "password")),
    ("database-bad-port", {"type": "database", "data": {"host": "db.example.com", "user": "app",
                                                        "password": "a-valid-value-4",
                                                        "port": "fivefour"}}, ("port",)),
    ("registry-missing", {"type": "container_registry", "data": {"username": "robot"}},
     ("dockerconfigjson", "registry_server", "password", "email")),
    ("registry-bad-json", {"type": "container_registry",
                           "data": {".dockerconfigjson": "{not json"}}, ("dockerconfigjson",)),
    ("registry-no-auths", {"type": "container_registry",
                           "data": {".dockerconfigjson": '{"other": {}}'}}, ("auths",)),
    ("api_key-missing", {"type": "api_key", "data": {"key": "a-valid-value-5"}}, ("api_key",)),
    ("ssh-no-key", {"type": "ssh", "data": {"comment": "a-valid-value-6"}},
     ("private_key", "public_key")),
    ("ssh-not-openssh", {"type": "ssh", "data": {"public_key": "definitely not a key"}},
     ("public_key",)),
    ("description-1025", {"value": "a-valid-value-1", "description": "d" * 1025}, ("description",)),
    ("description-1026-bytes", {"value": "a-valid-value-1", "description": "é" * 513},
     ("description",)),
    ("description-number", {"value": "a-valid-value-1", "description": 5}, ("description",)),
    ("expires_in-zero", {"value": "a-valid-value-1", "expires_in": 0}, ("expires_in",)),
    ("expires_in-negative", {"value": "a-valid-value-1", "expires_in": -10}, ("expires_in",)),
    ("expires_in-string", {"value": "a-valid-value-1", "expires_in": "60"}, ("expires_in",)),
    ("expires_in-float", {"value": "a-valid-value-1", "expires_in": 1.5}, ("expires_in",)),
    ("expires_in-bool", {"value": "a-valid-value-1", "expires_in": True}, ("expires_in",)),
]


@pytest.mark.parametrize("body,fields", [(b, f) for _, b, f in INVALID_CREATE],
                         ids=[i for i, _, _ in INVALID_CREATE])
def test_invalid_create_field_is_422_naming_the_field(server, errws, state_unchanged, body, fields):
    body = dict(body)
    if body.pop("NONAME", None) is None and "name" not in body:
        body["name"] = uniq("bad")
    with state_unchanged(errws):
        r = server.post(f"/v2/workspaces/{errws}/secrets", json=body)
    assert_error(r, 422, "validation_failed", names=fields)


def test_unknown_field_message_names_it(server, errws, state_unchanged):
    with state_unchanged(errws):
        r = server.post(f"/v2/workspaces/{errws}/secrets",
                        json={"name": uniq("u"), "value": secret_value(), "colour": "red"})
    msg = assert_error(r, 422, "validation_failed")
    assert "unknown field" in msg and "colour" in msg


@pytest.mark.parametrize("extra", [
    {"description": "d" * 1024},
    {"description": "é" * 512},
    {"tags": [f"tag{i:02d}" for i in range(16)]},
    {"tags": ["t" * 63, "a.b:c-d_e"]},
    {"project": "p" * 63},
    {"type": "opaque", "data": keys(64)},
    {"type": "opaque", "data": {"k" * 253: "a-valid-value-7"}},
    {"visibility": "public"},
    {"expires_in": 1},
], ids=["desc-1024", "desc-1024-bytes", "16-tags", "63-char-tag", "63-char-project", "64-keys",
        "253-char-key", "public", "expires-1"])
def test_limits_at_the_boundary_are_accepted(server, errws, extra):
    name = uniq("edge")
    body = {"name": name, **extra}
    if "data" not in body:
        body["value"] = secret_value()
    r = server.post(f"/v2/workspaces/{errws}/secrets", json=body)
    try:
        assert r.status_code == 201, r.text[:300]
    finally:
        params = {"project": extra["project"]} if "project" in extra else None
        server.delete(f"/v2/workspaces/{errws}/secrets/{name}", params=params)


INVALID_PATCH = [
    ("empty", {}, ("value", "data", "type", "description", "visibility", "tags", "expires_in",
                   "field")),
    ("empty-value", {"value": ""}, ("value",)),
    ("value-and-data", {"value": "a-valid-value-8", "data": {"k": "a-valid-value-9"}},
     ("value", "data")),
    ("bad-visibility", {"visibility": "hidden"}, ("visibility",)),
    ("bad-tags", {"tags": ["no spaces allowed"]}, ("tag",)),
    ("long-description", {"description": "x" * 1025}, ("description",)),
    ("unknown-field", {"flavour": "x"}, ("flavour",)),
    ("bad-expires", {"expires_in": 0}, ("expires_in",)),
    ("bad-type", {"type": "bogus-type"}, ("type",)),
    ("data-65-keys", {"data": keys(65)}, ("data", "keys")),
]


@pytest.mark.parametrize("body,fields", [(b, f) for _, b, f in INVALID_PATCH],
                         ids=[i for i, _, _ in INVALID_PATCH])
def test_invalid_patch_is_422_and_keeps_the_secret(server, errws, state_unchanged, body, fields):
    with state_unchanged(errws):
        r = server.patch(f"/v2/workspaces/{errws}/secrets/sentinel", json=body)
    assert_error(r, 422, "validation_failed", names=fields)


def test_patch_changing_type_without_required_keys_is_422(server, errws, state_unchanged):
    with state_unchanged(errws):
        r = server.patch(f"/v2/workspaces/{errws}/secrets/sentinel-data",
                         json={"type": "huggingface"})
    assert_error(r, 422, "validation_failed", names=("token", "type"))


INVALID_PUT = [
    ("name-mismatch", "sentinel", {"name": "other-name", "value": "a-valid-value-1"}, ("name",)),
    ("bad-path-name", "a%20b", {"value": "a-valid-value-1"}, ("name",)),
    ("empty-value", "sentinel", {"value": ""}, ("value",)),
    ("no-value", "sentinel", {"description": "only metadata"}, ("value", "data")),
    ("unknown-field", "sentinel", {"value": "a-valid-value-1", "oops": 1}, ("oops",)),
    ("project-and-cluster", "put-new", {"value": "a-valid-value-1", "project": "p", "cluster": "c"},
     ("project", "cluster")),
]


@pytest.mark.parametrize("name,body,fields", [(n, b, f) for _, n, b, f in INVALID_PUT],
                         ids=[i for i, _, _, _ in INVALID_PUT])
def test_invalid_put_is_422_and_keeps_the_secret(server, errws, state_unchanged, name, body, fields):
    with state_unchanged(errws):
        r = server.put(f"/v2/workspaces/{errws}/secrets/{name}", json=body)
    assert_error(r, 422, "validation_failed", names=fields)


@pytest.mark.parametrize("body,field", [
    ({"expires_in": 0}, "expires_in"),
    ({"expires_in": -1}, "expires_in"),
    ({"expires_in": "3600"}, "expires_in"),
    ({"description": 5}, "description"),
    ({"bogus": True}, "bogus"),
    ({"principal": 5}, "principal"),
], ids=["expires-zero", "expires-negative", "expires-string", "description-number",
        "unknown-field", "principal-number"])
def test_invalid_token_request_is_422(server, state_unchanged, body, field):
    with state_unchanged():
        r = server.post("/v2/tokens", json=body)
    assert_error(r, 422, "validation_failed", names=field)


# ---------------------------------------------------------------- values never in messages

def leaky_cases():
    v = "LEAKCHECK" + pysecrets.token_hex(12)
    return v, [
        # (method, path-suffix, body)
        ("POST", "", {"name": "bad name", "value": v}),
        ("POST", "", {"name": "ok-name", "value": v, "bogus": 1}),
        ("POST", "", {"name": "ok-name", "value": v, "data": {"k": v}}),
        ("POST", "", {"name": "ok-name", "type": "huggingface", "data": {"token": "hf_ " + v}}),
        ("POST", "", {"name": "ok-name", "type": "huggingface", "data": {"wrong": v}}),
        ("POST", "", {"name": "ok-name", "type": "opaque", "data": {"bad key": v}}),
        ("POST", "", {"name": "ok-name", "type": "s3",
                      "data": {"access_key_id": v, "secret_access_key": v,
                               "endpoint_url": "notaurl" + v}}),
        ("POST", "", {"name": "ok-name", "type": "database",
                      "data": {"host": "h", "user": "u", "password": v, "port": v}}),
        ("POST", "", {"name": "ok-name", "type": "container_registry",
                      "data": {".dockerconfigjson": '{"auths":' + v + "}"}}),
        ("POST", "", {"name": "ok-name", "type": "ssh", "data": {"private_key": v}}),
        ("POST", "", {"name": "ok-name", "value": v, "tags": ["bad tag"]}),
        ("POST", "", {"name": "ok-name", "value": v, "visibility": "nope"}),
        ("POST", "", {"name": "ok-name", "value": v, "type": "nope"}),
        ("POST", "", {"name": "ok-name", "value": v, "project": "p", "cluster": "c"}),
        ("PATCH", "/sentinel", {"value": v, "visibility": "nope"}),
        ("PATCH", "/missing-secret", {"value": v}),
        ("PUT", "/sentinel", {"name": "mismatch", "value": v}),
        ("POST", "", {"name": "ok-name", "value": v * 7000}),  # 413
    ]


@pytest.mark.parametrize("case", range(len(leaky_cases()[1])))
def test_error_messages_never_contain_the_submitted_value(server, errws, state_unchanged, case):
    value, cases = leaky_cases()
    method, suffix, body = cases[case]
    with state_unchanged(errws):
        r = server.request(method, f"/v2/workspaces/{errws}/secrets{suffix}", json=body)
    assert 400 <= r.status_code < 500, r.text[:300]
    error_body(r)
    assert_message_clean(r, value, value[9:])

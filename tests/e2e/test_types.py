"""
Secret types (SPEC §3, docs/api.md "Fields"), end to end, type by type:

- a valid secret of every type and form is accepted, stored under its
  canonical type name, and read back exactly by the platform admin;
- each required key missing -> 422 validation_failed naming that key;
- each validation rule broken (hf token with whitespace, s3 endpoint_url not
  http(s), database port not a number, a dockerconfigjson that is not JSON /
  has no auths / has an auth that is not base64 of user:pass, an api_key
  provider outside the list, ssh keys not in OpenSSH format) -> 422 naming the
  field, and the response never carries the value (a unique marker inside the
  value is looked for; conftest's leak check looks for the whole value);
- warnings (a name that is not DNS-portable, an hf token not starting hf_)
  come back in "warnings" and do not fail the request;
- type names are case-insensitive (HuggingFace, ImagePullSecret, S3, Generic);
- the AI Blueprints structured registry form is also stored as
  .dockerconfigjson whose auths[registry_server].auth is base64(user:password);
- a secret's type is fixed: PATCH/PUT with another type -> 422, nothing changes.

Runs on the session server, in a workspace of its own.
"""
import base64
import json
import os
import struct
import uuid

import pytest

from conftest import METADATA_KEYS, assert_error, secret_value, uniq


# ---------------------------------------------------------------- material

def marker():
    """A unique string that must never come back in a response."""
    return "MRK" + uuid.uuid4().hex[:16]


def _ssh_string(b):
    return struct.pack(">I", len(b)) + b


def ssh_public_key(comment="e2e@tresor"):
    blob = _ssh_string(b"ssh-ed25519") + _ssh_string(os.urandom(32))
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + " " + comment


def ssh_public_key_ecdsa():
    blob = (_ssh_string(b"ecdsa-sha2-nistp256") + _ssh_string(b"nistp256")
            + _ssh_string(b"\x04" + os.urandom(64)))
    return "ecdsa-sha2-nistp256 " + base64.b64encode(blob).decode() + " e2e@tresor"


def ssh_public_key_rsa():
    blob = (_ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01")
            + _ssh_string(b"\x00" + bytes([0xc0]) + os.urandom(255)))
    return "ssh-rsa " + base64.b64encode(blob).decode()


def ssh_private_key():
    """An unencrypted ed25519 key in the OpenSSH private key format
    (openssh-key-v1), random material, as ssh-keygen writes it."""
    seed, pub = os.urandom(32), os.urandom(32)
    pub_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
    check = os.urandom(4)
    priv = (check + check + _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
            + _ssh_string(seed + pub) + _ssh_string(b"e2e@tresor"))
    pad = 1
    while len(priv) % 8:
        priv += bytes([pad])
        pad += 1
    blob = (b"openssh-key-v1\0" + _ssh_string(b"none") + _ssh_string(b"none") + _ssh_string(b"")
            + struct.pack(">I", 1) + _ssh_string(pub_blob) + _ssh_string(priv))
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i:i + 70] for i in range(0, len(b64), 70)]
    return ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines)
            + "\n-----END OPENSSH PRIVATE KEY-----\n")


def basic(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def dockercfg_auth(user="robot", password=None, registry="registry.example.com"):
    password = password or secret_value("regpw")
    return json.dumps({"auths": {registry: {"auth": basic(user, password)}}})


def dockercfg_userpass(user="robot", password=None, registry="nvcr.io"):
    password = password or secret_value("regpw")
    return json.dumps({"auths": {registry: {"username": user, "password": password}}})


def hf_token():
    return "hf_" + uuid.uuid4().hex + "AbC"


def structured_registry(password=None):
    return {"registry_server": "nvcr.io", "username": "$oauthtoken",
            "password": password or secret_value("ngc-key"), "email": "ops@example.com"}


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def ws(server):
    return server.create_workspace(uniq("types"))


def create(server, ws, type_, data, name=None, **extra):
    body = {"name": name or uniq("ty"), "type": type_, "data": data, **extra}
    return server.post(f"/v2/workspaces/{ws}/secrets", json=body), body["name"]


def create_raw(server, ws, body):
    """POSTs body without registering its values for leak tracking (for values
    that legitimately appear in responses, e.g. the provider names listed in
    an error message)."""
    return server.request("POST", f"/v2/workspaces/{ws}/secrets",
                          data=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"})


def assert_not_echoed(resp, *needles):
    for n in needles:
        assert n not in resp.text, f"response echoes {n!r}: {resp.text[:400]}"


def assert_rejected(server, ws, resp, name, field, *needles):
    """422 validation_failed naming `field`, no needle in the body, and no
    secret of that name was stored."""
    assert_error(resp, 422, "validation_failed", names=field)
    assert_not_echoed(resp, *needles)
    r = server.get(f"/v2/workspaces/{ws}/secrets/{name}")
    assert r.status_code == 404, f"a rejected secret was stored: {r.text[:300]}"


# ---------------------------------------------------------------- valid secrets

VALID = {
    "opaque-one-key": ("opaque", lambda: {"api-token": secret_value("op")}),
    "opaque-many-keys": ("opaque", lambda: {"A_KEY": secret_value("a"), "b.key": secret_value("b"),
                                            "c-key": secret_value("c")}),
    "generic": ("generic", lambda: {"anything": secret_value("gen")}),
    "huggingface": ("huggingface", lambda: {"token": hf_token()}),
    "s3-minimal": ("s3", lambda: {"access_key_id": "AKIA" + uuid.uuid4().hex[:16].upper(),
                                  "secret_access_key": secret_value("s3")}),
    "s3-all-keys": ("s3", lambda: {"access_key_id": "AKIA" + uuid.uuid4().hex[:16].upper(),
                                   "secret_access_key": secret_value("s3"),
                                   "session_token": secret_value("sess"), "region": "eu-west-1",
                                   "endpoint_url": "https://minio.example.com:9000"}),
    "s3-http-endpoint": ("s3", lambda: {"access_key_id": "AKIA" + uuid.uuid4().hex[:16].upper(),
                                        "secret_access_key": secret_value("s3"),
                                        "endpoint_url": "http://127.0.0.1:9000"}),
    "database-url": ("database", lambda: {
        "url": f"postgresql://app:{secret_value('db')}@db.example.com:5432/app"}),
    "database-host": ("database", lambda: {"host": "db.example.com", "user": "app",
                                           "password": secret_value("db")}),
    "database-host-port-dbname": ("database", lambda: {"host": "db.example.com", "user": "app",
                                                       "password": secret_value("db"),
                                                       "port": "5432", "dbname": "app"}),
    "registry-dockerconfig-auth": ("container_registry",
                                   lambda: {".dockerconfigjson": dockercfg_auth()}),
    "registry-dockerconfig-userpass": ("container_registry",
                                       lambda: {".dockerconfigjson": dockercfg_userpass()}),
    "api_key-openai": ("api_key", lambda: {"api_key": "sk-" + secret_value("oa"),
                                           "provider": "openai"}),
    "ssh-private": ("ssh", lambda: {"private_key": ssh_private_key()}),
    "ssh-public": ("ssh", lambda: {"public_key": ssh_public_key()}),
    "ssh-both": ("ssh", lambda: {"private_key": ssh_private_key(), "public_key": ssh_public_key()}),
    "ssh-public-ecdsa": ("ssh", lambda: {"public_key": ssh_public_key_ecdsa()}),
    "ssh-public-rsa": ("ssh", lambda: {"public_key": ssh_public_key_rsa()}),
}

CANONICAL = {"generic": "opaque"}


@pytest.mark.parametrize("case", list(VALID))
def test_valid_secret_of_each_type_is_created_and_reads_back_exactly(server, ws, case):
    type_, make = VALID[case]
    data = make()
    r, name = create(server, ws, type_, data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) - {"warnings"} == METADATA_KEYS
    assert body["type"] == CANONICAL.get(type_, type_)
    assert sorted(body["keys"]) == sorted(data)
    assert body.get("warnings", []) == [], f"unexpected warnings: {body.get('warnings')}"
    assert server.access(ws, name)["data"] == data


@pytest.mark.parametrize("provider", ["openai", "ngc", "nvidia_build", "github", "datadog",
                                      "wandb", "custom"])
def test_api_key_accepts_every_listed_provider(server, ws, provider):
    name = uniq("apikey")
    key = secret_value("apikey")
    server.track_value(key)
    # Sent untracked as a whole: the provider names are public words (they
    # appear in error messages), only the key is tracked.
    r = create_raw(server, ws, {"name": name, "type": "api_key",
                                "data": {"api_key": key, "provider": provider}})
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "api_key"
    assert sorted(r.json()["keys"]) == ["api_key", "provider"]
    assert server.access(ws, name)["data"] == {"api_key": key, "provider": provider}


# ---------------------------------------------------------------- required keys

MISSING = [
    # (id, type, data, the key the message must name)
    ("opaque-no-keys", "opaque", {}, "data"),
    ("huggingface-token", "huggingface", {"hf_token": "hf_notthekeyname123"}, "token"),
    ("s3-access_key_id", "s3", {"secret_access_key": "s3-secret-123456"}, "access_key_id"),
    ("s3-secret_access_key", "s3", {"access_key_id": "AKIAMISSING00001"}, "secret_access_key"),
    ("database-url-or-host", "database", {"dbname": "app", "port": "5432"}, "url"),
    ("database-host", "database", {"user": "app", "password": "db-pass-123456"}, "host"),
    ("database-user", "database", {"host": "db.example.com", "password": "db-pass-123456"},
     "user"),
    ("database-password", "database", {"host": "db.example.com", "user": "app"}, "password"),
    ("registry-nothing", "container_registry", {"auth": "dXNlcjpwYXNz"}, "dockerconfigjson"),
    ("registry-registry_server", "container_registry",
     {"username": "robot", "password": "reg-pass-123456", "email": "a@b.c"}, "registry_server"),
    ("registry-username", "container_registry",
     {"registry_server": "nvcr.io", "password": "reg-pass-123456", "email": "a@b.c"}, "username"),
    ("registry-password", "container_registry",
     {"registry_server": "nvcr.io", "username": "robot", "email": "a@b.c"}, "password"),
    ("registry-email", "container_registry",
     {"registry_server": "nvcr.io", "username": "robot", "password": "reg-pass-123456"}, "email"),
    ("api_key-api_key", "api_key", {"provider": "openai", "key": "sk-wrong-name-123"}, "api_key"),
    ("ssh-any-key", "ssh", {"comment": "no key here at all"}, "private_key"),
]


@pytest.mark.parametrize("type_,data,key", [m[1:] for m in MISSING], ids=[m[0] for m in MISSING])
def test_missing_required_key_is_422_naming_the_key(server, ws, type_, data, key):
    r, name = create(server, ws, type_, data)
    assert_rejected(server, ws, r, name, key)


def test_ssh_without_keys_names_both_alternatives(server, ws):
    r, name = create(server, ws, "ssh", {"comment": "nothing"})
    msg = assert_error(r, 422, "validation_failed")
    assert "private_key" in msg and "public_key" in msg, msg


# ---------------------------------------------------------------- validation rules

def invalid_cases():
    """(id, type, data builder taking a marker, field the message must name)."""
    return [
        ("hf-space-inside", "huggingface", lambda m: {"token": f"hf_{m} tail"}, "token"),
        ("hf-tab", "huggingface", lambda m: {"token": f"hf_{m}\ttail"}, "token"),
        ("hf-leading-space", "huggingface", lambda m: {"token": f" hf_{m}"}, "token"),
        ("hf-trailing-newline", "huggingface", lambda m: {"token": f"hf_{m}\n"}, "token"),
        ("s3-ftp-endpoint", "s3", lambda m: {"access_key_id": "AKIAINVALID00001",
                                             "secret_access_key": f"sk-{m}",
                                             "endpoint_url": f"ftp://{m}.example.com"},
         "endpoint_url"),
        ("s3-no-scheme", "s3", lambda m: {"access_key_id": "AKIAINVALID00002",
                                          "secret_access_key": f"sk-{m}",
                                          "endpoint_url": f"{m}.s3.amazonaws.com"},
         "endpoint_url"),
        ("s3-file-url", "s3", lambda m: {"access_key_id": "AKIAINVALID00003",
                                         "secret_access_key": f"sk-{m}",
                                         "endpoint_url": f"file:///{m}"}, "endpoint_url"),
        ("db-port-word", "database", lambda m: {"host": "db.example.com", "user": "app",
                                                "password": f"pw-{m}", "port": f"port{m}"},
         "port"),
        ("db-port-mixed", "database", lambda m: {"url": f"postgres://u:{m}@h/db",
                                                 "port": "54x32"}, "port"),
        ("db-port-negative", "database", lambda m: {"host": "db.example.com", "user": "app",
                                                    "password": f"pw-{m}", "port": "-5432"},
         "port"),
        ("db-port-space", "database", lambda m: {"host": "db.example.com", "user": "app",
                                                 "password": f"pw-{m}", "port": "5432 "}, "port"),
        ("dockercfg-not-json", "container_registry",
         lambda m: {".dockerconfigjson": '{"auths": {"r.io": {"auth": "' + m + '"'},
         "dockerconfigjson"),
        ("dockercfg-plain-text", "container_registry",
         lambda m: {".dockerconfigjson": f"user:{m}"}, "dockerconfigjson"),
        ("dockercfg-array", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps([{"auths": {"r.io": {"auth": m}}}])},
         "dockerconfigjson"),
        ("dockercfg-no-auths", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"credsStore": m})}, "auths"),
        ("dockercfg-auths-array", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"auths": [m]})}, "auths"),
        ("dockercfg-bad-base64-auth", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"auths": {"r.io": {"auth": f"!!{m}!!"}}})},
         "auth"),
        ("dockercfg-auth-number", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"auths": {"r.io": {"auth": 12345,
                                                                        "x": m}}})}, "auth"),
        ("dockercfg-entry-empty", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"auths": {"r.io": {"email": f"{m}@x.io"}}})},
         "auth"),
        ("dockercfg-username-without-password", "container_registry",
         lambda m: {".dockerconfigjson": json.dumps({"auths": {"r.io": {"username": m}}})},
         "password"),
        ("api_key-unknown-provider", "api_key",
         lambda m: {"api_key": f"sk-{m}", "provider": "anthropic"}, "provider"),
        ("api_key-provider-typo", "api_key",
         lambda m: {"api_key": f"sk-{m}", "provider": "openai2"}, "provider"),
        ("ssh-private-garbage", "ssh", lambda m: {"private_key": f"not a key {m}"}, "private_key"),
        ("ssh-public-garbage", "ssh", lambda m: {"public_key": f"not a key {m}"}, "public_key"),
        ("ssh-public-in-private-field", "ssh",
         lambda m: {"private_key": ssh_public_key(comment=m)}, "private_key"),
        ("ssh-private-in-public-field", "ssh",
         lambda m: {"public_key": ssh_private_key().replace("\n-----END", f"\n{m}\n-----END")},
         "public_key"),
        ("ssh-good-public-bad-private", "ssh",
         lambda m: {"public_key": ssh_public_key(), "private_key": f"PRIVATE {m}"}, "private_key"),
    ]


INVALID = invalid_cases()


@pytest.mark.parametrize("idx", range(len(INVALID)), ids=[c[0] for c in INVALID])
def test_broken_validation_rule_is_422_naming_the_field_without_echoing_the_value(
        server, ws, idx):
    _, type_, build, field = INVALID[idx]
    m = marker()
    data = build(m)
    for v in data.values():
        server.track_value(v)
    r, name = create(server, ws, type_, data)
    assert_rejected(server, ws, r, name, field, m, *[v for v in data.values() if len(v) >= 8])


# Stricter readings of "OpenSSH format" and "auth is base64 of user:pass": a
# prefix alone does not make a key, base64 without a ':' is not user:pass.
STRICT = [
    ("ssh-public-prefix-only", "ssh", lambda m: {"public_key": f"ssh-ed25519 {m}!!!notbase64"},
     "public_key"),
    ("ssh-public-type-only", "ssh", lambda m: {"public_key": "ssh-ed25519", "x": m},
     "public_key"),
    ("ssh-private-header-only", "ssh",
     lambda m: {"private_key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{m}\n"}, "private_key"),
    ("dockercfg-auth-without-colon", "container_registry",
     lambda m: {".dockerconfigjson": json.dumps(
         {"auths": {"r.io": {"auth": base64.b64encode(m.encode()).decode()}}})}, "auth"),
    ("s3-endpoint-without-host", "s3", lambda m: {"access_key_id": "AKIASTRICT000001",
                                                  "secret_access_key": f"sk-{m}",
                                                  "endpoint_url": f"https:///{m}"},
     "endpoint_url"),
]


@pytest.mark.parametrize("idx", range(len(STRICT)), ids=[c[0] for c in STRICT])
def test_malformed_material_behind_a_valid_prefix_is_422(server, ws, idx):
    _, type_, build, field = STRICT[idx]
    m = marker()
    data = build(m)
    for v in data.values():
        server.track_value(v)
    r, name = create(server, ws, type_, data)
    assert_rejected(server, ws, r, name, field, m)


def test_validation_applies_to_patch_and_put_too(server, ws):
    token = hf_token()
    r, name = create(server, ws, "huggingface", {"token": token})
    assert r.status_code == 201, r.text
    m = marker()
    bad = {"token": f"hf_{m} x"}
    server.track_value(bad["token"])
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}", json={"data": bad})
    assert_error(r, 422, "validation_failed", names="token")
    assert_not_echoed(r, m)
    r = server.put(f"/v2/workspaces/{ws}/secrets/{name}",
                   json={"type": "huggingface", "data": bad})
    assert_error(r, 422, "validation_failed", names="token")
    assert_not_echoed(r, m)
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()["version"] == 1
    assert server.access(ws, name)["data"] == {"token": token}


def test_patch_data_must_still_satisfy_the_secrets_type(server, ws):
    data = {"access_key_id": "AKIAKEEPTYPE0001", "secret_access_key": secret_value("s3")}
    r, name = create(server, ws, "s3", data)
    assert r.status_code == 201, r.text
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}",
                     json={"data": {"access_key_id": "AKIAKEEPTYPE0002"}})
    assert_error(r, 422, "validation_failed", names="secret_access_key")
    assert server.access(ws, name)["data"] == data


# ---------------------------------------------------------------- warnings

def test_hf_token_without_hf_prefix_is_accepted_with_a_warning(server, ws):
    token = "tok_" + uuid.uuid4().hex
    r, name = create(server, ws, "huggingface", {"token": token})
    assert r.status_code == 201, r.text
    warnings = r.json().get("warnings")
    assert isinstance(warnings, list) and len(warnings) == 1, r.text
    assert "hf_" in warnings[0] and "token" in warnings[0], warnings
    assert token not in warnings[0]
    assert server.access(ws, name)["data"] == {"token": token}


def test_name_not_dns_portable_is_accepted_with_a_warning(server, ws):
    name = "Types_" + uuid.uuid4().hex[:8]
    r, _ = create(server, ws, "huggingface", {"token": hf_token()}, name=name)
    assert r.status_code == 201, r.text
    warnings = r.json().get("warnings")
    assert isinstance(warnings, list) and len(warnings) == 1, r.text
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").status_code == 200


def test_both_warnings_come_back_together(server, ws):
    name = "Both.Warn_" + uuid.uuid4().hex[:8]
    r, _ = create(server, ws, "HuggingFace", {"token": "tok" + uuid.uuid4().hex}, name=name)
    assert r.status_code == 201, r.text
    warnings = r.json().get("warnings")
    assert isinstance(warnings, list) and len(warnings) == 2, r.text
    assert sum("hf_" in w for w in warnings) == 1, warnings


def test_hf_warning_also_on_patch_and_put(server, ws):
    r, name = create(server, ws, "huggingface", {"token": hf_token()})
    assert r.status_code == 201 and r.json().get("warnings", []) == [], r.text
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}",
                     json={"data": {"token": "plain" + uuid.uuid4().hex}})
    assert r.status_code == 200, r.text
    assert any("hf_" in w for w in r.json().get("warnings", [])), r.text
    r = server.put(f"/v2/workspaces/{ws}/secrets/{name}",
                   json={"type": "huggingface", "data": {"token": "plain" + uuid.uuid4().hex}})
    assert r.status_code == 200, r.text
    assert any("hf_" in w for w in r.json().get("warnings", [])), r.text


def test_portable_name_and_hf_prefixed_token_have_no_warnings(server, ws):
    r, _ = create(server, ws, "huggingface", {"token": hf_token()})
    assert r.status_code == 201, r.text
    assert r.json().get("warnings", []) == []


# ---------------------------------------------------------------- type names

@pytest.mark.parametrize("sent,canonical,data", [
    ("HuggingFace", "huggingface", lambda: {"token": hf_token()}),
    ("HUGGINGFACE", "huggingface", lambda: {"token": hf_token()}),
    ("ImagePullSecret", "container_registry", lambda: {".dockerconfigjson": dockercfg_auth()}),
    ("imagepullsecret", "container_registry", lambda: {".dockerconfigjson": dockercfg_auth()}),
    ("Image_Pull", "container_registry", lambda: {".dockerconfigjson": dockercfg_auth()}),
    ("Container_Registry", "container_registry", lambda: structured_registry()),
    ("S3", "s3", lambda: {"access_key_id": "AKIACASE00000001",
                          "secret_access_key": secret_value("s3")}),
    ("Generic", "opaque", lambda: {"k": secret_value("gen")}),
    ("GENERIC", "opaque", lambda: {"k": secret_value("gen")}),
    ("Opaque", "opaque", lambda: {"k": secret_value("op")}),
    ("Database", "database", lambda: {"url": "mysql://u:" + secret_value("db") + "@h/d"}),
    ("API_KEY", "api_key", lambda: {"api_key": secret_value("ak")}),
    ("SSH", "ssh", lambda: {"public_key": ssh_public_key()}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_type_names_are_case_insensitive_and_stored_canonical(server, ws, sent, canonical, data):
    r, name = create(server, ws, sent, data())
    assert r.status_code == 201, r.text
    assert r.json()["type"] == canonical
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()["type"] == canonical
    listed = server.get(f"/v2/workspaces/{ws}/secrets", params={"search": name}).json()["data"]
    assert [s["type"] for s in listed if s["name"] == name] == [canonical]


@pytest.mark.parametrize("bad", ["huggingface-token", "hugging face", "kv", "docker", "secret"])
def test_unknown_type_name_is_422_naming_type(server, ws, bad):
    r, name = create(server, ws, bad, {"k": secret_value("unk")})
    assert_rejected(server, ws, r, name, "type")


# ---------------------------------------------------------------- structured registry

def test_structured_registry_is_also_stored_as_dockerconfigjson(server, ws):
    data = structured_registry()
    r, name = create(server, ws, "container_registry", data)
    assert r.status_code == 201, r.text
    keys = r.json()["keys"]
    assert set(keys) == set(data) | {".dockerconfigjson"}, keys
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()["keys"] == keys

    stored = server.access(ws, name)["data"]
    for k, v in data.items():
        assert stored[k] == v
    cfg = json.loads(stored[".dockerconfigjson"])
    assert isinstance(cfg, dict) and isinstance(cfg.get("auths"), dict), cfg
    assert list(cfg["auths"]) == ["nvcr.io"]
    entry = cfg["auths"]["nvcr.io"]
    assert base64.b64decode(entry["auth"], validate=True).decode() == \
        f"{data['username']}:{data['password']}"


def test_structured_registry_with_unicode_password_has_exact_auth(server, ws):
    data = structured_registry(password="pässwörd-" + uuid.uuid4().hex + "-ünï")
    r, name = create(server, ws, "ImagePullSecret", data)
    assert r.status_code == 201, r.text
    cfg = json.loads(server.access(ws, name)["data"][".dockerconfigjson"])
    auth = cfg["auths"]["nvcr.io"]["auth"]
    assert base64.b64decode(auth) == f"$oauthtoken:{data['password']}".encode("utf-8")


def test_structured_registry_update_regenerates_the_dockerconfigjson(server, ws):
    r, name = create(server, ws, "container_registry", structured_registry())
    assert r.status_code == 201, r.text
    new = structured_registry()
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}", json={"data": new})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    cfg = json.loads(server.access(ws, name)["data"][".dockerconfigjson"])
    assert base64.b64decode(cfg["auths"]["nvcr.io"]["auth"]).decode() == \
        f"$oauthtoken:{new['password']}"


def test_dockerconfigjson_form_is_stored_verbatim_without_extra_keys(server, ws):
    cfg = dockercfg_userpass()
    r, name = create(server, ws, "container_registry", {".dockerconfigjson": cfg})
    assert r.status_code == 201, r.text
    assert r.json()["keys"] == [".dockerconfigjson"]
    assert server.access(ws, name)["data"] == {".dockerconfigjson": cfg}


# ---------------------------------------------------------------- type is fixed

@pytest.fixture
def hf_secret(server, ws):
    token = hf_token()
    r, name = create(server, ws, "huggingface", {"token": token})
    assert r.status_code == 201, r.text
    return name, token


def assert_unchanged(server, ws, name, token):
    got = server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()
    assert got["type"] == "huggingface" and got["version"] == 1, got
    assert server.access(ws, name)["data"] == {"token": token}


@pytest.mark.parametrize("body", [
    {"type": "opaque", "data": {"token": "hf_" + "c" * 30}},
    {"type": "generic", "data": {"other": "some-other-value-1"}},
    {"type": "api_key", "data": {"api_key": "sk-other-value-12345"}},
    {"type": "opaque"},
], ids=["opaque-same-keys", "generic", "api_key", "type-only"])
def test_patch_with_another_type_is_422_and_changes_nothing(server, ws, hf_secret, body):
    name, token = hf_secret
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}", json=body)
    assert_error(r, 422, "validation_failed", names="type")
    assert_unchanged(server, ws, name, token)


@pytest.mark.parametrize("body", [
    {"type": "opaque", "data": {"token": "hf_" + "d" * 30}},
    {"type": "s3", "data": {"access_key_id": "AKIAOTHERTYPE001",
                            "secret_access_key": "other-type-secret-1"}},
], ids=["opaque", "s3"])
def test_put_with_another_type_is_422_and_changes_nothing(server, ws, hf_secret, body):
    name, token = hf_secret
    r = server.put(f"/v2/workspaces/{ws}/secrets/{name}", json=body)
    assert_error(r, 422, "validation_failed", names="type")
    assert_unchanged(server, ws, name, token)


def test_same_type_under_an_alias_or_other_case_is_not_a_change(server, ws):
    r, name = create(server, ws, "container_registry", {".dockerconfigjson": dockercfg_auth()})
    assert r.status_code == 201, r.text
    r = server.patch(f"/v2/workspaces/{ws}/secrets/{name}",
                     json={"type": "ImagePullSecret",
                           "data": {".dockerconfigjson": dockercfg_auth()}})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "container_registry" and r.json()["version"] == 2
    r = server.put(f"/v2/workspaces/{ws}/secrets/{name}",
                   json={"type": "image_pull", "data": {".dockerconfigjson": dockercfg_auth()}})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "container_registry" and r.json()["version"] == 3

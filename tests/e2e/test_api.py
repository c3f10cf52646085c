"""
The HTTP API's happy paths, end to end (docs/api.md): health, workspaces,
secrets (create, get, list, PATCH, PUT, DELETE, scopes, /access) and tokens.

Every response that goes through server.request() is also checked for stored
values and tokens (conftest.py); the tests here say so explicitly where that
is the point.
"""
import base64
import json
import os
import re
import struct
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from conftest import (METADATA_KEYS, PAGINATION_KEYS, TOKEN_CREATE_KEYS, TOKEN_LIST_KEYS,
                      TOKEN_RE, WORKSPACE_KEYS, assert_error, fresh_source, leak_forms, list_all,
                      names_of, parse_time, secret_value, uniq)


def assert_metadata(body, *, name, ws="default", type_="opaque", keys=None, version=1,
                    project=None, cluster=None):
    """The documented metadata object, field by field."""
    assert set(body) - {"warnings"} == METADATA_KEYS, f"fields: {sorted(body)}"
    assert body["name"] == name
    assert body["workspace"] == ws
    assert body["project"] == project
    assert body["cluster"] == cluster
    assert body["type"] == type_
    assert body["version"] == version
    if keys is not None:
        assert sorted(body["keys"]) == sorted(keys)
    assert isinstance(body["tags"], list)
    assert body["visibility"] in ("private", "public")
    assert isinstance(body["description"], str)
    created = parse_time(body["created_at"])
    updated = parse_time(body["updated_at"])
    assert updated >= created
    assert body["created_by"] == "admin"
    assert body["updated_by"] == "admin"
    assert body["expired"] is False


def assert_no_value_in(resp, *values):
    for v in values:
        for form in leak_forms(v):
            assert form not in resp.content, \
                f"{resp.request.method} {resp.url} returned the stored value {v[:30]!r}"


def ssh_public_key():
    blob = (struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + os.urandom(32))
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + " e2e@tresor"


def dockerconfigjson(user="robot", password=None):
    password = password or secret_value("regpw")
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {"registry.example.com": {"auth": auth}}})


# ---------------------------------------------------------------- health

def test_healthz_is_200_ok_without_a_token(server):
    r = requests.get(f"{server.url}/healthz", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_replies_carry_one_date_header_of_now(server):
    # The server writes Date itself (one text a second per thread).
    r = server.get("/healthz")
    dates = r.raw.headers.getlist("Date")
    assert len(dates) == 1, f"Date headers: {dates}"
    assert dates[0].endswith(" GMT") and dates[0][3:5] == ", ", dates[0]
    assert abs(parsedate_to_datetime(dates[0]).timestamp() - time.time()) < 5


def test_request_ids_are_16_hex_digits_counting_up(server):
    # Eight hex digits drawn once per process, then eight of a counter.
    first = server.get("/healthz").headers["X-Request-Id"]
    second = server.get("/healthz").headers["X-Request-Id"]
    for rid in (first, second):
        assert re.fullmatch(r"[0-9a-f]{16}", rid), rid
    assert first[:8] == second[:8]
    assert int(second[8:], 16) > int(first[8:], 16)


# ---------------------------------------------------------------- workspaces

def test_workspace_create_returns_201_with_name_time_and_creator(server):
    name = uniq("ws")
    r = server.post("/v2/workspaces", json={"name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == WORKSPACE_KEYS
    assert body["name"] == name
    assert body["created_by"] == "admin"
    parse_time(body["created_at"])


def test_workspace_get_returns_the_created_workspace(server):
    name = uniq("ws")
    created = server.post("/v2/workspaces", json={"name": name}).json()
    r = server.get(f"/v2/workspaces/{name}")
    assert r.status_code == 200
    assert r.json() == created


def test_workspace_list_is_sorted_by_name_and_has_default_and_new_ones(server):
    a, b = "zz-" + uniq("ws"), "aa-" + uniq("ws")
    server.create_workspace(a)
    server.create_workspace(b)
    r = server.get("/v2/workspaces")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data"}
    names = names_of(body["data"])
    assert {"default", a, b} <= set(names)
    assert names == sorted(names)
    for ws in body["data"]:
        assert set(ws) == WORKSPACE_KEYS


def test_workspace_get_unknown_is_404_with_message(server):
    name = uniq("nope")
    r = server.get(f"/v2/workspaces/{name}")
    assert_error(r, 404, "not_found", f"Workspace '{name}' not found")


def test_workspace_create_duplicate_is_409_with_message(server):
    name = server.create_workspace()
    r = server.post("/v2/workspaces", json={"name": name})
    assert_error(r, 409, "conflict", f"Workspace '{name}' already exists")


@pytest.mark.parametrize("name", ["a", "0", "a" * 63, "team-a-1"])
def test_workspace_boundary_names_are_accepted(server, name):
    if len(name) == 63:
        name = (uniq("w") + "x" * 63)[:63]
    r = server.post("/v2/workspaces", json={"name": name})
    try:
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name
    finally:
        server.delete(f"/v2/workspaces/{name}?force=true")


def test_workspace_delete_empty_is_204_then_404(server):
    name = server.create_workspace()
    r = server.delete(f"/v2/workspaces/{name}")
    assert r.status_code == 204
    assert r.content == b""
    assert server.get(f"/v2/workspaces/{name}").status_code == 404
    assert name not in names_of(server.get("/v2/workspaces").json()["data"])
    assert_error(server.delete(f"/v2/workspaces/{name}"), 404, "not_found",
                 f"Workspace '{name}' not found")


@pytest.mark.parametrize("query", ["", "?force=false"])
def test_workspace_delete_holding_secrets_without_force_is_409_and_keeps_them(server, query):
    ws = server.create_workspace()
    value = secret_value()
    server.create_secret(ws, name="keep-me", value=value)
    r = server.delete(f"/v2/workspaces/{ws}{query}")
    assert_error(r, 409, "conflict")
    assert server.get(f"/v2/workspaces/{ws}").status_code == 200
    assert server.access(ws, "keep-me")["value"] == value


def test_workspace_delete_with_force_removes_it_and_its_secrets(server):
    ws = server.create_workspace()
    server.create_secret(ws, name="gone-1")
    server.create_secret(ws, name="gone-2", project="proj-x")
    r = server.delete(f"/v2/workspaces/{ws}?force=true")
    assert r.status_code == 204, r.text
    assert server.get(f"/v2/workspaces/{ws}").status_code == 404
    assert server.get(f"/v2/workspaces/{ws}/secrets/gone-1").status_code == 404
    # Re-created under the same name, it starts empty.
    server.create_workspace(ws)
    assert list_all(server, ws) == []
    r = server.post(f"/v2/workspaces/{ws}/secrets", json={"name": "gone-1", "value": secret_value()})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("query", ["", "?force=true"])
def test_default_workspace_cannot_be_deleted(server, query):
    r = server.delete(f"/v2/workspaces/default{query}")
    assert_error(r, 409, "conflict")
    assert server.get("/v2/workspaces/default").status_code == 200


# ---------------------------------------------------------------- secrets: create and get

def test_create_with_value_is_opaque_with_single_key_value(server):
    name, value = uniq("hf-token"), secret_value()
    r = server.post("/v2/workspaces/default/secrets", json={"name": name, "value": value})
    assert r.status_code == 201, r.text
    body = r.json()
    assert_metadata(body, name=name, keys=["value"])
    assert body["description"] == ""
    assert body["visibility"] == "private"
    assert body["tags"] == []
    assert body["expires_at"] is None
    assert body["created_at"] == body["updated_at"]
    assert_no_value_in(r, value)
    assert server.access("default", name) == {"name": name, "workspace": "default", "value": value}


def test_get_returns_the_same_metadata_as_create(server):
    value = secret_value()
    created = server.create_secret(name=uniq("get"), value=value, description="for get",
                                   tags=["a", "b"])
    r = server.get(f"/v2/workspaces/default/secrets/{created['name']}")
    assert r.status_code == 200
    created.pop("warnings", None)
    assert r.json() == created
    assert_no_value_in(r, value)


TYPED = [
    # (type sent, data, canonical type)
    ("huggingface", {"token": "hf_" + "a1b2c3d4" * 4}, "huggingface"),
    ("HuggingFace", {"token": "hf_" + "e5f6a7b8" * 4}, "huggingface"),
    ("s3", {"access_key_id": "AKIAE2ETEST00001", "secret_access_key": "s3sk/" + "x" * 30,
            "region": "us-east-1", "endpoint_url": "https://s3.example.com"}, "s3"),
    ("S3", {"access_key_id": "AKIAE2ETEST00002", "secret_access_key": "s3sk/" + "y" * 30}, "s3"),
    ("database", {"url": "postgres://app:dbpw-0123456789@db.example.com:5432/app"}, "database"),
    ("database", {"host": "db.example.com", "user": "app", "password": "dbpw-abcdefghij",
                  "port": "5432", "dbname": "app"}, "database"),
    ("opaque", {"alpha": "opaque-value-1111", "beta": "opaque-value-2222"}, "opaque"),
    ("generic", {"gamma": "generic-value-3333"}, "opaque"),
    ("Generic", {"delta": "generic-value-4444"}, "opaque"),
    ("api_key", {"api_key": "sk-e2e-0123456789abcdef"}, "api_key"),
    ("container_registry", {".dockerconfigjson": "DOCKERCFG"}, "container_registry"),
    ("image_pull", {".dockerconfigjson": "DOCKERCFG"}, "container_registry"),
    ("ImagePullSecret", {".dockerconfigjson": "DOCKERCFG"}, "container_registry"),
    ("ssh", {"public_key": "SSHPUB"}, "ssh"),
]


@pytest.mark.parametrize("type_,data,canonical", TYPED,
                         ids=[f"{t[0]}-{i}" for i, t in enumerate(TYPED)])
def test_create_with_type_and_data_stores_canonical_type_keys_and_exact_data(
        server, type_, data, canonical):
    data = {k: (dockerconfigjson() if v == "DOCKERCFG" else ssh_public_key() if v == "SSHPUB"
                else v) for k, v in data.items()}
    name = uniq("typed")
    r = server.post("/v2/workspaces/default/secrets",
                    json={"name": name, "type": type_, "data": data})
    assert r.status_code == 201, r.text
    assert_metadata(r.json(), name=name, type_=canonical, keys=list(data))
    assert_no_value_in(r, *[v for v in data.values() if len(v) >= 8])
    assert server.access("default", name) == {"name": name, "workspace": "default", "data": data}


def test_create_structured_container_registry_is_accepted(server):
    name = uniq("regcred")
    data = {"registry_server": "registry.example.com", "username": "robot",
            "password": secret_value("regpass"), "email": "robot@example.com"}
    r = server.post("/v2/workspaces/default/secrets",
                    json={"name": name, "type": "container_registry", "data": data})
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "container_registry"
    assert_no_value_in(r, data["password"])


def test_create_with_all_optional_fields_round_trips_them(server):
    name = uniq("full")
    desc = "Clé d'accès — für das Team ✓"
    r = server.post("/v2/workspaces/default/secrets", json={
        "name": name, "value": secret_value(), "description": desc, "visibility": "public",
        "tags": ["prod", "team:ml", "v1.2"], "expires_in": 3600})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["description"] == desc
    assert body["visibility"] == "public"
    assert sorted(body["tags"]) == ["prod", "team:ml", "v1.2"]
    expires = parse_time(body["expires_at"])
    created = parse_time(body["created_at"])
    assert 3590 <= (expires - created).total_seconds() <= 3610
    got = server.get(f"/v2/workspaces/default/secrets/{name}").json()
    assert got["description"] == desc and got["visibility"] == "public"
    assert sorted(got["tags"]) == ["prod", "team:ml", "v1.2"]
    assert got["expires_at"] == body["expires_at"]


def test_portable_name_has_no_warnings(server):
    r = server.post("/v2/workspaces/default/secrets",
                    json={"name": uniq("portable"), "value": secret_value()})
    assert r.status_code == 201
    assert r.json().get("warnings", []) == []


@pytest.mark.parametrize("name", ["My_Secret", "wandb.key.production", "1starts-with-digit"])
def test_name_that_is_not_dns1123_gets_warnings(server, name):
    ws = server.create_workspace()
    r = server.post(f"/v2/workspaces/{ws}/secrets", json={"name": name, "value": secret_value()})
    assert r.status_code == 201, r.text
    warnings = r.json().get("warnings")
    assert isinstance(warnings, list) and warnings, f"no warnings for {name!r}: {r.text}"
    assert all(isinstance(w, str) and w for w in warnings)
    # The name is stored as given.
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()["name"] == name


def test_longest_name_255_chars_is_accepted_and_addressable(server):
    name = (uniq("long") + "-" + "n" * 255)[:255]
    value = secret_value()
    r = server.post("/v2/workspaces/default/secrets", json={"name": name, "value": value})
    assert r.status_code == 201, r.text
    assert server.get(f"/v2/workspaces/default/secrets/{name}").json()["name"] == name
    assert server.access("default", name)["value"] == value


def test_same_name_in_two_workspaces_is_two_independent_secrets(server):
    ws1, ws2 = server.create_workspace(), server.create_workspace()
    v1, v2 = secret_value("ws1"), secret_value("ws2")
    server.create_secret(ws1, name="shared-name", value=v1)
    assert server.get(f"/v2/workspaces/{ws2}/secrets/shared-name").status_code == 404
    server.create_secret(ws2, name="shared-name", value=v2)
    assert server.access(ws1, "shared-name")["value"] == v1
    assert server.access(ws2, "shared-name")["value"] == v2
    assert server.delete(f"/v2/workspaces/{ws1}/secrets/shared-name").status_code == 204
    assert server.access(ws2, "shared-name")["value"] == v2


# ---------------------------------------------------------------- secrets: listing

LIST_SET = [
    dict(name="alpha-db", type="database",
         data={"host": "db.internal", "user": "app", "password": "pw-alpha-0000001"},
         tags=["prod", "db"], description="Primary database"),
    dict(name="beta-hf", type="huggingface", data={"token": "hf_beta_000000000001"},
         tags=["ml"], description="Hugging Face token"),
    dict(name="delta.s3", type="s3",
         data={"access_key_id": "AKIADELTA0000001", "secret_access_key": "sk-delta-0000001"},
         tags=[], description="bucket creds", visibility="public"),
    dict(name="epsilon", value="value-epsilon-000001", tags=["misc"], description=""),
    dict(name="gamma_key", value="value-gamma-0000001", tags=["prod"], description="other"),
]
LIST_NAMES = sorted(s["name"] for s in LIST_SET)


@pytest.fixture(scope="module")
def listing_ws(server):
    ws = server.create_workspace(uniq("list"))
    for spec in LIST_SET:
        server.create_secret(ws, **dict(spec))
    return ws


def list_names(server, ws, **params):
    r = server.get(f"/v2/workspaces/{ws}/secrets", params=params)
    assert r.status_code == 200, r.text
    return names_of(r.json()["data"])


def test_list_returns_metadata_sorted_by_name_with_pagination(server, listing_ws):
    r = server.get(f"/v2/workspaces/{listing_ws}/secrets")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "pagination"}
    assert names_of(body["data"]) == LIST_NAMES
    for item in body["data"]:
        assert set(item) - {"warnings"} == METADATA_KEYS
        assert item["workspace"] == listing_ws
    p = body["pagination"]
    assert set(p) == PAGINATION_KEYS
    assert (p["page"], p["page_size"], p["current_page_size"], p["total_pages"],
            p["total_results"]) == (1, 100, 5, 1, 5)
    assert p["next_page_token"] is None


def test_list_never_contains_a_value(server, listing_ws):
    r = server.get(f"/v2/workspaces/{listing_ws}/secrets")
    values = [v for s in LIST_SET for v in ([s["value"]] if "value" in s else s["data"].values())]
    assert_no_value_in(r, *values)


@pytest.mark.parametrize("search,expected", [
    ("S3", ["delta.s3"]),                # name, case-insensitive
    ("GAMMA", ["gamma_key"]),            # name
    ("database", ["alpha-db"]),          # description
    ("hugging", ["beta-hf"]),            # description, case-insensitive
    ("ML", ["beta-hf"]),                 # tag
    ("prod", ["alpha-db", "gamma_key"]),  # tag
    ("no-such-thing", []),
])
def test_list_search_is_case_insensitive_over_name_description_and_tags(
        server, listing_ws, search, expected):
    assert list_names(server, listing_ws, search=search) == expected


@pytest.mark.parametrize("param,value,expected", [
    ("type", "s3", ["delta.s3"]),
    ("type", "opaque", ["epsilon", "gamma_key"]),
    ("type", "generic", ["epsilon", "gamma_key"]),
    ("type", "HuggingFace", ["beta-hf"]),
    ("use_case", "huggingface", ["beta-hf"]),
    ("type", "database", ["alpha-db"]),
    ("type", "ssh", []),
])
def test_list_type_filter_takes_canonical_alias_and_any_case(
        server, listing_ws, param, value, expected):
    assert list_names(server, listing_ws, **{param: value}) == expected


@pytest.mark.parametrize("tag,expected", [
    ("prod", ["alpha-db", "gamma_key"]),
    ("db", ["alpha-db"]),
    ("pro", []),            # exact, not a substring
    ("PROD", []),           # exact, not case-folded
])
def test_list_tag_filter_is_exact(server, listing_ws, tag, expected):
    assert list_names(server, listing_ws, tag=tag) == expected


def test_list_visibility_and_created_by_filters_are_exact(server, listing_ws):
    assert list_names(server, listing_ws, visibility="public") == ["delta.s3"]
    assert list_names(server, listing_ws, visibility="private") == \
        [n for n in LIST_NAMES if n != "delta.s3"]
    assert list_names(server, listing_ws, created_by="admin") == LIST_NAMES
    assert list_names(server, listing_ws, created_by="nobody") == []


def test_list_filters_combine(server, listing_ws):
    assert list_names(server, listing_ws, tag="prod", type="opaque") == ["gamma_key"]
    assert list_names(server, listing_ws, search="a", visibility="public") == ["delta.s3"]


def test_list_sort_descending_by_name(server, listing_ws):
    assert list_names(server, listing_ws, sort="-name") == LIST_NAMES[::-1]
    assert list_names(server, listing_ws, sort="name") == LIST_NAMES


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at"])
def test_list_sort_by_time_orders_the_timestamps(server, listing_ws, sort):
    r = server.get(f"/v2/workspaces/{listing_ws}/secrets", params={"sort": sort})
    assert r.status_code == 200, r.text
    items = r.json()["data"]
    assert sorted(names_of(items)) == LIST_NAMES
    field = sort.lstrip("-")
    times = [parse_time(i[field]) for i in items]
    assert times == sorted(times, reverse=sort.startswith("-"))


def test_list_paging_fields_and_pages_cover_every_secret_once(server, listing_ws):
    seen = []
    for page, size in ((1, 2), (2, 2), (3, 1)):
        r = server.get(f"/v2/workspaces/{listing_ws}/secrets", params={"page": page, "page_size": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        p = body["pagination"]
        assert set(p) == PAGINATION_KEYS
        assert p["page"] == page
        assert p["page_size"] == 2
        assert p["current_page_size"] == size == len(body["data"])
        assert p["total_pages"] == 3
        assert p["total_results"] == 5
        seen += names_of(body["data"])
    assert seen == LIST_NAMES


def test_list_page_beyond_the_last_is_empty(server, listing_ws):
    r = server.get(f"/v2/workspaces/{listing_ws}/secrets", params={"page": 4, "page_size": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] == []
    assert body["pagination"]["current_page_size"] == 0
    assert body["pagination"]["total_results"] == 5


def test_list_paging_applies_after_filters(server, listing_ws):
    r = server.get(f"/v2/workspaces/{listing_ws}/secrets",
                   params={"tag": "prod", "page_size": 1, "page": 2})
    assert r.status_code == 200
    body = r.json()
    assert names_of(body["data"]) == ["gamma_key"]
    assert body["pagination"]["total_results"] == 2
    assert body["pagination"]["total_pages"] == 2


def test_list_of_an_empty_workspace_is_empty(server):
    ws = server.create_workspace()
    r = server.get(f"/v2/workspaces/{ws}/secrets")
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == []
    assert body["pagination"]["total_results"] == 0
    assert body["pagination"]["current_page_size"] == 0


def test_list_of_an_unknown_workspace_is_404(server):
    ws = uniq("nope")
    assert_error(server.get(f"/v2/workspaces/{ws}/secrets"), 404, "not_found",
                 f"Workspace '{ws}' not found")


# ---------------------------------------------------------------- secrets: scopes

@pytest.fixture(scope="module")
def scoped_ws(server):
    """One workspace with `dup` three times: workspace, project p1, cluster c1."""
    ws = server.create_workspace(uniq("scope"))
    values = {"ws": secret_value("wsscope"), "project": secret_value("projscope"),
              "cluster": secret_value("clusterscope")}
    server.create_secret(ws, name="dup", value=values["ws"])
    server.create_secret(ws, name="dup", value=values["project"], project="p1")
    server.create_secret(ws, name="dup", value=values["cluster"], cluster="c1")
    return ws, values


def test_scoped_secrets_share_a_name_with_the_workspace_secret(server, scoped_ws):
    ws, _ = scoped_ws
    r = server.get(f"/v2/workspaces/{ws}/secrets/dup")
    assert r.status_code == 200
    assert_metadata(r.json(), name="dup", ws=ws, keys=["value"])
    r = server.get(f"/v2/workspaces/{ws}/secrets/dup", params={"project": "p1"})
    assert r.status_code == 200
    assert_metadata(r.json(), name="dup", ws=ws, keys=["value"], project="p1")
    r = server.get(f"/v2/workspaces/{ws}/secrets/dup", params={"cluster": "c1"})
    assert r.status_code == 200
    assert_metadata(r.json(), name="dup", ws=ws, keys=["value"], cluster="c1")


def test_scoped_access_returns_the_value_of_that_scope(server, scoped_ws):
    ws, values = scoped_ws
    assert server.access(ws, "dup")["value"] == values["ws"]
    assert server.access(ws, "dup", project="p1")["value"] == values["project"]
    assert server.access(ws, "dup", cluster="c1")["value"] == values["cluster"]


def test_scoped_get_of_another_project_or_cluster_is_404(server, scoped_ws):
    ws, _ = scoped_ws
    assert_error(server.get(f"/v2/workspaces/{ws}/secrets/dup", params={"project": "p2"}),
                 404, "not_found")
    assert_error(server.get(f"/v2/workspaces/{ws}/secrets/dup", params={"cluster": "c2"}),
                 404, "not_found")


def test_project_and_cluster_filters_list_only_that_scope(server, scoped_ws):
    ws, _ = scoped_ws
    items = list_all(server, ws, project="p1")
    assert [(i["name"], i["project"], i["cluster"]) for i in items] == [("dup", "p1", None)]
    items = list_all(server, ws, cluster="c1")
    assert [(i["name"], i["project"], i["cluster"]) for i in items] == [("dup", None, "c1")]
    assert list_all(server, ws, project="p2") == []


def test_unfiltered_list_shows_secrets_of_every_scope(server, scoped_ws):
    ws, _ = scoped_ws
    items = list_all(server, ws)
    assert sorted((i["project"] or "", i["cluster"] or "") for i in items if i["name"] == "dup") \
        == [("", ""), ("", "c1"), ("p1", "")]


def test_duplicate_in_the_same_scope_is_409(server, scoped_ws):
    ws, values = scoped_ws
    r = server.post(f"/v2/workspaces/{ws}/secrets",
                    json={"name": "dup", "value": secret_value(), "project": "p1"})
    msg = assert_error(r, 409, "conflict")
    # docs/api.md names the secret as 'ws/name'; a scope note may follow it
    assert msg.startswith(f"Secret '{ws}/dup'") and msg.endswith("already exists"), msg
    assert server.access(ws, "dup", project="p1")["value"] == values["project"]


def test_scoped_patch_and_delete_touch_only_that_scope(server):
    ws = server.create_workspace()
    vw, vp = secret_value("w"), secret_value("p")
    server.create_secret(ws, name="same", value=vw)
    server.create_secret(ws, name="same", value=vp, project="proj")
    r = server.patch(f"/v2/workspaces/{ws}/secrets/same?project=proj",
                     json={"description": "project one"})
    assert r.status_code == 200, r.text
    assert r.json()["project"] == "proj"
    assert server.get(f"/v2/workspaces/{ws}/secrets/same").json()["description"] == ""
    r = server.delete(f"/v2/workspaces/{ws}/secrets/same?project=proj")
    assert r.status_code == 204
    assert server.get(f"/v2/workspaces/{ws}/secrets/same?project=proj").status_code == 404
    assert server.access(ws, "same")["value"] == vw


def test_put_with_project_query_creates_a_project_scoped_secret(server):
    ws = server.create_workspace()
    value = secret_value()
    r = server.put(f"/v2/workspaces/{ws}/secrets/scoped-put?project=pp", json={"value": value})
    assert r.status_code == 201, r.text
    assert r.json()["project"] == "pp"
    assert server.get(f"/v2/workspaces/{ws}/secrets/scoped-put").status_code == 404
    assert server.access(ws, "scoped-put", project="pp")["value"] == value


# ---------------------------------------------------------------- secrets: PATCH

def test_patch_value_increments_version_and_changes_the_value(server):
    v1, v2 = secret_value("old"), secret_value("new")
    meta = server.create_secret(name=uniq("patch"), value=v1)
    name = meta["name"]
    r = server.patch(f"/v2/workspaces/default/secrets/{name}", json={"value": v2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_metadata(body, name=name, keys=["value"], version=2)
    assert body["created_at"] == meta["created_at"]
    assert_no_value_in(r, v1, v2)
    assert server.access("default", name)["value"] == v2
    assert server.get(f"/v2/workspaces/default/secrets/{name}").json()["version"] == 2


def test_patch_description_only_keeps_version_and_value(server):
    value = secret_value()
    name = server.create_secret(name=uniq("patch"), value=value)["name"]
    r = server.patch(f"/v2/workspaces/default/secrets/{name}", json={"description": "new text"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert r.json()["description"] == "new text"
    got = server.get(f"/v2/workspaces/default/secrets/{name}").json()
    assert (got["version"], got["description"]) == (1, "new text")
    assert server.access("default", name)["value"] == value


def test_patch_tags_and_visibility_keep_version(server):
    name = server.create_secret(name=uniq("patch"), tags=["old"])["name"]
    r = server.patch(f"/v2/workspaces/default/secrets/{name}",
                     json={"tags": ["new", "x:y"], "visibility": "public"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], sorted(body["tags"]), body["visibility"]) == \
        (1, ["new", "x:y"], "public")


def test_patch_data_increments_version_and_replaces_the_data(server):
    name = uniq("patchdata")
    d1 = {"user": "u-000000001", "password": secret_value("pw1")}
    d2 = {"user": "u-000000002", "password": secret_value("pw2")}
    server.create_secret(name=name, type="opaque", data=d1)
    r = server.patch(f"/v2/workspaces/default/secrets/{name}", json={"data": d2})
    assert r.status_code == 200, r.text
    assert_metadata(r.json(), name=name, keys=list(d2), version=2)
    assert_no_value_in(r, *d1.values(), *d2.values())
    assert server.access("default", name)["data"] == d2


def test_patch_twice_with_values_reaches_version_3(server):
    name = server.create_secret(name=uniq("patch"))["name"]
    for expected in (2, 3):
        r = server.patch(f"/v2/workspaces/default/secrets/{name}", json={"value": secret_value()})
        assert r.status_code == 200 and r.json()["version"] == expected


def test_patch_unknown_secret_is_404(server):
    name = uniq("missing")
    assert_error(server.patch(f"/v2/workspaces/default/secrets/{name}",
                              json={"description": "x"}),
                 404, "not_found", f"Secret 'default/{name}' not found")


# ---------------------------------------------------------------- secrets: PUT

def test_put_creates_with_201_then_replaces_with_200_and_version_2(server):
    name = uniq("put")
    v1, v2 = secret_value("put1"), secret_value("put2")
    r = server.put(f"/v2/workspaces/default/secrets/{name}", json={"value": v1})
    assert r.status_code == 201, r.text
    assert_metadata(r.json(), name=name, keys=["value"], version=1)
    assert_no_value_in(r, v1)
    r = server.put(f"/v2/workspaces/default/secrets/{name}", json={"value": v2})
    assert r.status_code == 200, r.text
    assert_metadata(r.json(), name=name, keys=["value"], version=2)
    assert_no_value_in(r, v1, v2)
    assert server.access("default", name)["value"] == v2


def test_put_with_matching_name_and_typed_data(server):
    name = uniq("putdata")
    data = {"token": "hf_" + secret_value("puthf")}
    r = server.put(f"/v2/workspaces/default/secrets/{name}",
                   json={"name": name, "type": "huggingface", "data": data})
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "huggingface"
    assert server.access("default", name)["data"] == data


def test_put_into_unknown_workspace_is_404(server):
    ws = uniq("nope")
    assert_error(server.put(f"/v2/workspaces/{ws}/secrets/x", json={"value": secret_value()}),
                 404, "not_found")


# ---------------------------------------------------------------- secrets: DELETE

def test_delete_is_204_then_every_route_says_404(server):
    name = server.create_secret(name=uniq("del"))["name"]
    path = f"/v2/workspaces/default/secrets/{name}"
    r = server.delete(path)
    assert r.status_code == 204
    assert r.content == b""
    msg = f"Secret 'default/{name}' not found"
    assert_error(server.get(path), 404, "not_found", msg)
    assert_error(server.get(path + "/access"), 404, "not_found", msg)
    assert_error(server.delete(path), 404, "not_found", msg)
    assert name not in names_of(list_all(server))


def test_deleted_name_can_be_created_again_at_version_1(server):
    name = server.create_secret(name=uniq("again"))["name"]
    server.patch(f"/v2/workspaces/default/secrets/{name}", json={"value": secret_value()})
    assert server.delete(f"/v2/workspaces/default/secrets/{name}").status_code == 204
    value = secret_value()
    body = server.create_secret(name=name, value=value)
    assert body["version"] == 1
    assert server.access("default", name)["value"] == value


# ---------------------------------------------------------------- secrets: /access

@pytest.mark.parametrize("value", [
    "pässwörd-✓-秘密-🔑-" + "x" * 8,
    'quote"back\\slash/new\nline\ttab-' + "y" * 8,
    "  leading and trailing spaces  ",
    "\x01\x1f control \x7f chars " + "z" * 8,
    "a" * 4096,
])
def test_access_returns_the_value_exactly(server, value):
    value = value + uniq("")  # distinct per run
    name = uniq("acc")
    r = server.post("/v2/workspaces/default/secrets", json={"name": name, "value": value})
    assert r.status_code == 201, r.text
    r = server.get(f"/v2/workspaces/default/secrets/{name}/access")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == {"name": name, "workspace": "default", "value": value}


def test_access_returns_multi_key_unicode_data_exactly(server):
    name = uniq("multi")
    data = {"user": "ünïcødé-user-" + uniq(""), "password": "パスワード-" + uniq(""),
            "emoji": "🔐🗝️-" + uniq(""), "multi.line_key-1": "line1\nline2\n" + uniq("")}
    r = server.post("/v2/workspaces/default/secrets",
                    json={"name": name, "type": "opaque", "data": data})
    assert r.status_code == 201, r.text
    got = server.access("default", name)
    assert set(got) == {"name", "workspace", "data"}
    assert got == {"name": name, "workspace": "default", "data": data}


def test_access_of_single_non_value_key_returns_data(server):
    name = uniq("onekey")
    data = {"token": "hf_" + uniq("tok")}
    server.create_secret(name=name, type="huggingface", data=data)
    assert server.access("default", name) == {"name": name, "workspace": "default", "data": data}


def test_access_in_another_workspace_is_404(server):
    ws = server.create_workspace()
    name = server.create_secret(name=uniq("iso"))["name"]
    assert_error(server.get(f"/v2/workspaces/{ws}/secrets/{name}/access"), 404, "not_found",
                 f"Secret '{ws}/{name}' not found")


# ---------------------------------------------------------------- no values in responses

def test_no_create_get_list_patch_put_response_contains_a_stored_value(server):
    ws = server.create_workspace()
    v = {k: secret_value(k) for k in ("create", "data1", "data2", "patch", "put", "put2")}
    uni = "ünï-秘密-" + uniq("")
    responses = [
        server.post(f"/v2/workspaces/{ws}/secrets", json={"name": "one", "value": v["create"]}),
        server.post(f"/v2/workspaces/{ws}/secrets",
                    json={"name": "two", "type": "opaque", "data": {"a": v["data1"], "b": uni}}),
        server.get(f"/v2/workspaces/{ws}/secrets/one"),
        server.get(f"/v2/workspaces/{ws}/secrets/two"),
        server.get(f"/v2/workspaces/{ws}/secrets"),
        server.get(f"/v2/workspaces/{ws}/secrets", params={"search": "o"}),
        server.patch(f"/v2/workspaces/{ws}/secrets/one", json={"value": v["patch"]}),
        server.patch(f"/v2/workspaces/{ws}/secrets/two",
                     json={"data": {"a": v["data2"]}, "description": "d"}),
        server.put(f"/v2/workspaces/{ws}/secrets/three", json={"value": v["put"]}),
        server.put(f"/v2/workspaces/{ws}/secrets/three", json={"value": v["put2"]}),
        server.get(f"/v2/workspaces/{ws}/secrets"),
    ]
    for r in responses:
        assert r.status_code in (200, 201), r.text
        assert_no_value_in(r, *v.values(), uni)


# ---------------------------------------------------------------- tokens

def create_token(server, **body):
    r = server.post("/v2/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_token_create_returns_documented_fields_and_format(server):
    r = server.post("/v2/tokens", json={"description": "ci"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == TOKEN_CREATE_KEYS
    assert TOKEN_RE.match(body["token"]) and len(body["token"]) == 47
    assert body["token"].startswith("trs_")
    assert body["principal"] == "admin"          # defaults to the caller
    assert body["created_by"] == "admin"
    assert body["description"] == "ci"
    parse_time(body["created_at"])
    assert body["expires_at"] is None
    assert isinstance(body["id"], str) and body["id"]
    assert body["token"] != server.token


def test_token_with_explicit_principal_and_expiry(server):
    body = create_token(server, principal="admin", expires_in=3600, description="hourly")
    assert body["principal"] == "admin"
    delta = parse_time(body["expires_at"]) - parse_time(body["created_at"])
    assert 3590 <= delta.total_seconds() <= 3610


def test_two_tokens_are_different(server):
    a, b = create_token(server), create_token(server)
    assert a["token"] != b["token"] and a["id"] != b["id"]


def test_new_token_authenticates_as_the_principal(server):
    tok = create_token(server)["token"]
    r = server.get("/v2/workspaces", token=tok)
    assert r.status_code == 200
    name = uniq("bytok")
    r = server.post("/v2/workspaces/default/secrets", token=tok,
                    json={"name": name, "value": secret_value()})
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "admin"


def test_token_list_has_metadata_but_never_token_text(server):
    made = create_token(server, description="listed")
    r = server.get("/v2/tokens")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data"}
    ids = [t["id"] for t in body["data"]]
    assert made["id"] in ids
    for t in body["data"]:
        assert set(t) == TOKEN_LIST_KEYS, t
    mine = next(t for t in body["data"] if t["id"] == made["id"])
    assert mine["description"] == "listed" and mine["principal"] == "admin"
    assert made["token"] not in r.text
    assert server.token not in r.text
    assert "trs_" not in r.text


def test_deleted_token_is_refused_at_once(server):
    made = create_token(server)
    # Several connections, so that every worker has verified (and cached) it.
    for _ in range(8):
        assert server.get("/v2/workspaces", token=made["token"]).status_code == 200
    r = server.delete(f"/v2/tokens/{made['id']}")
    assert r.status_code == 204
    assert r.content == b""
    for _ in range(4):
        assert_error(server.get("/v2/workspaces", token=made["token"], source=fresh_source()),
                     401, "unauthorized")
    assert made["id"] not in [t["id"] for t in server.get("/v2/tokens").json()["data"]]
    # The admin token is untouched.
    assert server.get("/v2/workspaces").status_code == 200


def test_delete_unknown_token_is_404(server):
    assert_error(server.delete("/v2/tokens/tok_0000000000000000"), 404, "not_found")


def test_delete_token_twice_is_404_the_second_time(server):
    made = create_token(server)
    assert server.delete(f"/v2/tokens/{made['id']}").status_code == 204
    assert_error(server.delete(f"/v2/tokens/{made['id']}"), 404, "not_found")


def test_token_for_unknown_principal_is_404(server):
    assert_error(server.post("/v2/tokens", json={"principal": uniq("ghost")}), 404, "not_found")


def test_expiring_token_gets_401_after_it_expires(server):
    made = create_token(server, expires_in=1)
    delta = parse_time(made["expires_at"]) - parse_time(made["created_at"])
    assert 0 < delta.total_seconds() <= 2
    deadline = time.monotonic() + 3.0   # bounded: expires_in=1 plus clock granularity
    status = None
    while time.monotonic() < deadline:
        r = server.get("/v2/workspaces", token=made["token"], source=fresh_source())
        status = r.status_code
        if status == 401:
            assert_error(r, 401, "unauthorized")
            break
        assert status == 200, r.text
        time.sleep(0.2)
    assert status == 401, "token with expires_in=1 still accepted after 3 s"

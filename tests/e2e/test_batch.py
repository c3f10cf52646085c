"""
POST /v2/workspaces/{ws}/secrets:batch, the AI Blueprints batch (SPEC §5.1,
docs/api.md "Batch (AI Blueprints)"), end to end:

- the seed's payloads as AI Blueprints sends them (opaque hf-secret with key
  hf-token, the registry iad-creds, a two-item delete with types) -> per-item
  results in the documented shape and message text, and the store agrees;
- per-item failures: create of an existing secret -> 409, update/delete of a
  missing one -> 404, a bad item (unknown type, missing data or type, data
  breaking its type's rule) -> 422; the others succeed; HTTP 200 only when
  every item succeeded, else 400;
- "atomic": true with one failing item -> 400, nothing written (listing and
  /access unchanged), the failing item with its own code, every other item 409
  "not applied: the atomic batch failed";
- delete items with a type (any type) are fine; at most 1000 items;
- audit: each applied item is recorded like the single operation; an atomic
  batch that failed leaves no success record.

Every test runs in a workspace of its own on the session server.
"""
import base64
import json
import time

import pytest

from conftest import assert_error, audit_records, list_all, names_of, secret_value, uniq

RESULT_KEYS = {"action", "name", "namespace", "status", "code", "message"}
NOT_APPLIED = "not applied: the atomic batch failed"


def batch(server, ws, items, atomic=None, **kw):
    body = {"secrets_payload": items}
    if atomic is not None:
        body["atomic"] = atomic
    return server.post(f"/v2/workspaces/{ws}/secrets:batch", json=body, **kw)


def results(resp, ws, expected_status):
    """Checks the documented answer shape and returns the results."""
    assert resp.status_code == expected_status, resp.text[:1000]
    body = resp.json()
    assert set(body) == {"operations_processed", "results"}, body
    res = body["results"]
    assert body["operations_processed"] == len(res)
    for it in res:
        assert set(it) == RESULT_KEYS, it
        assert it["namespace"] == ws
        assert it["status"] in ("success", "error")
        assert (it["status"] == "success") == (it["code"] == 200), it
        assert isinstance(it["message"], str) and it["message"]
    return res


def ok(item, action, name):
    assert item == {"action": action, "name": name, "namespace": item["namespace"],
                    "status": "success", "code": 200,
                    "message": f"Secret '{name}' {action}d successfully"}, item


def err(item, action, name, code, message=None):
    assert item["action"] == action and item["name"] == name, item
    assert item["status"] == "error" and item["code"] == code, item
    if message is not None:
        assert item["message"] == message, item


def snapshot(server, ws):
    """The listing plus every value: what "nothing written" compares."""
    items = list_all(server, ws, include_expired="true")
    values = {}
    for it in items:
        params = {k: it[k] for k in ("project", "cluster") if it.get(k)}
        values[(it["name"], it.get("project"), it.get("cluster"))] = server.access(
            ws, it["name"], **params)
    return items, values


@pytest.fixture
def ws(server):
    return server.create_workspace(uniq("batch"))


# ---------------------------------------------------------------- AI Blueprints payloads

# The seed's example as it is written (seeds/004), the registry secret of
# docs/api.md ("iad-creds"), and the delete AI Blueprints sends with the type.
SEED_HF_CREATE = {
    "secrets_payload": [
        {
            "name": "hf-secret",
            "action": "create",
            "type": "opaque",
            "data": {
                "hf-token": "hf_...<example-token>..."
            }
        }
    ]
}
REGISTRY_CREATE = {
    "secrets_payload": [
        {"name": "iad-creds", "action": "create", "type": "container_registry",
         "data": {"registry_server": "nvcr.io", "username": "$oauthtoken",
                  "password": "nvapi-e2e-registry-password-0001", "email": "a@b.c"}}
    ]
}
DELETE_BOTH = {
    "secrets_payload": [
        {"name": "hf-secret", "action": "delete", "type": "opaque"},
        {"name": "iad-creds", "action": "delete", "type": "container_registry"},
    ]
}


def test_seed_payloads_verbatim_create_then_delete(server, ws):
    url = f"/v2/workspaces/{ws}/secrets:batch"
    r = server.post(url, json=SEED_HF_CREATE)
    (hf,) = results(r, ws, 200)
    assert hf == {"action": "create", "name": "hf-secret", "namespace": ws, "status": "success",
                  "code": 200, "message": "Secret 'hf-secret' created successfully"}
    meta = server.get(f"/v2/workspaces/{ws}/secrets/hf-secret").json()
    assert meta["type"] == "opaque" and meta["keys"] == ["hf-token"] and meta["version"] == 1
    assert server.access(ws, "hf-secret")["data"] == {"hf-token": "hf_...<example-token>..."}

    r = server.post(url, json=REGISTRY_CREATE)
    (reg,) = results(r, ws, 200)
    assert reg == {"action": "create", "name": "iad-creds", "namespace": ws, "status": "success",
                   "code": 200, "message": "Secret 'iad-creds' created successfully"}
    meta = server.get(f"/v2/workspaces/{ws}/secrets/iad-creds").json()
    assert meta["type"] == "container_registry"
    assert ".dockerconfigjson" in meta["keys"]
    data = server.access(ws, "iad-creds")["data"]
    cfg = json.loads(data[".dockerconfigjson"])
    assert base64.b64decode(cfg["auths"]["nvcr.io"]["auth"]).decode() == \
        "$oauthtoken:nvapi-e2e-registry-password-0001"

    r = server.post(url, json=DELETE_BOTH)
    res = results(r, ws, 200)
    assert [x["name"] for x in res] == ["hf-secret", "iad-creds"]
    for x in res:
        ok(x, "delete", x["name"])
    assert list_all(server, ws) == []


def test_documented_example_reports_the_missing_delete_as_404(server, ws):
    """docs/api.md's example payload: two creates and the delete of 'old',
    which does not exist -> that item 404 with the documented text, HTTP 400."""
    r = batch(server, ws, [
        {"name": "hf-secret", "action": "create", "type": "opaque",
         "data": {"hf-token": "hf_documented_example_token"}},
        {"name": "iad-creds", "action": "create", "type": "container_registry",
         "data": {"registry_server": "nvcr.io", "username": "$oauthtoken",
                  "password": "documented-example-password", "email": "a@b.c"}},
        {"name": "old", "action": "delete"},
    ], atomic=False)
    res = results(r, ws, 400)
    ok(res[0], "create", "hf-secret")
    ok(res[1], "create", "iad-creds")
    err(res[2], "delete", "old", 404, f"Secret '{ws}/old' not found")
    assert sorted(names_of(list_all(server, ws))) == ["hf-secret", "iad-creds"]


def test_update_replaces_the_data_and_bumps_the_version(server, ws):
    server.create_secret(ws, name="upd", type="opaque", data={"hf-token": secret_value("v1")})
    new = {"hf-token": secret_value("v2"), "extra": secret_value("v2x")}
    r = batch(server, ws, [{"name": "upd", "action": "update", "type": "opaque", "data": new}])
    (x,) = results(r, ws, 200)
    ok(x, "update", "upd")
    meta = server.get(f"/v2/workspaces/{ws}/secrets/upd").json()
    assert meta["version"] == 2 and sorted(meta["keys"]) == ["extra", "hf-token"]
    assert server.access(ws, "upd")["data"] == new


def test_items_carry_the_optional_fields_and_scopes(server, ws):
    r = batch(server, ws, [
        {"name": "full", "action": "create", "type": "opaque", "data": {"k": secret_value()},
         "description": "from a batch", "visibility": "public", "tags": ["bp", "team:ml"],
         "expires_in": 3600},
        {"name": "full", "action": "create", "type": "opaque", "data": {"k": secret_value()},
         "project": "p1"},
        {"name": "full", "action": "create", "type": "opaque", "data": {"k": secret_value()},
         "cluster": "c1"},
    ])
    assert [x["status"] for x in results(r, ws, 200)] == ["success"] * 3
    meta = server.get(f"/v2/workspaces/{ws}/secrets/full").json()
    assert meta["description"] == "from a batch" and meta["visibility"] == "public"
    assert sorted(meta["tags"]) == ["bp", "team:ml"] and meta["expires_at"] is not None
    assert server.get(f"/v2/workspaces/{ws}/secrets/full", params={"project": "p1"}).json()[
        "project"] == "p1"
    r = batch(server, ws, [{"name": "full", "action": "delete", "project": "p1"}])
    ok(results(r, ws, 200)[0], "delete", "full")
    assert server.get(f"/v2/workspaces/{ws}/secrets/full",
                      params={"project": "p1"}).status_code == 404
    assert server.get(f"/v2/workspaces/{ws}/secrets/full").status_code == 200
    assert server.get(f"/v2/workspaces/{ws}/secrets/full",
                      params={"cluster": "c1"}).status_code == 200


# ---------------------------------------------------------------- per-item failures

def test_create_of_an_existing_secret_fails_alone_with_409(server, ws):
    original = secret_value("orig")
    server.create_secret(ws, name="exists", value=original)
    r = batch(server, ws, [
        {"name": "before", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "exists", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "after", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
    ])
    res = results(r, ws, 400)
    ok(res[0], "create", "before")
    err(res[1], "create", "exists", 409, f"Secret '{ws}/exists' already exists")
    ok(res[2], "create", "after")
    assert sorted(names_of(list_all(server, ws))) == ["after", "before", "exists"]
    assert server.access(ws, "exists")["value"] == original


def test_update_and_delete_of_a_missing_secret_are_404_per_item(server, ws):
    server.create_secret(ws, name="there", value=secret_value())
    r = batch(server, ws, [
        {"name": "ghost-1", "action": "update", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "there", "action": "delete"},
        {"name": "ghost-2", "action": "delete", "type": "opaque"},
    ])
    res = results(r, ws, 400)
    err(res[0], "update", "ghost-1", 404, f"Secret '{ws}/ghost-1' not found")
    ok(res[1], "delete", "there")
    err(res[2], "delete", "ghost-2", 404, f"Secret '{ws}/ghost-2' not found")
    assert list_all(server, ws) == []


BAD_ITEMS = [
    # (id, item, what the message names)
    ("unknown-type", {"action": "create", "type": "nonsense", "data": {"k": "bad-item-val-1"}},
     "type"),
    ("missing-data", {"action": "create", "type": "opaque"}, "data"),
    ("missing-type", {"action": "create", "data": {"k": "bad-item-val-2"}}, "type"),
    ("empty-data", {"action": "create", "type": "opaque", "data": {}}, "data"),
    ("registry-missing-email", {"action": "create", "type": "container_registry",
                                "data": {"registry_server": "nvcr.io", "username": "u",
                                         "password": "bad-item-val-3"}}, "email"),
    ("hf-token-whitespace", {"action": "create", "type": "huggingface",
                             "data": {"token": "hf_bad item val"}}, "token"),
    ("bad-name", {"action": "create", "type": "opaque", "data": {"k": "bad-item-val-4"},
                  "name": "no spaces allowed"}, "name"),
    ("update-missing-data", {"action": "update", "type": "opaque"}, "data"),
]


@pytest.mark.parametrize("item,field", [(b[1], b[2]) for b in BAD_ITEMS],
                         ids=[b[0] for b in BAD_ITEMS])
def test_bad_item_is_422_per_item_and_the_others_succeed(server, ws, item, field):
    if item["action"] == "update":
        server.create_secret(ws, name="target", type="opaque", data={"k": secret_value()})
    bad = {"name": "target", **item}
    r = batch(server, ws, [
        {"name": "good-1", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        bad,
        {"name": "good-2", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
    ])
    res = results(r, ws, 400)
    ok(res[0], "create", "good-1")
    err(res[1], item["action"], bad["name"], 422)
    assert field in res[1]["message"], res[1]
    ok(res[2], "create", "good-2")
    listed = set(names_of(list_all(server, ws)))
    assert {"good-1", "good-2"} <= listed
    if item["action"] == "create":
        assert bad["name"] not in listed


def test_update_with_another_type_is_422_per_item(server, ws):
    value = secret_value()
    server.create_secret(ws, name="typed", type="opaque", data={"k": value})
    r = batch(server, ws, [{"name": "typed", "action": "update", "type": "container_registry",
                            "data": {"registry_server": "nvcr.io", "username": "u",
                                     "password": secret_value(), "email": "a@b.c"}}])
    (x,) = results(r, ws, 400)
    err(x, "update", "typed", 422)
    assert "type" in x["message"]
    assert server.access(ws, "typed")["data"] == {"k": value}


def test_http_200_only_when_every_item_succeeded(server, ws):
    items = [{"name": f"s{i}", "action": "create", "type": "opaque",
              "data": {"k": secret_value()}} for i in range(5)]
    assert all(x["code"] == 200 for x in results(batch(server, ws, items), ws, 200))
    # The same five again: every item fails -> 400, five 409s.
    res = results(batch(server, ws, items), ws, 400)
    assert [x["code"] for x in res] == [409] * 5
    # One update among successes is enough for a 200; one failure among them for a 400.
    upd = [{"name": "s0", "action": "update", "type": "opaque", "data": {"k": secret_value()}},
           {"name": "s1", "action": "delete"}]
    assert [x["code"] for x in results(batch(server, ws, upd), ws, 200)] == [200, 200]
    assert [x["code"] for x in results(batch(server, ws, upd), ws, 400)] == [200, 404]


def test_items_run_in_order(server, ws):
    """create, update, delete, create the same name in one batch: each item
    sees the ones before it."""
    first, second, third = secret_value("1"), secret_value("2"), secret_value("3")
    r = batch(server, ws, [
        {"name": "seq", "action": "create", "type": "opaque", "data": {"k": first}},
        {"name": "seq", "action": "update", "type": "opaque", "data": {"k": second}},
        {"name": "seq", "action": "delete"},
        {"name": "seq", "action": "create", "type": "opaque", "data": {"k": third}},
    ])
    res = results(r, ws, 200)
    assert [x["action"] for x in res] == ["create", "update", "delete", "create"]
    assert server.access(ws, "seq")["data"] == {"k": third}
    assert server.get(f"/v2/workspaces/{ws}/secrets/seq").json()["version"] == 1


# ---------------------------------------------------------------- atomic

@pytest.fixture
def populated(server, ws):
    server.create_secret(ws, name="keep-a", type="opaque", data={"k": secret_value("a")})
    server.create_secret(ws, name="keep-b", value=secret_value("b"))
    return ws


@pytest.mark.parametrize("failing,code", [
    ({"name": "ghost", "action": "update", "type": "opaque", "data": {"k": "atomic-fail-v1"}}, 404),
    ({"name": "keep-a", "action": "create", "type": "opaque", "data": {"k": "atomic-fail-v2"}}, 409),
    ({"name": "ghost", "action": "delete"}, 404),
    ({"name": "bad", "action": "create", "type": "huggingface",
      "data": {"token": "hf_atomic fail"}}, 422),
], ids=["update-missing-404", "create-existing-409", "delete-missing-404", "invalid-422"])
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_atomic_batch_with_one_failing_item_writes_nothing(server, populated, failing, code,
                                                           position):
    ws = populated
    before = snapshot(server, ws)
    good = [
        {"name": "new-1", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "keep-a", "action": "update", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "keep-b", "action": "delete"},
        {"name": "new-2", "action": "create", "type": "container_registry",
         "data": {"registry_server": "nvcr.io", "username": "u", "password": secret_value(),
                  "email": "a@b.c"}},
    ]
    at = {"first": 0, "middle": 2, "last": len(good)}[position]
    items = good[:at] + [failing] + good[at:]
    r = batch(server, ws, items, atomic=True)
    res = results(r, ws, 400)
    assert len(res) == len(items)
    for i, x in enumerate(res):
        assert x["name"] == items[i]["name"] and x["action"] == items[i]["action"]
        if i == at:
            assert x["status"] == "error" and x["code"] == code, x
            assert x["message"] != NOT_APPLIED
        else:
            assert x == {**x, "status": "error", "code": 409, "message": NOT_APPLIED}, x
    assert snapshot(server, ws) == before, "an atomic batch that failed changed the store"


def test_atomic_batch_that_succeeds_applies_everything(server, populated):
    ws = populated
    v = secret_value("atomic-ok")
    r = batch(server, ws, [
        {"name": "new-1", "action": "create", "type": "opaque", "data": {"k": v}},
        {"name": "keep-a", "action": "delete", "type": "opaque"},
        {"name": "keep-b", "action": "update", "type": "opaque", "data": {"value": v}},
    ], atomic=True)
    res = results(r, ws, 200)
    assert [x["code"] for x in res] == [200, 200, 200]
    assert sorted(names_of(list_all(server, ws))) == ["keep-b", "new-1"]
    assert server.access(ws, "new-1")["data"] == {"k": v}


def test_atomic_must_be_a_boolean(server, ws):
    r = batch(server, ws, [{"name": "x", "action": "create", "type": "opaque",
                            "data": {"k": secret_value()}}], atomic="yes")
    assert_error(r, 422, "validation_failed", names="atomic")
    assert list_all(server, ws) == []


# ---------------------------------------------------------------- delete with a type

@pytest.mark.parametrize("type_", ["opaque", "container_registry", "huggingface", "nonsense"])
def test_delete_item_with_any_type_is_fine(server, ws, type_):
    server.create_secret(ws, name="victim", value=secret_value())
    r = batch(server, ws, [{"name": "victim", "action": "delete", "type": type_,
                            "data": {"ignored": "ignored-delete-data"}}])
    ok(results(r, ws, 200)[0], "delete", "victim")
    assert server.get(f"/v2/workspaces/{ws}/secrets/victim").status_code == 404


# ---------------------------------------------------------------- limits and shape

def test_more_than_1000_items_is_422(server, ws):
    items = [{"name": f"n{i:04d}", "action": "create", "type": "opaque",
              "data": {"k": "limit-value"}} for i in range(1001)]
    r = batch(server, ws, items)
    assert_error(r, 422, "validation_failed", names=("secrets_payload", "1000"))
    assert list_all(server, ws) == []


def test_exactly_1000_items_are_accepted(server, ws):
    items = [{"name": f"n{i:04d}", "action": "create", "type": "opaque",
              "data": {"k": "limit-value"}} for i in range(1000)]
    t0 = time.monotonic()
    r = batch(server, ws, items, atomic=True, timeout=60)
    res = results(r, ws, 200)
    assert len(res) == 1000 and all(x["code"] == 200 for x in res)
    r = server.get(f"/v2/workspaces/{ws}/secrets", params={"page_size": 1})
    assert r.json()["pagination"]["total_results"] == 1000
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("body,field", [
    ({}, "secrets_payload"),
    ({"secrets_payload": {"name": "x"}}, "secrets_payload"),
    ({"secrets_payload": [], "extra": 1}, "extra"),
], ids=["missing-payload", "payload-object", "unknown-field"])
def test_malformed_batch_body_is_422(server, ws, body, field):
    r = server.post(f"/v2/workspaces/{ws}/secrets:batch", json=body)
    assert_error(r, 422, "validation_failed", names=field)


def test_empty_batch_is_200_with_no_results(server, ws):
    r = batch(server, ws, [])
    assert results(r, ws, 200) == []


def test_batch_into_unknown_workspace_is_404(server):
    r = batch(server, uniq("nows"), [{"name": "x", "action": "create", "type": "opaque",
                                      "data": {"k": secret_value()}}])
    assert_error(r, 404, "not_found")


def test_viewer_may_not_batch(server, ws):
    user = server.create_principal(uniq("viewer"))
    server.set_member(ws, user, "viewer")
    r = batch(server, ws, [{"name": "x", "action": "create", "type": "opaque",
                            "data": {"k": secret_value()}}], token=server.mint(user))
    assert_error(r, 403, "forbidden")
    assert list_all(server, ws) == []


# ---------------------------------------------------------------- audit

def test_each_applied_item_is_audited_like_the_single_operation(server, ws):
    server.create_secret(ws, name="pre", value=secret_value())
    r = batch(server, ws, [
        {"name": "a1", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "a2", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "pre", "action": "update", "type": "opaque", "data": {"value": secret_value()}},
        {"name": "a1", "action": "delete"},
        {"name": "pre", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
    ])
    res = results(r, ws, 400)
    assert [x["code"] for x in res] == [200, 200, 200, 200, 409]
    request_id = r.headers.get("X-Request-Id")

    creates = [x for x in audit_records(server, action="secret.create", workspace=ws)
               if x["outcome"] == "success"]
    assert sorted(x["secret"] for x in creates) == ["a1", "a2", "pre"]  # "pre" by create_secret
    batch_creates = [x for x in creates if x["secret"] in ("a1", "a2")]
    assert all(x["request_id"] == request_id and x["actor"] == "admin" for x in batch_creates)
    updates = audit_records(server, action="secret.update", workspace=ws, outcome="success")
    assert [x["secret"] for x in updates] == ["pre"]
    deletes = audit_records(server, action="secret.delete", workspace=ws, outcome="success")
    assert [x["secret"] for x in deletes] == ["a1"]
    # The failed create is not recorded as a success.
    failed = [x for x in audit_records(server, action="secret.create", workspace=ws)
              if x["secret"] == "pre" and x["request_id"] == request_id]
    assert all(x["outcome"] != "success" for x in failed), failed


def test_failed_atomic_batch_records_nothing_as_success(server, ws):
    server.create_secret(ws, name="there", value=secret_value())
    r = batch(server, ws, [
        {"name": "x1", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "there", "action": "update", "type": "opaque", "data": {"k": secret_value()}},
        {"name": "ghost", "action": "delete"},
        {"name": "x2", "action": "create", "type": "opaque", "data": {"k": secret_value()}},
    ], atomic=True)
    results(r, ws, 400)
    request_id = r.headers.get("X-Request-Id")
    assert request_id
    recs = [x for x in audit_records(server, workspace=ws) if x["request_id"] == request_id]
    assert [x for x in recs if x["outcome"] == "success"] == [], recs
    # The item that failed may be recorded, as the failure it is.
    assert all(x["secret"] == "ghost" for x in recs), recs


def test_cli_batch_file_that_is_not_json_is_not_echoed(server, ws, tmp_path):
    """The payload file holds secret values: a parse error names the line,
    never the text around it."""
    bad = tmp_path / "payload.json"
    bad.write_text('{"secrets_payload": [hf_unquoted_secret_value]}')
    out = server.cli("secrets", "batch", "-f", str(bad), "-w", ws)
    assert out.returncode != 0
    assert "not valid JSON (line 1" in out.stderr, out.stderr
    assert "hf_unquoted_secret_value" not in out.stderr + out.stdout

"""
Versions, expiry and ETags, end to end (docs/api.md "Versions and expiry",
"Listing"):

- GET .../versions lists the kept versions newest first with one `current`;
  a new value (PATCH value/data, PUT) adds one, a metadata-only PATCH does not;
- the server keeps `secrets.keep_versions` (default 10; a fresh server with
  keep_versions 3 from --config keeps 3): pruned versions are gone from the
  list and /resolve of `name@1` is 404 "has no version 1", kept ones resolve;
- /resolve with `name@N` returns the value of that version;
- expires_in: after it passes, GET shows "expired": true, the list leaves it
  out unless include_expired=true, /resolve is 404;
- ETag on GET of a secret and of a list; If-None-Match with it -> 304 and no
  body; after a change (also the flip to expired) -> 200 with a new ETag.

Session server in workspaces of their own, except the keep_versions test.
"""
import time
from types import SimpleNamespace

import pytest

from conftest import assert_error, list_all, names_of, parse_time, secret_value, uniq

VERSION_KEYS = {"version", "created_at", "created_by", "current"}


@pytest.fixture(scope="module")
def vs(server):
    """A workspace with a service account bound to it and its token."""
    ws = server.create_workspace(uniq("ver"))
    svc = server.create_principal(uniq("vsvc"), kind="service")
    server.set_member(ws, svc, "service")
    return SimpleNamespace(server=server, ws=ws, token=server.mint(svc))


def url(ws, name, suffix=""):
    return f"/v2/workspaces/{ws}/secrets/{name}{suffix}"


def versions(server, ws, name, **kw):
    r = server.get(url(ws, name, "/versions"), **kw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data"}, body
    for v in body["data"]:
        assert set(v) == VERSION_KEYS, v
        parse_time(v["created_at"])
    return body["data"]


def patch_value(server, ws, name, value):
    r = server.patch(url(ws, name), json={"value": value})
    assert r.status_code == 200, r.text
    return r.json()


def resolve(server, ws, token, secret_name, key="value"):
    body = {"env": [{"envvar_name": "V", "secret_name": secret_name, "secret_key": key}]}
    return server.post(f"/v2/workspaces/{ws}/resolve", json=body, token=token)


def resolved_value(server, ws, token, secret_name):
    r = resolve(server, ws, token, secret_name)
    assert r.status_code == 200, r.text
    (e,) = r.json()["env"]
    return e["value"], e["version"]


def public_secret(server, ws, value=None, **extra):
    name = uniq("vs")
    server.create_secret(ws, name=name, value=value or secret_value("v1"), visibility="public",
                         **extra)
    return name


# ---------------------------------------------------------------- history

def test_three_value_patches_give_versions_4_to_1_newest_first(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    assert [v["version"] for v in versions(s, ws, name)] == [1]
    for i in range(3):
        assert patch_value(s, ws, name, secret_value(f"p{i}"))["version"] == i + 2
    hist = versions(s, ws, name)
    assert [v["version"] for v in hist] == [4, 3, 2, 1]
    assert [v["current"] for v in hist] == [True, False, False, False]
    assert all(v["created_by"] == "admin" for v in hist)
    times = [parse_time(v["created_at"]) for v in hist]
    assert times == sorted(times, reverse=True)
    assert s.get(url(ws, name)).json()["version"] == 4


def test_metadata_only_patch_keeps_the_version(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    patch_value(s, ws, name, secret_value("v2"))
    before = versions(s, ws, name)
    for body in ({"description": "only metadata"}, {"tags": ["a", "b"]},
                 {"visibility": "public"}, {"expires_in": 86400}):
        r = s.patch(url(ws, name), json=body)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2, (body, r.text)
    assert versions(s, ws, name) == before


def test_put_replacing_the_value_adds_a_version_and_put_creating_starts_at_1(vs):
    s, ws = vs.server, vs.ws
    name = uniq("put")
    r = s.put(url(ws, name), json={"value": secret_value("put1"), "visibility": "public"})
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    r = s.put(url(ws, name), json={"value": secret_value("put2"), "visibility": "public"})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    hist = versions(s, ws, name)
    assert [(v["version"], v["current"]) for v in hist] == [(2, True), (1, False)]


def test_versions_of_a_recreated_secret_start_over(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    patch_value(s, ws, name, secret_value("v2"))
    assert s.delete(url(ws, name)).status_code == 204
    s.create_secret(ws, name=name, value=secret_value("again"), visibility="public")
    assert [v["version"] for v in versions(s, ws, name)] == [1]


def test_default_keeps_the_last_10_versions(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    for i in range(11):
        patch_value(s, ws, name, secret_value(f"k{i}"))
    hist = versions(s, ws, name)
    assert [v["version"] for v in hist] == list(range(12, 2, -1))
    r = resolve(s, ws, vs.token, f"{name}@2")
    assert_error(r, 404, "not_found", message=f"Secret '{ws}/{name}' has no version 2")
    assert resolved_value(s, ws, vs.token, f"{name}@3")[1] == 3


def test_versions_of_a_missing_secret_is_404(vs):
    r = vs.server.get(url(vs.ws, uniq("nope"), "/versions"))
    assert_error(r, 404, "not_found", names="not found")


def test_versions_of_a_scoped_secret_need_the_scope(vs):
    s, ws = vs.server, vs.ws
    name = uniq("scoped")
    s.create_secret(ws, name=name, value=secret_value(), project="p1", visibility="public")
    r = s.patch(url(ws, name), params={"project": "p1"}, json={"value": secret_value()})
    assert r.status_code == 200, r.text
    assert [v["version"] for v in versions(s, ws, name, params={"project": "p1"})] == [2, 1]
    assert s.get(url(ws, name, "/versions")).status_code == 404


def test_versions_follow_the_metadata_roles(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    viewer = s.create_principal(uniq("vview"))
    s.set_member(ws, viewer, "viewer")
    assert s.get(url(ws, name, "/versions"), token=s.mint(viewer)).status_code == 200
    assert_error(s.get(url(ws, name, "/versions"), token=vs.token), 403, "forbidden")
    # A private secret of another member (an editor) is 404 for the viewer,
    # versions included.
    editor = s.create_principal(uniq("ved"))
    s.set_member(ws, editor, "editor")
    private = uniq("priv")
    r = s.post(f"/v2/workspaces/{ws}/secrets", token=s.mint(editor),
               json={"name": private, "value": secret_value()})
    assert r.status_code == 201 and r.json()["visibility"] == "private", r.text
    vtoken = s.mint(viewer)
    assert_error(s.get(url(ws, private), token=vtoken), 404, "not_found")
    assert_error(s.get(url(ws, private, "/versions"), token=vtoken), 404, "not_found")


# ---------------------------------------------------------------- pinned resolve

def test_pinned_resolve_returns_the_value_of_that_version(vs):
    s, ws = vs.server, vs.ws
    values = [secret_value(f"pin{i}") for i in range(4)]
    name = public_secret(s, ws, value=values[0])
    for v in values[1:]:
        patch_value(s, ws, name, v)
    for n in range(1, 5):
        assert resolved_value(s, ws, vs.token, f"{name}@{n}") == (values[n - 1], n)
    assert resolved_value(s, ws, vs.token, name) == (values[3], 4)
    r = resolve(s, ws, vs.token, f"{name}@5")
    assert_error(r, 404, "not_found", message=f"Secret '{ws}/{name}' has no version 5")


def test_pinned_resolve_of_a_typed_secret_returns_that_versions_key(vs):
    s, ws = vs.server, vs.ws
    name = uniq("typedpin")
    old, new = "hf_" + secret_value("old"), "hf_" + secret_value("new")
    s.create_secret(ws, name=name, type="huggingface", data={"token": old}, visibility="public")
    r = s.patch(url(ws, name), json={"data": {"token": new}})
    assert r.status_code == 200, r.text
    r = resolve(s, ws, vs.token, f"{name}@1", key="token")
    assert r.status_code == 200, r.text
    assert r.json()["env"][0]["value"] == old


# ---------------------------------------------------------------- keep_versions from config

def test_keep_versions_from_config_prunes_to_3(server_factory, tmp_path):
    cfg = tmp_path / "tresor.yaml"
    cfg.write_text("secrets:\n  keep_versions: 3\n")
    s = server_factory().start(extra_args=("--config", str(cfg)))
    ws = s.create_workspace(uniq("keep"))
    svc = s.create_principal(uniq("ksvc"), kind="service")
    s.set_member(ws, svc, "service")
    token = s.mint(svc)

    values = [secret_value(f"keep{i}") for i in range(5)]
    name = public_secret(s, ws, value=values[0])
    for v in values[1:]:
        patch_value(s, ws, name, v)
    hist = versions(s, ws, name)
    assert [(v["version"], v["current"]) for v in hist] == [(5, True), (4, False), (3, False)]
    for n in (1, 2):
        r = resolve(s, ws, token, f"{name}@{n}")
        assert_error(r, 404, "not_found", message=f"Secret '{ws}/{name}' has no version {n}")
    assert resolved_value(s, ws, token, f"{name}@4") == (values[3], 4)
    assert resolved_value(s, ws, token, f"{name}@3") == (values[2], 3)
    assert resolved_value(s, ws, token, name) == (values[4], 5)

    # Still 3 after a restart and one more value.
    assert s.stop() == 0
    s.start(extra_args=("--config", str(cfg)))
    patch_value(s, ws, name, secret_value("after-restart"))
    assert [v["version"] for v in versions(s, ws, name)] == [6, 5, 4]


# ---------------------------------------------------------------- expiry

def wait_expired(server, ws, name, limit=3.0, **kw):
    deadline = time.monotonic() + limit
    while True:
        body = server.get(url(ws, name), **kw).json()
        if body["expired"] or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


@pytest.fixture(scope="module")
def expiring(vs):
    """A workspace with a secret that expires after 1 s (already expired when
    handed out) and one that does not."""
    s = vs.server
    ws = s.create_workspace(uniq("exp"))
    svc = s.create_principal(uniq("esvc"), kind="service")
    s.set_member(ws, svc, "service")
    token = s.mint(svc)
    r = s.post(f"/v2/workspaces/{ws}/secrets",
               json={"name": "short-lived", "value": secret_value("exp"), "expires_in": 1,
                     "visibility": "public"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["expired"] is False
    delta = (parse_time(created["expires_at"]) - parse_time(created["created_at"])).total_seconds()
    assert 0 <= delta <= 2, created
    s.create_secret(ws, name="long-lived", value=secret_value("live"), expires_in=3600,
                    visibility="public")
    s.create_secret(ws, name="forever", value=secret_value("forever"), visibility="public")
    body = wait_expired(s, ws, "short-lived")
    assert body["expired"] is True, f"not expired 3 s after expires_in=1: {body}"
    return SimpleNamespace(server=s, ws=ws, token=token)


def test_expired_secret_shows_expired_true(expiring):
    body = expiring.server.get(url(expiring.ws, "short-lived")).json()
    assert body["expired"] is True and body["expires_at"] is not None
    other = expiring.server.get(url(expiring.ws, "long-lived")).json()
    assert other["expired"] is False


def test_expired_secret_is_left_out_of_lists_unless_include_expired(expiring):
    s, ws = expiring.server, expiring.ws
    assert sorted(names_of(list_all(s, ws))) == ["forever", "long-lived"]
    assert sorted(names_of(list_all(s, ws, include_expired="false"))) == ["forever", "long-lived"]
    everything = list_all(s, ws, include_expired="true")
    assert sorted(names_of(everything)) == ["forever", "long-lived", "short-lived"]
    assert [x["expired"] for x in everything if x["name"] == "short-lived"] == [True]
    r = s.get(f"/v2/workspaces/{ws}/secrets", params={"page_size": 1})
    assert r.json()["pagination"]["total_results"] == 2
    r = s.get(f"/v2/workspaces/{ws}/secrets", params={"page_size": 1, "include_expired": "true"})
    assert r.json()["pagination"]["total_results"] == 3


def test_include_expired_must_be_a_boolean(expiring):
    r = expiring.server.get(f"/v2/workspaces/{expiring.ws}/secrets",
                            params={"include_expired": "maybe"})
    assert_error(r, 400, "invalid_request", names="include_expired")


def test_expired_secret_does_not_resolve(expiring):
    s, ws = expiring.server, expiring.ws
    r = resolve(s, ws, expiring.token, "short-lived")
    assert_error(r, 404, "not_found", message=f"Secret '{ws}/short-lived' not found")
    r = resolve(s, ws, expiring.token, "short-lived@1")
    assert_error(r, 404, "not_found")
    assert resolve(s, ws, expiring.token, "long-lived").status_code == 200


def test_expires_in_on_patch_and_put_sets_expires_at(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    r = s.patch(url(ws, name), json={"expires_in": 600})
    assert r.status_code == 200, r.text
    body = r.json()
    left = (parse_time(body["expires_at"]) - parse_time(body["updated_at"])).total_seconds()
    assert 590 <= left <= 610 and body["version"] == 1 and body["expired"] is False
    r = s.put(url(ws, name), json={"value": secret_value(), "expires_in": 1200,
                                   "visibility": "public"})
    assert r.status_code == 200, r.text
    body = r.json()
    left = (parse_time(body["expires_at"]) - parse_time(body["updated_at"])).total_seconds()
    assert 1190 <= left <= 1210 and body["version"] == 2


def test_patch_expires_in_on_an_expiring_secret_expires_it_as_told(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws, expires_in=3600)
    r = s.patch(url(ws, name), json={"expires_in": 1})
    assert r.status_code == 200, r.text
    assert wait_expired(s, ws, name)["expired"] is True
    assert resolve(s, ws, vs.token, name).status_code == 404


# ---------------------------------------------------------------- ETag

def etag_of(resp):
    tag = resp.headers.get("ETag")
    assert tag, f"no ETag on {resp.request.method} {resp.url}: {dict(resp.headers)}"
    return tag


def assert_304(resp):
    assert resp.status_code == 304, f"expected 304, got {resp.status_code}: {resp.text[:300]}"
    assert resp.content == b"", f"304 with a body: {resp.content[:200]!r}"


def test_secret_get_etag_304_then_200_with_new_etag_after_a_change(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    r = s.get(url(ws, name))
    assert r.status_code == 200
    tag = etag_of(r)
    assert etag_of(s.get(url(ws, name))) == tag, "ETag not stable while nothing changed"
    assert_304(s.get(url(ws, name), headers={"If-None-Match": tag}))
    assert_304(s.get(url(ws, name), headers={"If-None-Match": f'"nope", {tag}'}))
    assert s.get(url(ws, name), headers={"If-None-Match": '"something-else"'}).status_code == 200

    patch_value(s, ws, name, secret_value("etag2"))
    r = s.get(url(ws, name), headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    tag2 = etag_of(r)
    assert tag2 != tag
    assert_304(s.get(url(ws, name), headers={"If-None-Match": tag2}))

    # A metadata-only change changes the representation too.
    assert s.patch(url(ws, name), json={"description": "changed"}).status_code == 200
    r = s.get(url(ws, name), headers={"If-None-Match": tag2})
    assert r.status_code == 200 and etag_of(r) not in (tag, tag2)


def test_list_etag_304_then_200_with_new_etag_after_a_change(vs):
    s = vs.server
    ws = s.create_workspace(uniq("etagl"))
    s.create_secret(ws, name="one", value=secret_value())
    lst = f"/v2/workspaces/{ws}/secrets"
    params = {"sort": "name", "page_size": 10}
    r = s.get(lst, params=params)
    assert r.status_code == 200
    tag = etag_of(r)
    assert_304(s.get(lst, params=params, headers={"If-None-Match": tag}))

    s.create_secret(ws, name="two", value=secret_value())
    r = s.get(lst, params=params, headers={"If-None-Match": tag})
    assert r.status_code == 200 and names_of(r.json()["data"]) == ["one", "two"], r.text
    tag2 = etag_of(r)
    assert tag2 != tag
    assert_304(s.get(lst, params=params, headers={"If-None-Match": tag2}))

    # Changing a listed secret's metadata changes the list's tag too.
    assert s.patch(url(ws, "one"), json={"tags": ["x"]}).status_code == 200
    r = s.get(lst, params=params, headers={"If-None-Match": tag2})
    assert r.status_code == 200 and etag_of(r) != tag2
    # Deleting one as well.
    tag3 = etag_of(r)
    assert s.delete(url(ws, "two")).status_code == 204
    assert s.get(lst, params=params, headers={"If-None-Match": tag3}).status_code == 200


def test_etag_changes_when_a_secret_expires(vs):
    s = vs.server
    ws = s.create_workspace(uniq("etagx"))
    # 2 s: expiry has a resolution of a second, at least one is left for the
    # two GETs before it.
    r = s.post(f"/v2/workspaces/{ws}/secrets",
               json={"name": "soon", "value": secret_value(), "expires_in": 2})
    assert r.status_code == 201, r.text
    r = s.get(url(ws, "soon"))
    assert r.json()["expired"] is False
    tag = etag_of(r)
    lst = f"/v2/workspaces/{ws}/secrets"
    ltag = etag_of(s.get(lst))
    assert wait_expired(s, ws, "soon", limit=4.0)["expired"] is True
    r = s.get(url(ws, "soon"), headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.json()["expired"] is True, r.text
    r = s.get(lst, headers={"If-None-Match": ltag})
    assert r.status_code == 200 and r.json()["data"] == [], r.text


def test_etag_304_is_only_for_get(vs):
    s, ws = vs.server, vs.ws
    name = public_secret(s, ws)
    tag = etag_of(s.get(url(ws, name)))
    r = s.patch(url(ws, name), json={"description": "x"}, headers={"If-None-Match": tag})
    assert r.status_code == 200, r.text
    assert s.get(url(ws, name)).json()["description"] == "x"


def test_unknown_secret_with_if_none_match_star_is_404(vs):
    r = vs.server.get(url(vs.ws, uniq("none")), headers={"If-None-Match": "*"})
    assert_error(r, 404, "not_found")

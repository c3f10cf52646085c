"""
GET /v2/workspaces/{ws}/secrets end to end (docs/api.md "Listing"):

- filters: search (case-insensitive substring of name, description or a tag;
  never of a value), type and its alias use_case (canonical or alias names,
  any case), tag, project, cluster, created_by, visibility (exact), and
  combinations; private secrets of others never show;
- sort name / created_at / updated_at, ascending and descending;
- page / page_size and the pagination object;
- keyset paging: a workspace of 300 secrets walked with page_size 25 via
  next_page_token gives every secret exactly once, in order, ending with a
  null token; the same while secrets are inserted before and after the
  current position (sequentially between pages, and from another thread):
  no duplicates, no gaps among the secrets that existed at the start;
- a token used with other filters or another sort -> 400; a garbage token -> 400.

Session server; every workspace is made here.
"""
import math
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from conftest import PAGINATION_KEYS, assert_error, names_of, secret_value, uniq


def lst(server, ws, token=None, **params):
    kw = {"params": params}
    if token is not None:
        kw["token"] = token
    r = server.get(f"/v2/workspaces/{ws}/secrets", **kw)
    assert r.status_code == 200, f"{params}: {r.text[:500]}"
    body = r.json()
    assert set(body) == {"data", "pagination"}, body.keys()
    assert set(body["pagination"]) == PAGINATION_KEYS, body["pagination"]
    return body


def names(server, ws, token=None, **params):
    params.setdefault("page_size", 1000)
    return sorted(names_of(lst(server, ws, token, **params)["data"]))


def bulk_create(server, ws, names_, **extra):
    """Creates the secrets through the batch endpoint, 1000 a request."""
    for i in range(0, len(names_), 1000):
        items = [{"name": n, "action": "create", "type": "opaque",
                  "data": {"k": f"bulk-value-{n}"}, **extra} for n in names_[i:i + 1000]]
        r = server.post(f"/v2/workspaces/{ws}/secrets:batch",
                        json={"secrets_payload": items, "atomic": True}, timeout=60)
        assert r.status_code == 200, r.text[:500]


def walk(server, ws, page_size=25, between=None, token=None, limit=1000, **params):
    """Follows next_page_token from the first page; returns (names in walk
    order, number of pages). `between(page_no, names_so_far)` runs after each page."""
    seen, pages = [], 0
    body = lst(server, ws, token, page_size=page_size, **params)
    while True:
        pages += 1
        assert pages <= limit, "next_page_token never became null"
        data = body["data"]
        p = body["pagination"]
        assert p["current_page_size"] == len(data) <= page_size
        assert p["page_size"] == page_size
        seen += names_of(data)
        nxt = p["next_page_token"]
        if nxt is None:
            return seen, pages
        assert isinstance(nxt, str) and nxt
        assert data, "an empty page with a next_page_token"
        if between:
            between(pages, list(seen))
        body = lst(server, ws, token, page_size=page_size, page_token=nxt, **params)


# ---------------------------------------------------------------- filters

@pytest.fixture(scope="module")
def fw(server):
    """A workspace of seven secrets with distinct attributes; two by an editor."""
    s = server
    ws = s.create_workspace(uniq("lstf"))
    editor = s.create_principal(uniq("led"))
    s.set_member(ws, editor, "editor")
    etoken = s.mint(editor)
    hidden = secret_value("searchable-nowhere")
    s.create_secret(ws, name="alpha-model", type="huggingface",
                    data={"token": "hf_" + uuid.uuid4().hex}, description="Weights for LLAMA-3",
                    tags=["prod", "team:vision"], visibility="public")
    s.create_secret(ws, name="beta-bucket", type="s3",
                    data={"access_key_id": "AKIALISTING00001", "secret_access_key": hidden},
                    description="training data", tags=["production"], project="p1")
    s.create_secret(ws, name="gamma-registry", type="ImagePullSecret",
                    data={"registry_server": "nvcr.io", "username": "u",
                          "password": secret_value("reg"), "email": "a@b.c"},
                    tags=["prod"], cluster="c1")
    s.create_secret(ws, name="delta-generic", value=secret_value("generic"), description="misc")
    s.create_secret(ws, name="epsilon-key", type="api_key",
                    data={"api_key": secret_value("ak"), "provider": "openai"},
                    tags=["team:nlp"], project="p2", visibility="public")
    for body in ({"name": "zeta-editor", "type": "generic", "data": {"k": secret_value("z")},
                  "description": "Owned by the Editor", "tags": ["prod-eu"],
                  "visibility": "public"},
                 {"name": "eta-editor-private", "type": "huggingface",
                  "data": {"token": "hf_" + uuid.uuid4().hex}}):
        r = s.post(f"/v2/workspaces/{ws}/secrets", json=body, token=etoken)
        assert r.status_code == 201, r.text
    return SimpleNamespace(ws=ws, editor=editor, etoken=etoken, hidden=hidden)


ALL = ["alpha-model", "beta-bucket", "delta-generic", "epsilon-key", "eta-editor-private",
       "gamma-registry", "zeta-editor"]


@pytest.mark.parametrize("search,expected", [
    ("bucket", ["beta-bucket"]),
    ("BUCKET", ["beta-bucket"]),
    ("llama", ["alpha-model"]),                 # description
    ("Weights FOR", ["alpha-model"]),           # description, with a space
    ("VISION", ["alpha-model"]),                # tag substring
    ("team:", ["alpha-model", "epsilon-key"]),  # tag substring
    ("prod", ["alpha-model", "beta-bucket", "gamma-registry", "zeta-editor"]),
    ("editor", ["eta-editor-private", "zeta-editor"]),
    ("-", ALL),
    ("no-such-thing", []),
    ("%", []),                                  # not a wildcard
    ("_", []),                                  # not a wildcard
])
def test_search_is_a_case_insensitive_substring_of_name_description_or_tag(
        server, fw, search, expected):
    assert names(server, fw.ws, search=search) == expected


def test_search_never_matches_a_value(server, fw):
    assert names(server, fw.ws, search=fw.hidden) == []
    assert names(server, fw.ws, search=fw.hidden[5:20]) == []
    assert names(server, fw.ws, search="AKIALISTING") == []


@pytest.mark.parametrize("param,value,expected", [
    ("type", "huggingface", ["alpha-model", "eta-editor-private"]),
    ("type", "HuggingFace", ["alpha-model", "eta-editor-private"]),
    ("use_case", "huggingface", ["alpha-model", "eta-editor-private"]),
    ("type", "container_registry", ["gamma-registry"]),
    ("use_case", "ImagePullSecret", ["gamma-registry"]),
    ("type", "image_pull", ["gamma-registry"]),
    ("type", "opaque", ["delta-generic", "zeta-editor"]),
    ("use_case", "Generic", ["delta-generic", "zeta-editor"]),
    ("type", "S3", ["beta-bucket"]),
    ("type", "api_key", ["epsilon-key"]),
    ("type", "ssh", []),
    ("type", "database", []),
])
def test_type_and_use_case_filters_take_canonical_and_alias_names(server, fw, param, value,
                                                                  expected):
    assert names(server, fw.ws, **{param: value}) == expected


@pytest.mark.parametrize("params,expected", [
    ({"tag": "prod"}, ["alpha-model", "gamma-registry"]),
    ({"tag": "production"}, ["beta-bucket"]),
    ({"tag": "team:nlp"}, ["epsilon-key"]),
    ({"tag": "team"}, []),
    ({"tag": "PROD"}, []),
    ({"project": "p1"}, ["beta-bucket"]),
    ({"project": "p2"}, ["epsilon-key"]),
    ({"project": "p"}, []),
    ({"cluster": "c1"}, ["gamma-registry"]),
    ({"cluster": "c2"}, []),
    ({"created_by": "admin"}, ["alpha-model", "beta-bucket", "delta-generic", "epsilon-key",
                               "gamma-registry"]),
    ({"created_by": "adm"}, []),
    ({"visibility": "public"}, ["alpha-model", "epsilon-key", "zeta-editor"]),
    ({"visibility": "private"}, ["beta-bucket", "delta-generic", "eta-editor-private",
                                 "gamma-registry"]),
    ({"type": "opaque", "visibility": "public"}, ["zeta-editor"]),
    ({"search": "prod", "visibility": "public"}, ["alpha-model", "zeta-editor"]),
    ({"search": "prod", "tag": "prod", "cluster": "c1"}, ["gamma-registry"]),
    ({"type": "huggingface", "tag": "prod"}, ["alpha-model"]),
    ({"project": "p1", "cluster": "c1"}, []),
])
def test_exact_filters_and_their_combinations(server, fw, params, expected):
    assert names(server, fw.ws, **params) == expected


def test_created_by_filter_names_the_editor(server, fw):
    assert names(server, fw.ws, created_by=fw.editor) == ["eta-editor-private", "zeta-editor"]


def test_filters_apply_before_paging(server, fw):
    body = lst(server, fw.ws, visibility="private", page_size=3)
    assert body["pagination"]["total_results"] == 4
    assert body["pagination"]["total_pages"] == 2
    assert len(body["data"]) == 3


def test_an_editor_lists_public_secrets_and_its_own_private_ones_only(server, fw):
    assert names(server, fw.ws, token=fw.etoken) == ["alpha-model", "epsilon-key",
                                                     "eta-editor-private", "zeta-editor"]
    assert names(server, fw.ws, token=fw.etoken, visibility="private") == ["eta-editor-private"]
    assert names(server, fw.ws, token=fw.etoken, created_by="admin") == ["alpha-model",
                                                                         "epsilon-key"]
    assert lst(server, fw.ws, fw.etoken)["pagination"]["total_results"] == 4


def test_a_viewer_minted_by_the_platform_admin_does_not_see_the_admins_private_secrets(
        server, fw):
    """docs/api.md: a private secret exists only for its creator and platform
    admins; only a *service* token minted by a user also resolves that user's
    private secrets. A user's token minted by the admin is that user's."""
    viewer = server.create_principal(uniq("lview"))
    server.set_member(fw.ws, viewer, "viewer")
    vtoken = server.mint(viewer)
    assert names(server, fw.ws, token=vtoken) == ["alpha-model", "epsilon-key", "zeta-editor"]
    r = server.get(f"/v2/workspaces/{fw.ws}/secrets/delta-generic", token=vtoken)
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize("params", [
    {"visibility": "secret"}, {"sort": "name,created_at"}, {"sort": "--name"},
    {"type": "hugging face"}, {"page_size": "25x"},
], ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_bad_list_parameter_is_400(server, fw, params):
    r = server.get(f"/v2/workspaces/{fw.ws}/secrets", params=params)
    assert_error(r, 400, "invalid_request")


# ---------------------------------------------------------------- sort

@pytest.fixture(scope="module")
def sw(server):
    """Four secrets created in two seconds apart groups; the first one
    updated a second later still."""
    ws = server.create_workspace(uniq("lsts"))
    for n in ("c-one", "a-two"):
        server.create_secret(ws, name=n, value=secret_value())
    time.sleep(1.1)
    for n in ("b-three", "d-four"):
        server.create_secret(ws, name=n, value=secret_value())
    time.sleep(1.1)
    r = server.patch(f"/v2/workspaces/{ws}/secrets/c-one", json={"description": "touched"})
    assert r.status_code == 200, r.text
    return ws


def listed(server, ws, **params):
    return names_of(lst(server, ws, page_size=100, **params)["data"])


def test_default_sort_is_name_ascending(server, sw):
    assert listed(server, sw) == ["a-two", "b-three", "c-one", "d-four"]
    assert listed(server, sw, sort="name") == ["a-two", "b-three", "c-one", "d-four"]


def test_sort_name_descending(server, sw):
    assert listed(server, sw, sort="-name") == ["d-four", "c-one", "b-three", "a-two"]


def test_sort_created_at_both_ways(server, sw):
    asc = listed(server, sw, sort="created_at")
    assert set(asc[:2]) == {"c-one", "a-two"} and set(asc[2:]) == {"b-three", "d-four"}, asc
    desc = listed(server, sw, sort="-created_at")
    assert set(desc[:2]) == {"b-three", "d-four"} and set(desc[2:]) == {"c-one", "a-two"}, desc
    assert desc == asc[::-1], "descending is not the reverse of ascending"


def test_sort_updated_at_both_ways(server, sw):
    asc = listed(server, sw, sort="updated_at")
    assert asc[-1] == "c-one" and asc[0] == "a-two", asc
    desc = listed(server, sw, sort="-updated_at")
    assert desc[0] == "c-one" and desc[-1] == "a-two", desc
    assert desc == asc[::-1]


def test_sorted_timestamps_are_monotonic(server, sw):
    for field in ("created_at", "updated_at"):
        for sign, rev in (("", False), ("-", True)):
            data = lst(server, sw, sort=sign + field)["data"]
            stamps = [d[field] for d in data]
            assert stamps == sorted(stamps, reverse=rev), (field, sign, stamps)


# ---------------------------------------------------------------- page / page_size

@pytest.fixture(scope="module")
def pw(server):
    ws = server.create_workspace(uniq("lstp"))
    bulk_create(server, ws, [f"p-{i:02d}" for i in range(7)])
    return ws


@pytest.mark.parametrize("page_size", [1, 3, 7, 10])
def test_pages_cover_every_secret_once_with_a_correct_pagination_object(server, pw, page_size):
    total_pages = math.ceil(7 / page_size)
    seen = []
    for page in range(1, total_pages + 2):
        body = lst(server, pw, page=page, page_size=page_size)
        p = body["pagination"]
        expect = max(0, min(page_size, 7 - (page - 1) * page_size))
        assert p == {**p, "page": page, "page_size": page_size, "current_page_size": expect,
                     "total_pages": total_pages, "total_results": 7}, p
        assert len(body["data"]) == expect
        if page < total_pages:
            assert isinstance(p["next_page_token"], str), p
        else:
            assert p["next_page_token"] is None, p
        seen += names_of(body["data"])
    assert seen == [f"p-{i:02d}" for i in range(7)]


def test_default_page_is_1_and_page_size_100(server, pw):
    p = lst(server, pw)["pagination"]
    assert p["page"] == 1 and p["page_size"] == 100 and p["total_pages"] == 1
    assert p["next_page_token"] is None


def test_empty_workspace_has_zero_pages(server):
    ws = server.create_workspace(uniq("lste"))
    body = lst(server, ws)
    assert body["data"] == []
    p = body["pagination"]
    assert p["total_results"] == 0 and p["current_page_size"] == 0
    assert p["total_pages"] == 0 and p["next_page_token"] is None


def test_token_of_a_numbered_page_continues_after_it(server, pw):
    first = lst(server, pw, page=2, page_size=2)
    assert names_of(first["data"]) == ["p-02", "p-03"]
    nxt = lst(server, pw, page_size=2, page_token=first["pagination"]["next_page_token"])
    assert names_of(nxt["data"]) == ["p-04", "p-05"]


def test_page_token_replaces_page(server, pw):
    tok = lst(server, pw, page_size=2)["pagination"]["next_page_token"]
    a = lst(server, pw, page_size=2, page_token=tok)
    b = lst(server, pw, page_size=2, page_token=tok, page=3)
    assert names_of(a["data"]) == names_of(b["data"]) == ["p-02", "p-03"]


# ---------------------------------------------------------------- keyset

N_BIG = 300


@pytest.fixture(scope="module")
def kw(server):
    """300 secrets; every third one tagged 'third'."""
    ws = server.create_workspace(uniq("lstk"))
    all_names = [f"k-{i:04d}" for i in range(0, N_BIG * 10, 10)]
    bulk_create(server, ws, [n for i, n in enumerate(all_names) if i % 3])
    bulk_create(server, ws, [n for i, n in enumerate(all_names) if i % 3 == 0], tags=["third"])
    return SimpleNamespace(ws=ws, names=all_names,
                           thirds=[n for i, n in enumerate(all_names) if i % 3 == 0])


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at", "updated_at",
                                  "-updated_at"])
def test_keyset_walk_gives_every_secret_exactly_once(server, kw, sort):
    seen, pages = walk(server, kw.ws, page_size=25, sort=sort)
    assert len(seen) == len(set(seen)) == N_BIG, "duplicates or gaps"
    assert set(seen) == set(kw.names)
    assert pages == N_BIG // 25
    if sort == "name":
        assert seen == kw.names
    if sort == "-name":
        assert seen == kw.names[::-1]
    # The walk agrees with plain page-based listing in the same order.
    paged = names_of(lst(server, kw.ws, sort=sort, page_size=1000)["data"])
    assert seen == paged


def test_keyset_walk_with_a_filter(server, kw):
    seen, _ = walk(server, kw.ws, page_size=25, tag="third")
    assert seen == kw.thirds
    seen, _ = walk(server, kw.ws, page_size=7, search="K-00", sort="-name")
    assert seen == [n for n in kw.names if n.startswith("k-00")][::-1]


def test_keyset_walk_with_an_uneven_last_page(server, kw):
    seen, pages = walk(server, kw.ws, page_size=41)
    assert seen == kw.names and pages == math.ceil(N_BIG / 41)


def test_keyset_page_size_may_change_between_pages(server, kw):
    first = lst(server, kw.ws, page_size=10)
    tok = first["pagination"]["next_page_token"]
    second = lst(server, kw.ws, page_size=5, page_token=tok)
    assert names_of(first["data"]) + names_of(second["data"]) == kw.names[:15]


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-updated_at"])
def test_keyset_walk_across_inserts_before_and_after_the_position(server, sort):
    ws = server.create_workspace(uniq("lstc"))
    originals = [f"m-{i:04d}" for i in range(0, N_BIG * 10, 10)]
    bulk_create(server, ws, originals)
    inserted = []

    def insert(page_no, so_far):
        last = [n for n in so_far if n.startswith("m-")][-1]
        pos = int(last[2:6])
        # just behind and just ahead of the position, at both ends
        new = [f"m-{max(pos - 3, 0):04d}x{page_no}", f"m-{pos + 3:04d}y{page_no}",
               f"a-{page_no:03d}", f"z-{page_no:03d}"]
        bulk_create(server, ws, new)
        inserted.extend(new)

    seen, _ = walk(server, ws, page_size=25, between=insert, sort=sort)
    assert len(seen) == len(set(seen)), \
        f"duplicates: {sorted(n for n in set(seen) if seen.count(n) > 1)}"
    missing = set(originals) - set(seen)
    assert not missing, f"{len(missing)} original secrets skipped, e.g. {sorted(missing)[:5]}"
    assert inserted, "nothing was inserted during the walk"
    if sort in ("name", "-name"):
        assert seen == sorted(seen, reverse=sort.startswith("-")), "walk not in order"


def test_keyset_walk_while_another_client_inserts(server):
    ws = server.create_workspace(uniq("lstt"))
    originals = [f"t-{i:04d}" for i in range(0, N_BIG * 10, 10)]
    bulk_create(server, ws, originals)
    stop = threading.Event()
    errors, made = [], []

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            n = f"t-{(i * 37) % (N_BIG * 10):04d}w{i}"
            r = server.post(f"/v2/workspaces/{ws}/secrets",
                            json={"name": n, "value": secret_value("w")})
            if r.status_code != 201:
                errors.append(r.text)
                return
            made.append(n)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen, _ = walk(server, ws, page_size=10)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors[:3]
    assert len(seen) == len(set(seen)), "duplicates"
    assert set(originals) <= set(seen), "original secrets skipped"
    assert seen == sorted(seen)
    assert made, "the writer made nothing during the walk"


# ---------------------------------------------------------------- bad tokens

@pytest.fixture(scope="module")
def tok(server, kw):
    body = lst(server, kw.ws, page_size=10, sort="name", tag="third")
    t = body["pagination"]["next_page_token"]
    assert isinstance(t, str) and t
    return t


@pytest.mark.parametrize("params", [
    {"sort": "-name", "tag": "third"},
    {"sort": "created_at", "tag": "third"},
    {"sort": "name"},                                 # the filter dropped
    {"sort": "name", "tag": "other"},
    {"sort": "name", "tag": "third", "search": "k"},
    {"sort": "name", "tag": "third", "type": "opaque"},
    {"sort": "name", "tag": "third", "use_case": "generic"},
    {"sort": "name", "tag": "third", "created_by": "admin"},
    {"sort": "name", "tag": "third", "visibility": "private"},
    {"sort": "name", "tag": "third", "project": "p1"},
    {"sort": "name", "tag": "third", "cluster": "c1"},
    {"sort": "name", "tag": "third", "include_expired": "true"},
], ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_token_with_other_filters_or_sort_is_400(server, kw, tok, params):
    r = server.get(f"/v2/workspaces/{kw.ws}/secrets", params={**params, "page_token": tok})
    assert_error(r, 400, "invalid_request", names="page_token")


def test_token_with_its_own_filters_works(server, kw, tok):
    body = lst(server, kw.ws, page_size=10, sort="name", tag="third", page_token=tok)
    assert names_of(body["data"]) == kw.thirds[10:20]


def test_token_of_another_workspace_is_400(server, kw, tok):
    other = server.create_workspace(uniq("lsto"))
    r = server.get(f"/v2/workspaces/{other}/secrets",
                   params={"sort": "name", "tag": "third", "page_token": tok})
    assert_error(r, 400, "invalid_request", names="page_token")


def garbage_tokens(tok):
    return {
        "word": "garbage",
        "number": "12345",
        "prefix-only": tok.split(".")[0] + "." if "." in tok else tok[:3],
        "truncated": tok[: len(tok) // 2],
        "not-base64": tok[:4] + "!!!$$$***",
        "doubled": tok + tok,
        "long": "x" * 5000,
    }


@pytest.mark.parametrize("kind", ["word", "number", "prefix-only", "truncated", "not-base64",
                                  "doubled", "long"])
def test_garbage_token_is_400(server, kw, tok, kind):
    bad = garbage_tokens(tok)[kind]
    r = server.get(f"/v2/workspaces/{kw.ws}/secrets",
                   params={"sort": "name", "tag": "third", "page_token": bad})
    assert_error(r, 400, "invalid_request", names="page_token")

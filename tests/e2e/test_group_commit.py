"""
Group commit (docs/architecture.md, src/server/writer.c), end to end: many
writing requests at once share transactions, and each still succeeds or
fails on its own.

- 48 concurrent creates of distinct secrets, mixed with creates of one
  name that already exists and /resolve calls: every distinct create is
  201 and listed afterwards with its value, every duplicate 409, every
  resolve 200 with the right value;
- the audit chain verifies afterwards, with one success record per create
  and one failure record per duplicate;
- a stopped server keeps every acknowledged write (restart and read back).
"""
from concurrent.futures import ThreadPoolExecutor

from conftest import list_all, names_of, secret_value, uniq
from test_audit import all_records

CREATES = 48
DUPLICATES = 8
RESOLVES = 16


def _create(server, ws, name, value):
    return server.post(f"/v2/workspaces/{ws}/secrets",
                       json={"name": name, "value": value, "visibility": "public"})


def test_concurrent_writes_each_succeed_or_fail_alone(server):
    ws = server.create_workspace()
    svc = server.create_principal(kind="service")
    server.set_member(ws, svc, "service")
    svc_token = server.mint(svc)
    existing, existing_value = uniq("dup"), secret_value()
    assert _create(server, ws, existing, existing_value).status_code == 201
    names = [uniq("gc") for _ in range(CREATES)]
    values = {n: secret_value() for n in names}

    def resolve():
        return server.post(f"/v2/workspaces/{ws}/resolve", token=svc_token,
                           json={"env": [{"envvar_name": "V", "secret_name": existing}]})

    with ThreadPoolExecutor(max_workers=24) as pool:
        creates = [pool.submit(_create, server, ws, n, values[n]) for n in names]
        dups = [pool.submit(_create, server, ws, existing, secret_value()) for _ in range(DUPLICATES)]
        resolves = [pool.submit(resolve) for _ in range(RESOLVES)]
        created = [f.result() for f in creates]
        duplicated = [f.result() for f in dups]
        resolved = [f.result() for f in resolves]

    assert [r.status_code for r in created] == [201] * CREATES, [r.text for r in created if r.status_code != 201]
    assert [r.status_code for r in duplicated] == [409] * DUPLICATES
    for r in resolved:
        assert r.status_code == 200, r.text
        assert r.json()["env"][0]["value"] == existing_value
    assert set(names_of(list_all(server, ws))) == set(names) | {existing}
    for n in names[::8]:
        assert server.access(ws, n)["value"] == values[n]

    r = server.get("/v2/audit/verify")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    records = all_records(server, workspace=ws)
    creates_ok = [x for x in records if x["action"] == "secret.create" and x["outcome"] == "success"]
    creates_failed = [x for x in records if x["action"] == "secret.create" and x["outcome"] != "success"]
    assert len(creates_ok) == CREATES + 1
    assert len(creates_failed) == DUPLICATES


def test_acknowledged_writes_survive_a_restart(fresh_server):
    s = fresh_server
    names = [uniq("keep") for _ in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda n: _create(s, "default", n, secret_value()), names))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    s.restart()
    assert set(names) <= set(names_of(list_all(s, "default")))

#!/usr/bin/env python3
"""bench/lib/setup.py - data sets and sanity checks for bench/run (issue 7).

  setup.py tresor URL ADMIN_TOKEN_FILE N OUTDIR
      makes the user bench-editor (editor of `default`) and the service account
      bench-svc (service binding in `default`), mints a token for each
      (OUTDIR/editor.token, OUTDIR/service.token, mode 0600), creates N public
      opaque secrets s00000.. through the batch endpoint (1000 per request, atomic),
      then checks that every request the load will make answers as expected.
  setup.py etcd URL N
      puts N keys k/00000.. (300-byte values) in transactions of 128 and checks
      the range and put calls of the load.

Only the standard library; only loopback URLs.
"""
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"setup.py: refusing a non-loopback URL: {url}")
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)

    def call(self, method, path, body=None, token=None):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return resp.status, doc


def expect(what, got, want, doc):
    if got != want:
        sys.exit(f"setup.py: {what}: HTTP {got}, expected {want}: {str(doc)[:300]}")


def write_secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def tresor(url, admin_token_file, n, outdir):
    c = Client(url)
    with open(admin_token_file) as f:
        admin = f.read().strip()
    ws = "/v2/workspaces/default"

    st, doc = c.call("POST", "/v2/principals", {"name": "bench-editor", "kind": "user"}, admin)
    expect("create principal bench-editor", st, 201, doc)
    st, doc = c.call("POST", "/v2/principals", {"name": "bench-svc", "kind": "service"}, admin)
    expect("create principal bench-svc", st, 201, doc)
    st, doc = c.call("PUT", ws + "/members/bench-editor", {"role": "editor"}, admin)
    expect("bind bench-editor", st, 200, doc)
    st, doc = c.call("PUT", ws + "/members/bench-svc", {"role": "service"}, admin)
    expect("bind bench-svc", st, 200, doc)
    tokens = {}
    for who, file in (("bench-editor", "editor.token"), ("bench-svc", "service.token")):
        st, doc = c.call("POST", "/v2/tokens", {"principal": who, "expires_in": 86400,
                                                 "description": "bench/run"}, admin)
        expect("mint a token for " + who, st, 201, doc)
        tokens[who] = doc["token"]
        write_secret_file(os.path.join(outdir, file), doc["token"])

    t0 = time.monotonic()
    for start in range(0, n, 1000):
        items = [{"name": "s%05d" % i, "action": "create", "type": "opaque", "visibility": "public",
                  "description": "bench data set", "tags": ["bench"],
                  "data": {"value": "hf_%040d" % i}}
                 for i in range(start, min(n, start + 1000))]
        # atomic: one transaction (one fsync) per batch instead of one per item
        st, doc = c.call("POST", ws + "/secrets:batch", {"secrets_payload": items, "atomic": True}, admin)
        expect(f"batch create s{start:05d}..", st, 200, doc)
    load_s = time.monotonic() - t0

    ed, svc = tokens["bench-editor"], tokens["bench-svc"]
    st, doc = c.call("GET", ws + "/secrets/s%05d" % (n - 1), token=ed)
    expect("GET metadata", st, 200, doc)
    st, doc = c.call("GET", ws + "/secrets?page_size=100", token=ed)
    expect("list a page", st, 200, doc)
    if len(doc["data"]) != min(100, n) or doc["pagination"]["total_results"] != n:
        sys.exit(f"setup.py: list: {len(doc['data'])} items, total {doc['pagination']['total_results']}")
    env = [{"envvar_name": "E%d" % j, "secret_name": "s%05d" % j} for j in range(10)]
    st, doc = c.call("POST", ws + "/resolve", {"env": env}, svc)
    expect("resolve 10", st, 200, doc)
    if [e["value"] for e in doc["env"]] != ["hf_%040d" % j for j in range(10)]:
        sys.exit("setup.py: resolve returned other values than were stored")
    st, doc = c.call("POST", ws + "/secrets", {"name": "c-sanity", "type": "opaque", "value": "x"}, ed)
    expect("create", st, 201, doc)
    print(json.dumps({"secrets": n, "load_seconds": round(load_s, 2),
                      "load_per_second": round(n / load_s, 1) if load_s else None}))


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd(url, n):
    c = Client(url)
    value = b64("v" * 300)
    t0 = time.monotonic()
    for start in range(0, n, 128):
        ops = [{"requestPut": {"key": b64("k/%05d" % i), "value": value}}
               for i in range(start, min(n, start + 128))]
        st, doc = c.call("POST", "/v3/kv/txn", {"success": ops})
        expect("etcd txn", st, 200, doc)
    load_s = time.monotonic() - t0
    st, doc = c.call("POST", "/v3/kv/range", {"key": b64("k/%05d" % (n - 1))})
    expect("etcd range", st, 200, doc)
    if int(doc.get("count", 0)) != 1:
        sys.exit(f"setup.py: etcd range found {doc.get('count')} keys")
    st, doc = c.call("POST", "/v3/kv/range", {"key": b64("k/"), "range_end": b64("k0"), "limit": 100})
    expect("etcd range 100", st, 200, doc)
    if len(doc.get("kvs", [])) != min(100, n):
        sys.exit(f"setup.py: etcd range 100 returned {len(doc.get('kvs', []))} keys")
    st, doc = c.call("POST", "/v3/kv/put", {"key": b64("p/sanity"), "value": value})
    expect("etcd put", st, 200, doc)
    print(json.dumps({"keys": n, "load_seconds": round(load_s, 2)}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "tresor":
        tresor(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "etcd":
        etcd(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)

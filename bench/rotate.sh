#!/usr/bin/env bash
# bench/rotate.sh - how long key rotation takes (not a test).
#
#   bench/rotate.sh [N] [TARGET...]
#
# Starts a tresor server in a temp dir with a secret_key provider local_v1,
# creates N secrets (default 100000) through the batch API (atomic batches of
# 1000), then for each TARGET (default: secret_key) restarts with that
# provider current and times POST /v2/secrets/rotate-encryption-keys, then
# times a re-encryption ({"reencrypt": true}) of everything. Targets:
#   secret_key  a second secret_key provider (local_v2)
#   exec        the reference KMS plugin (tools/kms-plugin): one round trip
#               over its stdin/stdout per data key
#   passphrase  an Argon2id-derived key (ops 1, 64 MiB: derived once at start)
# Each target rotates away from the previous one.
#
# Environment: BUILD (default build; the tresor binary and the plugin come
# from there), PORT (default 18299), KEEP=1 keeps the temp dir.
# Needs python3 (standard library only) and openssl.
set -euo pipefail

N=${1:-100000}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(secret_key)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BIN=$BUILD/tresor
PLUGIN=$BUILD/tools/kms-plugin/tresor-kms-plugin
PORT=${PORT:-18299}
DIR=$(mktemp -d /tmp/tresor-bench-rotate.XXXXXX)
DATA=$DIR/data
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && echo "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT

key() { openssl rand -base64 32; }

export BENCH_KEY_V1=$(key) BENCH_KEY_V2=$(key) BENCH_PASSPHRASE="bench passphrase $(key)"
key > "$DIR/kms.key"
chmod 600 "$DIR/kms.key"

# config CURRENT: every provider so far, CURRENT wrapping new writes.
providers="      secret_key:
        local_v1: { from_env: BENCH_KEY_V1 }"
config() {
	printf 'secrets:\n  encryption:\n    current_provider: %s\n    providers:\n%s\n' "$1" "$providers" \
		> "$DIR/tresor.yaml"
}
add_provider() {
	case $1 in
	secret_key) providers="$providers
        local_v2: { from_env: BENCH_KEY_V2 }" ;;
	exec) providers="$providers
      exec:
        hsm: { command: [$PLUGIN, --key-file, $DIR/kms.key], timeout_ms: 10000 }" ;;
	passphrase) providers="$providers
      passphrase:
        pw: { from_env: BENCH_PASSPHRASE, ops_limit: 1, mem_limit_mib: 64 }" ;;
	*) echo "unknown target $1" >&2; exit 2 ;;
	esac
}
provider_id() {
	case $1 in secret_key) echo local_v2 ;; exec) echo hsm ;; passphrase) echo pw ;; esac
}

start() {
	"$BIN" server --listen 127.0.0.1:$PORT --data-dir "$DATA" --config "$DIR/tresor.yaml" --log-level warn \
		>> "$DIR/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "server did not start:" >&2
	tail -5 "$DIR/server.log" >&2
	exit 1
}
stop() {
	kill "$PID"
	wait "$PID" || true
	PID=
}

# python3 helpers: create N secrets; POST a rotation and print its answer and time.
client() {
	python3 - "$PORT" "$DATA/admin.token" "$@" <<'EOF'
import json, sys, time, urllib.request
port, token_file, what = sys.argv[1], sys.argv[2], sys.argv[3]
token = open(token_file).read().strip()
def call(method, path, body=None, timeout=86400):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())
if what == "create":
    n, t = int(sys.argv[4]), time.monotonic()
    for b in range(0, n, 1000):
        items = [{"name": f"bench-{i:07d}", "action": "create", "type": "opaque",
                  "data": {"value": f"bench-value-{i:07d}-0123456789abcdef"}} for i in range(b, min(n, b + 1000))]
        call("POST", "/v2/workspaces/default/secrets:batch", {"secrets_payload": items, "atomic": True})
    dt = time.monotonic() - t
    print(f"created {n} secrets in {dt:.1f} s ({n / dt:.0f}/s)")
else:
    body = {"reencrypt": True} if what == "reencrypt" else None
    t = time.monotonic()
    res = call("POST", "/v2/secrets/rotate-encryption-keys", body)
    dt = time.monotonic() - t
    n = res["rotated_secrets"]
    print(f"{what:9s} {n:8d} versions in {dt:7.2f} s ({n / dt if dt else 0:8.0f}/s)  failed={res['failed']} "
          f"success={res['success']}")
    p = call("GET", "/v2/secrets/rotate-encryption-keys")
    print(f"          progress: remaining={p['remaining']} providers={p['providers']}")
EOF
}

echo "tresor key rotation benchmark: N=$N, targets: ${TARGETS[*]} ($(nproc) CPUs, $(uname -r))"
config local_v1
start
client create "$N"
stop
for target in "${TARGETS[@]}"; do
	add_provider "$target"
	config "$(provider_id "$target")"
	start
	echo "-- to $target ($(provider_id "$target")):"
	client rotate
	client reencrypt
	stop
done
du -sh "$DATA/tresor.db" | sed 's/^/database: /'

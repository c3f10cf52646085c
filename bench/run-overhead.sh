#!/usr/bin/env bash
# bench/run-overhead.sh - what `tresor run` adds to starting a command
# (issue 5; target: under 5 ms median with 10 secrets).
#
# Starts a tresor server on a free loopback port in a temporary directory,
# stores 10 secrets, mints a service token, and has hyperfine (Debian's;
# installed when missing) time, with no shell in between:
#
#   direct     true
#   run        tresor run -s V1=s1 ... -s V10=s10 -- true      (masking on)
#   no-mask    tresor run --no-mask -s V1=s1 ... -- true
#   startup    tresor --version                                 (loading the binary)
#
# and prints each median and the overhead (median of run less median of
# direct), split into the start-up of the tresor binary itself (the dynamic
# loader mapping libc and libm, the only shared libraries left; ~40 while the CLI used libcurl,
# docs/architecture.md) and what `run` adds beyond it (the /resolve round
# trip, fork, exec, relaying).
# Every run of tresor makes one /resolve request, which the server
# answers after writing 10 audit records (SQLite, synchronous=FULL): the
# number includes that fsync. DATA_DIR puts the server's data elsewhere (the
# default is a directory under $TMPDIR or /tmp).
#
#   bench/run-overhead.sh                 # 300 runs each
#   RUNS=1000 bench/run-overhead.sh
#   TRESOR_BIN=build-asan/tresor bench/run-overhead.sh
#
# A benchmark, not a test: it asserts nothing, and it stops the server it
# started (by its process id) and removes its directory when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-300}
WARMUP=${WARMUP:-30}
NSECRETS=10
TRESOR_BIN=$(realpath "${TRESOR_BIN:-build/tresor}")

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	echo "run-overhead: installing ${missing[*]} (Debian)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
if [ "$TRESOR_BIN" = "$(realpath build/tresor)" ]; then
	ninja -C build >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-overhead.XXXXXX")
DATA_DIR=${DATA_DIR:-$WORK/data}
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# A copy of its own, so that a rebuild meanwhile cannot pull it away.
cp "$TRESOR_BIN" "$WORK/tresor"
TRESOR_BIN=$WORK/tresor

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TRESOR_BIN" server --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --log-level warn >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
export TRESOR_ADDR="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
	curl -fsS "$TRESOR_ADDR/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "$TRESOR_ADDR/healthz" >/dev/null

# Set up as the platform admin: 10 secrets, a service account and its token.
ADMIN_TOKEN=$(cat "$DATA_DIR/admin.token")
tresor_admin() { TRESOR_TOKEN=$ADMIN_TOKEN "$TRESOR_BIN" "$@"; }
MAPPINGS=()
for i in $(seq "$NSECRETS"); do
	head -c 24 /dev/urandom | base64 | tresor_admin secrets create "s$i" --visibility public --value - >/dev/null
	MAPPINGS+=(-s "V$i=s$i")
done
tresor_admin principals create bench-svc --kind service >/dev/null
tresor_admin members set default bench-svc --role service >/dev/null
TRESOR_TOKEN=$(tresor_admin tokens create --principal bench-svc -o json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
export TRESOR_TOKEN

# The command must work before it is timed.
"$TRESOR_BIN" run "${MAPPINGS[@]}" -- true

TRUE=$(type -P true)
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --style basic --export-json "$WORK/times.json" \
	-n direct "$TRUE" \
	-n run "$TRESOR_BIN run ${MAPPINGS[*]} -- $TRUE" \
	-n no-mask "$TRESOR_BIN run --no-mask ${MAPPINGS[*]} -- $TRUE" \
	-n startup "$TRESOR_BIN --version"

python3 - "$WORK/times.json" "$NSECRETS" <<'EOF'
import json, statistics, sys

results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
median = {name: statistics.median(r["times"]) * 1000 for name, r in results.items()}
print()
print(f"median with {sys.argv[2]} secrets:")
for name in ("direct", "run", "no-mask", "startup"):
    print(f"  {name:8} {median[name]:7.2f} ms")
print(f"overhead of tresor run: {median['run'] - median['direct']:.2f} ms "
      f"(--no-mask: {median['no-mask'] - median['direct']:.2f} ms)")
# run = start-up of tresor + its work + the command; direct = the command.
work = median["run"] - median["direct"] - median["startup"]
print(f"  of which starting the tresor binary (tresor --version): {median['startup']:.2f} ms")
print(f"  of which run itself (resolve round trip, spawn, relay): {work:.2f} ms")
EOF

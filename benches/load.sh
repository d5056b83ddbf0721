#!/usr/bin/env bash
# Load test against the real registry: signgate's throughput and memory as
# ratios against Debian's docker-registry, measured in the same run.
#
#   benches/load.sh [seconds-per-run]      (default 5)
#
# Layout on a 2-core machine: docker-registry pinned to core 0; signgate
# (release build) pinned to core 1; the load generator (wrk) on the core
# the measured server does not use where it can, else beside signgate
# (which only makes signgate's figures pessimistic). Every loop is bounded;
# all traffic stays on 127.0.0.1.
#
# Prints one line per figure and a final summary block.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNECTIONS=32

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for tool in wrk docker-registry curl taskset; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=("${missing[@]/taskset/util-linux}")
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# SIGNGATE=path measures another build (e.g. the previous commit's, to
# compare in one session); by default this tree's release build.
if [ -z "${SIGNGATE:-}" ]; then
  cargo build --release --quiet
  SIGNGATE="$PWD/target/release/signgate"
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
rss_kib() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }

REG_PORT=$(free_port)
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$REG_PORT}
YAML
taskset -c 0 docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_port "$REG_PORT"
REG="http://127.0.0.1:$REG_PORT"

# Seed: a small image and a 64 MiB blob, through the registry's own API.
push_blob() { # file → digest
  local digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  local location
  location=$(curl -sf -X POST -D - -o /dev/null "$REG/v2/bench/app/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case "$location" in http*) ;; *) location="$REG$location" ;; esac
  local sep='?'; case "$location" in *\?*) sep='&' ;; esac
  curl -sf -X PUT -H 'content-type: application/octet-stream' --data-binary "@$1" "${location}${sep}digest=$digest" >/dev/null
  echo "$digest"
}
printf '{}' > "$work/config.json"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/big.bin"
CONFIG_DIGEST=$(push_blob "$work/config.json")
BIG_DIGEST=$(push_blob "$work/big.bin")
cat > "$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$CONFIG_DIGEST","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$BIG_DIGEST","size":$((64 * 1024 * 1024))}]}
JSON
MT=application/vnd.oci.image.manifest.v1+json
curl -sf -X PUT -H "content-type: $MT" --data-binary "@$work/manifest.json" "$REG/v2/bench/app/manifests/v1" >/dev/null
MANIFEST_DIGEST="sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"

SG_PORT=$(free_port)
cat > "$work/signgate.yaml" <<YAML
listen: 127.0.0.1:$SG_PORT
admin: 127.0.0.1:0
no-match-policy: allow   # the proxy path; enforcement cost is in benches/hot_path.rs
upstreams:
  - {name: bench.test, url: "$REG", insecure: true, default: true}
YAML
RUST_LOG=warn taskset -c 1 "$SIGNGATE" serve --config "$work/signgate.yaml" >"$work/signgate.log" 2>&1 &
SG_PID=$!
pids+=($SG_PID)
wait_port "$SG_PORT"
SG="http://127.0.0.1:$SG_PORT"
sleep 0.5
IDLE_RSS=$(rss_kib "$SG_PID" VmRSS)
echo "signgate idle RSS: ${IDLE_RSS} KiB"

rps() { # core url → requests/s
  taskset -c "$1" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Accept: $MT" "$2" | awk '/Requests\/sec/ {print $2}'
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

curl -sf -H "Accept: $MT" "$SG/v2/bench/app/manifests/$MANIFEST_DIGEST" -o /dev/null  # warm the cache
REG_DIGEST=$(rps 1 "$REG/v2/bench/app/manifests/$MANIFEST_DIGEST")
SG_DIGEST=$(rps 0 "$SG/v2/bench/app/manifests/$MANIFEST_DIGEST")
echo "manifest by digest: registry ${REG_DIGEST} req/s, signgate (cached) ${SG_DIGEST} req/s, ratio $(ratio "$SG_DIGEST" "$REG_DIGEST") (goal ≥ 20)"

REG_TAG=$(rps 1 "$REG/v2/bench/app/manifests/v1")
SG_TAG=$(rps 1 "$SG/v2/bench/app/manifests/v1")
echo "manifest by tag: registry ${REG_TAG} req/s, signgate (HEAD upstream each time) ${SG_TAG} req/s, ratio $(ratio "$SG_TAG" "$REG_TAG") (goal ≥ 0.9)"

stream() { # url → seconds for 5 downloads
  local start end
  start=$(date +%s.%N)
  for _ in 1 2 3 4 5; do curl -sf "$1" -o /dev/null; done
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
BEFORE=$(rss_kib "$SG_PID" VmHWM)
T_REG=$(stream "$REG/v2/bench/app/blobs/$BIG_DIGEST")
T_SG=$(stream "$SG/v2/bench/app/blobs/$BIG_DIGEST")
AFTER=$(rss_kib "$SG_PID" VmHWM)
echo "64 MiB blob x5: direct ${T_REG}s, via signgate ${T_SG}s, throughput ratio $(ratio "$T_REG" "$T_SG") (goal ≥ 0.95)"
echo "signgate peak RSS: ${BEFORE} KiB before streaming, ${AFTER} KiB after (goal < 32768)"

#!/usr/bin/env bash
# Edge footprint of the release binary, measured on this machine:
#   - binary size (release profile: thin LTO, stripped)
#   - idle RSS after start
#   - peak RSS while a 64 MiB blob streams through (kept in the store too)
#   - RSS with 10,000 cached decisions (10,000 distinct manifests by digest)
#
#   benches/footprint.sh
#
# A real docker-registry serves the blob; a small Python upstream (named as
# such: a fake) serves 10,000 generated manifests. All traffic is on
# 127.0.0.1; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker-registry >/dev/null || { echo "needs docker-registry (apt-get install docker-registry)" >&2; exit 1; }
cargo build --release --quiet
SIGNGATE="$PWD/target/release/signgate"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
status_kib() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }

echo "binary: $(stat -c %s "$SIGNGATE") bytes ($(( $(stat -c %s "$SIGNGATE") / 1024 / 1024 )) MiB), release profile, stripped"

REG_PORT=$(free_port)
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$REG_PORT}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_port "$REG_PORT"
REG="http://127.0.0.1:$REG_PORT"
push_blob() {
  local digest="sha256:$(sha256sum "$1" | cut -d' ' -f1)" location
  location=$(curl -sf -X POST -D - -o /dev/null "$REG/v2/edge/app/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  case "$location" in http*) ;; *) location="$REG$location" ;; esac
  local sep='?'; case "$location" in *\?*) sep='&' ;; esac
  curl -sf -X PUT -H 'content-type: application/octet-stream' --data-binary "@$1" "${location}${sep}digest=$digest" >/dev/null
  echo "$digest"
}
printf '{}' > "$work/config.json"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/big.bin"
CONFIG=$(push_blob "$work/config.json"); BIG=$(push_blob "$work/big.bin")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' "$CONFIG" "$BIG" $((64*1024*1024)) > "$work/manifest.json"
curl -sf -X PUT -H "content-type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$work/manifest.json" "$REG/v2/edge/app/manifests/v1" >/dev/null

# The fake upstream: 10,000 distinct manifests, by digest.
FAKE_PORT=$(free_port)
cat > "$work/fake.py" <<'PY'
import hashlib, http.server, json, sys
manifests = {}
for i in range(10000):
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [], "annotations": {"n": str(i)}}).encode()
    manifests["sha256:" + hashlib.sha256(body).hexdigest()] = body
open(sys.argv[2], "w").write("\n".join(manifests))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = manifests.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("content-type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/fake.py" "$FAKE_PORT" "$work/digests.txt" &
pids+=($!)
wait_port "$FAKE_PORT"

SG_PORT=$(free_port)
cat > "$work/signgate.yaml" <<YAML
listen: 127.0.0.1:$SG_PORT
admin: 127.0.0.1:0
no-match-policy: allow
store: {path: $work/store}
upstreams:
  - {name: edge.test, url: "$REG", insecure: true, default: true}
  - {name: many.test, url: "http://127.0.0.1:$FAKE_PORT", insecure: true, store: false}
YAML
RUST_LOG=warn "$SIGNGATE" serve --config "$work/signgate.yaml" >"$work/signgate.log" 2>&1 &
SG=$!; pids+=($SG)
wait_port "$SG_PORT"
sleep 1
echo "idle RSS: $(status_kib $SG VmRSS) KiB"
curl -sf -o /dev/null -H "accept: application/vnd.oci.image.manifest.v1+json" "http://127.0.0.1:$SG_PORT/v2/edge/app/manifests/v1" || { cat "$work/signgate.log"; exit 1; }
curl -sf -o /dev/null "http://127.0.0.1:$SG_PORT/v2/edge/app/blobs/$BIG"
for _ in $(seq 100); do [ -f "$work/store/blobs/sha256/${BIG#sha256:}" ] && break; sleep 0.1; done
echo "peak RSS after streaming 64 MiB (and keeping it in the store): $(status_kib $SG VmHWM) KiB"
python3 - "$SG_PORT" "$work/digests.txt" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
ok = 0
for d in open(sys.argv[2]).read().split():
    c.request("GET", f"/v2/many.test/app/manifests/{d}", headers={"accept": "application/vnd.oci.image.manifest.v1+json"})
    r = c.getresponse(); r.read(); ok += r.status == 200
print(f"decisions made: {ok}")
PY
echo "RSS with 10,000 cached decisions (and their manifests in the manifest cache): $(status_kib $SG VmRSS) KiB (peak $(status_kib $SG VmHWM) KiB)"

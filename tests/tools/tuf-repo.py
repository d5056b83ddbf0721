#!/usr/bin/env python3
"""A real TUF repository for signgate's tests, made with python-tuf's
Metadata API (consistent snapshots: sigstore's mirror layout).

  tuf-repo.py init   DIR TRUSTED_ROOT.json   keys in DIR/keys, served files in DIR/repo
  tuf-repo.py update DIR TRUSTED_ROOT.json   publish a new trusted_root.json target
  tuf-repo.py expire DIR                     re-sign the timestamp already expired
  tuf-repo.py expire-in DIR SECONDS          re-sign the timestamp to expire in SECONDS
  tuf-repo.py check  DIR                     python-tuf's own client over the files

One ed25519 key per role; every version bump re-signs what it must.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Key,
    Metadata,
    MetaFile,
    Role,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

ROLES = ["root", "targets", "snapshot", "timestamp"]
TARGET = "trusted_root.json"


def future(days=30):
    # TUF_REPO_DAYS: a long-lived repository (the checked-in fixture).
    days = int(os.environ.get("TUF_REPO_DAYS", days))
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=days)


def signer(d, role):
    path = os.path.join(d, "keys", role + ".pem")
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return CryptoSigner(key)


def write(d, md, name):
    md.to_file(os.path.join(d, "repo", name), JSONSerializer(compact=False))


def load(d, name):
    return Metadata.from_file(os.path.join(d, "repo", name))


def latest(d, role):
    versions = [
        int(f.split(".")[0])
        for f in os.listdir(os.path.join(d, "repo"))
        if f.endswith("." + role + ".json") and f.split(".")[0].isdigit()
    ]
    return max(versions)


def add_target(d, targets, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "repo", "targets"), exist_ok=True)
    with open(os.path.join(d, "repo", "targets", digest + "." + TARGET), "wb") as f:
        f.write(data)
    targets.signed.targets[TARGET] = TargetFile.from_data(TARGET, data, ["sha256"])


def publish(d, targets, ts_expires=None):
    """Sign targets, then a new snapshot and timestamp pinning it."""
    targets.signatures.clear()
    targets.sign(signer(d, "targets"))
    write(d, targets, f"{targets.signed.version}.targets.json")
    try:
        snapshot = load(d, f"{latest(d, 'snapshot')}.snapshot.json")
        snapshot.signed.version += 1
    except ValueError:
        snapshot = Metadata(Snapshot(expires=future()))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    snapshot.signed.expires = future()
    snapshot.signatures.clear()
    snapshot.sign(signer(d, "snapshot"))
    write(d, snapshot, f"{snapshot.signed.version}.snapshot.json")
    if os.path.exists(os.path.join(d, "repo", "timestamp.json")):
        timestamp = load(d, "timestamp.json")
        timestamp.signed.version += 1
    else:
        timestamp = Metadata(Timestamp(expires=future()))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    timestamp.signed.expires = ts_expires or future()
    timestamp.signatures.clear()
    timestamp.sign(signer(d, "timestamp"))
    write(d, timestamp, "timestamp.json")


def init(d, trusted_root):
    os.makedirs(os.path.join(d, "keys"))
    os.makedirs(os.path.join(d, "repo"))
    root = Root(expires=future(365), consistent_snapshot=True)
    for role in ROLES:
        s = CryptoSigner.generate_ed25519()
        with open(os.path.join(d, "keys", role + ".pem"), "wb") as f:
            f.write(s.private_bytes)
        root.add_key(s.public_key, role)
    md = Metadata(root)
    md.sign(signer(d, "root"))
    write(d, md, "1.root.json")
    shutil.copy(os.path.join(d, "repo", "1.root.json"), os.path.join(d, "root.json"))
    targets = Metadata(Targets(expires=future()))
    with open(trusted_root, "rb") as f:
        add_target(d, targets, f.read())
    publish(d, targets)


def update(d, trusted_root):
    targets = load(d, f"{latest(d, 'targets')}.targets.json")
    targets.signed.version += 1
    targets.signed.expires = future()
    with open(trusted_root, "rb") as f:
        add_target(d, targets, f.read())
    publish(d, targets)


def expire(d):
    targets = load(d, f"{latest(d, 'targets')}.targets.json")
    publish(d, targets, ts_expires=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1))


def expire_in(d, seconds):
    targets = load(d, f"{latest(d, 'targets')}.targets.json")
    publish(d, targets, ts_expires=datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=int(seconds)))


def check(d):
    from tuf.ngclient import Updater
    import http.server, threading, functools
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.path.join(d, "repo"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as cache, open(os.path.join(d, "root.json"), "rb") as f:
        u = Updater(cache, url, os.path.join(cache, "t"), url + "/targets", bootstrap=f.read())
        u.refresh()
        info = u.get_targetinfo(TARGET)
        os.makedirs(os.path.join(cache, "t"))
        path = u.download_target(info)
        print("ok", info.length, path)
    server.shutdown()


if __name__ == "__main__":
    cmd, d, *rest = sys.argv[1:]
    {"init": init, "update": update, "expire": expire, "expire-in": expire_in, "check": check}[cmd](d, *rest)

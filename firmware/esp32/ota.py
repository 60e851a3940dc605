# OTA: a manifest {"version", "url", "sha256"} names a newer firmware bundle; the bundle is
# downloaded, its SHA-256 checked, and only then are its files written and the board reset.
# A bundle is JSON: {"files": {"app.py": "<source>", ...}}.
import binascii
import hashlib
import json
import os

import httpc


def version_tuple(v):
    return tuple(int(p) for p in str(v).split(".") if p.isdigit())


def current_version(path="version.json"):
    try:
        with open(path) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return "0.0.0"


def check(manifest, wdt, timeout=10):
    """Apply ``manifest`` if it is newer and its hash matches: returns (outcome, detail)."""
    try:
        version, url, want = manifest["version"], manifest["url"], manifest["sha256"].lower()
    except (KeyError, TypeError, AttributeError):
        return "invalid", "manifest needs version, url and sha256"
    have = current_version()
    if version_tuple(version) <= version_tuple(have):
        return "current", have
    digest = hashlib.sha256()
    parts = []

    def sink(chunk):
        digest.update(chunk)
        parts.append(chunk)
        wdt.feed()

    try:
        status, _ = httpc.request("GET", url, timeout=timeout, sink=sink)
    except OSError as exc:
        return "error", "download failed: %s" % exc
    if status != 200:
        return "error", "download answered %d" % status
    got = binascii.hexlify(digest.digest()).decode()
    if got != want:
        return "refused", "sha256 %s does not match the manifest's %s" % (got, want)
    try:
        files = json.loads(b"".join(parts))["files"]
    except (ValueError, KeyError):
        return "refused", "bundle is not a JSON object with files"
    for name, text in files.items():
        if "/" in name or name.startswith("."):
            return "refused", "bundle names a file outside the firmware: %s" % name
    for name, text in files.items():
        with open(name + ".new", "w") as f:
            f.write(text)
    for name in files:
        os.rename(name + ".new", name)
    with open("version.json", "w") as f:
        json.dump({"version": version}, f)
    return "applied", version

#!/usr/bin/env python3
"""Builds the mana-auth container image without Docker: an OCI image layout
(https://github.com/opencontainers/image-spec) from a root file system made
by rootfs.sh, with the image configuration (user, environment, volume,
entrypoint, ...) read from the final stage of packaging/Dockerfile, so the
image built here and `docker build -f packaging/Dockerfile` agree.

    packaging/image/oci.py --rootfs DIR --out LAYOUT_DIR [--archive FILE.tar] [--tag TAG]

Load or push the result with any OCI tool, e.g.
    skopeo copy oci:LAYOUT_DIR:TAG docker-daemon:mana-auth:TAG
    podman load -i FILE.tar        (an oci-archive)

The layer is reproducible: files sorted, owned by root (except /data, owned
by the mana user 10001:10001), timestamps fixed (SOURCE_DATE_EPOCH or 0).
Prints a JSON summary with the sizes.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOCKERFILE = os.path.join(HERE, "..", "Dockerfile")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DATA_OWNER = (10001, 10001)


def final_stage(path):
    """The instructions after the last FROM of a Dockerfile, continuation
    lines joined, comments dropped."""
    lines, current = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            lines.append((current + line).strip())
            current = ""
    last_from = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    return lines[last_from:]


def image_config(path):
    """The OCI image `config` object from the Dockerfile's final stage. Only
    the instructions it knows are allowed there, so the two cannot drift."""
    stage = final_stage(path)
    base = stage[0].split()[1]
    if base != "scratch":
        sys.exit(f"oci.py: the final stage must be FROM scratch, not {base}")
    config = {"Env": [DEFAULT_PATH]}
    for line in stage[1:]:
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "COPY":
            if rest != "--from=build /rootfs/ /":
                sys.exit(f"oci.py: the final stage may only copy the rootfs: {line}")
        elif word == "USER":
            config["User"] = rest
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                config["Env"] = [e for e in config["Env"] if not e.startswith(key + "=")]
                config["Env"].append(f"{key}={value}")
        elif word == "VOLUME":
            config["Volumes"] = {v: {} for v in json.loads(rest)}
        elif word == "EXPOSE":
            config["ExposedPorts"] = {
                (p if "/" in p else p + "/tcp"): {} for p in rest.split()
            }
        elif word == "STOPSIGNAL":
            config["StopSignal"] = rest
        elif word == "ENTRYPOINT":
            config["Entrypoint"] = json.loads(rest)
        elif word == "CMD":
            config["Cmd"] = json.loads(rest)
        elif word == "WORKDIR":
            config["WorkingDir"] = rest
        elif word == "LABEL":
            labels = config.setdefault("Labels", {})
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                labels[key] = value
        else:
            sys.exit(f"oci.py: {word} in the final stage is not supported: {line}")
    return config


def layer(rootfs, mtime):
    """The uncompressed tar of `rootfs`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, rootfs)
                info = tar.gettarinfo(full, arcname=rel)
                info.mtime = mtime
                info.uid, info.gid = DATA_OWNER if rel == "data" or rel.startswith("data/") else (0, 0)
                info.uname = info.gname = ""
                if info.isfile():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def write_blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--archive")
    p.add_argument("--tag", default="latest")
    p.add_argument("--version", default="")
    p.add_argument("--dockerfile", default=DOCKERFILE)
    a = p.parse_args()
    if os.path.exists(a.out):
        sys.exit(f"oci.py: {a.out} already exists")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", a.tag):
        sys.exit(f"oci.py: bad tag {a.tag!r}")
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    os.makedirs(os.path.join(a.out, "blobs", "sha256"))
    tar = layer(a.rootfs, mtime)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=6, mtime=0) as z:
        z.write(tar)
    layer_desc = write_blob(a.out, gz.getvalue())
    layer_desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"

    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": image_config(a.dockerfile),
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created": created, "created_by": "packaging/image/rootfs.sh + oci.py"}],
    }
    config_desc = write_blob(a.out, json.dumps(config, sort_keys=True).encode())
    config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    annotations = {"org.opencontainers.image.title": "mana-auth"}
    if a.version:
        annotations["org.opencontainers.image.version"] = a.version
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
        "annotations": annotations,
    }
    manifest_desc = write_blob(a.out, json.dumps(manifest, sort_keys=True).encode())
    manifest_desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [manifest_desc]}, f, sort_keys=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if a.archive:
        def fixed_time(info):
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            return info

        with tarfile.open(a.archive, "w", format=tarfile.PAX_FORMAT) as t:
            for name in sorted(os.listdir(a.out)):
                t.add(os.path.join(a.out, name), arcname=name, filter=fixed_time)
    print(json.dumps({
        "layout": a.out,
        "archive": a.archive,
        "manifestDigest": manifest_desc["digest"],
        "uncompressedBytes": len(tar),
        "compressedBytes": layer_desc["size"] + config_desc["size"] + manifest_desc["size"],
        "config": config["config"],
    }, indent=2))


if __name__ == "__main__":
    main()

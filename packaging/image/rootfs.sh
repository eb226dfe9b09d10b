#!/bin/sh
# Assembles the container's root file system from a built mana-auth binary:
#   packaging/image/rootfs.sh target/release/mana-auth OUT_DIR
# OUT_DIR gets the binary, the shared libraries it links (from ldd: glibc,
# OpenSSL for webauthn-rs, libgcc), the CA certificates (for SMTP over
# TLS; Debian's Mozilla set), /etc/passwd and /etc/group naming the mana user (uid/gid 10001),
# /etc/nsswitch.conf, and an empty /data and /tmp. Nothing else: no shell,
# no package manager. Used by the Dockerfile's build stage and by
# packaging/image/oci.py (the image built without Docker), so both images
# hold the same files.
set -eu
bin=$1
out=$2
[ -x "$bin" ] || { echo "rootfs.sh: $bin is not an executable" >&2; exit 1; }
[ ! -e "$out" ] || { echo "rootfs.sh: $out already exists" >&2; exit 1; }
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/data" "$out/tmp"
cp "$bin" "$out/usr/local/bin/mana-auth"
# The dynamic loader and every library ldd resolves, at the same paths.
ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}' | sort -u |
  while read -r lib; do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
  done
# The CA bundle of Debian's ca-certificates package (Mozilla's set), not
# /etc/ssl/certs/ca-certificates.crt, which also holds the build machine's
# local additions (a proxy's CA has no place in the image).
ls /usr/share/ca-certificates/mozilla/*.crt >/dev/null 2>&1 ||
  { echo "rootfs.sh: no /usr/share/ca-certificates/mozilla (apt-get install ca-certificates)" >&2; exit 1; }
for c in /usr/share/ca-certificates/mozilla/*.crt; do
  cat "$c"
  echo
done >"$out/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nmana:x:10001:10001:mana-auth:/data:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nmana:x:10001:\n' >"$out/etc/group"
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"
chmod 1777 "$out/tmp"
chmod 0700 "$out/data"
# Owned by the mana user when run as root (the Dockerfile); oci.py sets the
# ownership in the layer itself either way.
chown 10001:10001 "$out/data" 2>/dev/null || true

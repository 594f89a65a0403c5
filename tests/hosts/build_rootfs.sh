#!/usr/bin/env bash
# Build (once) the Debian 12 root file system the host tests boot with systemd-nspawn, and
# print its directory. Cached in /var/cache/tds-hosts/rootfs-<hash of this script>: a change
# here builds a new one. The packages deploy/install.sh asks for are baked in, so install.sh
# finds them installed and its apt step costs nothing; the containers need no network.
#   tests/hosts/build_rootfs.sh [CACHE_DIR]
set -euo pipefail

CACHE="${1:-/var/cache/tds-hosts}"
key="$(sha256sum "$0" | cut -c1-12)"
ROOTFS="$CACHE/rootfs-$key"
if [ -f "$ROOTFS/.tds-complete" ]; then
  echo "$ROOTFS"
  exit 0
fi

# Everything install.sh installs in any mode (app host, database host, PgBouncer), and what
# the tests use inside the containers (iproute2 for addresses, procps for ps).
PACKAGES=(python3 python3-venv python3-pip rsync openssl ca-certificates postgresql-client
  nginx curl postgresql pgbouncer procps iproute2)

# The machine's own Debian mirror (deb822 or one-line sources), else Debian's.
mirror="$(sed -n 's|^URIs: *\(\S*/debian\)/*$|\1|p; s|^deb \(\S*/debian\)/* bookworm .*|\1|p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
  2>/dev/null | head -n1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

mkdir -p "$CACHE"
build="$(mktemp -d "$CACHE/build.XXXXXX")"
chmod 0755 "$build"  # mktemp makes it 0700: no other user could enter /
trap 'umount -R "$build/proc" 2>/dev/null || true; rm -rf "$build"' EXIT
echo "build_rootfs: debootstrap bookworm from $mirror into $build" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$build" "$mirror" \
  >&2

# The machine's sources (its mirror and security updates), CA certificates and pip settings:
# a container reaches what this machine reaches, the way this machine does.
rm -f "$build/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources; do
  if [ -f "$f" ] && grep -q "debian" "$f"; then cp "$f" "$build$f"; fi
done
mkdir -p "$build/usr/local/share/ca-certificates"
cp -a /usr/local/share/ca-certificates/. "$build/usr/local/share/ca-certificates/"
if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$build/etc/pip.conf"; fi

# No service starts inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$build/usr/sbin/policy-rc.d"
chmod 0755 "$build/usr/sbin/policy-rc.d"
mount -t proc proc "$build/proc"
chroot "$build" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -euc "
  apt-get update -q
  apt-get install -y -q --no-install-recommends ${PACKAGES[*]}
  update-ca-certificates
  apt-get clean
" >&2
umount "$build/proc"
rm -f "$build/usr/sbin/policy-rc.d"

# Each container gets its address from a file the tests write (systemd-networkd, host0).
# PostgreSQL and PgBouncer stay off until install.sh --database-host turns them on: an app
# host runs no database.
chroot "$build" bash -euc '
  systemctl enable systemd-networkd
  systemctl disable postgresql pgbouncer nginx
  systemctl mask getty@tty1.service console-getty.service
  echo tds-host >/etc/hostname
  passwd -d root >/dev/null
' >&2
touch "$build/.tds-complete"
rm -rf "$ROOTFS"
mv "$build" "$ROOTFS"
trap - EXIT
echo "$ROOTFS"

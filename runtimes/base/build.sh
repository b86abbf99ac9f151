#!/usr/bin/env bash
# Builds the runtime base image: ${RUNTIME_IMAGE_PREFIX:-faas-runtime}-base:<runtimes/base/VERSION>.
# The base has its own version (not runtimes/VERSION): bumping the runtime images (new
# agent, new packages) must not redo the slow debootstrap.
#
# No container registry is needed: a minimal Debian bookworm root filesystem is made with
# debootstrap (variant minbase) from Debian's mirror and imported with `docker import`.
# Where a registry is reachable, BASE_IMAGE=debian:bookworm-slim (or any Debian-like image
# with apt-get) is pulled and tagged instead.
#
# Fast path: nothing is done when the image already exists (FORCE=1 rebuilds it).
# Needs root (debootstrap), docker and debootstrap.
#
# Env: RUNTIME_IMAGE_PREFIX (default faas-runtime), BASE_IMAGE, DEBIAN_MIRROR
# (default http://deb.debian.org/debian), DEBIAN_SUITE (default bookworm), FORCE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(tr -d '[:space:]' < "$here/VERSION")"
prefix="${RUNTIME_IMAGE_PREFIX:-faas-runtime}"
image="${prefix}-base:${version}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "base: $image exists, skipped"
  exit 0
fi

start=$SECONDS
if [[ -n "${BASE_IMAGE:-}" ]]; then
  echo "base: tagging $BASE_IMAGE as $image"
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker pull "$BASE_IMAGE"
  docker tag "$BASE_IMAGE" "$image"
  echo "base: built $image from $BASE_IMAGE in $((SECONDS - start))s"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  echo "base: debootstrap needs root (or set BASE_IMAGE=debian:bookworm-slim where a registry is reachable)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

rootfs="$(mktemp -d /var/tmp/faas-rootfs.XXXXXX)"
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

echo "base: debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$rootfs.log" 2>&1 || {
  tail -n 40 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1;
}
rm -f "$rootfs.log"

# Keep the image small and apt lean for the runtime Dockerfiles.
cat > "$rootfs/etc/apt/apt.conf.d/90faas" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
APT
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' \
  > "$rootfs/etc/dpkg/dpkg.cfg.d/90faas-nodoc"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log

tar --numeric-owner -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' \
  -c "LABEL faas.runtime.version=${version}" \
  -m "debootstrap --variant=minbase $suite $mirror" \
  - "$image" >/dev/null
echo "base: built $image in $((SECONDS - start))s"

#!/usr/bin/env bash
# Builds local stand-ins for the Docker Hub images docker-compose.yml and the Dockerfiles name, for
# machines that reach no container registry: debian:bookworm-slim (debootstrap minbase), then
# node:24-bookworm-slim, redis:7-bookworm and haproxy:2.6-bookworm on top of it (Debian packages; Node:
# the host's if it is Node 24, else the npm registry's node-linux-<arch>; npm from the npm registry).
# Each image carries a fingerprint of its inputs and is rebuilt only when it is missing or its inputs
# changed (OBO_REBUILD_BASE_IMAGES=1 forces it), so warm runs take a second.
set -euo pipefail
export DEBCONF_NOWARNINGS=yes
here=$(cd "$(dirname "$0")" && pwd)
base=$here/base
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
node_spec=${STAND_IN_NODE_VERSION:-24}
npm_spec=${STAND_IN_NPM_VERSION:-11}
label=org.obo-relay.stand-in-fingerprint
work=$(mktemp -d /tmp/obo-base-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# npm run by another Node than the one it was installed with reads another global npmrc (and its cafile):
# trust the system's CA bundle, as apt and curl do, so a TLS-inspecting proxy's CA in it still counts.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

log () { printf 'base-images: %s\n' "$*"; }
sha () { sha256sum | cut -c1-16; }
fingerprint_of () { podman image inspect --format "{{index .Labels \"$label\"}}" "$1" 2>/dev/null || true; }
image_id () { podman image inspect --format '{{.Id}}' "$1"; }
# Builds image $1 unless it exists with fingerprint $2; the rest of the arguments build it.
ensure () {
  local image=$1 wanted=$2
  shift 2
  if [ "${OBO_REBUILD_BASE_IMAGES:-0}" != 1 ] && [ "$(fingerprint_of "$image")" = "$wanted" ]; then
    log "$image is current"
    return
  fi
  local started=$SECONDS previous
  previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  log "building $image"
  "$@"
  # The replaced image, now untagged, goes too (unless a container still uses it).
  if [ -n "$previous" ] && [ "$previous" != "$(image_id "$image")" ]; then podman rmi "$previous" > /dev/null 2>&1 || true; fi
  log "built $image in $((SECONDS - started)) s"
}

build_debian () {
  local rootfs=$work/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    return 1
  }
  # What the official slim image does: no docs, man pages or package caches, now or after apt-get install.
  cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
  cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
  printf 'APT::Install-Recommends "false";\n' > "$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["bash"]' --change "LABEL $label=$1" - docker.io/library/debian:bookworm-slim > /dev/null
}

build_node () {
  local context=$work/node arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "base-images: no Node binary package for $(uname -m)" >&2; return 1 ;;
  esac
  mkdir -p "$context/npm"
  cp "$base/node.Containerfile" "$base/node-entrypoint.sh" "$context/"
  local node_tgz npm_tgz host_node
  # The host's own Node, when it is an official Node 24 build (saves a 50 MB download), else the registry's.
  host_node=$(command -v node || true)
  if [ -z "${STAND_IN_NODE_VERSION:-}" ] && [ -n "$host_node" ] && [ "$("$host_node" -p 'process.release.name + process.versions.node.split(".")[0]')" = node24 ]; then
    cp "$(readlink -f "$host_node")" "$context/node"
  else
    node_tgz=$(cd "$context" && npm pack --silent "node-linux-$arch@$node_spec")
    tar -xzf "$context/$node_tgz" -C "$context" package/bin/node
    mv "$context/package/bin/node" "$context/node"
  fi
  npm_tgz=$(cd "$context" && npm pack --silent "npm@$npm_spec")
  tar -xzf "$context/$npm_tgz" -C "$context/npm" --strip-components=1
  cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
  npmrc_for_builds > "$context/npmrc"
  podman build --quiet --label "$label=$1" -t docker.io/library/node:24-bookworm-slim -f "$context/node.Containerfile" "$context" > /dev/null
}

# The registry and proxy the host's npm uses, for npm inside builds.
npmrc_for_builds () {
  printf 'registry=%s\n' "$(npm config get registry)"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n'
  local proxy
  proxy=$(npm config get https-proxy 2>/dev/null || true)
  [ -z "$proxy" ] || [ "$proxy" = null ] || printf 'https-proxy=%s\n' "$proxy"
  proxy=$(npm config get proxy 2>/dev/null || true)
  [ -z "$proxy" ] || [ "$proxy" = null ] || printf 'proxy=%s\n' "$proxy"
  printf 'fund=false\naudit=false\nupdate-notifier=false\n'
}

build_from_containerfile () {
  local fingerprint=$1 image=$2 file=$3
  podman build --quiet --label "$label=$fingerprint" -t "$image" -f "$base/$file" "$base" > /dev/null
}

debian_fp=$(printf 'bookworm minbase %s %s' "$mirror" "$(sed -n '/^build_debian/,/^}/p' "$0")" | sha)
ensure docker.io/library/debian:bookworm-slim "$debian_fp" build_debian "$debian_fp"
debian_id=$(image_id docker.io/library/debian:bookworm-slim)

node_fp=$(cat "$base/node.Containerfile" "$base/node-entrypoint.sh" /etc/ssl/certs/ca-certificates.crt <(npmrc_for_builds) <(echo "$debian_id $node_spec $npm_spec $(node --version 2>/dev/null)") <(sed -n '/^build_node/,/^}/p' "$0") | sha)
ensure docker.io/library/node:24-bookworm-slim "$node_fp" build_node "$node_fp"

redis_fp=$(cat "$base/redis.Containerfile" <(echo "$debian_id") | sha)
ensure docker.io/library/redis:7-bookworm "$redis_fp" build_from_containerfile "$redis_fp" docker.io/library/redis:7-bookworm redis.Containerfile

haproxy_fp=$(cat "$base/haproxy.Containerfile" "$base/haproxy-entrypoint.sh" <(echo "$debian_id") | sha)
ensure docker.io/library/haproxy:2.6-bookworm "$haproxy_fp" build_from_containerfile "$haproxy_fp" docker.io/library/haproxy:2.6-bookworm haproxy.Containerfile

#!/usr/bin/env bash
# Makes a Debian 12 machine without a Docker engine able to run docker-compose.yml: Debian's podman
# (with runc) behind its Docker-compatible API, driven by Debian's docker-compose 1.29. Idempotent:
# installs only what is missing and rewrites its containers.conf drop-in only when it differs.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "provision: run as root (installs Debian packages, writes /etc/containers)" >&2
  exit 1
fi

# podman + runc: crun fails on hosts whose cgroups are in hybrid mode. netavark + aardvark-dns give the
# compose networks their service-name DNS; debootstrap builds the stand-in base images.
packages=(podman runc netavark aardvark-dns iptables uidmap catatonit docker-compose debootstrap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "provision: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A drop-in, so an existing /etc/containers/containers.conf stays untouched. podman's default ulimits
# are refused on these hosts (the hard limits are lower), so containers get explicit ones.
conf_dir=/etc/containers/containers.conf.d
conf_file=$conf_dir/50-obo-relay.conf
wanted=$(cat <<'CONF'
# Written by obo-relay deploy/podman/provision.sh.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
CONF
)
if [ ! -f "$conf_file" ] || [ "$(cat "$conf_file")" != "$wanted" ]; then
  mkdir -p "$conf_dir"
  printf '%s\n' "$wanted" > "$conf_file"
  echo "provision: wrote $conf_file"
fi
echo "provision: podman $(podman --version | awk '{print $3}'), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"

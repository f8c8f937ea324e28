#!/usr/bin/env bash
# Prepare a fresh Debian 12 / Ubuntu 24.04 machine (as root) to build and test pipework:
# install the system packages the tool and its tests drive, then `npm ci` and `npm run build`.
# Idempotent: a re-run on a ready machine skips apt and `npm ci` and only rebuilds.
# It never touches /etc/resolv.conf, eth0 or host routes; package maintainer scripts are kept
# from starting daemons (docker0, lxcbr0, OVS) with a temporary policy-rc.d.
#
# It also installs the Node.js versions scripts/test.sh tests with beside the system's (22 and
# 24, pinned in scripts/node-versions.sh) into a cache directory, never as the system's node.
#
# Environment:
#   PIPEWORK_FORCE_NPM_CI=1   run `npm ci` even if node_modules matches package-lock.json
#   PIPEWORK_NODE_CACHE       where Node 22 and 24 go (default /var/cache/pipework-node)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs system packages)"

# build-essential and python3 build the in-process netlink prototype's addon (node-gyp); the
# tool itself needs no compiler. chromium (headless) checks the topology graph's HTML page.
# iputils-arping (not Habets' `arping`, they conflict) and busybox-static (not `busybox`, they
# conflict) are the flavours the tool and the test images need.
# containernetworking-plugins (Podman pulls it in too) are the reference CNI plugins and IPAM
# plugins the CNI plugin mode delegates to and is compared with. man-db (and groff-base with it)
# renders the man page pipework(8) in its unit test, which is skipped without them.
# containerd (with runc and its `ctr`; docker.io depends on them) serves CRI to the tests of the
# kubelet's path, from an instance of their own: named here because those tests drive it.
PKGS=(
  iproute2 iputils-ping iputils-arping busybox-static
  docker.io containerd runc podman lxc openvswitch-switch containernetworking-plugins
  dnsmasq-base udhcpc isc-dhcp-client dhcpcd-base
  util-linux procps curl ca-certificates
  qemu-system-x86 xz-utils strace time
  build-essential python3
  chromium
  man-db
)

missing=()
for p in "${PKGS[@]}"; do
  st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
  [[ $st == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  log "system packages already installed"
else
  log "installing: ${missing[*]}"
  # Keep maintainer scripts from starting services: dockerd would make docker0 and set the
  # iptables FORWARD policy, lxc-net would make lxcbr0 plus a route, OVS would start daemons.
  POLICY=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    made_policy=1
  fi
  cleanup_policy() { if ((made_policy)); then rm -f "$POLICY"; fi; }
  trap cleanup_policy EXIT
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PKGS[@]}"
  cleanup_policy
  made_policy=0
  trap - EXIT
fi

# Sanity checks on the flavours that matter.
arping -V 2>&1 | grep -qi iputils || die "arping is not the iputils flavour (install iputils-arping)"
[[ -x /bin/busybox ]] || die "/bin/busybox missing (install busybox-static)"
[[ -e /usr/share/lxc/templates/lxc-busybox ]] || die "LXC busybox template missing"
# The reference CNI plugins the CNI tests delegate to (the dhcp IPAM plugin runs as its own daemon there).
for p in bridge macvlan host-local static dhcp tuning portmap; do
  [[ -x /usr/lib/cni/$p ]] || die "/usr/lib/cni/$p missing (install containernetworking-plugins)"
done
for c in ip ping docker dockerd containerd ctr runc containerd-shim-runc-v2 podman lxc-create ovs-vsctl \
         ovsdb-server ovs-vswitchd dnsmasq udhcpc dhclient dhcpcd nsenter ss sysctl curl; do
  command -v "$c" >/dev/null || die "command $c not found after install"
done

# Node.js >= 20 (Debian 12 ships 18; install Node 20 from nodesource.com or similar).
command -v node >/dev/null || die "node not found: install Node.js >= 20"
command -v npm >/dev/null || die "npm not found: install Node.js >= 20 with npm"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js $(node --version) is too old: need >= 20"

# Node 24 and Node 22 for scripts/test.sh, pinned in scripts/node-versions.sh, into a cache
# directory of their own (never over the system's node, never on its PATH); skipped when there.
bash "$ROOT/scripts/install-node.sh"

# npm ci only when node_modules does not match package-lock.json (or when forced).
STAMP=node_modules/.pipework-setup.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ ${PIPEWORK_FORCE_NPM_CI:-0} == 1 || $want != "$have" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund
  printf '%s\n' "$want" >"$STAMP"
else
  log "node_modules up to date with package-lock.json (PIPEWORK_FORCE_NPM_CI=1 to redo)"
fi

log "npm run build"
npm run build

# The in-process netlink prototype (PIPEWORK_NETLINK=1) is a small N-API addon; its tests run
# in the suite. Build it against this Node's own headers when they are installed (no download).
node_prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
if [[ -f $node_prefix/include/node/node_api.h ]]; then export npm_config_nodedir="$node_prefix"; fi
log "npm run build:native (the prototype's addon)"
npm run build:native
log "done"

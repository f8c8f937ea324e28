#!/usr/bin/env bash
# Run pipework's whole test suite (unit + integration) as root on a machine prepared by
# scripts/setup.sh. It builds, starts what the integration tests need (dockerd, Open vSwitch
# in userspace mode) unless already running, and stops only what it started, by PID.
# /etc/resolv.conf is backed up and restored at exit; the run fails if a test changed it.
#
# Usage: bash scripts/test.sh [test files...]
#   With no arguments every build/test/{unit,integration}/**/*.test.js whose .ts source exists
#   is run under the system's node, then the bridge suites again with PIPEWORK_NETLINK=1, the
#   lock tests with PIPEWORK_SYS_ADDON=none, the full-kernel tier; then every file again under
#   Node 24 (and the bridge suites with PIPEWORK_NETLINK=1), then the unit tests under Node 22
#   (the Nodes pinned in scripts/node-versions.sh, which scripts/setup.sh installs). With
#   arguments, only those (paths to .ts sources or .js build outputs), under the system's node.
# Environment:
#   PIPEWORK_TEST_NODES  which Nodes run the tests: words among `system`, `24`, `22` (default:
#                        all three on a full run, `system` with files): e.g.
#                        PIPEWORK_TEST_NODES=24 bash scripts/test.sh test/integration/bridge.test.ts
# Environment exported to the tests:
#   CONTAINERS_CONF      podman config pinning ulimits (see the testbed notes)
#   PIPEWORK_TEST_TMP    a scratch directory removed at exit
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'test.sh: %s\n' "$*" >&2; }
# shellcheck source=scripts/node-versions.sh
source "$ROOT/scripts/node-versions.sh"
die() { printf 'test.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "the integration tests need root (network namespaces, containers): run as root"

# Which Nodes run the tests: PIPEWORK_TEST_NODES, words among `system` (the machine's node), and
# the majors pinned in scripts/node-versions.sh (24, 22). A full run (no arguments) takes all of
# them, Node 22 for the unit tests only; with files, the system's node alone unless it is set.
if [[ -n ${PIPEWORK_TEST_NODES:-} ]]; then
  read -r -a nodes <<<"$PIPEWORK_TEST_NODES"
elif (($# == 0)); then
  nodes=(system 24 22)
else
  nodes=(system)
fi
system_major="$(node -p 'process.versions.node.split(".")[0]')"
# Checked before anything runs: a missing Node fails now, not after the first 20 minutes.
declare -A node_bins=()
for which in "${nodes[@]}"; do
  [[ $which == system ]] && continue
  [[ $which =~ ^[0-9]+$ ]] || die "PIPEWORK_TEST_NODES: '$which' is neither 'system' nor a major version"
  version="$(pinned_node_version "$which")" || die "PIPEWORK_TEST_NODES: Node $which is not pinned in scripts/node-versions.sh"
  node_bins[$which]="$(pinned_node "$which")" ||
    die "Node $version is not in $PIPEWORK_NODE_CACHE: run scripts/setup.sh (or scripts/install-node.sh)"
done

TMP="$(mktemp -d /tmp/pipework-test.XXXXXX)"
RESOLV=/etc/resolv.conf
RESOLV_BAK="$TMP/resolv.conf.bak"
RESOLV_LINK=""
STARTED_DOCKERD=""
STARTED_OVSDB=""
STARTED_VSWITCHD=""

# --- /etc/resolv.conf guard -------------------------------------------------------------
if [[ -L $RESOLV ]]; then RESOLV_LINK="$(readlink "$RESOLV")"; fi
cp "$RESOLV" "$RESOLV_BAK" 2>/dev/null || : >"$RESOLV_BAK"

resolv_changed() {
  if [[ -n $RESOLV_LINK ]]; then
    [[ -L $RESOLV && $(readlink "$RESOLV") == "$RESOLV_LINK" ]] || return 0
  else
    [[ ! -L $RESOLV ]] || return 0
  fi
  ! cmp -s "$RESOLV" "$RESOLV_BAK"
}

restore_resolv() {
  if [[ -n $RESOLV_LINK ]]; then
    ln -sfn "$RESOLV_LINK" "$RESOLV"
  else
    [[ ! -L $RESOLV ]] || rm -f "$RESOLV"
    cat "$RESOLV_BAK" >"$RESOLV"
  fi
}

# --- stop what we started, by PID ---------------------------------------------------------
stop_pid() { # name pid seconds
  local name=$1 pid=$2 secs=$3 i
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) did not stop in ${secs}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  trap '' PIPE # ignore: writes to a closed stdout then just fail
  set +e # a broken stdout (e.g. `| head`) must not cut the cleanup short
  [[ -z $STARTED_VSWITCHD ]] || stop_pid ovs-vswitchd "$STARTED_VSWITCHD" 10
  [[ -z $STARTED_OVSDB ]] || stop_pid ovsdb-server "$STARTED_OVSDB" 10
  if [[ -n $STARTED_DOCKERD ]]; then
    stop_pid dockerd "$STARTED_DOCKERD" 30
    wait "$STARTED_DOCKERD" 2>/dev/null || true
  fi
  if resolv_changed; then
    printf '\ntest.sh: ERROR: %s WAS CHANGED DURING THE TESTS; restoring it. Diff (backup -> found):\n' "$RESOLV" >&2
    diff "$RESOLV_BAK" "$RESOLV" >&2 || true
    restore_resolv
    rc=1
  fi
  if ((rc != 0)) && [[ -s $TMP/dockerd.log ]]; then
    log "last lines of dockerd log:"; tail -n 20 "$TMP/dockerd.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# --- build --------------------------------------------------------------------------------
log "npm run build"
npm run --silent build
log "npm run lint"
npm run --silent lint

# --- test files ---------------------------------------------------------------------------
shopt -s globstar nullglob
files=()
if (($# > 0)); then
  for f in "$@"; do
    case $f in
      build/*.js) files+=("$f") ;;
      *.ts) files+=("build/${f%.ts}.js") ;;
      *) die "not a test file: $f" ;;
    esac
  done
else
  # Run the compiled form of each .ts test that exists, so stale outputs of deleted tests in
  # build/ are never run.
  for src in test/unit/**/*.test.ts test/integration/**/*.test.ts; do
    files+=("build/${src%.ts}.js")
  done
fi
((${#files[@]} > 0)) || die "no test files found"
for f in "${files[@]}"; do [[ -f $f ]] || die "missing build output $f (did the build skip it?)"; done

# --- Podman config ------------------------------------------------------------------------
export PIPEWORK_TEST_TMP="$TMP/scratch"
mkdir -p "$PIPEWORK_TEST_TMP"
export CONTAINERS_CONF="$TMP/containers.conf"
hn="$(ulimit -Hn)"
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n' "$hn" "$hn" >"$CONTAINERS_CONF"

# --- dockerd --------------------------------------------------------------------------------
docker_ping() { curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
wait_docker() { # seconds
  local i
  for ((i = 0; i < $1 * 2; i++)); do docker_ping && return 0; sleep 0.5; done
  return 1
}
if docker_ping; then
  log "reusing the dockerd answering on /var/run/docker.sock"
elif pgrep -x dockerd >/dev/null; then
  log "a dockerd is running but not answering yet: waiting for it"
  wait_docker 60 || die "the running dockerd does not answer on /var/run/docker.sock"
else
  command -v dockerd >/dev/null || die "dockerd not installed: run scripts/setup.sh"
  log "starting dockerd (log $TMP/dockerd.log)"
  dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    >"$TMP/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  if ! wait_docker 60; then
    die "dockerd did not answer /_ping within 60 s"
  fi
fi

# --- Open vSwitch, userspace datapath -------------------------------------------------------
OVS_RUN=/var/run/openvswitch
ovsdb_up() { ovs-vsctl --timeout=2 --no-wait show >/dev/null 2>&1; }
vswitchd_up() { ovs-appctl --timeout=2 -t ovs-vswitchd version >/dev/null 2>&1; }
if command -v ovsdb-server >/dev/null; then
  mkdir -p "$OVS_RUN" /var/log/openvswitch /etc/openvswitch
  if ovsdb_up; then
    log "reusing the running ovsdb-server"
  else
    [[ -s /etc/openvswitch/conf.db ]] ||
      ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server /etc/openvswitch/conf.db --remote=punix:$OVS_RUN/db.sock \
      --pidfile=$OVS_RUN/ovsdb-server.pid --log-file=/var/log/openvswitch/ovsdb-server.log \
      -vconsole:off --detach
    STARTED_OVSDB="$(cat $OVS_RUN/ovsdb-server.pid)"
    log "started ovsdb-server (pid $STARTED_OVSDB)"
    ovs-vsctl --timeout=10 --no-wait init
  fi
  if vswitchd_up; then
    log "reusing the running ovs-vswitchd"
  else
    # Before vswitchd starts, or UDP/TCP (DHCP) get bad checksums on the userspace datapath.
    ovs-vsctl --timeout=10 --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
    ovs-vswitchd unix:$OVS_RUN/db.sock --pidfile=$OVS_RUN/ovs-vswitchd.pid \
      --log-file=/var/log/openvswitch/ovs-vswitchd.log -vconsole:off --detach
    STARTED_VSWITCHD="$(cat $OVS_RUN/ovs-vswitchd.pid)"
    log "started ovs-vswitchd (pid $STARTED_VSWITCHD)"
  fi
  ovs-vsctl --timeout=10 show >/dev/null || die "Open vSwitch does not answer"
fi

# --- run ----------------------------------------------------------------------------------
TEST=(--test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec)
rc=0
timings=()
# under LABEL NODE_BIN_DIR [VAR=VALUE...] -- node-args...: node --test with that Node first on
# PATH, so pipework started by its `#!/usr/bin/env node` line runs on it too (the tests start it
# with process.execPath, the CNI launcher `cni install` compiles execs the Node that installed
# it, the DHCP agent and hook are started with pipework's own). An empty NODE_BIN_DIR: the
# system's node, PATH as it is.
under() {
  local label=$1 bindir=$2 start=$SECONDS status=0
  shift 2
  local vars=()
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  if [[ -n $bindir ]]; then
    env PATH="$bindir:$PATH" "${vars[@]}" node "${TEST[@]}" "$@" || status=$?
  else
    env "${vars[@]}" node "${TEST[@]}" "$@" || status=$?
  fi
  timings+=("$label: $((SECONDS - start)) s$( ((status == 0)) || printf ' (FAILED, exit %s)' "$status")")
  return "$status"
}

for which in "${nodes[@]}"; do
  if [[ $which == system ]]; then
    log "running ${#files[@]} test file(s) under the system's node $(node --version)"
    under "system node $(node --version)" "" -- "${files[@]}" || rc=1
    # The in-process netlink prototype is held to the same suites as iproute2 for the bridge path
    # (attach, refusals, rollback of every step, every guest kind): full runs only.
    if (($# == 0)); then
      log "again with PIPEWORK_NETLINK=1 (the in-process netlink prototype)"
      under "system node, PIPEWORK_NETLINK=1" "" PIPEWORK_NETLINK=1 -- \
        build/test/integration/{bridge,bridge-failures,lifecycle-rollback,guests}.test.js || rc=1
    fi
    # The lock and socket layer without the native addon: flock(1) on the same open files, the
    # sockets' directories alone keeping others out (full runs only).
    if (($# == 0)); then
      log "again with PIPEWORK_SYS_ADDON=none (locks through flock(1))"
      under "system node, PIPEWORK_SYS_ADDON=none" "" PIPEWORK_SYS_ADDON=none -- \
        --test-name-pattern='local user|waiting on|locks between|private directories' \
        build/test/unit/lock.test.js build/test/integration/trust-locks.test.js || rc=1
    fi
    # The full-kernel tier (802.1Q, dummy, bridge VLAN filtering, the OVS kernel datapath, which
    # this kernel lacks) boots a Debian kernel under qemu with the system's node; full runs only.
    if (($# == 0)); then
      vm_start=$SECONDS vm_status=0
      bash "$ROOT/scripts/vm-test.sh" || { vm_status=$?; rc=1; }
      timings+=("full-kernel VM tier (system node): $((SECONDS - vm_start)) s$( ((vm_status == 0)) || printf ' (FAILED, exit %s)' "$vm_status")")
    fi
    continue
  fi
  if [[ $which == "$system_major" ]]; then
    log "Node $which: the system's node is $(node --version) already: not run twice"
    continue
  fi
  version="$(pinned_node_version "$which")"
  bin="${node_bins[$which]}"
  run=("${files[@]}")
  # Node 22: the unit tests of a full run (the integration suite runs under 20 and 24).
  if (($# == 0)) && [[ $which == 22 ]]; then
    run=()
    for f in "${files[@]}"; do [[ $f != build/test/unit/* ]] || run+=("$f"); done
  fi
  # bin/pipework's V8 code cache for this Node (build/dist/pipework.cjs.v<version>-x64.cache):
  # each Node reads only its own, which `npm run build` writes for the system's node alone.
  PIPEWORK_WRITE_CODE_CACHE=1 "$bin" bin/pipework --help >/dev/null || die "writing the code cache for Node $version failed"
  if ((${#run[@]} == 0)); then
    log "Node $version: no unit test among the files: nothing to run"
    continue
  fi
  log "running ${#run[@]} test file(s) under Node $version ($bin)"
  under "Node $version" "$(dirname "$bin")" -- "${run[@]}" || rc=1
  # The prototype's N-API addon, built against the system's node, loaded by this one.
  if (($# == 0)) && [[ $which == 24 ]]; then
    log "again under Node $version with PIPEWORK_NETLINK=1"
    under "Node $version, PIPEWORK_NETLINK=1" "$(dirname "$bin")" PIPEWORK_NETLINK=1 -- \
      build/test/integration/{bridge,bridge-failures,lifecycle-rollback,guests}.test.js || rc=1
  fi
done
log "durations:"
for t in "${timings[@]}"; do log "  $t"; done
if ((rc != 0)); then log "tests FAILED (exit $rc)"; else log "tests passed"; fi
exit "$rc"

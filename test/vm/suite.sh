#!/bin/sh
# pipework's full-kernel VM suite. Runs inside the VM booted by scripts/vm-test.sh (from
# test/vm/init.sh, as root, busybox sh), on a stock Debian kernel that has what the CI
# machine's kernel lacks. It drives the real, built bin/pipework (the repository is mounted
# read-only at /repo) with named network namespaces as guests:
#   1. 802.1Q sub-interfaces of a NIC (a veth stands in; its peer in netns "pwsw" plays the
#      switch): tag isolation, reuse of <nic>.<vlan>, refusal of a non-VLAN <nic>.<vlan>
#   2. dummy interfaces
#   3. a Linux bridge with VLAN filtering (and one a container's label must not change)
#   4. Open vSwitch on the kernel datapath
#   5. topology impairments (netem delay, tbf rate) set and changed live by pipework apply
# Every check prints "PASS: ..." or "FAIL: ..."; the last line is "N passed, M failed". The
# exit status is non-zero when a check failed or when not every check ran: each check is a
# top-level line starting with "check " or "pw_ok ", and all of them must run, once.
EXPECTED=$(grep -cE '^(check|pw_ok) ' "$0")

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C
PW=/repo/bin/pipework
# busybox sh runs its own applets before PATH: use the real iproute2 and OVS tools.
ip() { /usr/sbin/ip "$@"; }
bridge() { /usr/sbin/bridge "$@"; }

up() { cut -d' ' -f1 /proc/uptime; }
T_START=$(up)
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL: $1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/      | /'
}
# check DESCRIPTION COMMAND...: passes when the command succeeds (its output shown on failure).
check() {
  _d=$1
  shift
  if "$@" >/tmp/check.out 2>&1; then pass "$_d"; else fail "$_d" "$(cat /tmp/check.out)"; fi
}
section() { echo; echo "=== $* (at $(up)s)"; }

# pw ARGS...: run pipework (bounded), output in /tmp/pw.out, exit status in PW_RC.
pw() {
  _t=$(up)
  timeout 120 "$PW" "$@" >/tmp/pw.out 2>&1
  PW_RC=$?
  PW_SECS=$(awk -v a="$_t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')
  echo "    \$ pipework $* -> exit $PW_RC in ${PW_SECS}s"
  return $PW_RC
}
# pw_ok DESCRIPTION ARGS...: a check that pipework ARGS succeeds.
pw_ok() {
  _d=$1
  shift
  if pw "$@"; then pass "$_d"; else fail "$_d" "exit $PW_RC: $(cat /tmp/pw.out)"; fi
}

# s COMMAND...: a set-up step; a failure is shown (the checks that depend on it then fail).
SETUP_ERRORS=0
s() {
  "$@" >/tmp/setup.out 2>&1 && return 0
  SETUP_ERRORS=$((SETUP_ERRORS + 1))
  echo "SETUP ERROR: '$*' failed: $(cat /tmp/setup.out)"
}
# Named netns guests.
guest() { for g in "$@"; do s ip netns add "$g"; s ip -n "$g" link set lo up; done; }

# reach NS ADDR: ping, with a few tries (ARP, OVS flow set-up under emulation).
reach() {
  for _i in 1 2 3; do
    ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 && return 0
  done
  echo "no reply from $2 in $1"
  ip -n "$1" addr
  return 1
}
# unreachable NS ADDR: no reply within 2 s (the positive control in the section ran first).
unreachable() {
  if ip netns exec "$1" ping -c 1 -W 2 "$2"; then echo "$1 reached $2 but must not"; return 1; fi
  return 0
}
# has_addr NS IF CIDR: IF in NS is up with that IPv4 address.
has_addr() {
  _j=$(ip -n "$1" -j addr show dev "$2") || return 1
  echo "$_j"
  echo "$_j" | grep -q "\"local\":\"${3%/*}\",\"prefixlen\":${3#*/}" || return 1
  echo "$_j" | grep -q '"operstate":"\(UP\|UNKNOWN\)"'
}
# kind_is NS IF KIND: `ip -d` says IF is a KIND device ("-" as NS for the host).
kind_is() {
  if [ "$1" = - ]; then _j=$(ip -d -j link show dev "$2"); else _j=$(ip -n "$1" -d -j link show dev "$2"); fi || return 1
  echo "$_j"
  echo "$_j" | grep -q "\"info_kind\":\"$3\""
}
# vlan_is NAME PARENT ID: NAME is an 802.1Q device with that id on PARENT.
vlan_is() {
  _j=$(ip -d -j link show dev "$1") || return 1
  echo "$_j"
  echo "$_j" | grep -q '"info_kind":"vlan"' &&
    echo "$_j" | grep -q "\"protocol\":\"802.1Q\",\"id\":$3[,}]" &&
    echo "$_j" | grep -q "\"link\":\"$2\""
}
ifindex() { cat "/sys/class/net/$1/ifindex"; }
# host_end NS: the host-side name of the veth whose other end is eth1 in NS.
host_end() {
  _peer=$(ip -n "$1" -o link show dev eth1 | sed -n 's/^[0-9]*: [^@:]*@if\([0-9]*\):.*/\1/p')
  [ -n "$_peer" ] && ip -o link show | sed -n "s/^$_peer: \([^@:]*\)[@:].*/\1/p"
}
# host_links: the host's link names, sorted (to compare before/after).
host_links() { ip -o link show | sed 's/^[0-9]*: \([^@:]*\).*/\1/' | sort; }
# pvid_only PORT VID: PORT's only VLAN on its bridge is VID, as PVID and egress-untagged.
pvid_only() {
  _j=$(bridge -j vlan show dev "$1") || return 1
  echo "$_j"
  echo "$_j" | grep -q "{\"vlan\":$2,\"flags\":\[\"PVID\",\"Egress Untagged\"\]}" || return 1
  [ "$(echo "$_j" | grep -o '"vlan":[0-9]*' | wc -l)" -eq 1 ]
}

echo "pipework VM suite: kernel $(uname -r), node $(/usr/bin/node --version 2>&1), $(/usr/sbin/ip -V)"

# Open vSwitch starts in the background while the other sections run.
ovs_start() {
  mkdir -p /var/run/openvswitch /var/log/openvswitch /etc/openvswitch &&
    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema &&
    ovsdb-server /etc/openvswitch/conf.db --remote=punix:/var/run/openvswitch/db.sock \
      --pidfile=/var/run/openvswitch/ovsdb-server.pid --log-file=/var/log/openvswitch/ovsdb-server.log \
      -vconsole:off --detach &&
    ovs-vsctl --timeout=30 --no-wait init &&
    ovs-vswitchd unix:/var/run/openvswitch/db.sock --pidfile=/var/run/openvswitch/ovs-vswitchd.pid \
      --log-file=/var/log/openvswitch/ovs-vswitchd.log -vconsole:off --detach
}
ovs_start >/tmp/ovs-start.log 2>&1 &
OVS_START_PID=$!

# --- 1. VLAN sub-interfaces of a NIC --------------------------------------------------------
section "802.1Q VLAN sub-interfaces of a NIC (veth pwnic0 stands in; netns pwsw is the switch)"
# The switch side: pwsw0.10 (10.50.0.254) in pwsw, pwsw0.20 (10.50.0.253) moved to pwsw20 so
# both can sit in the guests' subnet. Only the tag decides who reaches whom.
guest pwsw pwsw20 vg1 vg2 vg3 vg4
s ip link add pwnic0 type veth peer name pwsw0 netns pwsw
s ip link set pwnic0 up
s ip -n pwsw link set pwsw0 up
s ip -n pwsw link add link pwsw0 name pwsw0.10 type vlan id 10
s ip -n pwsw addr add 10.50.0.254/24 dev pwsw0.10
s ip -n pwsw link set pwsw0.10 up
s ip -n pwsw link add link pwsw0 name pwsw0.20 type vlan id 20
s ip -n pwsw link set pwsw0.20 netns pwsw20
s ip -n pwsw20 addr add 10.50.0.253/24 dev pwsw0.20
s ip -n pwsw20 link set pwsw0.20 up

pw_ok "attach vg1 to pwnic0 on VLAN 10" pwnic0 vg1 10.50.0.1/24 @10
check "pwnic0.10 is an 802.1Q device with id 10 on pwnic0" vlan_is pwnic0.10 pwnic0 10
check_vg1() { kind_is vg1 eth1 macvlan && has_addr vg1 eth1 10.50.0.1/24; }
check "vg1's eth1 is a macvlan with 10.50.0.1/24, up" check_vg1
VLAN10_INDEX=$(ifindex pwnic0.10 2>/dev/null)
pw_ok "attach vg2 to pwnic0 on VLAN 10" pwnic0 vg2 10.50.0.2/24 @10
reused() {
  [ "$(ifindex pwnic0.10)" = "$VLAN10_INDEX" ] || { echo "pwnic0.10 was re-made (ifindex $VLAN10_INDEX -> $(ifindex pwnic0.10))"; return 1; }
  _n=$(ip -d -o link show type vlan | grep -c "vlan protocol 802.1Q id 10 ")
  [ "$_n" -eq 1 ] || { ip -d -o link show type vlan; echo "$_n VLAN-10 devices"; return 1; }
}
check "the second attach reused pwnic0.10 (same device, no other VLAN 10 device)" reused
pw_ok "attach vg3 to pwnic0 on VLAN 20" pwnic0 vg3 10.50.0.3/24 @20
check "pwnic0.20 is an 802.1Q device with id 20 on pwnic0" vlan_is pwnic0.20 pwnic0 20
check "VLAN 10 guests reach each other (vg1 -> vg2)" reach vg1 10.50.0.2
check "VLAN 10 leaves pwnic0 tagged 10: vg2 reaches the switch's pwsw0.10" reach vg2 10.50.0.254
check "VLAN 20 does not reach VLAN 10 (vg3 -/-> vg1)" unreachable vg3 10.50.0.1
check "VLAN 20 leaves pwnic0 tagged 20: vg3 reaches the switch's pwsw0.20" reach vg3 10.50.0.253
check "VLAN 20 does not reach the switch's VLAN 10 (vg3 -/-> pwsw0.10)" unreachable vg3 10.50.0.254
check "VLAN 10 does not reach the switch's VLAN 20 (vg1 -/-> pwsw0.20)" unreachable vg1 10.50.0.253

# A link named like the sub-interface that is not a VLAN device is refused, changing nothing.
s ip link add pwnic0.30 type veth peer name pwnic0x30
BEFORE_HOST=$(host_links)
BEFORE_VG4=$(ip -n vg4 -o link show)
refused() {
  if pw pwnic0 vg4 10.50.0.4/24 @30; then echo "pipework accepted @30"; cat /tmp/pw.out; return 1; fi
  cat /tmp/pw.out
  [ "$PW_RC" -eq 1 ] && grep -q "pwnic0.30 already exists but is not a VLAN device" /tmp/pw.out
}
check "@30 with a veth named pwnic0.30 fails: 'already exists but is not a VLAN device'" refused
unchanged() {
  [ "$(host_links)" = "$BEFORE_HOST" ] || { echo "host links changed:"; host_links; return 1; }
  [ "$(ip -n vg4 -o link show)" = "$BEFORE_VG4" ] || { echo "vg4 changed:"; ip -n vg4 -o link show; return 1; }
  kind_is - pwnic0.30 veth >/dev/null
}
check "the refused attach changed nothing (host links, vg4, pwnic0.30 still a veth)" unchanged

# A VLAN device the admin made beforehand is used as it is.
s ip link add link pwnic0 name pwnic0.40 type vlan id 40
s ip link set pwnic0.40 up
VLAN40_INDEX=$(ifindex pwnic0.40)
admin_vlan() {
  pw pwnic0 vg4 10.50.0.4/24 @40 || { cat /tmp/pw.out; return 1; }
  [ "$(ifindex pwnic0.40)" = "$VLAN40_INDEX" ] || { echo "pwnic0.40 was re-made"; return 1; }
  kind_is vg4 eth1 macvlan && has_addr vg4 eth1 10.50.0.4/24
}
check "an admin-made VLAN device pwnic0.40 is reused as it is" admin_vlan

pw_ok "pipework del vg2" del vg2
after_del() {
  if ip -n vg2 link show dev eth1 2>/dev/null; then echo "vg2 still has eth1"; return 1; fi
  vlan_is pwnic0.10 pwnic0 10 >/dev/null || { echo "pwnic0.10 is gone while vg1 uses it"; return 1; }
  reach vg1 10.50.0.254
}
check "del vg2 removed its eth1; pwnic0.10 stays for vg1, which still reaches the switch" after_del
pw_ok "pipework del vg1 (the last user of VLAN 10)" del vg1
last_user_gone() {
  if ip link show dev pwnic0.10 >/dev/null 2>&1; then echo "pwnic0.10 is still on the host"; return 1; fi
  vlan_is pwnic0.40 pwnic0 40 >/dev/null || { echo "the admin-made pwnic0.40 was removed"; return 1; }
}
check "the VLAN sub-interface pipework made went with its last user; the admin-made one stays" last_user_gone

# --direct-phys with a VLAN: the sub-interface pipework made moves in, and goes with del (its
# record says pipework made it; an old reader took the written 1 for false and leaked it).
guest vp1
s ip link add pwnic1 type veth peer name pwsw1 netns pwsw
s ip link set pwnic1 up
pw_ok "attach vp1 with --direct-phys on pwnic1 VLAN 50 (pwnic1.50 moves in as eth1)" --direct-phys pwnic1 vp1 10.51.0.1/24 @50
moved_in() {
  kind_is vp1 eth1 vlan || return 1
  if ip link show dev pwnic1.50 >/dev/null 2>&1; then echo "pwnic1.50 is still on the host"; return 1; fi
}
check "vp1's eth1 is the VLAN device pwnic1.50, gone from the host" moved_in
pw_ok "pipework del vp1" del vp1
vlan_made_gone() {
  if ip link show dev pwnic1.50 >/dev/null 2>&1; then ip -d link show dev pwnic1.50; echo "pwnic1.50 was given back but not removed"; return 1; fi
  ip link show dev pwnic1 >/dev/null || { echo "pwnic1 itself is gone"; return 1; }
}
check "del gave pwnic1.50 back and removed it (pipework made it); pwnic1 stays" vlan_made_gone

# A batch --replace of one macvlan on a VLAN sub-interface pipework made leaves the sub-interface
# to the other guest on it (the old batch executor removed it unconditionally, and the other
# guest's macvlan with it).
guest vb1 vb2
s ip -n pwsw link add link pwsw0 name pwsw0.60 type vlan id 60
s ip -n pwsw addr add 10.50.6.254/24 dev pwsw0.60
s ip -n pwsw link set pwsw0.60 up
printf 'pwnic0 vb1 10.50.6.1/24 @60\npwnic0 vb2 10.50.6.2/24 @60\n' >/tmp/vb.batch
pw_ok "batch: vb1 and vb2 on pwnic0 VLAN 60" batch /tmp/vb.batch
printf 'pwnic0 --replace vb1 10.50.6.11/24 @60\n' >/tmp/vb-replace.batch
pw_ok "batch: --replace vb1 with another address on VLAN 60" batch /tmp/vb-replace.batch
replaced_kept() {
  vlan_is pwnic0.60 pwnic0 60 >/dev/null || { echo "pwnic0.60 is gone"; return 1; }
  has_addr vb1 eth1 10.50.6.11/24 >/dev/null || { ip -n vb1 addr; echo "vb1 has not got 10.50.6.11"; return 1; }
  reach vb2 10.50.6.254 && reach vb1 10.50.6.254
}
check "pwnic0.60 stays (vb2 uses it); vb1 has its new address; both reach the switch" replaced_kept
pw_ok "pipework del vb1" del vb1
pw_ok "pipework del vb2 (the last user of VLAN 60)" del vb2
vlan60_gone() { if ip link show dev pwnic0.60 >/dev/null 2>&1; then echo "pwnic0.60 is still there"; return 1; fi; }
check "pwnic0.60 went with its last user" vlan60_gone

# --- 2. dummy ------------------------------------------------------------------------------
section "dummy interfaces"
guest gd
BEFORE_HOST=$(host_links)
pw_ok "attach dummy0 to gd with 10.70.0.5/24" dummy0 gd 10.70.0.5/24
check_gd() { kind_is gd eth1 dummy && has_addr gd eth1 10.70.0.5/24; }
check "gd's eth1 is a dummy device with 10.70.0.5/24, up" check_gd
check_host_same() { [ "$(host_links)" = "$BEFORE_HOST" ] || { echo "host links changed:"; host_links; return 1; }; }
check "no dummy (or any other link) was left on the host" check_host_same
del_gd() {
  pw del gd || { cat /tmp/pw.out; return 1; }
  if ip -n gd link show dev eth1 2>/dev/null; then echo "gd still has eth1"; return 1; fi
}
check "pipework del gd removes the dummy eth1" del_gd

# --- 3. Linux bridge with VLAN filtering ------------------------------------------------------
section "Linux bridge with VLAN filtering"
guest bg1 bg2 bg3 bw1
pw_ok "attach bg1 to a new bridge brv on VLAN 10" brv bg1 10.80.0.1/24 @10
check "brv was created with vlan_filtering=1" grep -qx 1 /sys/class/net/brv/bridge/vlan_filtering
pw_ok "attach bg2 to brv on VLAN 10" brv bg2 10.80.0.2/24 @10
pw_ok "attach bg3 to brv on VLAN 20" brv bg3 10.80.0.3/24 @20
BG1=$(host_end bg1)
BG3=$(host_end bg3)
check "bg1's host end ${BG1:-?} is in VLAN 10 only, PVID and untagged" pvid_only "$BG1" 10
check "bg3's host end ${BG3:-?} is in VLAN 20 only, PVID and untagged" pvid_only "$BG3" 20
check "VLAN 10 guests reach each other (bg1 -> bg2)" reach bg1 10.80.0.2
check "VLAN 20 does not reach VLAN 10 (bg3 -/-> bg1)" unreachable bg3 10.80.0.1
s ip link add brw type bridge
s ip link set brw up
existing_bridge() {
  pw brw bw1 10.81.0.1/24 @30 || { cat /tmp/pw.out; return 1; }
  grep -qx 1 /sys/class/net/brw/bridge/vlan_filtering || { echo "brw: vlan_filtering is not on"; return 1; }
  pvid_only "$(host_end bw1)" 30
}
check "an existing bridge without filtering gets it turned on, and the port VLAN 30" existing_bridge
# What the watcher makes of a container's label (its bridge keeps its settings): never turned on.
s ip link add brk type bridge
s ip link set brk up
guest bk1
kept_bridge() {
  timeout 120 /usr/bin/node /repo/build/vm/keep-settings.js brk bk1 30 || return 1
  grep -qx 0 /sys/class/net/brk/bridge/vlan_filtering || { echo "brk: vlan_filtering was turned on"; return 1; }
  if ip -n bk1 link show dev eth1 >/dev/null 2>&1; then echo "bk1 got an eth1"; return 1; fi
  [ -z "$(ls /sys/class/net/brk/brif)" ] || { echo "brk has ports: $(ls /sys/class/net/brk/brif)"; return 1; }
}
check "a label's VLAN on a bridge with filtering off is refused; the bridge keeps vlan_filtering=0 and gets no port" kept_bridge

# --- 4. Open vSwitch, kernel datapath --------------------------------------------------------
section "Open vSwitch on the kernel datapath"
guest og1 og2 og3
wait "$OVS_START_PID"
OVS_START_RC=$?
ovs_up() {
  cat /tmp/ovs-start.log
  [ "$OVS_START_RC" -eq 0 ] || { echo "starting OVS failed ($OVS_START_RC)"; return 1; }
  [ -d /sys/module/openvswitch ] || { echo "the openvswitch module is not loaded"; return 1; }
  ovs-vsctl --timeout=20 show && ovs-appctl --timeout=20 -t ovs-vswitchd version && return 0
  tail -n 20 /var/log/openvswitch/*.log
  return 1
}
check "ovsdb-server and ovs-vswitchd run, the openvswitch module is loaded" ovs_up
ovs_first() {
  pw ovsv og1 10.90.0.1/24 @10 || { cat /tmp/pw.out; return 1; }
  if grep -q 'userspace' /tmp/pw.out; then cat /tmp/pw.out; echo "pipework chose the userspace datapath"; return 1; fi
}
check "attach og1 to a new OVS bridge ovsv with tag 10 (no userspace-datapath note)" ovs_first
kernel_dp() {
  _t=$(ovs-vsctl --timeout=20 get bridge ovsv datapath_type) || return 1
  echo "datapath_type=$_t"
  case $_t in '""' | system) ;; *) return 1 ;; esac
  kind_is - ovsv openvswitch || return 1
  ovs-dpctl show | tee /tmp/dp.out
  grep -q 'system@ovs-system' /tmp/dp.out
}
check "ovsv is on the kernel datapath (system@ovs-system, ovsv an openvswitch device)" kernel_dp
pw_ok "attach og2 to ovsv with tag 10" ovsv og2 10.90.0.2/24 @10
pw_ok "attach og3 to ovsv with tag 20" ovsv og3 10.90.0.3/24 @20
OG1=$(host_end og1)
OG3=$(host_end og3)
tag_is() { _t=$(ovs-vsctl --timeout=20 get port "$1" tag) && echo "tag of $1: $_t" && [ "$_t" = "$2" ]; }
tags() { tag_is "$OG1" 10 && tag_is "$OG3" 20; }
check "og1's port ${OG1:-?} has tag 10 and og3's ${OG3:-?} tag 20" tags
in_dp() { ovs-dpctl show >/tmp/dp.out; cat /tmp/dp.out; grep -q ": $OG1\$" /tmp/dp.out && grep -q ": $OG3\$" /tmp/dp.out; }
check "the kernel datapath has the guests' ports" in_dp
check "tag 10 guests reach each other (og1 -> og2)" reach og1 10.90.0.2
check "tag 20 does not reach tag 10 (og3 -/-> og1)" unreachable og3 10.90.0.1
del_og2() {
  _p=$(host_end og2)
  pw del og2 || { cat /tmp/pw.out; return 1; }
  if ovs-vsctl --timeout=20 list-ports ovsv | grep -qx "$_p"; then echo "port $_p still on ovsv"; return 1; fi
}
check "pipework del og2 removes its port from ovsv" del_og2

section "topology impairments: netem (delay, loss) and tbf (rate), changed live by pipework apply"
cat >/tmp/vmt.yaml <<'TOPOLOGY'
name: vmt
networks:
  lan: {bridge: brvmt}
guests:
  a: {netns: vmta}
  b: {netns: vmtb}
links:
  - a lan 10.95.0.1/24
  - {guest: b, network: lan, address: 10.95.0.2/24, impair: {delay: 50ms, loss: 0%, rate: 10mbit}}
TOPOLOGY
pw_ok "apply a topology whose link b:eth1 has delay 50ms and rate 10mbit" apply /tmp/vmt.yaml
netem_is() {
  ip netns exec vmtb tc qdisc show dev eth1 | tee /tmp/q.out
  grep -q "netem 1: root .*delay $1" /tmp/q.out && grep -q 'tbf 2: parent 1:' /tmp/q.out
}
check "b:eth1 has netem (delay 50ms) at the root and tbf under it" netem_is 50ms
rtt_at_least() {
  ip netns exec vmta ping -c 3 -W 3 10.95.0.2 | tee /tmp/ping.out
  _min=$(sed -n 's#.*min/avg/max[^=]*= *\([0-9.]*\)/.*#\1#p' /tmp/ping.out)
  echo "min rtt: ${_min:-none} ms"
  [ -n "$_min" ] && awk -v m="$_min" -v want="$1" 'BEGIN { exit !(m >= want) }'
}
check "a -> b round trips take at least 49 ms (the delay is real)" rtt_at_least 49
VMT_IF=$(ip -n vmtb -o link show dev eth1 | cut -d: -f1)
sed -i 's/delay: 50ms/delay: 100ms/' /tmp/vmt.yaml
pw_ok "apply again with delay 100ms" apply /tmp/vmt.yaml
same_if() { _now=$(ip -n vmtb -o link show dev eth1 | cut -d: -f1); echo "ifindex $VMT_IF -> $_now"; [ "$_now" = "$VMT_IF" ]; }
check "b:eth1 keeps its ifindex across the change (changed live)" same_if
check "b:eth1 now has netem delay 100ms" netem_is 100ms
check "a -> b round trips take at least 99 ms" rtt_at_least 99
vmt_gone() { ! ip link show brvmt 2>/dev/null && ! ip netns list | grep -q vmt; }
pw_ok "destroy the topology" destroy /tmp/vmt.yaml
check "destroy removed the bridge and both netns" vmt_gone

# --- summary ---------------------------------------------------------------------------------
echo
echo "PWVM-EXPECTED $EXPECTED"
echo "PWVM-SUITE-SECONDS $(awk -v a="$T_START" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
RAN=$((PASSED + FAILED))
if [ "$RAN" -ne "$EXPECTED" ]; then
  echo "FAIL: $RAN checks ran, $EXPECTED expected"
  FAILED=$((FAILED + 1))
fi
if [ "$SETUP_ERRORS" -ne 0 ]; then
  echo "FAIL: $SETUP_ERRORS set-up step(s) failed (SETUP ERROR lines above)"
  FAILED=$((FAILED + 1))
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$RAN" -eq "$EXPECTED" ]

#!/usr/bin/env bash
# pipework's full-kernel VM tier: what this machine's kernel lacks (802.1Q VLAN devices, dummy,
# bridge VLAN filtering, the Open vSwitch kernel datapath), tested under a stock Debian kernel
# booted with qemu (software emulation: /dev/kvm here cannot run it).
#
# As root, from anywhere: bash scripts/vm-test.sh
#   1. installs what is missing with apt: qemu-system-x86, busybox-static, xz-utils,
#      openvswitch-switch (its services kept from starting), and the Debian kernel package
#      (linux-image-*-amd64, downloaded and unpacked, never installed);
#   2. builds pipework if build/ is older than src/;
#   3. builds the initramfs (test/vm/build-initramfs.sh) unless the cached one still matches;
#   4. boots the VM once, with no network card, sharing the repository read-only over 9p;
#      test/vm/init.sh runs test/vm/suite.sh inside and powers off;
#   5. reads the results from the shared folder and the serial log.
# It fails loudly (exit 1) when the VM cannot boot, times out, or any check fails or did not
# run. Nothing is skipped silently. The qemu it starts is killed by PID on any exit.
#
# Environment:
#   PIPEWORK_VM_CACHE    cache folder (default /var/cache/pipework-vm): the kernel, the
#                        initramfs, and the last run's logs (run/). The kernel is kept until
#                        its folder (kernel/) is removed; the initramfs is rebuilt whenever
#                        test/vm/{build-initramfs,init}.sh or the host binaries it holds change.
#   PIPEWORK_VM_TIMEOUT  seconds the VM may run (default 600)
#   PIPEWORK_VM_MEM      guest memory in MiB (default 1536)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VMDIR="$ROOT/test/vm"
CACHE="${PIPEWORK_VM_CACHE:-/var/cache/pipework-vm}"
TIMEOUT="${PIPEWORK_VM_TIMEOUT:-600}"
MEM="${PIPEWORK_VM_MEM:-1536}"
T0=$(date +%s.%N)

log() { printf 'vm-test: %s\n' "$*" >&2; }
die() {
  printf '\nvm-test: ##################################################################\n' >&2
  printf 'vm-test: FAILED: %s\n' "$*" >&2
  printf 'vm-test: ##################################################################\n' >&2
  exit 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and boots a VM)"
[[ $(uname -m) == x86_64 ]] || die "only x86_64 hosts are supported (the guest is Debian amd64)"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "another vm-test.sh holds $CACHE/.lock"

QEMU_PID=""
MADE_POLICY=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  ((MADE_POLICY == 0)) || rm -f /usr/sbin/policy-rc.d
  if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
    log "killing qemu (pid $QEMU_PID)"
    kill -TERM "$QEMU_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- 1. packages ----------------------------------------------------------------------------
APT_UPDATED=0
apt_update() {
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    apt-get update -qq -o DPkg::Lock::Timeout=600 >"$CACHE/apt-update.log" 2>&1 ||
      { cat "$CACHE/apt-update.log" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
}

declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [/bin/busybox]=busybox-static
  [xz]=xz-utils
  [ovs-vswitchd]=openvswitch-switch
  [ip]=iproute2
  [nsenter]=util-linux
  [setpriv]=util-linux
  [depmod]=kmod
)
missing=()
for c in "${!NEED[@]}"; do
  if [[ $c == /* ]]; then [[ -x $c ]] || missing+=("${NEED[$c]}")
  else command -v "$c" >/dev/null || missing+=("${NEED[$c]}"); fi
done
if ((${#missing[@]} > 0)); then
  log "installing: ${missing[*]}"
  apt_update
  # Keep maintainer scripts from starting services on this machine (openvswitch-switch).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    MADE_POLICY=1
  fi
  t=$(date +%s.%N)
  set +e
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends \
    "${missing[@]}" >"$CACHE/apt.log" 2>&1
  arc=$?
  set -e
  ((MADE_POLICY == 0)) || rm -f /usr/sbin/policy-rc.d
  MADE_POLICY=0
  if ((arc != 0)); then
    tail -n 40 "$CACHE/apt.log" >&2
    die "apt-get install ${missing[*]} failed (log above, all of it in $CACHE/apt.log)"
  fi
  log "installed in $(since "$t") s (log $CACHE/apt.log)"
fi
for c in "${!NEED[@]}"; do
  if [[ $c == /* ]]; then [[ -x $c ]]; else command -v "$c" >/dev/null; fi || die "$c still missing after installing ${NEED[$c]}"
done
[[ -x /usr/bin/node ]] || die "/usr/bin/node not found: the VM runs the host's Node.js (>= 20)"
node_major="$(/usr/bin/node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "/usr/bin/node is $(/usr/bin/node --version): need >= 20"

# --- 2. the Debian kernel (cached) ---------------------------------------------------------
KDIR="$CACHE/kernel"
if [[ ! -f $KDIR/ready ]]; then
  t=$(date +%s.%N)
  # The kernel the metapackage points at (Debian's linux-image-amd64).
  kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
  rm -rf "$KDIR.tmp"
  mkdir -p "$KDIR.tmp/dl"
  chmod 0777 "$KDIR.tmp/dl" # apt's download sandbox user must be able to write there
  pkg="$(kernel_pkg)" || true
  if [[ -z $pkg ]] || ! (cd "$KDIR.tmp/dl" && apt-get download -qq "$pkg" 2>/dev/null); then
    apt_update # no package lists yet, or stale ones naming a kernel the mirror no longer has
    pkg="$(kernel_pkg)" || true
    [[ -n $pkg ]] || die "apt knows no linux-image-*-amd64 behind linux-image-amd64 (a Debian host is needed)"
    (cd "$KDIR.tmp/dl" && apt-get download -qq "$pkg") || die "apt-get download $pkg failed"
  fi
  log "downloaded $pkg; unpacking"
  dpkg-deb -x "$KDIR.tmp"/dl/*.deb "$KDIR.tmp/root" || die "cannot unpack $pkg"
  rm -rf "$KDIR.tmp/dl"
  kver="$(ls "$KDIR.tmp/root/lib/modules")"
  [[ -n $kver && $(wc -w <<<"$kver") -eq 1 ]] || die "expected one kernel version in $pkg, found: $kver"
  depmod -b "$KDIR.tmp/root" "$kver" || die "depmod failed for $kver"
  # An uncompressed vmlinux boots through PVH: no firmware, no decompression under emulation.
  vmlinuz="$KDIR.tmp/root/boot/vmlinuz-$kver"
  off="$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)" || true
  if [[ -n $off ]]; then
    # xz complains about the bytes after the stream ("trailing garbage"); the ELF check decides.
    tail -c +$((off + 1)) "$vmlinuz" | xz -dcq >"$KDIR.tmp/vmlinux" 2>/dev/null || true
  fi
  if [[ $(head -c4 "$KDIR.tmp/vmlinux" 2>/dev/null | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
    log "extracted an uncompressed vmlinux (PVH boot)"
  else
    log "could not extract vmlinux: booting the compressed bzImage (slower)"
    rm -f "$KDIR.tmp/vmlinux"
  fi
  printf '%s\n' "$pkg" >"$KDIR.tmp/package"
  printf '%s\n' "$kver" >"$KDIR.tmp/kver"
  touch "$KDIR.tmp/ready"
  rm -rf "$KDIR"
  mv "$KDIR.tmp" "$KDIR"
  log "kernel ready in $(since "$t") s"
fi
KVER="$(cat "$KDIR/kver")"
KERNEL="$KDIR/vmlinux"
[[ -f $KERNEL ]] || KERNEL="$KDIR/root/boot/vmlinuz-$KVER"
[[ -f $KERNEL ]] || die "no kernel image in $KDIR (remove it to download again)"
log "kernel $(cat "$KDIR/package") ($KVER), $(basename "$KERNEL")"

# --- 3. pipework itself, built --------------------------------------------------------------
[[ -d $ROOT/node_modules ]] || die "$ROOT/node_modules missing: run scripts/setup.sh first"
main_js="$ROOT/build/src/front/cli/main.js"
if [[ ! -f $main_js || -n $(find "$ROOT/src" -name '*.ts' -newer "$main_js" -print -quit) ]]; then
  log "build/ is older than src/: npm run build"
  (cd "$ROOT" && npm run --silent build) || die "npm run build failed"
fi
# Programs of the suite that drive the engine directly (test/vm/*.ts) are bundled, as the CLI is:
# the VM has the repository but not node_modules.
for prog in "$VMDIR"/*.ts; do
  [[ -e $prog ]] || continue
  out="$ROOT/build/vm/$(basename "${prog%.ts}").js"
  (cd "$ROOT" && node_modules/.bin/esbuild "$prog" --bundle --platform=node --format=esm --target=node20 \
    --log-level=warning --outfile="$out") || die "bundling $prog failed"
done

# --- 4. initramfs (cached while its inputs are unchanged) -------------------------------------
INITRD="$CACHE/initramfs.cpio"
stamp="$(
  {
    echo "$KVER"
    cat "$VMDIR/build-initramfs.sh" "$VMDIR/init.sh"
    dpkg-query -W busybox-static iproute2 util-linux nodejs openvswitch-switch openvswitch-common libc6 2>/dev/null || true
    # Not every binary comes from a package (a hand-installed node): their size and time too.
    stat -L -c '%n %s %Y' /usr/bin/node /usr/sbin/ip /usr/sbin/bridge /usr/bin/nsenter /usr/sbin/ovs-vswitchd /bin/busybox 2>&1 || true
  } | sha256sum | cut -d' ' -f1
)"
if [[ -f $INITRD && $(cat "$INITRD.stamp" 2>/dev/null) == "$stamp" ]]; then
  log "initramfs up to date ($(du -h "$INITRD" | cut -f1))"
else
  t=$(date +%s.%N)
  log "building the initramfs"
  rm -f "$INITRD.stamp"
  TMPDIR="$CACHE" bash "$VMDIR/build-initramfs.sh" "$KDIR/root/lib/modules/$KVER" "$INITRD" ||
    die "building the initramfs failed"
  printf '%s\n' "$stamp" >"$INITRD.stamp"
  log "initramfs built in $(since "$t") s"
fi

# --- 5. boot once, run the suite ------------------------------------------------------------
RUN="$CACHE/run"
rm -rf "$RUN"
mkdir -p "$RUN/out"
SERIAL="$RUN/serial.log"
log "booting the VM (timeout ${TIMEOUT}s; serial log $SERIAL)"
t_boot=$(date +%s.%N)
# setpriv --pdeathsig: qemu dies with this script even if the script is SIGKILLed.
setpriv --pdeathsig KILL -- qemu-system-x86_64 \
  -nodefaults -no-user-config -accel tcg,thread=multi -cpu max -smp 2 -m "$MEM" \
  -display none -monitor none -serial "file:$SERIAL" -nic none -no-reboot \
  -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off" \
  -virtfs "local,path=$ROOT,mount_tag=repo,security_model=none,readonly=on" \
  -virtfs "local,path=$RUN/out,mount_tag=out,security_model=none" \
  >"$RUN/qemu.log" 2>&1 9>&- &
QEMU_PID=$!

timed_out=0
deadline=$(($(date +%s) + TIMEOUT))
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if (($(date +%s) >= deadline)); then timed_out=1; break; fi
  sleep 0.2
done
qrc=0
if ((timed_out)); then
  kill -KILL "$QEMU_PID" 2>/dev/null || true
  wait "$QEMU_PID" 2>/dev/null || true
else
  wait "$QEMU_PID" || qrc=$?
fi
QEMU_PID=""
vm_wall="$(since "$t_boot")"

# --- 6. verdict ------------------------------------------------------------------------------
tr -d '\r' <"$SERIAL" >"$RUN/serial.txt" 2>/dev/null || : >"$RUN/serial.txt"
show_serial() {
  printf 'vm-test: ---- serial console (%s) ----\n' "$SERIAL" >&2
  sed 's/^/  | /' "$RUN/serial.txt" >&2
  if [[ -s $RUN/qemu.log ]]; then
    printf 'vm-test: ---- qemu output ----\n' >&2
    sed 's/^/  | /' "$RUN/qemu.log" >&2
  fi
  printf 'vm-test: ---- end ----\n' >&2
}

((timed_out == 0)) || { show_serial; die "the VM did not finish within ${TIMEOUT}s (killed); see the serial log above"; }
((qrc == 0)) || { show_serial; die "qemu exited with status $qrc"; }
if [[ -s $RUN/out/fatal ]]; then show_serial; die "the VM could not run the suite: $(cat "$RUN/out/fatal")"; fi
grep -q '^PWVM: init started' "$RUN/serial.txt" || { show_serial; die "the VM did not boot to test/vm/init.sh"; }
[[ -f $RUN/out/suite.log && -f $RUN/out/suite.rc ]] || { show_serial; die "the suite left no results in the shared folder"; }

# The suite's own output, as it ran.
sed 's/^/  /' "$RUN/out/suite.log" >&2

summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$RUN/out/suite.log" | tail -1)" || true
expected="$(sed -n 's/^PWVM-EXPECTED \([0-9][0-9]*\)$/\1/p' "$RUN/out/suite.log" | tail -1)"
suite_rc="$(cat "$RUN/out/suite.rc")"
[[ -n $summary ]] || { show_serial; die "the suite ended without its 'N passed, M failed' line (exit $suite_rc)"; }
passed=${summary%% passed*}
failed=${summary#*, } failed=${failed%% failed}
boot_up="$(cat "$RUN/out/boot-uptime" 2>/dev/null || echo '?')"
suite_s="$(sed -n 's/^PWVM-SUITE-SECONDS \([0-9.]*\)$/\1/p' "$RUN/out/suite.log" | tail -1)"
log "timing: VM wall ${vm_wall}s (kernel to /init ${boot_up}s, suite ${suite_s:-?}s), total $(since "$T0")s"

if ((failed != 0)); then
  printf 'vm-test: failed checks:\n' >&2
  grep -E '^(FAIL|SETUP ERROR)' "$RUN/out/suite.log" | sed 's/^/  /' >&2
  die "$failed of $((passed + failed)) VM checks failed (full log $RUN/out/suite.log)"
fi
[[ -n $expected ]] || die "the suite did not say how many checks to expect"
# The same count, taken here from the file the VM read: a suite that lost its head still fails.
expected_here="$(grep -cE '^(check|pw_ok) ' "$VMDIR/suite.sh")"
[[ $expected == "$expected_here" ]] || die "the suite expected $expected checks, but $VMDIR/suite.sh has $expected_here"
((passed == expected)) || die "only $passed of the $expected expected VM checks ran"
[[ $suite_rc == 0 ]] || die "the suite exited $suite_rc although its checks passed"
log "all $passed VM checks passed"

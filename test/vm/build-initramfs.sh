#!/usr/bin/env bash
# Build the initramfs of pipework's full-kernel VM tier (see scripts/vm-test.sh).
#
#   build-initramfs.sh <kernel modules dir> <output.cpio>
#
# <kernel modules dir> is the unpacked lib/modules/<version> of the Debian kernel package
# (with a modules.dep). The result is an UNCOMPRESSED newc cpio: the kernel copies it into
# its rootfs much faster under software emulation than it could inflate a compressed one.
# It holds:
#   /init                       test/vm/init.sh
#   /bin/*                      busybox (static) and its applets, except those shadowed below
#   /usr/sbin/ip, bridge, tc    the host's iproute2 (pipework talks to the real one)
#   /usr/bin/nsenter            the host's util-linux nsenter (pipework enters guests with it)
#   /usr/bin/xargs              findutils xargs (pipework batch runs many guests' batches through one, -P)
#   /usr/bin/node               the host's Node.js
#   Open vSwitch                ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-appctl, ovsdb-tool,
#                               ovs-dpctl and the vswitch schema
#   their shared libraries      at the paths ldd reports
#   /lib/modules/<ver>/         the modules below and their dependencies, decompressed, plus
#                               load-order (one path a line, dependencies first)
# Anything missing is an error: this script never leaves a part out silently.
set -euo pipefail

MODDIR=${1:?usage: build-initramfs.sh <kernel modules dir> <output.cpio>}
OUT=${2:?usage: build-initramfs.sh <kernel modules dir> <output.cpio>}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KVER="$(basename "$MODDIR")"

die() { printf 'build-initramfs: ERROR: %s\n' "$*" >&2; exit 1; }

# crc32c_generic first: libcrc32c (openvswitch, nf_conntrack) needs a crc32c provider at load.
MODULES=(
  crc32c_generic
  8021q dummy bridge veth macvlan openvswitch af_packet
  sch_netem sch_tbf
  9p 9pnet_virtio virtio_pci
)
# name -> where it lives on the host (followed if a symlink) and where it goes in the VM.
BINS=(
  ip:/usr/sbin/ip bridge:/usr/sbin/bridge tc:/usr/sbin/tc
  nsenter:/usr/bin/nsenter
  xargs:/usr/bin/xargs
  node:/usr/bin/node
  ovsdb-server:/usr/sbin/ovsdb-server ovs-vswitchd:/usr/sbin/ovs-vswitchd
  ovs-vsctl:/usr/bin/ovs-vsctl ovs-appctl:/usr/bin/ovs-appctl ovsdb-tool:/usr/bin/ovsdb-tool
  ovs-dpctl:/usr/bin/ovs-dpctl
)
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
BUSYBOX=/bin/busybox

[[ -f $MODDIR/modules.dep ]] || die "no modules.dep in $MODDIR"
[[ -x $BUSYBOX ]] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "$BUSYBOX is missing or not static (install busybox-static)"
[[ -f $OVS_SCHEMA ]] || die "$OVS_SCHEMA missing (install openvswitch-switch)"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/pipework-vm-initramfs.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,lib,proc,sys,dev,tmp,run,etc,repo,out} \
         "$STAGE"/{etc/openvswitch,var/log/openvswitch,usr/share/openvswitch} \
         "$STAGE/lib/modules/$KVER"
ln -s ../run "$STAGE/var/run"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\n' >"$STAGE/etc/group"
printf '127.0.0.1 localhost\n' >"$STAGE/etc/hosts"

# --- host binaries and their libraries -------------------------------------------------
declare -A SHADOW=()
add_libs() { # binary
  local lib
  # ldd prints "name => /path (addr)" and "/lib64/ld-linux... (addr)"; take every absolute path.
  for lib in $(ldd "$1" | grep -oE '/[^ )]+'); do
    [[ -e $STAGE$lib ]] && continue
    mkdir -p "$STAGE$(dirname "$lib")"
    cp -L "$lib" "$STAGE$lib"
  done
}
for spec in "${BINS[@]}"; do
  name=${spec%%:*} src=${spec#*:}
  [[ -e $src ]] || die "$src not found (needed in the VM as $name)"
  cp -L "$src" "$STAGE$src"
  add_libs "$src"
  SHADOW[$name]=1
done
cp "$OVS_SCHEMA" "$STAGE$OVS_SCHEMA"

# --- busybox --------------------------------------------------------------------------------
cp "$BUSYBOX" "$STAGE/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox || -n ${SHADOW[$applet]:-} ]] && continue
  ln -s busybox "$STAGE/bin/$applet"
done
ln -s /bin/busybox "$STAGE/usr/bin/env" # for '#!/usr/bin/env node'

# --- kernel modules, dependencies first -----------------------------------------------------
declare -A DEP=() PATH_OF=() SEEN=()
while IFS= read -r line; do
  mod=${line%%:*} deps=${line#*:}
  mod=${mod#"$MODDIR"/}
  base=${mod##*/} base=${base%%.ko*} base=${base//-/_}
  PATH_OF[$base]=$mod
  DEP[$mod]=$deps
done <"$MODDIR/modules.dep"

ORDER=()
visit() { # module path relative to MODDIR
  local m=$1 d
  [[ -n ${SEEN[$m]:-} ]] && return 0
  SEEN[$m]=1
  for d in ${DEP[$m]}; do visit "${d#"$MODDIR"/}"; done
  ORDER+=("$m")
}
for want in "${MODULES[@]}"; do
  key=${want//-/_}
  if [[ -n ${PATH_OF[$key]:-} ]]; then
    visit "${PATH_OF[$key]}"
  elif grep -qE "/${want}\.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
    printf 'build-initramfs: %s is built into the kernel\n' "$want"
  else
    die "kernel module $want is neither in modules.dep nor built in ($MODDIR)"
  fi
done

: >"$STAGE/lib/modules/$KVER/load-order"
for m in "${ORDER[@]}"; do
  plain=${m%.xz} plain=${plain%.zst} plain=${plain%.gz}
  dest="$STAGE/lib/modules/$KVER/$plain"
  mkdir -p "$(dirname "$dest")"
  case $m in
    *.ko) cp "$MODDIR/$m" "$dest" ;;
    *.ko.xz) xz -dc "$MODDIR/$m" >"$dest" ;;
    *.ko.gz) gzip -dc "$MODDIR/$m" >"$dest" ;;
    *.ko.zst) command -v zstd >/dev/null || die "$m is zstd-compressed: install zstd"; zstd -qdc "$MODDIR/$m" >"$dest" ;;
    *) die "unexpected module file $m" ;;
  esac
  printf '%s\n' "$plain" >>"$STAGE/lib/modules/$KVER/load-order"
done

# --- init and archive ---------------------------------------------------------------------
install -m 0755 "$HERE/init.sh" "$STAGE/init"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
printf 'build-initramfs: %s: %d modules, %s\n' "$OUT" "${#ORDER[@]}" "$(du -h "$OUT" | cut -f1)"

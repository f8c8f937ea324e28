#!/bin/busybox sh
# /init of pipework's full-kernel VM (built in by test/vm/build-initramfs.sh, booted by
# scripts/vm-test.sh). Mounts the basics, loads the modules, mounts the two 9p shares
#   repo  the repository, read-only, at /repo (the built pipework and test/vm/suite.sh)
#   out   the run's results folder, at /out
# runs /repo/test/vm/suite.sh once, leaves its output in /out/suite.log and its exit status
# in /out/suite.rc, and powers off. Lines starting with "PWVM" are for the host to read.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LC_ALL=C
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
/bin/busybox mount -t tmpfs -o mode=1777 tmp /tmp
# As systemd mounts it: root's alone (pipework refuses to keep its locks under a /run anyone can write).
/bin/busybox mount -t tmpfs -o mode=0755 run /run
up() { cut -d' ' -f1 /proc/uptime; }
echo "PWVM: init started at ${BOOT_UP:=$(up)}s (kernel $(uname -r))"

fatal() {
  echo "PWVM-FATAL: $*"
  if [ -w /out ]; then echo "$*" >/out/fatal; sync; fi
  poweroff -f
}

KMOD=/lib/modules/$(uname -r)
[ -f "$KMOD/load-order" ] || fatal "no $KMOD/load-order: the initramfs does not match kernel $(uname -r)"
while read -r m; do
  args=
  # dummy would otherwise make dummy0 itself, and pipework's dummy0 is a name it creates.
  [ "${m##*/}" = dummy.ko ] && args=numdummies=0
  insmod "$KMOD/$m" $args 2>/tmp/insmod.err || fatal "insmod $m failed: $(cat /tmp/insmod.err)"
done <"$KMOD/load-order"
echo "PWVM: $(wc -l <"$KMOD/load-order") modules loaded at $(up)s"

ip link set lo up
hostname pwvm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out 2>/tmp/mnt.err ||
  fatal "cannot mount the 9p share 'out': $(cat /tmp/mnt.err)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro repo /repo 2>/tmp/mnt.err ||
  fatal "cannot mount the 9p share 'repo': $(cat /tmp/mnt.err)"
echo "$BOOT_UP" >/out/boot-uptime
[ -f /repo/test/vm/suite.sh ] || fatal "/repo/test/vm/suite.sh not found on the repo share"

echo "PWVM: suite starting at $(up)s"
rm -f /tmp/suite.rc
{ sh /repo/test/vm/suite.sh; echo $? >/tmp/suite.rc; } 2>&1 | tee /out/suite.log
rc=$(cat /tmp/suite.rc 2>/dev/null || echo 255)
echo "PWVM: suite exited $rc at $(up)s"
echo "$rc" >/out/suite.rc
sync
umount /out 2>/dev/null
echo "PWVM-DONE"
poweroff -f

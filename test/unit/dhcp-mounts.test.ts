// What a DHCP client's private mount namespace sheds before the client starts: every nsfs mount
// (netns files of named netns, Docker, Podman, containerd), found in mountinfo — and the refusal
// to unmount anything where a mount is shared (it would reach the host). Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nsfsMountPoints, parseMountinfo } from '../../src/dhcp/mounts.js';

const HOST = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '27 22 0:25 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=400000k,mode=755',
  '98 27 0:4 net:[4026531833] /run/docker/netns/default rw - nsfs nsfs rw',
  '46 27 254:0 /run/netns /run/netns rw,relatime shared:2 - ext4 /dev/vda rw',
  '47 46 0:4 net:[4026532174] /run/netns/lab rw shared:3 - nsfs nsfs rw',
  '48 46 0:4 net:[4026532175] /run/netns/a\\040b rw shared:4 - nsfs nsfs rw',
  '49 46 0:4 net:[4026532176] /run/netns/lab rw shared:6 - nsfs nsfs rw',
  '50 27 0:4 net:[4026532177] /run/user/0/netns/netns-1234 rw - nsfs nsfs rw',
  '51 27 0:4 net:[4026532178] /run/containerd/io.containerd.grpc.v1.cri/sandboxes/x/netns rw - nsfs nsfs rw',
  '',
].join('\n');

void describe("a DHCP client's mount namespace", () => {
  void test('mountinfo: mount points (escapes decoded), file system types, shared mounts', () => {
    const m = parseMountinfo(HOST);
    assert.equal(m.length, 9);
    assert.deepEqual(m[0], { point: '/', fstype: 'ext4', shared: true });
    assert.deepEqual(m[2], { point: '/run/docker/netns/default', fstype: 'nsfs', shared: false });
    assert.equal(m[5]?.point, '/run/netns/a b');
  });

  void test('every nsfs mount point, once, deepest first', () => {
    assert.deepEqual(nsfsMountPoints(parseMountinfo(HOST)), [
      '/run/containerd/io.containerd.grpc.v1.cri/sandboxes/x/netns',
      '/run/user/0/netns/netns-1234',
      '/run/docker/netns/default',
      '/run/netns/a b',
      '/run/netns/lab',
    ]);
    assert.deepEqual(nsfsMountPoints(parseMountinfo('22 1 254:0 / / rw - ext4 /dev/vda rw\n')), []);
  });
});

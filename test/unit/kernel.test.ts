// Which kernel features the machine can tell us about, from a fake root directory.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURES, featureAvailability, featureText, type Feature } from '../../src/host/kernel.js';
import { DUMMY_DEVICES } from '../../src/drivers/dummy.js';
import { IPOIB_DEVICES } from '../../src/drivers/ipoib.js';
import { MACVLAN_DEVICES } from '../../src/drivers/macvlan.js';

const REL = '6.1.0-99-amd64';

void describe('featureAvailability', () => {
  let base = '';
  let n = 0;
  /** A fresh fake root with these files (paths relative to it; a trailing / makes a directory). */
  function root(files: Record<string, string> = {}): string {
    const dir = join(base, `r${n++}`);
    mkdirSync(dir);
    for (const [path, content] of Object.entries(files)) {
      if (path.endsWith('/')) {
        mkdirSync(join(dir, path), { recursive: true });
      } else {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
    }
    return dir;
  }
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'pw-unit-kernel-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  void test('a loaded (or built-in, parameterised) module: /sys/module/<name> → yes', () => {
    const r = root({ 'sys/module/macvlan/': '', 'sys/module/8021q/': '' });
    assert.equal(featureAvailability(MACVLAN_DEVICES, r, REL), 'yes');
    assert.equal(featureAvailability('vlan', r, REL), 'yes');
    // Without /lib/modules the others cannot be told.
    assert.equal(featureAvailability(DUMMY_DEVICES, r, REL), 'unknown');
  });

  void test('listed in lib/modules/<release>/modules.builtin → yes', () => {
    const r = root({
      [`lib/modules/${REL}/modules.builtin`]: 'kernel/drivers/net/dummy.ko\nkernel/net/openvswitch/openvswitch.ko\nkernel/drivers/net/macvlan.ko\n',
    });
    assert.equal(featureAvailability(DUMMY_DEVICES, r, REL), 'yes');
    assert.equal(featureAvailability('openvswitch', r, REL), 'yes');
    assert.equal(featureAvailability(MACVLAN_DEVICES, r, REL), 'yes');
    // Only a whole module name counts: "dummy.ko" does not make "my_dummy" built in, nor the other way round.
    assert.equal(featureAvailability('vlan', r, REL), 'no');
    const other = root({ [`lib/modules/${REL}/modules.builtin`]: 'kernel/drivers/net/my_dummy.ko\nkernel/drivers/net/dummy.ko.bak\n' });
    assert.equal(featureAvailability(DUMMY_DEVICES, other, REL), 'no');
  });

  void test('a module file anywhere under lib/modules/<release>/kernel (plain or compressed) → yes', () => {
    const r = root({
      [`lib/modules/${REL}/kernel/net/8021q/8021q.ko`]: '',
      [`lib/modules/${REL}/kernel/drivers/net/macvlan.ko.xz`]: '',
      [`lib/modules/${REL}/kernel/drivers/infiniband/ulp/ipoib/ib_ipoib.ko.zst`]: '',
      [`lib/modules/${REL}/kernel/net/openvswitch/openvswitch.ko.gz`]: '',
    });
    for (const f of ['vlan', MACVLAN_DEVICES, IPOIB_DEVICES, 'openvswitch'] as const) assert.equal(featureAvailability(f, r, REL), 'yes', JSON.stringify(f));
    assert.equal(featureAvailability(DUMMY_DEVICES, r, REL), 'no');
  });

  void test('lib/modules/<release> present but the module nowhere → no', () => {
    const r = root({ [`lib/modules/${REL}/modules.builtin`]: 'kernel/fs/ext4/ext4.ko\n', [`lib/modules/${REL}/kernel/fs/ext4/ext4.ko`]: '' });
    for (const f of [...Object.keys(FEATURES) as Feature[], DUMMY_DEVICES, MACVLAN_DEVICES, IPOIB_DEVICES]) assert.equal(featureAvailability(f, r, REL), 'no', JSON.stringify(f));
    const empty = root({ [`lib/modules/${REL}/`]: '' });
    assert.equal(featureAvailability(DUMMY_DEVICES, empty, REL), 'no');
  });

  void test('no lib/modules for the running release (many VMs and containers) → unknown', () => {
    assert.equal(featureAvailability(DUMMY_DEVICES, root(), REL), 'unknown');
    const otherRelease = root({ 'lib/modules/5.10.0-1-amd64/kernel/drivers/net/dummy.ko': '' });
    assert.equal(featureAvailability(DUMMY_DEVICES, otherRelease, REL), 'unknown');
  });

  void test('/sys/module wins over a modules tree that lacks it', () => {
    const r = root({ 'sys/module/dummy/': '', [`lib/modules/${REL}/modules.builtin`]: '' });
    assert.equal(featureAvailability(DUMMY_DEVICES, r, REL), 'yes');
  });
});

void describe('featureText', () => {
  void test('names the feature and its kernel module', () => {
    assert.equal(featureText('vlan'), '802.1Q VLAN devices (kernel module 8021q)');
    assert.equal(featureText(DUMMY_DEVICES), 'dummy devices (kernel module dummy)');
    assert.equal(featureText(MACVLAN_DEVICES), 'macvlan devices (kernel module macvlan)');
    assert.ok(featureText(IPOIB_DEVICES).includes('ib_ipoib'));
    assert.ok(featureText('openvswitch').includes('Open vSwitch') && featureText('openvswitch').includes('openvswitch)'));
  });
});

// Host-side interface names: classic where they fit, hashed (valid, stable, distinct) otherwise.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parkedGuestName, parkedHostName, vethHostName } from '../../src/drivers/names.js';
import { ifNameProblem } from '../../src/model/ifname.js';

const INODE = 4026532999;

void describe('vethHostName', () => {
  void test('the classic v<guestif>pl<pid> when it fits', () => {
    assert.equal(vethHostName({ pid: 4242, nsInode: INODE }, 'eth1'), 'veth1pl4242');
    assert.equal(vethHostName({ pid: 1, nsInode: INODE }, 'eth2'), 'veth2pl1');
    // Exactly 15 characters is still classic.
    assert.equal(vethHostName({ pid: 12345, nsInode: INODE }, 'ethxyz'), 'vethxyzpl12345');
    assert.equal(vethHostName({ pid: 123456, nsInode: INODE }, 'ethxyz'), 'vethxyzpl123456');
    assert.equal('vethxyzpl123456'.length, 15);
  });

  void test('too long: a deterministic, valid 15-character name', () => {
    const guest = { pid: 4194304, nsInode: INODE };
    const a = vethHostName(guest, 'verylongname');
    assert.equal(a.length, 15);
    assert.equal(ifNameProblem(a), undefined);
    assert.match(a, /^pwv[0-9a-f]{12}$/u);
    assert.equal(vethHostName({ ...guest }, 'verylongname'), a, 'deterministic');
    assert.notEqual(a, `vverylongnamepl4194304`.slice(0, 15), 'not a truncation of the classic name');
  });

  void test('different guests or guest interfaces give different names', () => {
    const names = new Set<string>();
    for (const nsInode of [INODE, INODE + 1, INODE + 2]) {
      for (const guestIf of ['abcdefghijklmno', 'abcdefghijklmnp', 'eth1.100000000']) {
        names.add(vethHostName({ pid: 99999, nsInode }, guestIf));
      }
    }
    assert.equal(names.size, 9);
    for (const n of names) assert.equal(ifNameProblem(n), undefined, n);
  });

  void test('the hashed name does not depend on the pid, only on the namespace and the interface', () => {
    assert.equal(
      vethHostName({ pid: 1234567, nsInode: INODE }, 'longguestif'),
      vethHostName({ pid: 7654321, nsInode: INODE }, 'longguestif'),
    );
  });

  void test('a netns guest (no pid) gets a hashed name, even for short interface names', () => {
    const a = vethHostName({ nsInode: INODE }, 'eth1');
    const b = vethHostName({ nsInode: INODE + 1 }, 'eth1');
    const c = vethHostName({ nsInode: INODE }, 'eth2');
    for (const n of [a, b, c]) {
      assert.equal(n.length, 15);
      assert.equal(ifNameProblem(n), undefined);
      assert.ok(n.startsWith('pwv'));
    }
    assert.equal(new Set([a, b, c]).size, 3);
    assert.equal(vethHostName({ nsInode: INODE }, 'eth1'), a);
  });

  void test('classic names for different guests/interfaces differ', () => {
    const n = [
      vethHostName({ pid: 12, nsInode: 1 }, 'eth1'),
      vethHostName({ pid: 1, nsInode: 2 }, 'eth12'),
      vethHostName({ pid: 123, nsInode: 3 }, 'eth1'),
      vethHostName({ pid: 12, nsInode: 4 }, 'eth2'),
    ];
    assert.equal(new Set(n).size, n.length);
  });
});

void describe('the names --replace parks an interface under', () => {
  void test('valid, deterministic, per guest interface, and apart from the veth names', () => {
    const g = parkedGuestName({ pid: 4242, nsInode: INODE }, 'eth1');
    const h = parkedHostName({ pid: 4242, nsInode: INODE }, 'eth1');
    assert.match(g, /^pwo[0-9a-f]{12}$/u);
    assert.match(h, /^pwp[0-9a-f]{12}$/u);
    for (const n of [g, h]) assert.equal(ifNameProblem(n), undefined, n);
    assert.equal(parkedGuestName({ nsInode: INODE }, 'eth1'), g, 'the pid does not matter');
    assert.notEqual(parkedGuestName({ nsInode: INODE + 1 }, 'eth1'), g);
    assert.notEqual(parkedGuestName({ nsInode: INODE }, 'eth2'), g);
    assert.notEqual(parkedHostName({ nsInode: INODE }, 'eth2'), h);
    assert.notEqual(vethHostName({ nsInode: INODE }, 'eth1'), h);
  });
});

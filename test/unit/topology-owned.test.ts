// A topology's containers are the ones it started, by id — never one that merely carries the label
// `pipework-topology=NAME` (an image can carry it, anyone can set it): the record of those ids, and
// what apply makes of a container found under a guest's name. No root: a scratch directory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existingAction } from '../../src/front/topology/containers.js';
import { forgetOwned, ownedPath, readOwned, recordOwned } from '../../src/front/topology/owned.js';

const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);

void describe('the record of the containers a topology started', () => {
  void test('recorded, read back, forgotten one by one and as a whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsw-owned-'));
    try {
      assert.deepEqual(readOwned('demo', dir), []);
      recordOwned('demo', [{ runtime: 'docker', id: A, name: 'demo-web', guest: 'web' }], dir);
      recordOwned('demo', [{ runtime: 'podman', id: B, name: 'demo-db', guest: 'db' }], dir);
      // The same container again is kept once.
      recordOwned('demo', [{ runtime: 'docker', id: A, name: 'demo-web', guest: 'web' }], dir);
      assert.deepEqual(readOwned('demo', dir).map((c) => c.id), [A, B]);
      assert.deepEqual(readOwned('other', dir), []);
      forgetOwned('demo', [A], dir);
      assert.deepEqual(readOwned('demo', dir).map((c) => c.name), ['demo-db']);
      forgetOwned('demo', undefined, dir);
      assert.equal(existsSync(ownedPath('demo', dir)), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('entries that are not a runtime and a full id are not trusted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsw-owned-'));
    try {
      recordOwned('demo', [{ runtime: 'docker', id: A, name: 'demo-web', guest: 'web' }], dir);
      const text = JSON.parse(readFileSync(ownedPath('demo', dir), 'utf8')) as { containers: unknown[] };
      text.containers.push({ runtime: 'lxc', id: B, name: 'x', guest: 'x' }, { runtime: 'docker', id: 'demo-db', name: 'x', guest: 'x' }, 'junk');
      writeFileSync(ownedPath('demo', dir), JSON.stringify(text));
      assert.deepEqual(readOwned('demo', dir).map((c) => c.id), [A]);
      writeFileSync(ownedPath('demo', dir), 'not json');
      assert.deepEqual(readOwned('demo', dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('a container found under an image guest\'s name', () => {
  const guest = { runtime: 'docker' as const, container: 'demo-web', key: 'web' };

  void test('one this topology started (its id recorded) is adopted: started again, or left running', () => {
    assert.deepEqual(existingAction('demo', guest, { id: A, labels: { 'pipework-topology': 'demo' }, running: true }, [A]), { kind: 'running' });
    assert.deepEqual(existingAction('demo', guest, { id: A, labels: { 'pipework-topology': 'demo' }, running: false }, [A]), { kind: 'start', id: A });
  });

  void test('one carrying the topology\'s label but not recorded (an image\'s label, or someone else\'s container) is refused, saying why', () => {
    const why = existingAction('demo', guest, { id: B, labels: { 'pipework-topology': 'demo' }, running: true }, [A]);
    assert.equal(why.kind, 'refuse');
    assert.match(why.kind === 'refuse' ? why.message : '', /a docker container named demo-web exists and was not made by topology demo: it carries the label pipework-topology=demo, but its id is not one apply recorded \(an image, or whoever started it, can set that label\); remove or rename it, or name the guest otherwise/u);
  });

  void test('one without the label is refused as before', () => {
    const why = existingAction('demo', guest, { id: B, labels: {}, running: true }, [A]);
    assert.match(why.kind === 'refuse' ? why.message : '', /a docker container named demo-web exists and was not made by topology demo; remove or rename it/u);
  });
});

// The CNI protocol on named netns, for every version we speak: ADD → CHECK → DEL → DEL, results
// in each version's shape, traffic between two attachments, and every refusal a runtime can
// meet (bad JSON, missing variables, unknown version, unsupported key, an existing CNI_IFNAME,
// a missing netns), plus a failure mid-way and an interrupt: nothing left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { addNetns, delLink, delNetns, ip, ipJson, ping } from './helpers/netns.js';
import { pipeworkBin, sh, sleep, waitFor } from './helpers/run.js';
import { assertHostUnchanged, snapshotHost } from './helpers/guard.js';
import { resultProblems } from '../unit/cni-shape.js';
import {
  cleanupCni, fakeIpamCalls, fakeLeases, guestState, hostLocalLeases, macOf, onlyJson, ourHostLinks, records, RECORDS, runOurs, scratch, writeFakeIpam,
  type Call,
} from './cni-env.js';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const BRIDGE = 'br-cnproto';
const tmp = scratch('proto');
/** pipework's records: the default directory (a configuration may not choose another). */
const DATA = RECORDS;
const IPAM_DATA = join(tmp.dir, 'ipam');
const BIN = join(tmp.dir, 'bin');
const CNI_PATH = `${BIN}:/usr/lib/cni`;
const ours = (n: string) => n.startsWith('cn') || n.startsWith('pwc');

/** The network for version v: host-local where Debian's speaks it (≤ 1.0.0), the fake IPAM for 1.1.0. */
function network(v: string, i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const name = `cnproto${i}`;
  const ipam = v === '1.1.0'
    ? { type: 'cn-ipam', dataDir: join(IPAM_DATA, name), gateway: `10.231.${i}.1`, addresses: { [`a${i}`]: `10.231.${i}.10/24`, [`b${i}`]: `10.231.${i}.11/24` }, routes: [{ dst: '10.232.0.0/16' }] }
    : { type: 'host-local', dataDir: IPAM_DATA, ranges: [[{ subnet: `10.231.${i}.0/24` }]], routes: [{ dst: '10.232.0.0/16' }] };
  return { cniVersion: v, name, type: 'pipework', bridge: BRIDGE, ipam, ...extra };
}

function call(command: string, id: string, netns: string, conf: Record<string, unknown>, more: Partial<Call> = {}): Promise<Awaited<ReturnType<typeof runOurs>>> {
  return runOurs({ command, containerId: id, netns: netns === '' ? '' : `/run/netns/${netns}`, ifname: 'eth0', conf, path: CNI_PATH, ...more });
}

function leasesOf(conf: Record<string, unknown>): string[] {
  const ipam = conf['ipam'] as { type: string; dataDir: string };
  return ipam.type === 'cn-ipam' ? fakeLeases(ipam.dataDir) : hostLocalLeases(ipam.dataDir, String(conf['name']));
}

let before0: Awaited<ReturnType<typeof snapshotHost>>;

void describe('the CNI protocol, every version', () => {
  before(async () => {
    writeFakeIpam(BIN);
    before0 = await snapshotHost({ only: ours });
    for (const n of ['cn-pa', 'cn-pb', 'cn-px']) await addNetns(n);
  });
  after(async () => {
    for (const n of ['cn-pa', 'cn-pb', 'cn-px']) await delNetns(n);
    await cleanupCni();
    await delLink(BRIDGE);
    await assertHostUnchanged(before0, 5_000, { only: ours });
    tmp.dispose();
  });

  VERSIONS.forEach((v, i) => {
    void test(`${v}: ADD → CHECK → DEL → DEL on named netns, traffic between two attachments`, async () => {
      const conf = network(v, i);
      const a = await call('ADD', `a${i}`, 'cn-pa', conf);
      assert.equal(a.code, 0, a.stderr);
      assert.ok(onlyJson(a), `stdout is only the result: ${a.stdout}`);
      assert.deepEqual(resultProblems(a.json, v), []);
      const b = await call('ADD', `b${i}`, 'cn-pb', conf);
      assert.equal(b.code, 0, b.stderr);

      // The result says what is there: the container interface in its sandbox, with its MAC and address.
      const ifs = a.json!['interfaces'] as { name: string; mac?: string; sandbox?: string }[];
      const ipsA = a.json!['ips'] as { address: string; interface: number; version?: string }[];
      assert.equal(ifs.length, 3);
      assert.deepEqual(ifs.map((x) => x.name).slice(0, 1), [BRIDGE]);
      const guestIf = ifs[ipsA[0]!.interface]!;
      assert.equal(guestIf.name, 'eth0');
      assert.equal(guestIf.sandbox, '/run/netns/cn-pa');
      assert.equal(guestIf.mac, await macOf('cn-pa', 'eth0'));
      const state = await guestState('cn-pa', 'eth0');
      assert.ok(state?.up);
      assert.deepEqual(state.addresses, [ipsA[0]!.address]);
      // The IPAM route goes through the first gateway (host-local's .1).
      assert.deepEqual(state.routes.filter((r) => r.startsWith('10.232.')), [`10.232.0.0/16 via 10.231.${i}.1`]);
      const addrB = (b.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
      assert.ok(await ping('cn-pa', addrB), `cn-pa reaches ${addrB}`);

      const checkA = await call('CHECK', `a${i}`, 'cn-pa', { ...conf, prevResult: a.json });
      if (v === '0.3.0' || v === '0.3.1') {
        assert.equal(checkA.code, 1);
        assert.equal(checkA.json?.['code'], 1, 'CHECK needs 0.4.0');
      } else {
        assert.equal(checkA.code, 0, checkA.stdout + checkA.stderr);
        assert.equal(checkA.stdout, '');
      }

      for (const [id, ns, res] of [[`a${i}`, 'cn-pa', a], [`b${i}`, 'cn-pb', b]] as const) {
        const d1 = await call('DEL', id, ns, { ...conf, prevResult: res.json });
        assert.equal(d1.code, 0, d1.stderr);
        assert.equal(d1.stdout, '');
        const d2 = await call('DEL', id, ns, conf);
        assert.equal(d2.code, 0, `a second DEL succeeds: ${d2.stdout}`);
        assert.equal(await guestState(ns, 'eth0'), undefined);
      }
      assert.deepEqual(leasesOf(conf), [], 'the addresses are released');
      assert.deepEqual(records(DATA, String(conf['name'])), []);
      assert.deepEqual(await ourHostLinks(String(conf['name'])), []);
    });
  });

  void test('CHECK says what is gone: the interface, an address, a route, the host end', async () => {
    const conf = network('1.0.0', 10);
    const a = await call('ADD', 'c10', 'cn-pa', conf);
    assert.equal(a.code, 0, a.stderr);
    const check = () => call('CHECK', 'c10', 'cn-pa', { ...conf, prevResult: a.json });
    await ip(['route', 'del', '10.232.0.0/16'], 'cn-pa');
    let r = await check();
    assert.equal(r.json?.['code'], 103);
    assert.match(String(r.json?.['msg']), /route 10\.232\.0\.0\/16 via 10\.231\.10\.1 on eth0 is missing/u);
    await ip(['route', 'add', '10.232.0.0/16', 'via', '10.231.10.1', 'dev', 'eth0'], 'cn-pa');
    assert.equal((await check()).code, 0);
    const addr = (a.json!['ips'] as { address: string }[])[0]!.address;
    await ip(['addr', 'del', addr, 'dev', 'eth0'], 'cn-pa');
    r = await check();
    assert.match(String(r.json?.['msg']), new RegExp(`address ${addr.replace(/\./gu, '\\.')} is missing`, 'u'));
    await ip(['addr', 'add', addr, 'dev', 'eth0'], 'cn-pa');
    await ip(['route', 'replace', '10.232.0.0/16', 'via', '10.231.10.1', 'dev', 'eth0'], 'cn-pa');
    const hostEnd = (a.json!['interfaces'] as { name: string }[])[1]!.name;
    await ip(['link', 'set', hostEnd, 'nomaster']);
    r = await check();
    assert.match(String(r.json?.['msg']), new RegExp(`${hostEnd} is not a port of ${BRIDGE}`, 'u'));
    await ip(['link', 'del', 'eth0'], 'cn-pa');
    r = await check();
    assert.match(String(r.json?.['msg']), /eth0 is missing from \/run\/netns\/cn-pa/u);
    assert.equal((await call('DEL', 'c10', 'cn-pa', conf)).code, 0);
    assert.deepEqual(leasesOf(conf), []);
  });

  void test('refusals: the error object alone on stdout, a non-zero exit, nothing changed', async () => {
    const conf = network('1.0.0', 11);
    const cases: [string, Promise<Awaited<ReturnType<typeof runOurs>>>, number, RegExp][] = [
      ['bad JSON', sh([process.execPath, pipeworkBin], { input: '{"cniVersion": "1.0.0", "name"', env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x', CNI_NETNS: '/run/netns/cn-px', CNI_IFNAME: 'eth0', CNI_PATH: CNI_PATH } }), 6, /decoding/u],
      ['missing variables', call('ADD', 'x', '', conf, { ifname: '' }), 4, /CNI_NETNS,CNI_IFNAME/u],
      ['an unknown version', call('ADD', 'x', 'cn-px', { ...conf, cniVersion: '0.2.0' }), 1, /incompatible CNI versions/u],
      ['an unsupported key', call('ADD', 'x', 'cn-px', { ...conf, macspoofchk: true }), 2, /macspoofchk: true/u],
      ['a netns that is not there', call('ADD', 'x', 'cn-nothere', conf), 3, /does not exist/u],
      ['a bad CNI_ARGS', call('ADD', 'x', 'cn-px', conf, { args: 'FOO=bar' }), 4, /unknown key 'FOO'/u],
    ];
    for (const [what, p, code, msg] of cases) {
      const r = await p;
      assert.notEqual(r.code, 0, what);
      assert.ok(onlyJson(r), `${what}: only the error on stdout: ${r.stdout}`);
      const e = JSON.parse(r.stdout) as { code: number; msg: string; details: string; cniVersion: string };
      assert.equal(e.code, code, `${what}: ${r.stdout}`);
      assert.match(e.msg, msg, what);
      assert.equal(typeof e.details, 'string');
      assert.ok(!r.stdout.includes('    at '), `${what}: no stack trace`);
    }
    assert.equal(await guestState('cn-px', 'eth0'), undefined);
    assert.deepEqual(leasesOf(conf), []);
    assert.deepEqual(records(DATA, 'cnproto11'), []);
  });

  void test('an existing CNI_IFNAME is refused, and what IPAM gave is released', async () => {
    const conf = network('0.4.0', 12);
    await ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'cnpeer0'], 'cn-px');
    try {
      const r = await call('ADD', 'x12', 'cn-px', conf);
      assert.equal(r.code, 1);
      assert.equal(r.json?.['code'], 100);
      assert.match(String(r.json?.['msg']), /eth0/u);
      assert.deepEqual(leasesOf(conf), []);
      assert.deepEqual(records(DATA, 'cnproto12'), []);
      assert.deepEqual(await ourHostLinks('cnproto12'), []);
      // Not ours: DEL leaves it alone, and succeeds.
      assert.equal((await call('DEL', 'x12', 'cn-px', conf)).code, 0);
      assert.ok(await guestState('cn-px', 'eth0'));
      // A second ADD of an attachment that exists is refused too (before IPAM is asked).
      await ip(['link', 'del', 'eth0'], 'cn-px');
      const ok = await call('ADD', 'x12', 'cn-px', conf);
      assert.equal(ok.code, 0, ok.stderr);
      const again = await call('ADD', 'x12', 'cn-px', conf);
      assert.equal(again.json?.['code'], 100);
      assert.equal(hostLocalLeases(IPAM_DATA, 'cnproto12').length, 1);
    } finally {
      await call('DEL', 'x12', 'cn-px', conf);
      await ip(['link', 'del', 'eth0'], 'cn-px').catch(() => undefined);
    }
    assert.deepEqual(leasesOf(conf), []);
  });

  void test('a step that fails mid-way: the run is undone, IPAM released, no link, no record (IPAM beside the interface in-process; before it with ip)', async () => {
    const conf = network('1.0.0', 13);
    for (const [step, netlink] of [[1, '1'], [3, '1'], [6, '1'], [1, '0'], [3, '0'], [6, '0']] as const) {
      const r = await call('ADD', 'f13', 'cn-px', conf, { env: { PIPEWORK_FAIL_STEP: String(step), PIPEWORK_NETLINK: netlink } });
      assert.equal(r.code, 1, `step ${step}, PIPEWORK_NETLINK=${netlink}`);
      assert.equal(r.json?.['code'], 101, r.stdout);
      assert.match(String(r.json?.['msg']), /injected failure/u);
      assert.equal(await guestState('cn-px', 'eth0'), undefined);
      assert.deepEqual(await ourHostLinks('cnproto13'), []);
      assert.deepEqual(leasesOf(conf), []);
      assert.deepEqual(records(DATA, 'cnproto13'), []);
    }
  });

  void test('host-local out of addresses, beside the interface (in-process) or before it (ip): no interface, host end or record stays', async () => {
    // A range of one address: the first ADD takes it, the second finds none while its interface is being made.
    const conf = network('1.0.0', 15);
    (conf['ipam'] as Record<string, unknown>)['ranges'] = [[{ subnet: '10.231.15.0/24', rangeStart: '10.231.15.7', rangeEnd: '10.231.15.7' }]];
    await addNetns('cn-pz');
    try {
      const first = await call('ADD', 'o15', 'cn-px', conf);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      for (const netlink of ['1', '0']) {
        const second = await call('ADD', 'p15', 'cn-pz', conf, { env: { PIPEWORK_NETLINK: netlink } });
        assert.equal(second.code, 1, second.stdout);
        assert.match(String(second.json?.['msg']), /no IP addresses available|host-local/u, second.stdout);
        assert.equal(await guestState('cn-pz', 'eth0'), undefined, `the interface is undone (PIPEWORK_NETLINK=${netlink})`);
        assert.equal((await ourHostLinks('cnproto15')).length, 1, 'only the first ADD\'s host end stays');
        assert.deepEqual(records(DATA, 'cnproto15').length, 1);
        assert.deepEqual(leasesOf(conf), ['10.231.15.7']);
      }
    } finally {
      await call('DEL', 'o15', 'cn-px', conf);
      await call('DEL', 'p15', 'cn-pz', conf);
      await delNetns('cn-pz');
    }
  });

  void test('a bridge name a shell would run is only a name: isGateway reads its addresses in-process and through ip, and nothing runs', async () => {
    // Valid interface names (the kernel refuses only '/', ':', whitespace, '.', '..'); a shell
    // reading them would create ./pw in the plugin's working directory, the test's scratch one.
    const cwd = join(tmp.dir, 'payload');
    mkdirSync(cwd, { recursive: true });
    for (const [i, bridge, netlink] of [[17, 'cn;>pw', '1'], [18, 'cn$(>pw)', '0']] as const) {
      const conf = network('1.0.0', i, { bridge, isGateway: true });
      try {
        for (const id of [`h${i}`, `k${i}`]) {
          const r = await call('ADD', id, id.startsWith('h') ? 'cn-pa' : 'cn-pb', conf, { cwd, env: { PIPEWORK_NETLINK: netlink } });
          assert.equal(r.code, 0, r.stdout + r.stderr);
        }
        // The second ADD read the gateway the first put there (else: "already has an IP address").
        const links = await ipJson(['addr', 'show', 'dev', bridge]) as { addr_info: { family: string; local: string }[] }[];
        assert.deepEqual(links.flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)), [`10.231.${i}.1`]);
        assert.deepEqual(readdirSync(cwd), [], 'nothing was run by a shell');
      } finally {
        for (const id of [`h${i}`, `k${i}`]) await call('DEL', id, id.startsWith('h') ? 'cn-pa' : 'cn-pb', conf, { cwd });
        await delLink(bridge);
      }
    }
    assert.deepEqual(readdirSync(cwd), []);
  });

  void test('Node per request: the first ADD that succeeds writes the CNI code cache; a failed one none; one V8 refuses is replaced', async () => {
    // Beside the plugin's own bundle (pipework-cni.cjs), for this Node.
    const cache = join(dirname(pipeworkBin), '..', 'build', 'dist', `pipework-cni.cjs.${process.version}-${process.arch}.cache`);
    const before = existsSync(cache) ? readFileSync(cache) : undefined;
    const conf = network('1.0.0', 16);
    try {
      rmSync(cache, { force: true });
      const failed = await call('ADD', 'c16', 'cn-gone', conf);
      assert.equal(failed.code, 1, failed.stdout);
      assert.equal(existsSync(cache), false, 'a failed ADD writes no cache');
      const ok = await call('ADD', 'c16', 'cn-px', conf);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.ok(statSync(cache).size > 100_000, 'written by the first ADD that succeeded');
      assert.equal((await call('DEL', 'c16', 'cn-px', conf)).code, 0);
      // Garbage (another build's, a torn copy): V8 refuses it, the ADD works, and the cache is written anew.
      writeFileSync(cache, Buffer.alloc(4096, 7));
      const again = await call('ADD', 'c16', 'cn-px', conf);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.ok(onlyJson(again));
      assert.notDeepEqual(readFileSync(cache).subarray(0, 4096), Buffer.alloc(4096, 7), 'replaced');
      assert.equal((await call('DEL', 'c16', 'cn-px', conf)).code, 0);
    } finally {
      await call('DEL', 'c16', 'cn-px', conf);
      if (before !== undefined) writeFileSync(cache, before);
    }
  });

  void test('interrupted (SIGTERM) while IPAM works: an error, nothing left', async () => {
    const conf = network('1.1.0', 14);
    (conf['ipam'] as Record<string, unknown>)['sleepMs'] = 3000;
    const dataDir = (conf['ipam'] as { dataDir: string }).dataDir;
    const pending = call('ADD', 'a14', 'cn-px', conf);
    await waitFor('the fake IPAM to be called', () => fakeIpamCalls(dataDir).some((c) => c.cmd === 'ADD'), 10_000);
    const pids = (await sh(['pgrep', '-f', `${pipeworkBin}$`])).stdout.split('\n').filter((p) => p !== '');
    for (const p of pids) process.kill(Number(p), 'SIGTERM');
    const r = await pending;
    assert.notEqual(r.code, 0);
    assert.equal(r.json?.['code'], 11, r.stdout + r.stderr);
    await sleep(3500);
    assert.equal(await guestState('cn-px', 'eth0'), undefined);
    assert.deepEqual(records(DATA, 'cnproto14'), []);
  });

  void test('1.1.0: STATUS and GC are answered; the fake IPAM is forwarded both', async () => {
    const conf = network('1.1.0', 15);
    const dataDir = (conf['ipam'] as { dataDir: string }).dataDir;
    assert.equal((await call('STATUS', '', '', conf, { ifname: '' })).code, 0);
    const bad = await call('STATUS', '', '', { ...conf, ipam: { ...(conf['ipam'] as object), statusFails: true } }, { ifname: '' });
    assert.equal(bad.json?.['code'], 50);
    assert.match(String(bad.json?.['msg']), /exhausted/u);
    assert.equal((await call('GC', '', '', { ...conf, 'cni.dev/valid-attachments': [] }, { ifname: '' })).code, 0);
    assert.ok(fakeIpamCalls(dataDir).some((c) => c.cmd === 'GC'));
    assert.ok(fakeIpamCalls(dataDir).some((c) => c.cmd === 'STATUS'));
  });
});

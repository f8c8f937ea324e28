// The CNI door's host-side plans (isGateway, ipMasq), the daemon's wire format, the launchers'
// shell text and C definitions, and the request dispatcher's refusals — everything that needs no
// root and changes nothing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LauncherRunner } from '../../src/front/cni/daemon.js';
import { handle, toCniError } from '../../src/front/cni/handle.js';
import { defaultRouteInterface, planGatewayPrelude, type BridgeFacts } from '../../src/front/cni/host-side.js';
import { masqChain, masqComment, masqDrift, planMasqCreate, planMasqRemove } from '../../src/drivers/network/masq.js';
import { cLiteral, launcherDefines, launcherSh } from '../../src/front/cni/launcher.js';
import { runtimeEnv, withSystemPath } from '../../src/front/cni/plugin.js';
import { CniError, Code, parseParams } from '../../src/front/cni/protocol.js';
import { parseNetConf } from '../../src/front/cni/config.js';
import { status } from '../../src/front/cni/status.js';
import { Trace } from '../../src/front/cni/trace.js';
import {
  decodeDaemonFrame, decodeEnv, decodeExecReply, decodeRequest, encodeEnv, encodeExec, encodeExecReply, encodeRequest, encodeResponse, MAX_FIELD, WireError,
} from '../../src/front/cni/wire.js';
import type { Runner } from '../../src/exec/runner.js';
import type { HostLink } from '../../src/host/links.js';
import { BusyError, ConflictError, InterruptedError, NotFoundError, StepFailedError, UnsupportedError } from '../../src/model/errors.js';

const BRIDGE: HostLink = { name: 'br-x', isBridge: true, type: 1, mtu: 1500, up: true, mac: '02:aa:00:00:00:01', ports: [] };

function facts(over: Partial<BridgeFacts>): BridgeFacts {
  return { link: BRIDGE, addresses: [], macPinned: true, forwarding: { 4: true, 6: true }, ...over };
}

function argvOf(s: { action: { kind: string; args?: string[]; argv?: string[] } }): string {
  return (s.action.kind === 'ip' ? ['ip', ...s.action.args!] : s.action.argv!).join(' ');
}

void describe('isGateway on the bridge (the reference plugin\'s ensureAddr)', () => {
  const gw4 = { cidr: '10.5.0.1/16', family: 4 as const };
  const gw6 = { cidr: 'fd00:5::1/64', family: 6 as const };
  void test('a new bridge: made, then the gateway address with its broadcast, undone on failure', () => {
    const steps = planGatewayPrelude('br-x', undefined, [gw4], facts({ link: undefined }), false);
    assert.deepEqual(steps.map(argvOf), [
      'ip link add name br-x type bridge',
      'ip link set dev br-x up',
      'ip addr replace 10.5.0.1/16 brd 10.5.255.255 dev br-x',
    ]);
    // Shared by every container on the bridge: undone only when no port is left.
    assert.deepEqual(steps[2]!.undo, [{ kind: 'ip', place: 'host', args: ['addr', 'del', '10.5.0.1/16', 'dev', 'br-x'], onlyIfBridgeEmpty: 'br-x' }]);
  });
  void test('already there: nothing; a down bridge comes up; forwarding off is turned on', () => {
    assert.deepEqual(planGatewayPrelude('br-x', undefined, [gw4], facts({ addresses: ['10.5.0.1/16'] }), false), []);
    const down = planGatewayPrelude('br-x', undefined, [gw4], facts({ link: { ...BRIDGE, up: false }, addresses: ['10.5.0.1/16'], forwarding: { 4: false, 6: false } }), false);
    assert.deepEqual(down.map(argvOf), ['ip link set dev br-x up', 'sysctl -q -w net.ipv4.ip_forward=1']);
  });
  void test('another IPv4 address is an error, or replaced with forceAddress; IPv6 only when it overlaps', () => {
    assert.throws(() => planGatewayPrelude('br-x', undefined, [gw4], facts({ addresses: ['10.9.0.1/24'] }), false), (e: unknown) => e instanceof CniError && e.code === Code.Conflict && /already has an IP address different from 10\.5\.0\.1\/16/u.test(e.message));
    const forced = planGatewayPrelude('br-x', undefined, [gw4], facts({ addresses: ['10.9.0.1/24', 'fd00:9::1/64'] }), true);
    assert.deepEqual(forced.map(argvOf), ['ip addr del 10.9.0.1/24 dev br-x', 'ip addr replace 10.5.0.1/16 brd 10.5.255.255 dev br-x']);
    assert.deepEqual(forced[0]!.undo, [{ kind: 'ip', place: 'host', args: ['addr', 'add', '10.9.0.1/24', 'dev', 'br-x'] }]);
    assert.deepEqual(planGatewayPrelude('br-x', undefined, [gw6], facts({ addresses: ['fd00:9::1/64'] }), false).map(argvOf), ['ip addr replace fd00:5::1/64 dev br-x']);
    assert.throws(() => planGatewayPrelude('br-x', undefined, [gw6], facts({ addresses: ['fd00:5::7/64'] }), false), CniError);
  });
  void test('the bridge\'s MAC is pinned when it is not yet', () => {
    assert.deepEqual(planGatewayPrelude('br-x', undefined, [gw4], facts({ macPinned: false, addresses: ['10.5.0.1/16'] }), false).map(argvOf), ['ip link set dev br-x address 02:aa:00:00:00:01']);
  });
});

void describe('ipMasq', () => {
  const chain = masqChain('net1', 'c1');
  const comment = masqComment('net1', 'c1');
  void test('a chain per network, container and interface, within iptables\' 28 characters', () => {
    const own = masqChain('net1', 'c1', 'eth0');
    assert.match(own, /^PW-[0-9A-F]{24}$/u);
    // Two interfaces of one container on one network: two chains.
    assert.notEqual(masqChain('net1', 'c1', 'eth1'), own);
    assert.notEqual(masqChain('net1', 'c2', 'eth0'), own);
    assert.equal(masqComment('net1', 'c1', 'eth0'), 'name: "net1" id: "c1" ifname: "eth0"');
    // The chain as records before version 3 named it (one per container), still found by it.
    assert.match(chain, /^PW-[0-9A-F]{24}$/u);
    assert.notEqual(chain, own);
    assert.notEqual(masqChain('net1', 'c2'), chain);
    assert.equal(comment, 'name: "net1" id: "c1"');
  });
  void test('the rules, and their undo', () => {
    const steps = planMasqCreate({ chain, comment, rules: [{ family: 4, ip: '10.5.0.9', subnet: '10.5.0.0/16' }] });
    const c = `-m comment --comment ${comment}`;
    assert.deepEqual(steps.map(argvOf), [
      `iptables -w -t nat -N ${chain}`,
      `iptables -w -t nat -A ${chain} -d 10.5.0.0/16 -j ACCEPT ${c}`,
      `iptables -w -t nat -A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE ${c}`,
      `iptables -w -t nat -A POSTROUTING -s 10.5.0.9 -j ${chain} ${c}`,
    ]);
    // Undo runs last to first: flush, then delete the chain.
    assert.deepEqual(steps[0]!.undo.map((a) => (a.kind === 'exec' ? a.argv.slice(4).join(' ') : '')), [`-X ${chain}`, `-F ${chain}`]);
    assert.equal(steps[3]!.undo.length, 1);
    const v6 = planMasqCreate({ chain, comment, rules: [{ family: 6, ip: 'fd00:5::9', subnet: 'fd00:5::/64' }] });
    assert.ok(v6.every((s) => argvOf(s).startsWith('ip6tables ')));
    assert.ok(v6.some((s) => argvOf(s).includes('! -d ff00::/8')));
  });
  void test('removal, best effort: every step may find its rule gone already', () => {
    const steps = planMasqRemove({ chain, comment, rules: [{ family: 4, ip: '10.5.0.9', subnet: '10.5.0.0/16' }] });
    assert.deepEqual(steps.map((s) => (s.action.kind === 'exec' ? s.action.argv.slice(4).join(' ') : '')), [
      `-D POSTROUTING -s 10.5.0.9 -j ${chain} -m comment --comment ${comment}`, `-F ${chain}`, `-X ${chain}`,
    ]);
    assert.ok(steps.every((s) => s.action.kind === 'exec' && s.action.mayFail === true && s.undo.length === 0));
  });
  void test('what is live, judged against what is wanted', () => {
    const m = { chain, comment, rules: [{ family: 4 as const, ip: '10.5.0.9', subnet: '10.5.0.0/16' }] };
    const live = `-P POSTROUTING ACCEPT\n-N ${chain}\n-A POSTROUTING -s 10.5.0.9/32 -m comment --comment "${comment}" -j ${chain}\n`;
    assert.deepEqual(masqDrift(m, { 4: live }), []);
    assert.deepEqual(masqDrift(m, { 4: '-P POSTROUTING ACCEPT\n' }), [`iptables nat chain ${chain} is missing`]);
    assert.deepEqual(masqDrift(m, { 4: `-N ${chain}\n` }), [`traffic from 10.5.0.9 is not sent through ${chain}`]);
    // A family not read is not judged.
    assert.deepEqual(masqDrift(m, {}), []);
  });
});

void describe('the host\'s default route interface (macvlan without master)', () => {
  void test('IPv4 first, then IPv6', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cn-route-'));
    try {
      const r4 = join(dir, 'route');
      const r6 = join(dir, 'ipv6_route');
      writeFileSync(r4, 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth9\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\nens3\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n');
      writeFileSync(r6, '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     ens4\n');
      assert.equal(defaultRouteInterface(r4, r6), 'ens3');
      writeFileSync(r4, 'Iface\tDestination\n');
      assert.equal(defaultRouteInterface(r4, r6), 'ens4');
      writeFileSync(r6, '');
      assert.equal(defaultRouteInterface(r4, r6), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('the daemon\'s wire format', () => {
  void test('a request, whole and in pieces', () => {
    const req = { env: { CNI_COMMAND: 'ADD', WEIRD: 'a=b=c', EMPTY: '' }, stdin: '{"cniVersion":"1.0.0","name":"é"}', runsDelegates: true };
    const bytes = encodeRequest(req);
    assert.deepEqual(decodeRequest(bytes), { ...req, length: bytes.length });
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(decodeRequest(bytes.subarray(0, cut)), undefined, `cut at ${cut}`);
    assert.equal(decodeRequest(encodeRequest({ ...req, runsDelegates: false }))?.runsDelegates, false);
  });
  void test('the daemon asks for a delegate, the launcher answers, then the response', () => {
    const exec = { argv: ['/usr/lib/cni/host-local'], env: { CNI_COMMAND: 'ADD' }, stdin: '{}', timeoutMs: 120000 };
    const frames = Buffer.concat([encodeExec(exec), encodeResponse({ exitCode: 1, stdout: '{"code":7}\n', stderr: 'pipework: no\n' })]);
    const first = decodeDaemonFrame(frames)!;
    assert.deepEqual(first.kind === 'exec' && first.exec, exec);
    const second = decodeDaemonFrame(frames.subarray(first.length))!;
    assert.deepEqual(second.kind === 'response' && second.response, { exitCode: 1, stdout: '{"code":7}\n', stderr: 'pipework: no\n' });
    for (const reply of [
      { kind: 'done' as const, code: 0, signal: 0, timedOut: false, stdout: '{"ips":[]}', stderr: '' },
      { kind: 'done' as const, code: null, signal: 9, timedOut: true, stdout: '', stderr: 'x' },
      { kind: 'failed' as const, errno: 2, message: 'No such file or directory' },
    ]) {
      const b = encodeExecReply(reply);
      assert.deepEqual(decodeExecReply(b), { ...reply, length: b.length });
      assert.equal(decodeExecReply(b.subarray(0, b.length - 1)), undefined);
    }
  });
  void test('env blocks as the C launcher writes them (environ, each entry NUL-terminated)', () => {
    assert.deepEqual(decodeEnv(Buffer.from('A=1\0B=x=y\0NOEQ\0')), { A: '1', B: 'x=y' });
    assert.deepEqual(decodeEnv(encodeEnv({ A: '1' })), { A: '1' });
  });
  void test('garbage and oversized fields are refused', () => {
    assert.throws(() => decodeRequest(Buffer.from('HTTP/1.1 GET /')), WireError);
    assert.throws(() => decodeExecReply(Buffer.from('Z')), WireError);
    const big = Buffer.alloc(12);
    big.write('PWC1');
    big.writeUInt32BE(0, 4);
    big.writeUInt32BE(MAX_FIELD + 1, 8);
    assert.throws(() => decodeRequest(big), WireError);
  });
});

void describe('the launcher', () => {
  const paths = { node: '/usr/bin/node', script: "/opt/pipe work/it's/cni-plugin.cjs", socket: '/run/pipework/cni.sock' };
  void test('the shell form quotes its paths and answers VERSION itself', () => {
    const sh = launcherSh(paths);
    assert.ok(sh.startsWith('#!/bin/sh\n'));
    assert.ok(sh.includes(`exec '/usr/bin/node' '/opt/pipe work/it'\\''s/cni-plugin.cjs'`), sh);
    assert.ok(sh.includes('"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'));
    assert.ok(sh.includes('unset NODE_EXTRA_CA_CERTS'));
  });
  void test('the C form gets them as definitions, each one argument holding a C string literal', () => {
    const defs = launcherDefines(paths);
    assert.ok(defs.includes(`-DPW_SCRIPT="/opt/pipe work/it's/cni-plugin.cjs"`), defs.join(' '));
    assert.ok(defs.includes('-DPW_STASHED="NODE_EXTRA_CA_CERTS","NODE_OPTIONS"'));
    assert.ok(defs.includes('-DPW_STASH_PREFIX="PIPEWORK_CNI_SAVED_"'));
    assert.ok(defs.includes('-DPW_VERSIONS="[\\"0.3.0\\",\\"0.3.1\\",\\"0.4.0\\",\\"1.0.0\\",\\"1.1.0\\"]"'));
    assert.equal(cLiteral('/a"b\\c'), '"/a\\"b\\\\c"');
    // No trigraph, no line break, no byte a compiler could read another way; octal escapes are
    // always three digits, so a digit after one stays a digit.
    assert.equal(cLiteral('??/\n\t\u00e9\u00001'), '"\\?\\?/\\012\\011\\303\\251\\0001"');
    assert.match(cLiteral('any \u0001\u007f\u2028 text'), /^"[\x20-\x7e]*"$/u);
  });
  void test('what the launcher set aside is put back for the delegates; our programs are found', () => {
    assert.deepEqual(runtimeEnv({ A: '1', PIPEWORK_CNI_SAVED_NODE_EXTRA_CA_CERTS: '/etc/ca.crt', PIPEWORK_CNI_SAVED_NODE_OPTIONS: '' }), { A: '1', NODE_EXTRA_CA_CERTS: '/etc/ca.crt', NODE_OPTIONS: '' });
    assert.equal(withSystemPath('/opt/x'), '/opt/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.equal(withSystemPath(undefined).split(':')[0], '/usr/local/sbin');
  });
});

/** A runner that must not be called: these requests are refused before anything runs. */
const NO_RUN: Runner = { run: () => Promise.reject(new Error('nothing may run')) };

async function call(env: Record<string, string>, stdin: string): Promise<{ exitCode: number; out: Record<string, unknown>; logs: string[] }> {
  const logs: string[] = [];
  const res = await handle({ env, stdin }, { runner: NO_RUN, log: (l) => logs.push(l) });
  return { exitCode: res.exitCode, out: res.stdout === '' ? {} : JSON.parse(res.stdout) as Record<string, unknown>, logs };
}

const ADD = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/cn-none', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };

void describe('requests refused before anything changes: the error object on stdout, non-zero exit', () => {
  void test('VERSION', async () => {
    const r = await call({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    assert.equal(r.exitCode, 0);
    assert.equal(r.out['cniVersion'], '0.4.0');
  });
  for (const [what, env, stdin, code] of [
    ['no CNI_COMMAND', {}, '{}', Code.InvalidEnvironment],
    ['bad JSON', ADD, '{"cniVersion":', Code.DecodingFailure],
    ['an unknown version', ADD, '{"cniVersion":"0.2.0","name":"n"}', Code.IncompatibleVersion],
    ['an unsupported key', ADD, '{"cniVersion":"1.0.0","name":"n","macspoofchk":true}', Code.UnsupportedField],
    ['CHECK at 0.3.1', { ...ADD, CNI_COMMAND: 'CHECK' }, '{"cniVersion":"0.3.1","name":"n"}', Code.IncompatibleVersion],
    ['GC at 1.0.0', { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, '{"cniVersion":"1.0.0","name":"n"}', Code.IncompatibleVersion],
    ['STATUS at 0.4.0', { CNI_COMMAND: 'STATUS' }, '{"cniVersion":"0.4.0","name":"n"}', Code.IncompatibleVersion],
    ['a netns that does not exist', ADD, '{"cniVersion":"1.0.0","name":"n","bridge":"br-cn-none"}', Code.UnknownContainer],
    ['CHECK without prevResult', { ...ADD, CNI_COMMAND: 'CHECK' }, '{"cniVersion":"1.0.0","name":"n"}', Code.InvalidConfig],
    ['GC without the valid attachments', { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, '{"cniVersion":"1.1.0","name":"n"}', Code.InvalidConfig],
  ] as const) {
    void test(`${what}: code ${code}`, async () => {
      const r = await call(env, stdin);
      assert.equal(r.exitCode, 1);
      assert.equal(r.out['code'], code);
      assert.equal(typeof r.out['msg'], 'string');
      assert.equal(typeof r.out['details'], 'string');
      assert.ok(['0.2.0', '1.0.0', '0.3.1', '0.4.0', '1.1.0'].includes(String(r.out['cniVersion'])));
      // Logged on stderr too, in one line.
      assert.ok(r.logs.some((l) => l.startsWith('pipework: ') && !l.includes('\n')));
    });
  }
  void test('the engine\'s errors, as codes', () => {
    assert.equal(toCniError(new ConflictError('x')).code, Code.Conflict);
    assert.equal(toCniError(new NotFoundError('x')).code, Code.HostNotFound);
    assert.equal(toCniError(new UnsupportedError('x')).code, Code.HostUnsupported);
    assert.equal(toCniError(new StepFailedError('x', undefined, [])).code, Code.StepFailed);
    assert.equal(toCniError(new BusyError('x')).code, Code.TryAgainLater);
    // A runtime is not told what to run on the command line.
    const advised = toCniError(new ConflictError('eth0 in netns:c1 is already plumbed by pipework with another configuration', { advice: "run 'pipework del -i eth0 c1' first, or add --replace" }));
    assert.equal(advised.code, Code.Conflict);
    assert.equal(advised.message, 'eth0 in netns:c1 is already plumbed by pipework with another configuration');
    assert.equal(toCniError(new InterruptedError('x')).code, Code.TryAgainLater);
    assert.equal(toCniError(new TypeError('boom')).code, Code.Internal);
  });
});

void describe('STATUS with Open vSwitch unreachable', () => {
  const request = (raw: string) => {
    const params = parseParams({ CNI_COMMAND: 'STATUS' });
    return {
      raw: { env: {}, stdin: raw }, params, conf: parseNetConf(raw, params), runner: NO_RUN, delegates: NO_RUN, signal: new AbortController().signal,
      log: () => undefined, trace: new Trace(false), detach: () => undefined,
    };
  };
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'n', ovs: 'ovs-x' });
  const facts = { installed: true, dbRunning: true, switchRunning: true, bridges: [], kernelDatapath: false };
  for (const [what, ovs, msg] of [
    ['not installed', { ...facts, installed: false }, /not installed/u],
    ['no ovsdb-server', { ...facts, dbRunning: false }, /not running/u],
    ['no ovs-vswitchd', { ...facts, switchRunning: false }, /ovs-vswitchd is not running/u],
  ] as const) {
    void test(`${what}: code 50`, async () => {
      await assert.rejects(status(request(conf), { readOvs: () => Promise.resolve(ovs), checkRecords: () => undefined }), (e: unknown) => e instanceof CniError && e.code === Code.NotAvailable && msg.test(e.message));
    });
  }
  void test('running: ready', async () => {
    await status(request(conf), { readOvs: () => Promise.resolve(facts), checkRecords: () => undefined });
  });
});

void describe('delegates run by the launcher (LauncherRunner)', () => {
  /** A connected pair: the daemon's end (given to the runner) and a fake launcher's. */
  async function pair(): Promise<{ daemon: Socket; launcher: Socket; close(): void }> {
    const path = join(mkdtempSync(join(tmpdir(), 'cn-wire-')), 's');
    const server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const launcher = connect(path);
    const daemon = await accepted;
    return { daemon, launcher, close: () => { launcher.destroy(); daemon.destroy(); server.close(); rmSync(dirname(path), { recursive: true, force: true }); } };
  }

  void test('it sends the delegate, and reads back how it ended', async () => {
    const p = await pair();
    try {
      const runner = new LauncherRunner(p.daemon);
      p.daemon.on('data', (b: Buffer) => {
        const r = decodeExecReply(b);
        if (r) runner.reply(r);
      });
      let got: Buffer = Buffer.alloc(0);
      p.launcher.on('data', (b: Buffer) => {
        got = Buffer.concat([got, b]);
        const f = decodeDaemonFrame(got);
        if (f?.kind !== 'exec') return;
        got = got.subarray(f.length);
        assert.deepEqual(f.exec, { argv: ['/usr/lib/cni/host-local'], env: { CNI_COMMAND: 'ADD' }, stdin: '{}', timeoutMs: 5000 });
        p.launcher.write(encodeExecReply({ kind: 'done', code: 0, signal: 0, timedOut: false, stdout: '{"ips":[]}', stderr: 'log' }));
      });
      const r = await runner.run(['/usr/lib/cni/host-local'], { env: { CNI_COMMAND: 'ADD' }, input: '{}', timeoutMs: 5000 });
      assert.deepEqual({ ...r, durationMs: 0 }, { code: 0, signal: null, stdout: '{"ips":[]}', stderr: 'log', durationMs: 0, timedOut: false });
    } finally {
      p.close();
    }
  });

  void test('a launcher that goes away mid-run: the run ended unknown (code null); later ones run here', async () => {
    const p = await pair();
    try {
      const runner = new LauncherRunner(p.daemon);
      p.launcher.on('data', () => p.launcher.destroy());
      p.daemon.on('close', () => runner.close());
      const r = await runner.run(['/bin/true'], { env: {}, input: '' });
      assert.equal(r.code, null);
      const local = await runner.run(['/bin/true'], { env: {} });
      assert.equal(local.code, 0);
    } finally {
      p.close();
    }
  });

  void test('a program named without a path is sent by its absolute path (the launcher does not search PATH)', async () => {
    const p = await pair();
    try {
      const runner = new LauncherRunner(p.daemon);
      p.daemon.on('data', (b: Buffer) => {
        const r = decodeExecReply(b);
        if (r) runner.reply(r);
      });
      let argv0 = '';
      p.launcher.on('data', (b: Buffer) => {
        const f = decodeDaemonFrame(b);
        if (f?.kind !== 'exec') return;
        argv0 = f.exec.argv[0]!;
        p.launcher.write(encodeExecReply({ kind: 'done', code: 0, signal: 0, timedOut: false, stdout: '', stderr: '' }));
      });
      await runner.run(['true'], {});
      assert.match(argv0, /^\/.*\/true$/u);
      await assert.rejects(runner.run(['cn-no-such-program'], {}), /not installed/u);
    } finally {
      p.close();
    }
  });
});

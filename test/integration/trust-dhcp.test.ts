// What a DHCP client may be made to do, as root, with hostile input (issue 18 item 1):
// (a) DHCP client options that name a script, a file or pass environment to pipework's hook,
//     through the command line, a batch line, a topology file's dhcp:, a Docker label and a
//     pipework_cmd variable (pipework watch --once), and handed to the DHCP agent directly: each
//     refused in one line naming the option; the payload (it would only write a file in this
//     test's scratch directory) never runs; nothing is made.
//
// Names: netns tsd…, bridges br-tsd…, containers tsd-…, host veth ends tsd…; addresses in
// 10.161.0.0/16, only inside namespaces made here. Run as root (scripts/test.sh).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupPrefix } from './helpers/guard.js';
import { dhcpAgentPath, removeDhcpFiles, stopDhcpClients } from './helpers/dhcp-server.js';
import * as docker from './helpers/docker.js';
import { addNetns, listLinks } from './helpers/netns.js';
import { repoRoot, runPipework, sh, type RunResult } from './helpers/run.js';
import { linksOf, startWatcher } from './watch-lib.js';

const RESOLV_AT_START = readFileSync('/etc/resolv.conf', 'utf8');
const AGENT = dhcpAgentPath(repoRoot);

let scratch = '';
let dockerOk = false;

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** A payload: a script that, if anything ran it, would write `<name>.ran` in the scratch directory. */
function payload(name: string): { script: string; mark: string } {
  const script = join(scratch, `${name}.sh`);
  const mark = join(scratch, `${name}.ran`);
  writeFileSync(script, `#!/bin/sh\necho "$0 $*" >> ${mark}\n`);
  chmodSync(script, 0o755);
  return { script, mark };
}

/** A module that, if node loaded it (NODE_OPTIONS=--require=… passed to the hook), would write a mark. */
function evilModule(name: string): { module: string; mark: string } {
  const module = join(scratch, `${name}.cjs`);
  const mark = join(scratch, `${name}.ran`);
  writeFileSync(module, `require('node:fs').appendFileSync(${JSON.stringify(mark)}, 'loaded\\n');\n`);
  return { module, mark };
}

const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

function assertResolv(): void {
  assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), RESOLV_AT_START, "the host's /etc/resolv.conf changed");
}

async function cleanup(): Promise<void> {
  await stopDhcpClients(AGENT, 'tsd');
  if (dockerOk) {
    for (const name of await docker.listContainers()) {
      if (!name.startsWith('tsd-')) continue;
      const c = await docker.inspectContainer(name);
      if (c !== undefined) await docker.removeContainer(`pipework-dhcp-${c.Id.slice(0, 12)}-eth1`);
      await docker.removeContainer(name);
    }
  }
  await cleanupPrefix('tsd');
  await cleanupPrefix('br-tsd');
  removeDhcpFiles('tsd');
}

before(async () => {
  scratch = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsd-'));
  chmodSync(scratch, 0o755);
  dockerOk = await docker.dockerAvailable();
  await cleanup();
});

after(async () => {
  await cleanup();
  rmSync(scratch, { recursive: true, force: true });
  assertResolv();
});

void describe('(a) hostile DHCP client options, through every front door', { timeout: 240_000 }, () => {
  void test('the command line: a script, a pidfile, environment for the hook — refused in one line, nothing runs, nothing is made', async () => {
    await addNetns('tsda1');
    const s1 = payload('cli-udhcpc');
    const s2 = payload('cli-dhclient');
    const s3 = payload('cli-dhcpcd');
    const s4 = payload('cli-udhcpc-long');
    // udhcpc writes its pidfile, then deletes it: a file that must stay as it is.
    const precious = join(scratch, 'precious');
    writeFileSync(precious, 'precious\n');
    const e1 = evilModule('cli-dhclient-env');
    const e2 = evilModule('cli-dhcpcd-env');
    const cases: [string, RegExp, string][] = [
      [`udhcpc:-s${s1.script}`, /^pipework: DHCP client option -s \(in '-s\/[^']*'\) is not accepted: it names a script/u, s1.mark],
      [`dhclient:-sf ${s2.script}`, /^pipework: DHCP client option -sf is not accepted: it names a script/u, s2.mark],
      [`dhcpcd:-c ${s3.script}`, /^pipework: DHCP client option -c is not accepted: it names a script/u, s3.mark],
      [`udhcpc-f:--script=${s4.script}`, /^pipework: DHCP client option --script is not accepted: it names a script/u, s4.mark],
      [`udhcpc:-p${precious}`, /^pipework: DHCP client option -p \(in '-p\/[^']*'\) is not accepted: it names a file/u, ''],
      [`dhclient:-e NODE_OPTIONS=--require=${e1.module}`, /^pipework: DHCP client option -e is not accepted: it passes environment to pipework's hook/u, e1.mark],
      [`dhcpcd-f:--env=NODE_OPTIONS=--require=${e2.module}`, /^pipework: DHCP client option --env is not accepted: it passes environment to pipework's hook/u, e2.mark],
    ];
    for (const [config, why, mark] of cases) {
      const args = ['br-tsda', 'tsda1', config, '--dhcp-timeout', '3'];
      const r = await runPipework(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, show(args, r));
      assert.match(r.stderr, why, show(args, r));
      assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, show(args, r));
      if (mark !== '') assert.equal(existsSync(mark), false, `the payload ran: ${show(args, r)}`);
      assert.equal(readFileSync(precious, 'utf8'), 'precious\n', `a file was overwritten: ${show(args, r)}`);
      assert.equal(linkExists('br-tsda'), false, 'no bridge was made');
      assert.deepEqual((await listLinks('tsda1')).map((l) => l.ifname), ['lo'], 'no interface was made');
    }
    assertResolv();
  });

  void test('a batch line: refused with its line number; no line of the batch is applied', async () => {
    await addNetns('tsda2');
    const s = payload('batch');
    const file = join(scratch, 'hostile.batch');
    writeFileSync(file, `br-tsdb tsda2 10.161.1.2/24\nbr-tsdb tsda1 'udhcpc:--script=${s.script}' --dhcp-timeout 3\n`);
    const r = await runPipework(['batch', file], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, show(['batch', file], r));
    assert.match(r.stderr, /^pipework: line 2: DHCP client option --script is not accepted: it names a script/u, r.stderr);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(linkExists('br-tsdb'), false);
    assert.deepEqual((await listLinks('tsda2')).map((l) => l.ifname), ['lo']);
  });

  void test("a topology file's dhcp: — refused at its line before anything is made", async () => {
    const s = payload('topology');
    const file = join(scratch, 'hostile.yaml');
    writeFileSync(file, [
      'name: tsdtopo',
      'networks:',
      '  n: {bridge: br-tsdt}',
      'guests:',
      '  g: {netns: tsdt1}',
      'links:',
      `  - {guest: g, network: n, dhcp: "dhclient-f:-sf ${s.script}"}`,
      '',
    ].join('\n'));
    const r = await runPipework(['apply', file], { timeoutMs: 90_000 });
    assert.equal(r.code, 1, show(['apply', file], r));
    assert.match(r.stderr, /hostile\.yaml:7:\d+: links\[0\]\.dhcp: DHCP client option -sf is not accepted: it names a script/u, r.stderr);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(linkExists('br-tsdt'), false);
    assert.equal(existsSync('/run/netns/tsdt1'), false, 'the guest netns was not made');
  });

  void test('a Docker label and a pipework_cmd variable, through pipework watch --once: refused and logged; the containers are untouched', async (t) => {
    if (!dockerOk) return t.skip('Docker is not running');
    await docker.ensureImage();
    const s1 = payload('label');
    const s2 = payload('env');
    const l1 = await docker.runContainer('tsd-l1', docker.DOCKER_TEST_IMAGE, ['sleep', '3600'], {
      labels: { 'pipework.eth1': `--dhcp-timeout 3 br-tsdw udhcpc:-s${s1.script}` },
    });
    const l2 = await docker.runContainer('tsd-l2', docker.DOCKER_TEST_IMAGE, ['sleep', '3600'], {
      env: [`pipework_cmd=br-tsdw --dhcp-timeout 3 @CONTAINER_NAME@ "dhcpcd:-c ${s2.script}"`],
    });
    const w = await startWatcher(['--allow', 'br-tsdw', '--docker', docker.DOCKER_SOCK, '--once']);
    await w.done(90_000);
    const refused = (name: string) => w.lines.find((l) => l.action === 'refuse' && l.container === name);
    assert.match(refused('tsd-l1')?.message ?? '', /DHCP client option -s \(in '-s\/[^']*'\) is not accepted: it names a script/u, w.dump());
    assert.match(refused('tsd-l2')?.message ?? '', /DHCP client option -c is not accepted: it names a script/u, w.dump());
    assert.ok(!w.has((l) => l.action === 'attach' && (l.container === 'tsd-l1' || l.container === 'tsd-l2')), w.dump());
    assert.equal(existsSync(s1.mark), false, 'the label payload ran');
    assert.equal(existsSync(s2.mark), false, 'the variable payload ran');
    assert.equal(linkExists('br-tsdw'), false);
    assert.deepEqual(linksOf(l1.pid), ['lo']);
    assert.deepEqual(linksOf(l2.pid), ['lo']);
    await docker.removeContainer('tsd-l1');
    await docker.removeContainer('tsd-l2');
  });

  void test('the DHCP agent checks the options it is handed again', async () => {
    await addNetns('tsda3');
    const s = payload('agent');
    const inode = statSync('/run/netns/tsda3').ino;
    const argv = ['ip', 'netns', 'exec', 'tsda3', process.execPath, AGENT, 'acquire', '--method', 'udhcpc', '--if', 'lo', '--family', '4',
      '--timeout', '3', '--key', `${inode}-lo`, '--guest', 'netns:tsda3', '--watch', `nsfile:${inode}:/run/netns/tsda3`, '--', '-s', s.script];
    const r = await sh(argv, { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${argv.join(' ')}\n${r.stderr}`);
    assert.match(r.stderr, /^DHCP client option -s is not accepted: it names a script/u);
    assert.equal(existsSync(s.mark), false, 'the payload ran');
    assert.equal(existsSync(`/run/pipework/dhcp/${inode}-lo`), false);
  });
});

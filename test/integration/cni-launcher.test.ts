// The compiled C launcher (native/cni-launcher.c, built as `pipework cni install` builds it)
// against a fake daemon: a unix-socket server of this test's speaking src/front/cni/wire.ts.
// Both directions: the launcher's request frame (environment, stdin, flags) as decodeRequest
// reads it and byte for byte as encodeRequest writes it; the daemon's frames as wire.ts encodes
// them, handled by the launcher — `X` run as its child and answered `Y` or `E`, `D` started and
// left running, `R` passed to the runtime. Malformed frames (cut short, lengths over the limit,
// an unknown type, argc 0 or huge) are refused at once with the CNI error object, nothing run;
// a daemon whose peer is not root (a helper running as `nobody`) is not handed the request. The
// same tests run again on a build with AddressSanitizer and UBSan when the compiler can make one.
// Runs as root (the launcher trusts only a daemon running as root); skipped without a compiler.
// Names: tcl-*; every file (sockets, payloads) under PIPEWORK_TEST_TMP but the nobody helper's
// directory under /tmp (nobody cannot reach the scratch directory), removed at the end.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeExecReply, decodeRequest, encodeDetach, encodeExec, encodeExecReply, encodeRequest, encodeResponse, MAX_FIELD, WireError, type ExecReply, type ExecRequest,
} from '../../src/front/cni/wire.js';
import { buildLauncher, compilers, NO_COMPILER, runLauncher, SANITIZE, SANITIZER_ENV, SANITIZER_EXIT, writeColdNode, type Ran } from '../unit/cni-launcher-build.js';
import { sleep, waitFor } from './helpers/run.js';

const base = process.env['PIPEWORK_TEST_TMP'] ?? tmpdir();
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'tcl-wire-'));
const NODE = join(dir, 'tcl-node');
const DEFAULT_SOCKET = join(dir, 'tcl-default "d".sock');
const paths = { node: NODE, script: '/tcl/bin/pipework', socket: DEFAULT_SOCKET };
/** "Node" on the cold path: cni-launcher-build.ts writeColdNode (it answers R with exit status 7). */
const FAKE_NODE_JS = join(dir, 'tcl-node.mjs');

interface Variant {
  name: string;
  binary: string;
  env: Record<string, string>;
  skip?: string;
  problem?: string;
}

function variants(): Variant[] {
  if (NO_COMPILER !== undefined) return [{ name: 'the launcher', binary: '', env: {}, skip: NO_COMPILER }];
  const cc = compilers()[0]!;
  const plain = buildLauncher(cc, join(dir, 'tcl-launcher'), paths);
  const sanitized = buildLauncher(cc, join(dir, 'tcl-launcher-sanitized'), paths, SANITIZE);
  return [
    { name: `the launcher as install builds it (${cc})`, binary: plain.output, env: {}, ...(plain.code === 0 ? {} : { problem: `${plain.argv.join(' ')}\n${plain.stderr}` }) },
    {
      name: 'the launcher built with AddressSanitizer and UBSan', binary: sanitized.output, env: SANITIZER_ENV,
      ...(sanitized.code === 0 ? {} : { skip: `${cc} cannot build it with -fsanitize=address,undefined here: ${sanitized.stderr.split('\n')[0] ?? ''}` }),
    },
  ];
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** The daemon's end of one connection: frames decoded as they arrive. */
class Peer {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  /** Everything the launcher sent, as it came. */
  raw = Buffer.alloc(0);
  ended = false;

  constructor(readonly conn: Socket) {
    conn.on('data', (b: Buffer) => {
      this.buf = Buffer.concat([this.buf, b]);
      this.raw = Buffer.concat([this.raw, b]);
      this.wake?.();
    });
    conn.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    conn.on('error', () => undefined);
  }

  /** The next frame `decode` finds; an error once the launcher hung up without sending one. */
  async next<T>(decode: (b: Buffer) => (T & { length: number }) | undefined, what: string): Promise<T & { length: number }> {
    for (;;) {
      const got = decode(this.buf);
      if (got !== undefined) {
        this.buf = this.buf.subarray(got.length);
        return got;
      }
      if (this.ended) throw new Error(`the launcher hung up before sending ${what}`);
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  send(b: Buffer): void {
    this.conn.write(b);
  }

  /** Run a delegate through the launcher; its answer. */
  async exec(x: ExecRequest): Promise<ExecReply> {
    const at = this.raw.length;
    this.send(encodeExec(x));
    const { length, ...reply } = await this.next(decodeExecReply, 'an answer to X');
    // The launcher's answer is byte for byte what wire.ts writes for it.
    assert.deepEqual(encodeExecReply(reply), this.raw.subarray(at, at + length));
    return reply;
  }
}

let sockets = 0;

/**
 * A fake daemon for one request: `serve` gets the connection; what it throws fails the test (and
 * hangs up, so the launcher stops). The connection stays open until the launcher hangs up.
 */
async function fakeDaemon(serve: (p: Peer) => Promise<void>, path = join(dir, `tcl-d${++sockets}.sock`)): Promise<{ path: string; served: Promise<void>; close(): void }> {
  let conn: Socket | undefined;
  let done!: (e?: unknown) => void;
  const served = new Promise<void>((resolve, reject) => {
    done = (e) => (e === undefined ? resolve() : reject(e instanceof Error ? e : new Error('the fake daemon failed', { cause: e })));
  });
  // Awaited once the launcher is done; it may fail before.
  served.catch(() => undefined);
  const server: Server = createServer((c) => {
    conn = c;
    serve(new Peer(c)).then(() => done(), (e: unknown) => {
      c.destroy();
      done(e);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, served, close: () => { conn?.destroy(); server.close(); } };
}

/** The launcher handing one request to `serve`; the run, once both ends are done. */
async function request(v: Variant, serve: (p: Peer) => Promise<void>, env: Record<string, string> = {}, input = '{"cniVersion":"1.0.0"}', o: { started?: (pid: number) => void } = {}): Promise<Ran> {
  const d = await fakeDaemon(serve);
  try {
    // Bounded: a launcher that misreads a frame waits for bytes that never come.
    const r = await runLauncher(v.binary, { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: d.path, ...v.env, ...env }, { input, timeoutMs: 8_000, ...o });
    await d.served.catch((e: unknown) => {
      throw new Error(`${(e as Error).message} (the launcher: ${r.code ?? r.signal ?? '?'}, ${r.stdout.toString()} ${r.stderr})`, { cause: e });
    });
    sane(r);
    return r;
  } finally {
    d.close();
  }
}

/** Nothing the sanitizers (when built in) found, and not killed by our time limit. */
function sane(r: Ran): void {
  assert.notEqual(r.code, SANITIZER_EXIT, r.stderr);
  assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/u);
  assert.equal(r.timedOut, false, `the launcher did not finish: ${r.stderr}`);
}

/** The CNI error object, alone on stdout, and the exit status 1. */
function cniError(r: Ran): { code: number; msg: string; details: string } {
  assert.equal(r.code, 1, `${r.stdout.toString()} ${r.stderr}`);
  const lines = r.stdout.toString().split('\n');
  assert.deepEqual(lines.slice(1), [''], 'one line');
  return JSON.parse(lines[0]!) as { code: number; msg: string; details: string };
}

let nobodyDir = '';
const helpers: ChildProcess[] = [];

before(() => {
  writeColdNode(NODE, FAKE_NODE_JS);
});
after(() => {
  for (const h of helpers) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  if (nobodyDir !== '') rmSync(nobodyDir, { recursive: true, force: true });
});

for (const [vi, v] of variants().entries()) {
  void describe(v.name, { skip: v.skip }, () => {
    before(() => assert.equal(v.problem, undefined, v.problem));

    void test('the request: the runtime\'s environment and stdin byte for byte, the delegates flag; R: stdout, stderr and exit status back', async () => {
      const env = { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p', WEIRD: 'x=y=z', EMPTY: '', UTF: 'é ü', NL: 'a\nb', NODE_OPTIONS: '--tcl' };
      const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'tclnet', pad: 'é'.repeat(150_000) });
      let sent: Buffer = Buffer.alloc(0);
      const r = await request(v, async (p) => {
        const { length, ...req } = await p.next(decodeRequest, 'its request');
        sent = p.raw.subarray(0, length);
        assert.deepEqual(req, { env: { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: req.env['PIPEWORK_CNI_SOCKET'], ...v.env, ...env }, stdin, runsDelegates: true });
        assert.deepEqual(encodeRequest(req), sent, 'the launcher writes what wire.ts writes');
        p.send(encodeResponse({ exitCode: 1, stdout: '{"code":7,"msg":"tcl é"}\n', stderr: 'pipework: tcl\n' }));
      }, env, stdin);
      assert.equal(r.code, 1);
      assert.equal(r.stdout.toString(), '{"code":7,"msg":"tcl é"}\n');
      assert.equal(r.stderr, 'pipework: tcl\n');

      // What the daemon's decoder makes of the same bytes spoiled: refused, or waited on when cut.
      const magic = Buffer.from(sent);
      magic[0] = 0x58;
      assert.throws(() => decodeRequest(magic), WireError);
      const big = Buffer.from(sent);
      big.writeUInt32BE(MAX_FIELD + 1, 8);
      assert.throws(() => decodeRequest(big), WireError);
      assert.equal(decodeRequest(sent.subarray(0, sent.length - 1)), undefined);

      const empty = await request(v, async (p) => {
        assert.equal((await p.next(decodeRequest, 'its request')).stdin, '');
        p.send(encodeResponse({ exitCode: 0, stdout: '', stderr: '' }));
      }, {}, '');
      assert.equal(empty.code, 0, empty.stderr);
      assert.equal(empty.stdout.length, 0);
    });

    void test('the socket compiled in, when PIPEWORK_CNI_SOCKET is not set', async () => {
      const d = await fakeDaemon(async (p) => {
        await p.next(decodeRequest, 'its request');
        p.send(encodeResponse({ exitCode: 0, stdout: '{"tcl":"daemon"}\n', stderr: '' }));
      }, DEFAULT_SOCKET);
      try {
        const r = await runLauncher(v.binary, { CNI_COMMAND: 'DEL', ...v.env }, { input: '{}' });
        await d.served;
        sane(r);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.toString(), '{"tcl":"daemon"}\n');
      } finally {
        d.close();
      }
    });

    void test('X: delegates run as the launcher\'s children with the argv, environment and stdin sent; Y and E answer; then R', async () => {
      let launcherPid = 0;
      const big = 'tcl-0123456789\n'.repeat(200_000);
      const notExec = join(dir, 'tcl-not-executable');
      writeFileSync(notExec, '#!/bin/sh\n');
      chmodSync(notExec, 0o644);
      const r = await request(v, async (p) => {
        await p.next(decodeRequest, 'its request');
        const x = { env: {}, stdin: '', timeoutMs: 0 };
        // Exactly the environment sent, nothing of the launcher's.
        assert.deepEqual(await p.exec({ ...x, argv: ['/usr/bin/env', '-0'], env: { TCL_A: '1', TCL_B: 'x=y', TCL_U: 'é' } }),
          { kind: 'done', code: 0, signal: 0, timedOut: false, stdout: 'TCL_A=1\0TCL_B=x=y\0TCL_U=é\0', stderr: '' });
        assert.deepEqual(await p.exec({ ...x, argv: ['/bin/sh', '-c', 'echo "$PPID"; /bin/cat; echo "tcl err $1" >&2; exit 3', 'sh', 'arg one'], stdin: 'hello\n' }),
          { kind: 'done', code: 3, signal: 0, timedOut: false, stdout: `${launcherPid}\nhello\n`, stderr: 'tcl err arg one\n' });
        // Megabytes each way at once (stdin written as stdout is read).
        const cat = await p.exec({ ...x, argv: ['/bin/cat'], stdin: big });
        assert.ok(cat.kind === 'done' && cat.code === 0 && cat.stdout === big, 'cat gave back what it was given');
        // A program that reads none of its stdin.
        assert.deepEqual(await p.exec({ ...x, argv: ['/bin/true'], stdin: big }), { kind: 'done', code: 0, signal: 0, timedOut: false, stdout: '', stderr: '' });
        assert.deepEqual(await p.exec({ ...x, argv: ['/bin/sh', '-c', 'kill -TERM $$'] }), { kind: 'done', code: null, signal: 15, timedOut: false, stdout: '', stderr: '' });
        const t0 = Date.now();
        assert.deepEqual(await p.exec({ ...x, argv: ['/bin/sleep', '30'], timeoutMs: 300 }), { kind: 'done', code: null, signal: 9, timedOut: true, stdout: '', stderr: '' });
        assert.ok(Date.now() - t0 < 10_000, 'stopped at its time limit');
        const missing = await p.exec({ ...x, argv: [join(dir, 'tcl-missing')] });
        assert.deepEqual(missing.kind === 'failed' && [missing.errno, missing.message], [2, 'No such file or directory']);
        const denied = await p.exec({ ...x, argv: [notExec] });
        assert.deepEqual(denied.kind === 'failed' && [denied.errno, denied.message], [13, 'Permission denied']);
        p.send(encodeResponse({ exitCode: 0, stdout: '{"tcl":"done"}\n', stderr: '' }));
      }, {}, '{}', { started: (pid) => { launcherPid = pid; } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), '{"tcl":"done"}\n');
    });

    void test('D: started with the environment sent, not waited for; it outlives the launcher', async () => {
      const out = join(dir, `tcl-detached-${vi}`);
      const r = await request(v, async (p) => {
        await p.next(decodeRequest, 'its request');
        p.send(Buffer.concat([
          encodeDetach(['/bin/sh', '-c', 'sleep 1; printf %s "$TCL_D" > "$1"', 'sh', out], { TCL_D: 'tcl detached' }),
          encodeResponse({ exitCode: 0, stdout: '', stderr: '' }),
        ]));
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(existsSync(out), false, 'the launcher did not wait for it');
      await waitFor('the detached program to write', () => existsSync(out) && readFileSync(out, 'utf8') === 'tcl detached', 10_000);
    });

    void test('a delegate dies with the launcher', async () => {
      const pidFile = join(dir, `tcl-delegate-${vi}.pid`);
      let launcherPid = 0;
      const r = await request(v, async (p) => {
        await p.next(decodeRequest, 'its request');
        p.send(encodeExec({ argv: ['/bin/sh', '-c', 'echo $$ > "$1"; exec /bin/sleep 30', 'sh', pidFile], env: {}, stdin: '', timeoutMs: 0 }));
        await waitFor('the delegate to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'), 10_000);
        process.kill(launcherPid, 'SIGKILL');
      }, {}, '{}', { started: (pid) => { launcherPid = pid; } });
      assert.equal(r.signal, 'SIGKILL');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const gone = () => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') === true;
        } catch {
          return true;
        }
      };
      await waitFor(`the delegate (pid ${pid}) to die`, gone, 10_000);
    });

    void test('a field of exactly MAX_FIELD bytes is taken', async () => {
      const r = await request(v, async (p) => {
        await p.next(decodeRequest, 'its request');
        p.send(encodeResponse({ exitCode: 0, stdout: 'x'.repeat(MAX_FIELD), stderr: '' }));
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, MAX_FIELD);
    });

    void describe('malformed frames from the daemon: refused at once, nothing run, the CNI error object', () => {
      const payload = (i: number) => join(dir, `tcl-payload-${vi}-${i}`);
      const touch = (i: number) => ['/usr/bin/touch', payload(i)];
      const x = (i: number) => encodeExec({ argv: touch(i), env: {}, stdin: '', timeoutMs: 1000 });
      const d = (i: number) => encodeDetach(touch(i), {});
      // open: the daemon keeps the connection open, so only the frame itself can end the wait.
      const cases: { what: string; frame: (i: number) => Buffer; open: boolean; msg: RegExp }[] = [
        { what: 'an unknown frame type', frame: () => Buffer.from('Z'), open: true, msg: /malformed/u },
        { what: 'Y, which only the launcher sends', frame: () => encodeExecReply({ kind: 'done', code: 0, signal: 0, timedOut: false, stdout: '', stderr: '' }), open: true, msg: /malformed/u },
        { what: 'R cut short', frame: () => Buffer.from('R\0\0'), open: false, msg: /went away/u },
        { what: 'R with a field over MAX_FIELD', frame: () => Buffer.concat([Buffer.from('R'), u32(0), u32(MAX_FIELD + 1)]), open: true, msg: /malformed/u },
        { what: 'R with a field of 2^32-1 bytes', frame: () => Buffer.concat([Buffer.from('R'), u32(0), u32(0), u32(0xffffffff)]), open: true, msg: /malformed/u },
        { what: 'X with argc 0', frame: () => Buffer.concat([Buffer.from('X'), u32(0)]), open: true, msg: /malformed/u },
        { what: 'X with argc 2^32-1', frame: () => Buffer.concat([Buffer.from('X'), u32(0xffffffff)]), open: true, msg: /malformed/u },
        { what: 'X with argc 1025 (the launcher takes 1024)', frame: () => Buffer.concat([Buffer.from('X'), u32(1025)]), open: true, msg: /malformed/u },
        { what: 'X with an argument over MAX_FIELD', frame: () => Buffer.concat([Buffer.from('X'), u32(1), u32(MAX_FIELD + 1)]), open: true, msg: /malformed/u },
        { what: 'X with an environment over MAX_FIELD', frame: (i) => Buffer.concat([Buffer.from('X'), u32(2), ...touch(i).flatMap((a) => [u32(Buffer.byteLength(a)), Buffer.from(a)]), u32(MAX_FIELD + 1)]), open: true, msg: /malformed/u },
        { what: 'X cut short before its time limit', frame: (i) => x(i).subarray(0, -1), open: false, msg: /went away/u },
        { what: 'X cut short in its arguments', frame: (i) => x(i).subarray(0, 12), open: false, msg: /went away/u },
        { what: 'D with argc 0', frame: () => Buffer.concat([Buffer.from('D'), u32(0)]), open: true, msg: /malformed/u },
        { what: 'D cut short', frame: (i) => d(i).subarray(0, -1), open: false, msg: /went away/u },
        { what: 'no answer at all', frame: () => Buffer.alloc(0), open: false, msg: /went away/u },
      ];
      for (const [i, c] of cases.entries()) {
        void test(c.what, async () => {
          const t0 = Date.now();
          const r = await request(v, async (p) => {
            await p.next(decodeRequest, 'its request');
            p.send(c.frame(i));
            if (!c.open) p.conn.end();
          });
          const e = cniError(r);
          assert.equal(e.code, 11);
          assert.match(e.msg, /pipework CNI daemon/u);
          assert.match(e.msg, c.msg);
          assert.ok(Date.now() - t0 < 10_000, 'refused without waiting');
          await sleep(100);
          assert.equal(existsSync(payload(i)), false, 'nothing ran');
        });
      }
    });

    void test('no daemon there, or one not running as root: not handed the request (Node serves it)', async () => {
      // A file that is not a socket: the connection is refused.
      const notSocket = join(dir, 'tcl-not-a-socket');
      writeFileSync(notSocket, '');
      const refused = await runLauncher(v.binary, { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: notSocket, NODE_EXTRA_CA_CERTS: '/tcl/ca.crt', ...v.env }, { input: '{}' });
      sane(refused);
      assert.equal(refused.code, 7, refused.stderr);
      assert.equal(refused.stdout.toString(), '{"tcl":"cold"}\n');
      // Node got the request over fd 3 (stdin its own, empty), without NODE_EXTRA_CA_CERTS (the request has the runtime's); the launcher runs its delegates.
      assert.deepEqual(JSON.parse(/tcl-seen (.*)/u.exec(refused.stderr)?.[1] ?? 'null'), { fd: '3', stdin: '', ca: null, input: '{}', delegates: true, runtimeCa: '/tcl/ca.crt' });

      // A daemon of nobody's that asks the launcher to run a program: it must not run.
      if (nobodyDir === '') {
        nobodyDir = mkdtempSync(join(tmpdir(), 'tcl-nobody-'));
        chownSync(nobodyDir, 65534, 65534);
      }
      const payload = join(dir, `tcl-nobody-payload-${vi}`);
      const socket = join(nobodyDir, `tcl-${vi}.sock`);
      const script = join(nobodyDir, 'tcl-daemon.mjs');
      writeFileSync(script, `
import { createServer } from 'node:net';
const frame = Buffer.from(process.argv[3], 'hex');
createServer((c) => { c.on('error', () => undefined); c.write(frame); }).listen(process.argv[2], () => process.stdout.write('ready\\n'));
`);
      chmodSync(script, 0o644);
      const helper = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, script, socket,
        encodeExec({ argv: ['/usr/bin/touch', payload], env: {}, stdin: '', timeoutMs: 1000 }).toString('hex')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
      helpers.push(helper);
      let out = '';
      helper.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
      helper.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
      try {
        await waitFor('the nobody daemon to listen', () => out.includes('ready'), 15_000);
        const r = await runLauncher(v.binary, { CNI_COMMAND: 'ADD', PIPEWORK_CNI_SOCKET: socket, ...v.env }, { input: '{}', timeoutMs: 5_000 });
        await sleep(100);
        assert.equal(existsSync(payload), false, 'the program nobody asked for did not run');
        sane(r);
        assert.match(r.stderr, /the socket .* is not served by root; ignoring it/u);
        assert.equal(r.code, 7, r.stderr);
        assert.equal(r.stdout.toString(), '{"tcl":"cold"}\n');
      } finally {
        helper.kill('SIGKILL');
      }
    });
  });
}

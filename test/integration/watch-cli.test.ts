// pipework watch from the outside, without containers: bad options (one line, exit 1, nothing
// started), --help, an engine that is not there (--once: exit 1 naming it; watching: it keeps
// trying with backoff, quietly, and SIGTERM still ends it at once with 0). Root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPipework } from './helpers/run.js';
import { startWatcher } from './watch-lib.js';

let dir: string;

describe('pipework watch: options and absent engines', { timeout: 60_000 }, () => {
  before(() => { dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'wa-cli-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('bad options: one line naming what is wrong, exit 1', async () => {
    for (const [args, why] of [
      [['--alow', 'br1'], /unknown option '--alow'/u],
      [['br1'], /takes only options/u],
      [['--allow'], /needs host interface names/u],
      [['--allow', 'a-name-longer-than-15'], /longer than 15/u],
      [['--docker', 'tcp://127.0.0.1:2375'], /absolute path of a unix socket/u],
      [['--allow-direct'], /--allow/u],
    ] as const) {
      const r = await runPipework(['watch', ...args], { timeoutMs: 10_000 });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, '');
    }
  });

  test('--help', async () => {
    const r = await runPipework(['watch', '--help'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^pipework watch --allow/u);
    assert.match(r.stdout, /--trust-image-labels/u);
  });

  test('--once with an engine that is not there: exit 1, naming it', async () => {
    const socket = join(dir, 'none.sock');
    const w = await startWatcher(['--allow', 'br-wa5', '--docker', socket, '--once']);
    const status = await w.done(20_000);
    assert.equal(status.code, 1, w.dump());
    const line = w.lines.find((l) => l.action === 'connect' && l.result === 'unreachable');
    assert.ok(line, w.dump());
    assert.match(line.message ?? '', new RegExp(`cannot reach docker at ${socket}`, 'u'));
  });

  test('watching an engine that is not there: it keeps trying (said once), and SIGTERM ends it with 0 at once', async () => {
    const socket = join(dir, 'later.sock');
    const w = await startWatcher(['--allow', 'br-wa5', '--docker', socket]);
    await w.waitFor('the engine reported unreachable', (l) => l.action === 'connect' && l.result === 'unreachable', 5_000);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(w.lines.filter((l) => l.action === 'connect').length, 1, `one line for the outage, not one per attempt:\n${w.dump()}`);
    const status = await w.stop('SIGTERM');
    assert.equal(status.code, 0, w.dump());
    assert.ok(status.ms < 2_000, `exited after ${Math.round(status.ms)} ms`);
  });
});

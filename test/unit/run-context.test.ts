// Which ip backend a run uses is the run context's choice: the in-process netlink prototype when
// PIPEWORK_NETLINK=1 and programs are started for real (a front door may pass the real runner
// explicitly, as the CNI plugin does), iproute2 with any other runner (a test's fake sees every line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRun } from '../../src/engine/context.js';
import { processRunner, type Runner } from '../../src/exec/runner.js';

void test('the ip backend: netlink only when asked for and with the real runner', () => {
  const saved = process.env['PIPEWORK_NETLINK'];
  const fake: Runner = { run: () => Promise.reject(new Error('not used')) };
  try {
    process.env['PIPEWORK_NETLINK'] = '1';
    assert.equal(newRun().ip, 'netlink');
    assert.equal(newRun({ runner: processRunner }).ip, 'netlink', 'the real runner passed explicitly (the CNI door)');
    assert.equal(newRun({ runner: fake }).ip, 'iproute2');
    assert.equal(newRun({ ip: 'iproute2' }).ip, 'iproute2');
    process.env['PIPEWORK_NETLINK'] = '0';
    assert.equal(newRun().ip, 'iproute2');
  } finally {
    if (saved === undefined) delete process.env['PIPEWORK_NETLINK'];
    else process.env['PIPEWORK_NETLINK'] = saved;
  }
});

// Value types: MACs, addresses, interface names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, hostPrefix, isLinkLocal, parseAddressSpec } from '../../src/model/address.js';
import {
  BusyError, CommandError, ConflictError, ExitCode, InterruptedError, InvalidArgumentError, NotFoundError, PermissionError, PipeworkError, StepFailedError,
  UnsupportedError, UsageError, withPrefix,
} from '../../src/model/errors.js';
import { checkIfName, ifNameProblem, IFNAME_MAX } from '../../src/model/ifname.js';
import { macFromText, parseMac } from '../../src/model/mac.js';
import { assertThrows } from './fakes.js';

void describe('MAC addresses', () => {
  void test("U:myhost.foo.com → 02:72:6c:cd:9b:8d (md5 of the text plus a newline, as the shell's echo gave)", () => {
    assert.equal(macFromText('myhost.foo.com'), '02:72:6c:cd:9b:8d');
    assert.equal(parseMac('U:myhost.foo.com'), '02:72:6c:cd:9b:8d');
  });

  void test('U: MACs are stable, locally administered unicast, and differ by text', () => {
    const a = macFromText('a');
    assert.equal(macFromText('a'), a);
    assert.notEqual(macFromText('b'), a);
    assert.match(a, /^02(:[0-9a-f]{2}){5}$/u);
  });

  void test('U: with empty text is refused', () => {
    assertThrows(() => macFromText(''), InvalidArgumentError, 'U:');
  });

  void test('parseMac canonicalises case and - separators, and pads single digits', () => {
    assert.equal(parseMac('02:42:AC:11:00:02'), '02:42:ac:11:00:02');
    assert.equal(parseMac('02-42-ac-11-00-02'), '02:42:ac:11:00:02');
    assert.equal(parseMac('02-42-AC:11-00:02'), '02:42:ac:11:00:02');
    assert.equal(parseMac('2:42:ac:11:0:2'), '02:42:ac:11:00:02');
    assert.equal(parseMac('fe:ff:ff:ff:ff:ff'), 'fe:ff:ff:ff:ff:ff');
  });

  void test('parseMac refuses what cannot be a unicast MAC, naming it', () => {
    for (const bad of ['01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '03:00:00:00:00:01']) {
      assertThrows(() => parseMac(bad), InvalidArgumentError, bad, 'multicast');
    }
    assertThrows(() => parseMac('00:00:00:00:00:00'), InvalidArgumentError, '00:00:00:00:00:00', 'all-zero');
    for (const bad of ['02:42:ac:11:00', '02:42:ac:11:00:02:03', '02:42:ac:11:00:gg', '', '0242ac110002', '02:42:ac:11:00:', '02.42.ac.11.00.02']) {
      assertThrows(() => parseMac(bad), InvalidArgumentError, `'${bad}'`);
    }
  });
});

void describe('parseAddressSpec', () => {
  void test('canonical IPv4 and IPv6 forms', () => {
    assert.deepEqual(parseAddressSpec('10.0.0.2/24'), {
      address: { family: 4, address: '10.0.0.2', prefix: 24, cidr: '10.0.0.2/24', broadcast: '10.0.0.255' },
    });
    assert.deepEqual(parseAddressSpec('2001:0DB8:0000::0002/64'), {
      address: { family: 6, address: '2001:db8::2', prefix: 64, cidr: '2001:db8::2/64' },
    });
    assert.deepEqual(parseAddressSpec('2001:db8::2/64@2001:DB8::1'), {
      address: { family: 6, address: '2001:db8::2', prefix: 64, cidr: '2001:db8::2/64' },
      gateway: '2001:db8::1',
    });
    assert.deepEqual(parseAddressSpec('10.0.0.2/24@10.0.0.1', 4).gateway, '10.0.0.1');
    assert.deepEqual(parseAddressSpec('0/0'), {});
    assert.deepEqual(parseAddressSpec('0/0', 6), {});
  });

  void test('broadcast addresses (what ipcalc -b gave)', () => {
    const brd = (t: string) => parseAddressSpec(t).address?.broadcast;
    assert.equal(brd('10.0.0.2/24'), '10.0.0.255');
    assert.equal(brd('192.168.1.5/30'), '192.168.1.7');
    assert.equal(brd('10.1.2.3/8'), '10.255.255.255');
    assert.equal(brd('172.16.5.4/12'), '172.31.255.255');
    assert.equal(brd('10.0.0.2/1'), '127.255.255.255');
    assert.equal(brd('200.0.0.2/1'), '255.255.255.255');
  });

  void test(
    '/31 has no broadcast (RFC 3021); /32 keeps the classic value, the address itself',
    () => {
      assert.equal(parseAddressSpec('10.0.0.0/31').address?.broadcast, undefined);
      assert.equal(parseAddressSpec('10.0.0.5/32').address?.broadcast, '10.0.0.5');
    },
  );

  void test('IPv6 has no broadcast', () => {
    const a = parseAddressSpec('2001:db8::2/64').address;
    assert.ok(a);
    assert.equal(a.broadcast, undefined);
    assert.ok(!('broadcast' in a));
  });

  void test('family given by -a must match', () => {
    assertThrows(() => parseAddressSpec('10.0.0.2/24', 6), InvalidArgumentError, '10.0.0.2', 'IPv4', '-a 6');
    assertThrows(() => parseAddressSpec('2001:db8::2/64', 4), InvalidArgumentError, '2001:db8::2', 'IPv6', '-a 4');
  });

  void test('prefix bounds per family', () => {
    assert.equal(parseAddressSpec('10.0.0.2/32').address?.prefix, 32);
    assert.equal(parseAddressSpec('2001:db8::2/128').address?.prefix, 128);
    assert.equal(parseAddressSpec('2001:db8::2/1').address?.prefix, 1);
    assertThrows(() => parseAddressSpec('10.0.0.2/33'), InvalidArgumentError, '/33');
    assertThrows(() => parseAddressSpec('2001:db8::2/129'), InvalidArgumentError, '/129');
    assertThrows(() => parseAddressSpec('10.0.0.2/-1'), InvalidArgumentError, '/-1');
    assertThrows(() => parseAddressSpec('10.0.0.2/1000'), InvalidArgumentError, '/1000');
  });

  void test('IPv6 gateway equal to the address, in another spelling, is refused', () => {
    assertThrows(() => parseAddressSpec('2001:db8::2/64@2001:DB8:0::2'), InvalidArgumentError, 'own address');
  });

  void test('a network or a subnet-broadcast address is accepted (the classic tool did too)', () => {
    assert.equal(parseAddressSpec('10.0.0.0/24').address?.cidr, '10.0.0.0/24');
    assert.equal(parseAddressSpec('10.0.0.255/24').address?.cidr, '10.0.0.255/24');
  });
});

void describe('cidrContains and isLinkLocal', () => {
  void test('cidrContains', () => {
    assert.equal(cidrContains('10.0.0.0/24', '10.0.0.5'), true);
    assert.equal(cidrContains('10.0.0.2/24', '10.0.0.254'), true);
    assert.equal(cidrContains('10.0.0.0/24', '10.0.1.5'), false);
    assert.equal(cidrContains('10.0.0.7', '10.0.0.7'), true, 'a host route has no /len');
    assert.equal(cidrContains('10.0.0.7', '10.0.0.8'), false);
    assert.equal(cidrContains('0.0.0.0/0', '192.0.2.1'), true);
    assert.equal(cidrContains('2001:db8::/64', '2001:db8::1'), true);
    assert.equal(cidrContains('2001:db8::/64', '2001:db8:1::1'), false);
    assert.equal(cidrContains('2001:db8::9', '2001:db8::9'), true);
    assert.equal(cidrContains('10.0.0.0/24', '2001:db8::1'), false, 'families differ');
    assert.equal(cidrContains('2001:db8::/64', '10.0.0.1'), false);
    assert.equal(cidrContains('default', '10.0.0.1'), false, 'not a prefix');
    assert.equal(cidrContains('10.0.0.0/24', 'nonsense'), false);
  });

  void test('isLinkLocal', () => {
    assert.equal(isLinkLocal('fe80::1'), true);
    assert.equal(isLinkLocal('FE80::abcd:1'), true);
    assert.equal(isLinkLocal('2001:db8::1'), false);
    assert.equal(isLinkLocal('10.0.0.1'), false);
    assert.equal(isLinkLocal('nonsense'), false);
  });

  void test('hostPrefix', () => {
    assert.equal(hostPrefix(4), 32);
    assert.equal(hostPrefix(6), 128);
  });
});

void describe('interface names', () => {
  void test('ifNameProblem mirrors the kernel rules', () => {
    assert.equal(IFNAME_MAX, 15);
    for (const ok of ['eth1', 'a', 'abcdefghijklmno', 'eth1.100', 'br-x_y', 'v@x']) assert.equal(ifNameProblem(ok), undefined, ok);
    assert.match(ifNameProblem('') ?? '', /empty/u);
    assert.match(ifNameProblem('abcdefghijklmnop') ?? '', /15/u);
    assert.match(ifNameProblem('.') ?? '', /reserved/u);
    assert.match(ifNameProblem('..') ?? '', /reserved/u);
    assert.match(ifNameProblem('a/b') ?? '', /'\/'/u);
    assert.match(ifNameProblem('a:b') ?? '', /':'/u);
    assert.match(ifNameProblem('a b') ?? '', /whitespace/u);
    assert.match(ifNameProblem('a\nb') ?? '', /whitespace/u);
    assert.match(ifNameProblem('a\u0001b') ?? '', /non-printable/u);
  });

  void test('checkIfName names the role and the value', () => {
    assert.equal(checkIfName('eth1', 'guest interface'), 'eth1');
    assertThrows(() => checkIfName('a/b', 'guest interface name (-i)'), InvalidArgumentError, 'guest interface name (-i)', "'a/b'");
  });
});

void describe('error reasons (--json)', () => {
  const cases: [PipeworkError, string, string][] = [
    [new PipeworkError('x'), 'PipeworkError', 'failure'],
    [new UsageError('x'), 'UsageError', 'usage'],
    [new UsageError('x', true), 'UsageError', 'usage'],
    [new InvalidArgumentError('x'), 'InvalidArgumentError', 'invalid-argument'],
    [new NotFoundError('x'), 'NotFoundError', 'not-found'],
    [new ConflictError('x'), 'ConflictError', 'conflict'],
    [new UnsupportedError('x'), 'UnsupportedError', 'unsupported'],
    [new CommandError('x', ['ip'], 1, null, 'boom', 3, false, 'the host'), 'CommandError', 'command-failed'],
    [new StepFailedError('x', { index: 0, title: 't', argv: ['ip', 'link'] }, [], { cause: new Error('c') }), 'StepFailedError', 'step-failed'],
    [new BusyError('x'), 'BusyError', 'busy'],
    [new PermissionError('x'), 'PermissionError', 'permission-denied'],
  ];
  for (const [err, name, reason] of cases) {
    void test(`${name} → ${reason}`, () => {
      assert.equal(err.reason, reason);
      assert.equal(err.name, name);
      assert.ok(err instanceof PipeworkError && err instanceof Error);
      assert.equal(err.exitCode, ExitCode.Failure);
    });
  }

  void test('reasons are stable words, distinct per class', () => {
    const reasons = cases.map(([e]) => e.reason);
    for (const r of reasons) assert.match(r, /^[a-z]+(-[a-z]+)*$/u);
    assert.equal(new Set(reasons).size, cases.length - 1, 'one per class (UsageError appears twice)');
  });

  void test('InterruptedError: its own reason, and exit 130 (what the run did was undone)', () => {
    const err = new InterruptedError('interrupted by SIGINT');
    assert.equal(err.reason, 'interrupted');
    assert.equal(err.exitCode, ExitCode.Interrupted);
    assert.equal(ExitCode.Interrupted, 130);
    assert.ok(err instanceof PipeworkError);
    assert.ok(!cases.some(([e]) => e.reason === err.reason));
  });

  void test('StepFailedError: the failed step on the error, its 0-based index, -1 when no step of a plan failed', () => {
    const step = { index: 4, title: 'add address 10.0.0.2/24 to eth1', argv: ['ip', 'addr', 'add', '10.0.0.2/24', 'dev', 'eth1'], job: 'line 3' };
    const err = new StepFailedError('x', step, ['ip link del dev x0: gone']);
    assert.equal(err.stepIndex, 4);
    assert.deepEqual(err.step, step);
    assert.deepEqual(err.undoFailures, ['ip link del dev x0: gone']);
    assert.equal(new StepFailedError('x', undefined, []).stepIndex, -1);
  });

  void test('withPrefix: the same class and fields, the message prefixed, the original as its cause', () => {
    const original = new StepFailedError('step 2 of 5 (t) failed: boom', { index: 1, title: 't', argv: ['ip', 'x'] }, ['u']);
    const err = withPrefix(original, 'line 12: ');
    assert.ok(err instanceof StepFailedError);
    assert.equal(err.name, 'StepFailedError');
    assert.equal(err.message, 'line 12: step 2 of 5 (t) failed: boom');
    assert.equal(err.reason, 'step-failed');
    assert.equal(err.stepIndex, 1);
    assert.deepEqual(err.step, original.step);
    assert.deepEqual(err.undoFailures, ['u']);
    assert.equal(err.cause, original);
    assert.equal(original.message, 'step 2 of 5 (t) failed: boom', 'the original is left as it was');
    assert.ok(err.stack?.startsWith('StepFailedError: line 12: '), err.stack);
    // An error that has a cause of its own: still reachable, through the original.
    const inner = new Error('inner');
    const withCause = new StepFailedError('m', undefined, [], { cause: inner });
    const caused = withPrefix(withCause, 'p: ');
    assert.equal(caused.cause, withCause);
    assert.equal((caused.cause as Error).cause, inner);
    // Exit codes come with the class.
    assert.equal(withPrefix(new InterruptedError('x'), 'line 1: ').exitCode, 130);
    const usage = withPrefix(new UsageError('u', true), 'line 2: ');
    assert.ok(usage instanceof UsageError);
    assert.equal(usage.showSyntax, true);
  });

  void test('a subclass of a subclass keeps its parent\'s reason', () => {
    class SpecialConflict extends ConflictError {}
    assert.equal(new SpecialConflict('x').reason, 'conflict');
    assert.equal(new SpecialConflict('x').name, 'SpecialConflict');
  });
});

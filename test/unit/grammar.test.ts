// The classic command line → a typed request, and every refusal (pure, no I/O).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import { parseVlan } from '../../src/model/vlan.js';
import type { Request } from '../../src/front/classic/request.js';
import { DHCP_METHODS } from '../../src/model/dhcp-methods.js';
import { InvalidArgumentError, PipeworkError, UsageError } from '../../src/model/errors.js';
import { macFromText } from '../../src/model/mac.js';
import { assertThrows } from './fakes.js';

const V4 = { family: 4, address: '10.0.0.2', prefix: 24, cidr: '10.0.0.2/24', broadcast: '10.0.0.255' } as const;

function parse(...argv: string[]): Request {
  return parseCommandLine(argv);
}

void describe('grammar: classic attach forms', () => {
  void test('static IPv4', () => {
    assert.deepEqual(parse('br1', 'c1', '10.0.0.2/24'), {
      kind: 'attach',
      hostIf: { by: 'name', name: 'br1' },
      directPhys: false,
      guest: 'c1',
      config: { kind: 'static', spec: { address: V4 } },
      replace: false,
      dryRun: false,
      json: false,
    });
  });

  void test('a point-to-point /31 may have the other address as gateway (no network or broadcast address there)', () => {
    for (const text of ['10.0.0.0/31@10.0.0.1', '10.0.0.1/31@10.0.0.0', '10.0.0.2/24@10.0.0.254']) {
      const r = parse('br1', 'c1', text);
      assert.ok(r.kind === 'attach' && r.config.kind === 'static' && r.config.spec.gateway !== undefined, text);
    }
  });

  void test('static IPv4 with a gateway', () => {
    const r = parse('br1', 'c1', '10.0.0.2/24@10.0.0.1');
    assert.equal(r.kind, 'attach');
    assert.deepEqual(r.kind === 'attach' && r.config, { kind: 'static', spec: { address: V4, gateway: '10.0.0.1' } });
  });

  void test('-i names the guest interface', () => {
    const r = parse('br1', '-i', 'eth2', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.equal(r.guestIf, 'eth2');
    assert.equal(r.localIf, undefined);
    assert.equal(r.family, undefined);
  });

  void test('-l names the host end', () => {
    const r = parse('br1', '-l', 'vhost0', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.equal(r.localIf, 'vhost0');
    assert.equal(r.guestIf, undefined);
  });

  void test('-a 6 with an IPv6 address and gateway', () => {
    const r = parse('br1', '-a', '6', 'c1', '2001:DB8:0::2/64@2001:db8::1');
    assert.ok(r.kind === 'attach');
    assert.equal(r.family, 6);
    assert.deepEqual(r.config, {
      kind: 'static',
      spec: { address: { family: 6, address: '2001:db8::2', prefix: 64, cidr: '2001:db8::2/64' }, gateway: '2001:db8::1' },
    });
  });

  void test('-a 4 with an IPv4 address', () => {
    const r = parse('br1', '-a', '4', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.equal(r.family, 4);
  });

  void test('an IPv6 address without -a takes its family from the address', () => {
    const r = parse('br1', 'c1', '2001:db8::2/64');
    assert.ok(r.kind === 'attach');
    assert.equal(r.family, undefined);
    assert.ok(r.config.kind === 'static');
    assert.equal(r.config.spec.address?.family, 6);
  });

  const ORDERS: string[][] = [
    ['-i', 'eth2', '-l', 'vx0', '-a', '6'],
    ['-a', '6', '-l', 'vx0', '-i', 'eth2'],
    ['-l', 'vx0', '-i', 'eth2', '-a', '6'],
    ['-a', '6', '-i', 'eth2', '-l', 'vx0'],
  ];
  for (const opts of ORDERS) {
    void test(`-i -l -a in the order ${opts.filter((o) => o.startsWith('-')).join(' ')}`, () => {
      const r = parse('br1', ...opts, 'c1', '2001:db8::2/64');
      assert.ok(r.kind === 'attach');
      assert.equal(r.guestIf, 'eth2');
      assert.equal(r.localIf, 'vx0');
      assert.equal(r.family, 6);
      assert.equal(r.guest, 'c1');
    });
  }

  void test('mac:<hostmac> names the host interface by MAC (canonicalised)', () => {
    const r = parse('mac:52-54-00-AB-cd-EF', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.deepEqual(r.hostIf, { by: 'mac', mac: '52:54:00:ab:cd:ef' });
  });

  void test('<mac> sets the guest MAC (canonical lower case)', () => {
    const r = parse('br1', 'c1', '10.0.0.2/24', '02:42:AC:11:00:02');
    assert.ok(r.kind === 'attach');
    assert.equal(r.mac, '02:42:ac:11:00:02');
    assert.equal(r.vlan, undefined);
  });

  void test('U:<text> derives the classic MAC', () => {
    const r = parse('br1', 'c1', '10.0.0.2/24', 'U:myhost.foo.com');
    assert.ok(r.kind === 'attach');
    assert.equal(r.mac, '02:72:6c:cd:9b:8d');
  });

  void test('@vlan alone', () => {
    const r = parse('eth0', 'c1', '10.0.0.2/24', '@10');
    assert.ok(r.kind === 'attach');
    assert.equal(r.vlan, 10);
    assert.equal(r.mac, undefined);
    assert.ok(!('mac' in r));
  });

  void test('<mac>@vlan', () => {
    const r = parse('eth0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02@4094');
    assert.ok(r.kind === 'attach');
    assert.equal(r.mac, '02:42:ac:11:00:02');
    assert.equal(r.vlan, 4094);
  });

  void test('U:<text>@vlan', () => {
    const r = parse('eth0', 'c1', '10.0.0.2/24', 'U:myhost.foo.com@1');
    assert.ok(r.kind === 'attach');
    assert.equal(r.mac, '02:72:6c:cd:9b:8d');
    assert.equal(r.vlan, 1);
  });

  void test('0/0: no address, no gateway', () => {
    const r = parse('br1', 'c1', '0/0');
    assert.ok(r.kind === 'attach');
    assert.deepEqual(r.config, { kind: 'static', spec: {} });
  });

  for (const method of DHCP_METHODS) {
    void test(`DHCP method ${method} without options`, () => {
      const r = parse('br1', 'c1', method);
      assert.ok(r.kind === 'attach');
      assert.deepEqual(r.config, { kind: 'dhcp', method, options: [] });
    });
    void test(`DHCP method ${method} with :options split on whitespace`, () => {
      // An option each client takes, with a value in the next word (see dhcp-options.test.ts).
      const [given, canonical] = method.startsWith('dhclient') ? [['-v', '-D', 'LLT'], ['-v', '-D', 'LLT']]
        : method.startsWith('dhcpcd') ? [['-d', '-h', 'foo'], ['--debug', '--hostname=foo']]
          : [['-v', '-x', 'hostname:foo'], ['-v', '-x', 'hostname:foo']];
      const r = parse('br1', 'c1', `${method}:  ${given[0]!}\t${given[1]!}  ${given[2]!} `);
      assert.ok(r.kind === 'attach');
      assert.deepEqual(r.config, { kind: 'dhcp', method, options: canonical });
    });
  }

  void test('a DHCP method with an empty option list after the colon', () => {
    const r = parse('br1', 'c1', 'udhcpc:');
    assert.ok(r.kind === 'attach');
    assert.deepEqual(r.config, { kind: 'dhcp', method: 'udhcpc', options: [] });
  });

  void test('-a 6 with an IPv6-capable DHCP client', () => {
    const r = parse('br1', '-a', '6', 'c1', 'dhclient');
    assert.ok(r.kind === 'attach');
    assert.equal(r.family, 6);
    assert.deepEqual(r.config, { kind: 'dhcp', method: 'dhclient', options: [] });
  });

  void test('everything at once', () => {
    assert.deepEqual(parse('--direct-phys', 'eth0', '-i', 'eth2', '-l', 'ph0', '-a', '4', 'c1', '10.0.0.2/24@10.0.0.1', 'U:x@7', '--dry-run'), {
      kind: 'attach',
      hostIf: { by: 'name', name: 'eth0' },
      directPhys: true,
      guestIf: 'eth2',
      localIf: 'ph0',
      family: 4,
      guest: 'c1',
      config: { kind: 'static', spec: { address: V4, gateway: '10.0.0.1' } },
      mac: macFromText('x'),
      vlan: 7,
      vlanText: '7',
      replace: false,
      dryRun: true,
      json: false,
    });
  });
});

void describe('grammar: our options', () => {
  for (const argv of [
    ['--direct-phys', 'eth0', 'c1', '10.0.0.2/24'],
    ['eth0', '--direct-phys', 'c1', '10.0.0.2/24'],
    ['eth0', 'c1', '10.0.0.2/24', '--direct-phys'],
  ]) {
    void test(`--direct-phys: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach');
      assert.equal(r.directPhys, true);
      assert.equal(r.dryRun, false);
    });
  }

  for (const argv of [
    ['--dry-run', 'br1', 'c1', '10.0.0.2/24'],
    ['br1', '--dry-run', 'c1', '10.0.0.2/24'],
    ['br1', '-i', 'eth2', '--dry-run', 'c1', '10.0.0.2/24'],
    ['br1', 'c1', '--dry-run', '10.0.0.2/24'],
    ['br1', 'c1', '10.0.0.2/24', '--dry-run'],
    ['br1', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02', '--dry-run'],
  ]) {
    void test(`--dry-run: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach');
      assert.equal(r.dryRun, true);
      assert.equal(r.guest, 'c1');
      assert.ok(r.config.kind === 'static');
      assert.equal(r.config.spec.address?.cidr, '10.0.0.2/24');
    });
  }

  void test('--dry-run with a passthrough command', () => {
    assert.deepEqual(parse('--dry-run', 'route', 'c1', 'show'), { kind: 'passthrough', tool: 'route', guest: 'c1', args: ['show'], dryRun: true, json: false });
    assert.deepEqual(parse('route', '--dry-run', 'c1', 'show'), { kind: 'passthrough', tool: 'route', guest: 'c1', args: ['show'], dryRun: true, json: false });
  });

  for (const flag of ['--help', '-h']) {
    void test(`${flag} alone, and winning over the rest of the line`, () => {
      assert.deepEqual(parse(flag), { kind: 'help' });
      assert.deepEqual(parse(flag, 'br1'), { kind: 'help' });
      assert.deepEqual(parse('br1', 'c1', '10.0.0.2/24', '--help'), { kind: 'help' });
    });
  }

  for (const flag of ['--version', '-V']) {
    void test(`${flag}`, () => {
      assert.deepEqual(parse(flag), { kind: 'version' });
      assert.deepEqual(parse('--dry-run', flag), { kind: 'version' });
    });
  }

  void test('--wait defaults to eth1 and waits forever', () => {
    assert.deepEqual(parse('--wait'), { kind: 'wait', guestIf: 'eth1' });
  });

  void test('--wait -i eth2', () => {
    assert.deepEqual(parse('--wait', '-i', 'eth2'), { kind: 'wait', guestIf: 'eth2' });
  });

  void test('--wait --timeout 5, in any position, and --timeout=N', () => {
    assert.deepEqual(parse('--wait', '--timeout', '5'), { kind: 'wait', guestIf: 'eth1', timeoutSec: 5 });
    assert.deepEqual(parse('--timeout', '5', '--wait'), { kind: 'wait', guestIf: 'eth1', timeoutSec: 5 });
    assert.deepEqual(parse('--wait', '-i', 'eth2', '--timeout', '1.5'), { kind: 'wait', guestIf: 'eth2', timeoutSec: 1.5 });
    assert.deepEqual(parse('--wait', '--timeout=2'), { kind: 'wait', guestIf: 'eth1', timeoutSec: 2 });
  });
});

void describe('grammar: options go anywhere', () => {
  for (const argv of [
    ['-i', 'eth2', 'br1', 'c1', '10.0.0.2/24'],
    ['-i', 'eth2', '-l', 'vx0', '-a', '4', 'br1', 'c1', '10.0.0.2/24'],
    ['br1', 'c1', '-i', 'eth2', '10.0.0.2/24'],
    ['br1', 'c1', '10.0.0.2/24', '-i', 'eth2'],
  ]) {
    void test(`-i/-l/-a before or after <hostif>: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach');
      assert.deepEqual(r.hostIf, { by: 'name', name: 'br1' });
      assert.equal(r.guestIf, 'eth2');
      assert.equal(r.guest, 'c1');
      assert.equal(r.config.kind === 'static' && r.config.spec.address?.cidr, '10.0.0.2/24');
    });
  }

  void test('-ieth2 and -i=eth2 are -i eth2 (and so for -l and -a)', () => {
    for (const argv of [['br1', '-ieth2', '-lvx0', '-a4', 'c1', '10.0.0.2/24'], ['br1', '-i=eth2', '-l=vx0', '-a=4', 'c1', '10.0.0.2/24']]) {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach', argv.join(' '));
      assert.equal(r.guestIf, 'eth2');
      assert.equal(r.localIf, 'vx0');
      assert.equal(r.family, 4);
    }
    assertThrows(() => parse('br1', '-i=', 'c1', '10.0.0.2/24'), InvalidArgumentError, 'empty');
    assertThrows(() => parse('br1', '-a=5', 'c1', '10.0.0.2/24'), InvalidArgumentError, '-a 5');
  });

  void test('-- ends the options: a guest called -x, a MAC word after it', () => {
    const r = parse('br1', '--dry-run', '--', '-x', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.equal(r.guest, '-x');
    assert.equal(r.dryRun, true);
    // After --, an option is a word like any other (here: where the MAC goes).
    assertThrows(() => parse('br1', '--', 'c1', '10.0.0.2/24', '--json'), InvalidArgumentError, '--json');
    assert.deepEqual(parse('del', '--', '-x'), { kind: 'del', guest: '-x', which: {}, dryRun: false, json: false });
    // Without --, a word starting with - is an option.
    assertThrows(() => parse('br1', '-x', '10.0.0.2/24'), UsageError, "unknown option '-x'");
  });
});

void describe('grammar: help and completion', () => {
  void test('help, help <verb>, and <verb> --help', () => {
    assert.deepEqual(parse('help'), { kind: 'help' });
    for (const verb of ['del', 'ls', 'batch', 'attach', 'route', 'completion']) assert.deepEqual(parse('help', verb), { kind: 'help', verb });
    for (const verb of ['del', 'ls', 'batch', 'route', 'rule', 'tc']) assert.deepEqual(parse(verb, '--help'), { kind: 'help', verb });
    assert.deepEqual(parse('-h', 'ls'), { kind: 'help', verb: 'ls' });
    // A host interface is no verb: general help.
    assert.deepEqual(parse('br0', '--help'), { kind: 'help' });
    assertThrows(() => parse('help', 'del', 'c1'), UsageError, "'c1'");
  });

  void test('completion bash, and nothing else', () => {
    assert.deepEqual(parse('completion', 'bash'), { kind: 'completion', shell: 'bash' });
    for (const argv of [['completion'], ['completion', 'zsh'], ['completion', 'bash', 'x']]) {
      assertThrows(() => parseCommandLine(argv), UsageError, 'completion bash');
    }
  });
});

void describe('grammar: a word that is neither an address nor a DHCP method', () => {
  for (const [word, ...fragments] of [
    ['dhcpx', "'dhcpx' is neither an address (<ip>/<prefix>) nor a DHCP method", 'udhcpc, udhcpc-f'],
    ['UDHCPC', 'neither an address', 'did you mean udhcpc?'],
    ['Dhclient-F', 'did you mean dhclient-f?'],
    ['dhcpx:-v', "'dhcpx:-v' is neither"],
  ] as const) {
    void test(`${word}: a mistyped DHCP method, not an address without a netmask`, () => {
      const err = assertThrows(() => parse('br0', 'c1', word), InvalidArgumentError, ...fragments);
      assert.ok(!err.message.includes('netmask'), err.message);
    });
  }

  void test('an address without a prefix still suggests one', () => {
    assertThrows(() => parse('br0', 'c1', '10.0.0.1'), InvalidArgumentError, 'should include a netmask', '10.0.0.1/24');
  });
});

void describe('grammar: route, rule, tc pass-through', () => {
  for (const tool of ['route', 'rule', 'tc'] as const) {
    void test(`${tool}: arguments are kept verbatim, including - and -- ones`, () => {
      const args = ['add', '-6', '--foo', '--dry-run', '-i', 'eth1', '--', '-l', 'x y', '--help'];
      assert.deepEqual(parse(tool, 'c1', ...args), { kind: 'passthrough', tool, guest: 'c1', args, dryRun: false, json: false });
    });
  }

  void test('route with ordinary arguments', () => {
    assert.deepEqual(parse('route', 'c1', 'add', 'default', 'via', '10.0.0.1'), {
      kind: 'passthrough', tool: 'route', guest: 'c1', args: ['add', 'default', 'via', '10.0.0.1'], dryRun: false, json: false,
    });
  });

  void test('tc with a qdisc line', () => {
    const r = parse('tc', 'c1', 'qdisc', 'add', 'dev', 'eth1', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms');
    assert.ok(r.kind === 'passthrough');
    assert.deepEqual(r.args, ['qdisc', 'add', 'dev', 'eth1', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms']);
  });

  for (const opt of [['-i', 'eth2'], ['-l', 'x'], ['-a', '4'], ['--direct-phys']]) {
    void test(`route refuses ${opt[0]!}`, () => {
      assertThrows(() => parse('route', ...opt, 'c1', 'show'), UsageError, 'route');
    });
  }
});

void describe('grammar: too few arguments', () => {
  for (const argv of [[], ['br0'], ['br0', 'c1'], ['route', 'c1'], ['rule', 'c1'], ['tc', 'c1'], ['route'],
    ['br0', '-i', 'eth2', 'c1'], ['mac:52:54:00:12:34:56', 'c1'], ['--dry-run'], ['--direct-phys', 'eth0', 'c1']]) {
    void test(`pipework ${argv.join(' ')}`, () => {
      const err = assertThrows(() => parseCommandLine(argv), UsageError, 'too few arguments');
      assert.equal((err as UsageError).showSyntax, true);
    });
  }
});

void describe('grammar: refusals', () => {
  const cases: [string, string[], typeof UsageError | typeof InvalidArgumentError, ...string[]][] = [
    ['unknown option first', ['--bogus', 'br0', 'c1', '10.0.0.2/24'], UsageError, '--bogus'],
    ['unknown single-dash option first', ['-x', 'br0', 'c1', '10.0.0.2/24'], UsageError, '-x'],
    ['unknown option among -i/-l/-a', ['br0', '-i', 'eth2', '--bogus', 'c1', '10.0.0.2/24'], UsageError, '--bogus'],
    ['unknown option after the positionals', ['br0', 'c1', '10.0.0.2/24', '--bogus'], UsageError, '--bogus'],
    ['-i without a value', ['br0', '-i'], UsageError, '-i'],
    ['-l without a value', ['br0', '-l'], UsageError, '-l'],
    ['-a without a value', ['br0', '-a'], UsageError, '-a'],
    ['-a 5', ['br0', '-a', '5', 'c1', '10.0.0.2/24'], InvalidArgumentError, '-a 5'],
    ['-a inet6', ['br0', '-a', 'inet6', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'inet6'],
    ['duplicate -i', ['br0', '-i', 'eth2', '-i', 'eth3', 'c1', '10.0.0.2/24'], UsageError, '-i'],
    ['duplicate -l', ['br0', '-l', 'a', '-l', 'b', 'c1', '10.0.0.2/24'], UsageError, '-l'],
    ['duplicate -a', ['br0', '-a', '4', '-a', '4', 'c1', '10.0.0.2/24'], UsageError, '-a'],
    ['-i longer than 15', ['br0', '-i', 'abcdefghijklmnop', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'abcdefghijklmnop', '15'],
    ['-i with /', ['br0', '-i', 'eth/1', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth/1'],
    ['-i with a space', ['br0', '-i', 'eth 1', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth 1'],
    // Control characters are escaped, so the message stays one line.
    ['-i with a tab', ['br0', '-i', 'eth\t1', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth\\u00091'],
    ['-i with a newline', ['br0', '-i', 'eth\n1', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth\\u000a1'],
    ['-i with :', ['br0', '-i', 'eth1:0', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth1:0'],
    ['-i empty', ['br0', '-i', '', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'empty'],
    ['-i ..', ['br0', '-i', '..', 'c1', '10.0.0.2/24'], InvalidArgumentError, "'..'"],
    ['-l longer than 15', ['br0', '-l', 'abcdefghijklmnop', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'abcdefghijklmnop'],
    ['-l with /', ['br0', '-l', 'a/b', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'a/b'],
    ['host interface longer than 15', ['abcdefghijklmnop', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'abcdefghijklmnop'],
    ['host interface with /', ['br/0', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'br/0'],
    ['host interface with a space', ['br 0', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'br 0'],
    ['host interface with :', ['br0:1', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'br0:1'],
    ['host MAC malformed', ['mac:52:54:00:12:34', 'c1', '10.0.0.2/24'], InvalidArgumentError, '52:54:00:12:34'],
    ['host MAC not hex', ['mac:52:54:00:12:34:zz', 'c1', '10.0.0.2/24'], InvalidArgumentError, '52:54:00:12:34:zz'],
    ['octet out of range', ['br0', 'c1', '10.0.0.300/24'], InvalidArgumentError, '10.0.0.300'],
    ['not an address', ['br0', 'c1', 'ten/24'], InvalidArgumentError, 'ten'],
    ['legacy short IPv4 form', ['br0', 'c1', '10.1/24'], InvalidArgumentError, '10.1'],
    ['no prefix: suggests /24', ['br0', 'c1', '10.0.0.1'], InvalidArgumentError, '10.0.0.1', '10.0.0.1/24'],
    ['no prefix (IPv6): suggests /64', ['br0', 'c1', '2001:db8::2'], InvalidArgumentError, '2001:db8::2/64'],
    ['prefix /33', ['br0', 'c1', '10.0.0.1/33'], InvalidArgumentError, '/33'],
    ['prefix /0', ['br0', 'c1', '10.0.0.1/0'], InvalidArgumentError, '/0'],
    ['prefix /129 (IPv6)', ['br0', 'c1', '2001:db8::2/129'], InvalidArgumentError, '/129'],
    ['prefix not a number', ['br0', 'c1', '10.0.0.1/x'], InvalidArgumentError, '/x'],
    ['empty prefix', ['br0', 'c1', '10.0.0.1/'], InvalidArgumentError, '10.0.0.1/'],
    ['nothing after @', ['br0', 'c1', '10.0.0.1/24@'], InvalidArgumentError, '10.0.0.1/24@'],
    ['gateway not an address', ['br0', 'c1', '10.0.0.2/24@gw'], InvalidArgumentError, "'gw'"],
    ['gateway of the other family', ['br0', 'c1', '10.0.0.2/24@2001:db8::1'], InvalidArgumentError, '2001:db8::1'],
    ['IPv6 gateway of the other family', ['br0', 'c1', '2001:db8::2/64@10.0.0.1'], InvalidArgumentError, '10.0.0.1'],
    ['gateway equal to the address', ['br0', 'c1', '10.0.0.2/24@10.0.0.2'], InvalidArgumentError, '10.0.0.2'],
    ['multicast gateway', ['br0', 'c1', '10.0.0.2/24@224.0.0.1'], InvalidArgumentError, '224.0.0.1'],
    ['multicast address', ['br0', 'c1', '224.0.0.5/24'], InvalidArgumentError, '224.0.0.5', 'multicast'],
    ['IPv6 multicast address', ['br0', 'c1', 'ff02::1/64'], InvalidArgumentError, 'ff02::1'],
    ['unspecified address', ['br0', 'c1', '0.0.0.0/24'], InvalidArgumentError, '0.0.0.0'],
    ['limited broadcast address', ['br0', 'c1', '255.255.255.255/32'], InvalidArgumentError, '255.255.255.255'],
    ['loopback address', ['br0', 'c1', '127.0.0.2/8'], InvalidArgumentError, '127.0.0.2', 'loopback'],
    ['IPv6 loopback address', ['br0', 'c1', '::1/128'], InvalidArgumentError, '::1', 'loopback'],
    ['IPv4-mapped IPv6 address', ['br0', 'c1', '::ffff:10.0.0.1/96'], InvalidArgumentError, '::ffff:10.0.0.1', 'IPv4-mapped'],
    ['loopback gateway', ['br0', 'c1', '10.0.0.2/24@127.0.0.1'], InvalidArgumentError, '127.0.0.1'],
    ['gateway: the network address', ['br0', 'c1', '10.0.0.2/24@10.0.0.0'], InvalidArgumentError, '10.0.0.0', 'network address of 10.0.0.0/24'],
    ['gateway: the broadcast address', ['br0', 'c1', '10.0.0.2/24@10.0.0.255'], InvalidArgumentError, '10.0.0.255', 'broadcast address'],
    ['% in an interface name (a kernel name template)', ['br%d', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'br%d', "'%'"],
    ['% in -i', ['br0', '-i', 'eth%d', 'c1', '10.0.0.2/24'], InvalidArgumentError, 'eth%d'],
    ['0/0 with a gateway', ['br0', 'c1', '0/0@10.0.0.1'], InvalidArgumentError, '0/0@10.0.0.1'],
    ['-a 4 with an IPv6 address', ['br0', '-a', '4', 'c1', '2001:db8::2/64'], InvalidArgumentError, '2001:db8::2', '-a 4'],
    ['-a 6 with an IPv4 address', ['br0', '-a', '6', 'c1', '10.0.0.2/24'], InvalidArgumentError, '10.0.0.2', '-a 6'],
    ['-a 6 with dhcp (IPv4 only)', ['br0', '-a', '6', 'c1', 'dhcp'], InvalidArgumentError, 'dhcp'],
    ['zone index in a gateway', ['br0', 'c1', 'fe80::2/64@fe80::1%eth0'], InvalidArgumentError, 'fe80::1%eth0'],
    ['multicast MAC', ['br0', 'c1', '10.0.0.2/24', '01:00:5e:00:00:01'], InvalidArgumentError, '01:00:5e:00:00:01', 'multicast'],
    ['5-byte MAC', ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00'], InvalidArgumentError, '02:42:ac:11:00'],
    ['7-byte MAC', ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02:03'], InvalidArgumentError, '02:42:ac:11:00:02:03'],
    ['non-hex MAC', ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:zz'], InvalidArgumentError, '02:42:ac:11:00:zz'],
    ['3-digit MAC byte', ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:002'], InvalidArgumentError, '02:42:ac:11:00:002'],
    ['all-zero MAC', ['br0', 'c1', '10.0.0.2/24', '00:00:00:00:00:00'], InvalidArgumentError, '00:00:00:00:00:00', 'all-zero'],
    ['empty U:', ['br0', 'c1', '10.0.0.2/24', 'U:'], InvalidArgumentError, 'U:'],
    ['MAC before a bad VLAN', ['br0', 'c1', '10.0.0.2/24', 'zz@10'], InvalidArgumentError, 'zz'],
    ['VLAN negative', ['eth0', 'c1', '10.0.0.2/24', '@-1'], InvalidArgumentError, '-1'],
    ['VLAN empty after @', ['eth0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02@'], InvalidArgumentError, "VLAN id ''"],
    ['extra positional argument', ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02', 'extra'], UsageError, 'extra'],
    ['two extra positional arguments', ['br0', 'c1', '10.0.0.2/24', '@10', 'x', 'y'], UsageError, "'x'"],
    ['--timeout without --wait', ['br0', 'c1', '10.0.0.2/24', '--timeout', '5'], UsageError, '--timeout', '--wait'],
    ['--timeout without --wait, alone', ['--timeout', '5'], UsageError, '--timeout'],
    ['--timeout without a value', ['--wait', '--timeout'], UsageError, '--timeout'],
    ['--timeout 0', ['--wait', '--timeout', '0'], InvalidArgumentError, "'0'"],
    ['--timeout abc', ['--wait', '--timeout', 'abc'], InvalidArgumentError, 'abc'],
    ['--timeout=-1', ['--wait', '--timeout=-1'], InvalidArgumentError, '-1'],
    ['--wait with a positional', ['--wait', 'eth2'], UsageError, 'eth2'],
    ['--wait with -l', ['--wait', '-l', 'x'], UsageError, '--wait'],
    ['--wait with -a', ['--wait', '-a', '4'], UsageError, '--wait'],
    ['empty guest', ['br0', '', '10.0.0.2/24'], InvalidArgumentError, 'guest'],
  ];
  for (const [name, argv, cls, ...fragments] of cases) {
    void test(`${name}: ${JSON.stringify(argv)}`, () => {
      const err = assertThrows(() => parseCommandLine(argv), cls, ...fragments);
      if (err instanceof UsageError && err.message !== 'too few arguments') assert.ok(err.message.length > 0);
    });
  }

  void test('refusals that are not "too few arguments" do not ask for the syntax lines', () => {
    const err = assertThrows(() => parse('br0', 'c1', '10.0.0.2/24', 'x', 'extra'), UsageError);
    assert.equal((err as UsageError).showSyntax, false);
  });

  void test('-i without a value asks for the syntax lines', () => {
    const err = assertThrows(() => parse('br0', '-i'), UsageError, '-i');
    assert.equal((err as UsageError).showSyntax, true);
  });

  void test(
    'interface names that ip -batch cannot carry (#, quotes, backslash) are refused up front',
    () => {
      for (const name of ['a#b', "a'b", 'a"b', 'a\\b']) {
        assertThrows(() => parse('br0', '-i', name, 'c1', '10.0.0.2/24'), InvalidArgumentError, name);
        assertThrows(() => parse('br0', '-l', name, 'c1', '10.0.0.2/24'), InvalidArgumentError, name);
      }
    },
  );
});

void describe('grammar: interface name limits', () => {
  void test('15 characters is accepted, 16 is not', () => {
    const r = parse('br0', '-i', 'abcdefghijklmno', '-l', 'ABCDEFGHIJKLMNO', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.equal(r.guestIf, 'abcdefghijklmno');
    assert.equal(r.localIf, 'ABCDEFGHIJKLMNO');
    assertThrows(() => parse('br0', '-i', 'abcdefghijklmnop', 'c1', '10.0.0.2/24'), InvalidArgumentError);
  });

  void test('names with dots, dashes and underscores are fine', () => {
    const r = parse('br-lan_0', '-i', 'eth1.100', '-l', 'v-x_1', 'c1', '10.0.0.2/24');
    assert.ok(r.kind === 'attach');
    assert.deepEqual(r.hostIf, { by: 'name', name: 'br-lan_0' });
    assert.equal(r.guestIf, 'eth1.100');
  });

  void test('a multi-byte name is measured in bytes', () => {
    // 8 two-byte characters = 16 bytes.
    assertThrows(() => parse('br0', '-i', 'éééééééé', 'c1', '10.0.0.2/24'), InvalidArgumentError);
  });
});

void describe('parseVlan', () => {
  void test('bounds', () => {
    assert.equal(parseVlan('1'), 1);
    assert.equal(parseVlan('4094'), 4094);
    assert.equal(parseVlan('0100'), 100);
    for (const bad of ['0', '4095', '', 'abc', '1.5', ' 1', '12345', '+1']) {
      assertThrows(() => parseVlan(bad), InvalidArgumentError, `'${bad}'`);
    }
  });
});

void describe('grammar: pipework del', () => {
  const DEL = (which: { all: true } | { guestIf?: string }, extra: { dryRun?: boolean; json?: boolean } = {}) =>
    ({ kind: 'del', guest: 'c1', which, dryRun: extra.dryRun ?? false, json: extra.json ?? false });

  void test('del <guest> names no interface: the default (eth1, or ib0 where an IPoIB attach made it) is decided at run time', () => {
    assert.deepEqual(parse('del', 'c1'), DEL({}));
    const r = parse('del', 'c1');
    assert.ok(r.kind === 'del' && !('guestIf' in r.which));
  });

  void test('del -i <guestif> <guest>', () => {
    assert.deepEqual(parse('del', '-i', 'eth2', 'c1'), DEL({ guestIf: 'eth2' }));
  });

  for (const argv of [['del', '--all', 'c1'], ['del', 'c1', '--all'], ['--all', 'del', 'c1']]) {
    void test(`--all: ${argv.join(' ')}`, () => {
      assert.deepEqual(parseCommandLine(argv), DEL({ all: true }));
    });
  }

  for (const argv of [['--json', 'del', 'c1'], ['del', '--json', 'c1'], ['del', 'c1', '--json'], ['del', '-i', 'eth1', '--json', 'c1']]) {
    void test(`--json: ${argv.join(' ')}`, () => {
      assert.deepEqual(parseCommandLine(argv), DEL(argv.includes('-i') ? { guestIf: 'eth1' } : {}, { json: true }));
    });
  }

  void test('--owner: what another owner made (cli, watch, topology[:NAME], cni[:NET…])', () => {
    assert.deepEqual(parse('del', '--owner', 'topology:lab', 'c1'), { ...DEL({}), owner: 'topology:lab' });
    assert.deepEqual(parse('del', '--all', 'c1', '--owner=cni:net1'), { ...DEL({ all: true }), owner: 'cni:net1' });
    assert.deepEqual(parse('--owner', 'watch', 'del', '--stale'), { kind: 'del', which: { stale: true }, dryRun: false, json: false, owner: 'watch' });
    assertThrows(() => parse('del', 'c1', '--owner'), UsageError, '--owner needs');
  });

  void test('--dry-run, with --json and --all', () => {
    assert.deepEqual(parse('--dry-run', 'del', '--all', 'c1', '--json'), DEL({ all: true }, { dryRun: true, json: true }));
  });

  void test('guest references keep their prefix', () => {
    const r = parse('del', 'netns:blue');
    assert.ok(r.kind === 'del');
    assert.equal(r.guest, 'netns:blue');
  });

  void test('--help wins, and is help on del', () => {
    assert.deepEqual(parse('del', 'c1', '--help'), { kind: 'help', verb: 'del' });
    assert.deepEqual(parse('del', '--version'), { kind: 'version' });
  });

  void test('del --stale: every dead guest, or one; with --dry-run and --json anywhere', () => {
    assert.deepEqual(parse('del', '--stale'), { kind: 'del', which: { stale: true }, dryRun: false, json: false });
    assert.deepEqual(parse('del', '--stale', 'c1'), { kind: 'del', guest: 'c1', which: { stale: true }, dryRun: false, json: false });
    assert.deepEqual(parse('--dry-run', 'del', 'c1', '--stale', '--json'), { kind: 'del', guest: 'c1', which: { stale: true }, dryRun: true, json: true });
    assert.deepEqual(parse('--stale', 'del'), { kind: 'del', which: { stale: true }, dryRun: false, json: false });
  });

  void test('del --stale refuses -i, --all and an empty guest; --stale belongs to del only', () => {
    assertThrows(() => parse('del', '--stale', '-i', 'eth1'), UsageError, '--stale');
    assertThrows(() => parse('del', '--stale', '--all'), UsageError, '--stale');
    assertThrows(() => parse('del', '--stale', ''), UsageError, 'empty');
    assertThrows(() => parse('ls', '--stale'), UsageError, 'ls');
    assertThrows(() => parse('br0', 'c1', '10.0.0.2/24', '--stale'), UsageError, '--stale goes with pipework del');
  });
});

void describe('grammar: pipework ls', () => {
  void test('ls alone lists everything', () => {
    assert.deepEqual(parse('ls'), { kind: 'ls', dryRun: false, json: false });
    assert.ok(!('target' in parse('ls')));
  });

  void test('ls <guest> and ls <hostif>', () => {
    assert.deepEqual(parse('ls', 'c1'), { kind: 'ls', target: 'c1', dryRun: false, json: false });
    assert.deepEqual(parse('ls', 'br0'), { kind: 'ls', target: 'br0', dryRun: false, json: false });
  });

  for (const argv of [['--json', 'ls'], ['ls', '--json'], ['ls', 'c1', '--json'], ['--json', 'ls', 'c1']]) {
    void test(`--json: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'ls');
      assert.equal(r.json, true);
      assert.equal(r.target, argv.includes('c1') ? 'c1' : undefined);
    });
  }

  void test('an empty target is refused, as an empty guest is for attach and del', () => {
    assertThrows(() => parse('ls', ''), PipeworkError);
  });

  void test('--owner: only what that owner made', () => {
    assert.deepEqual(parse('ls', '--owner', 'topology'), { kind: 'ls', dryRun: false, json: false, owner: 'topology' });
    assert.deepEqual(parse('ls', 'c1', '--owner=cli', '--json'), { kind: 'ls', target: 'c1', dryRun: false, json: true, owner: 'cli' });
  });
});

void describe('grammar: --json and --replace on attach', () => {
  for (const argv of [
    ['--json', 'br0', 'c1', '10.0.0.2/24'],
    ['br0', '--json', 'c1', '10.0.0.2/24'],
    ['br0', '-i', 'eth2', '--json', 'c1', '10.0.0.2/24'],
    ['br0', 'c1', '--json', '10.0.0.2/24'],
    ['br0', 'c1', '10.0.0.2/24', '--json'],
    ['br0', 'c1', '10.0.0.2/24', '02:42:ac:11:00:02', '--json'],
  ]) {
    void test(`--json anywhere: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach');
      assert.equal(r.json, true);
      assert.equal(r.replace, false);
      assert.equal(r.guest, 'c1');
    });
  }

  for (const argv of [
    ['--replace', 'br0', 'c1', '10.0.0.2/24'],
    ['br0', '--replace', 'c1', '10.0.0.2/24'],
    ['br0', '-l', 'v0', '--replace', 'c1', '10.0.0.2/24'],
    ['br0', 'c1', '10.0.0.2/24', '--replace'],
  ]) {
    void test(`--replace anywhere: ${argv.join(' ')}`, () => {
      const r = parseCommandLine(argv);
      assert.ok(r.kind === 'attach');
      assert.equal(r.replace, true);
      assert.equal(r.json, false);
    });
  }

  void test('an options-only line is still too few arguments', () => {
    assertThrows(() => parse('--json'), UsageError, 'too few arguments');
    assertThrows(() => parse('--replace', '--json', 'br0', 'c1'), UsageError, 'too few arguments');
  });

  void test('the words del and ls are verbs, not host interfaces, wherever the options are', () => {
    assert.equal(parse('--json', '--dry-run', 'del', 'c1').kind, 'del');
    assert.equal(parse('--dry-run', 'ls').kind, 'ls');
  });
});

void describe('grammar: lifecycle refusals', () => {
  const cases: [string, string[], typeof UsageError | typeof InvalidArgumentError, ...string[]][] = [
    ['del without a guest', ['del'], UsageError, 'del needs a guest'],
    ['del with only options', ['del', '--all', '--json'], UsageError, 'del needs a guest'],
    ['del with -i and no guest', ['del', '-i', 'eth1'], UsageError, 'del needs a guest'],
    ['del with an empty guest', ['del', ''], UsageError, 'del needs a guest'],
    ['del with -i and --all', ['del', '-i', 'eth2', '--all', 'c1'], UsageError, '-i or --all, not both'],
    ['del with --all and -i after it', ['del', '--all', '-i', 'eth2', 'c1'], UsageError],
    ['del with two guests', ['del', 'c1', 'c2'], UsageError, "'c2'"],
    ['del with --replace', ['del', '--replace', 'c1'], UsageError, 'del', '-i, --all, --stale, --owner, --json and --dry-run'],
    ['del with --replace after the guest', ['del', 'c1', '--replace'], UsageError, 'del'],
    ['del with -l', ['del', '-l', 'v0', 'c1'], UsageError, 'del'],
    ['del with -a', ['del', '-a', '4', 'c1'], UsageError, 'del'],
    ['del with --direct-phys', ['del', '--direct-phys', 'c1'], UsageError, 'del'],
    ['del with --wait', ['del', '--wait', 'c1'], UsageError, 'del'],
    ['del with --timeout', ['del', '--timeout', '5', 'c1'], UsageError, 'del'],
    ['del with an unknown option', ['del', '--bogus', 'c1'], UsageError, '--bogus'],
    ['del with a bad -i', ['del', '-i', 'eth/1', 'c1'], InvalidArgumentError, 'eth/1'],
    ['del with -i and no value', ['del', '-i'], UsageError, '-i'],
    ['ls with -i', ['ls', '-i', 'x'], UsageError, 'ls', '-i'],
    ['ls with -i and a target', ['ls', '-i', 'eth1', 'c1'], UsageError, 'ls'],
    ['ls with --all', ['ls', '--all'], UsageError, 'ls', '--all'],
    ['ls with two targets', ['ls', 'a', 'b'], UsageError, "unexpected argument 'b'"],
    ['ls with --replace', ['ls', '--replace'], UsageError, 'ls', '--json and --dry-run'],
    ['ls with -l', ['ls', '-l', 'v0'], UsageError, 'ls'],
    ['ls with -a', ['ls', '-a', '6'], UsageError, 'ls'],
    ['ls with --timeout=', ['ls', '--timeout=3'], UsageError, 'ls'],
    ['--all on attach', ['br0', 'c1', '10.0.0.2/24', '--all'], UsageError, '--all goes with pipework del'],
    ['--all first on attach', ['--all', 'br0', 'c1', '10.0.0.2/24'], UsageError, '--all'],
    ['--all on route', ['route', '--all', 'c1', 'show'], UsageError, '--all'],
    ['--wait then del', ['--wait', 'del'], UsageError, 'del'],
    ['--owner on attach', ['br0', 'c1', '10.0.0.2/24', '--owner', 'cli'], UsageError, '--owner goes with pipework ls and pipework del'],
    ['--owner on route', ['route', '--owner', 'cli', 'c1', 'show'], UsageError, '--owner'],
    ['--owner on --wait', ['--wait', '--owner', 'cli'], UsageError, '--wait'],
  ];
  for (const [name, argv, cls, ...fragments] of cases) {
    void test(`${name}: ${JSON.stringify(argv)}`, () => {
      const err = assertThrows(() => parseCommandLine(argv), cls, ...fragments);
      assert.ok(err.message.length > 0);
      assert.equal((err as PipeworkError).reason, cls === UsageError ? 'usage' : 'invalid-argument');
    });
  }

  void test('options that belong to another command are refused, not ignored (--replace, --all, --stale, --json on route/rule/tc or --wait)', () => {
    for (const argv of [
      ['route', '--replace', 'c1', 'show'], ['--replace', 'tc', 'c1', 'qdisc'], ['rule', '--all', 'c1', 'show'], ['route', '--stale', 'c1', 'show'],
      ['--json', 'route', 'c1', 'show'], ['tc', '--json', 'c1', 'qdisc'],
      ['--wait', '--replace'], ['--wait', '--all'], ['--wait', '--stale'], ['--wait', '--json'], ['--json', '--wait', '-i', 'eth2'],
    ]) {
      assertThrows(() => parseCommandLine(argv), UsageError);
    }
  });
});

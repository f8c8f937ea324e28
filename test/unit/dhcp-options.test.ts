// The options a DHCP client takes from a user (after `method:`), per client: every accepted
// option in each of its spellings (short, glued, clustered, long, --long=value) and the one
// canonical form pipework passes on; every refused one — what names a file or a script, passes
// environment to the hook, or is pipework's own choice — with one line naming the option and why;
// and the same decision reached through every front door (command line, batch line, topology
// file, label, pipework_cmd variable). Also: pipework's own file and script options come last in
// each client's command line, and a DHCP state key is only ever one pipework makes. Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBatchText } from '../../src/front/cli/commands/batch.js';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import { envRequest, labelRequest, type ContainerView } from '../../src/front/watch/asks.js';
import { parseTopology } from '../../src/front/topology/parse.js';
import { clientArgv, helperCommand } from '../../src/dhcp/methods.js';
import { stateDir } from '../../src/dhcp/state.js';
import { DHCP_METHODS, type DhcpMethod } from '../../src/model/dhcp-methods.js';
import { checkDhcpOptions, dhcpClientOf, splitDhcpOptions } from '../../src/model/dhcp-options.js';
import { InvalidArgumentError } from '../../src/model/errors.js';
import { fileProblems } from './topology-problems.js';

const UDHCPC: DhcpMethod[] = ['udhcpc', 'udhcpc-f', 'dhcp'];
const DHCLIENT: DhcpMethod[] = ['dhclient', 'dhclient-f'];
const DHCPCD: DhcpMethod[] = ['dhcpcd', 'dhcpcd-f'];

/** The refusal of `words` for `method`: an InvalidArgumentError of one line. */
function refusal(method: DhcpMethod, words: string[]): string {
  try {
    const out = checkDhcpOptions(method, words);
    assert.fail(`${method}: ${JSON.stringify(words)} was accepted as ${JSON.stringify(out)}`);
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, `${method} ${JSON.stringify(words)}: ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/u);
    return err.message;
  }
}

function accepts(methods: DhcpMethod[], cases: [string[], string[]][]): void {
  for (const method of methods) {
    for (const [words, canonical] of cases) {
      assert.deepEqual(checkDhcpOptions(method, words), canonical, `${method} ${JSON.stringify(words)}`);
      // What pipework passes on is accepted again as it is (the agent checks it once more).
      assert.deepEqual(checkDhcpOptions(method, canonical), canonical, `${method} ${JSON.stringify(canonical)} again`);
    }
  }
}

function refuses(methods: DhcpMethod[], cases: [string[], RegExp][]): void {
  for (const method of methods) {
    for (const [words, why] of cases) assert.match(refusal(method, words), why, `${method} ${JSON.stringify(words)}`);
  }
}

void describe('DHCP client options: which client each method runs', () => {
  void test('udhcpc for udhcpc, udhcpc-f and the helper of dhcp; dhclient; dhcpcd', () => {
    assert.deepEqual(DHCP_METHODS.map((m) => dhcpClientOf(m)), ['udhcpc', 'udhcpc', 'udhcpc', 'dhclient', 'dhclient', 'dhcpcd', 'dhcpcd']);
  });

  void test('no options at all, and the text after the colon split on white space', () => {
    for (const m of DHCP_METHODS) assert.deepEqual(checkDhcpOptions(m, []), []);
    assert.deepEqual(splitDhcpOptions('  -V\tacme  -B '), ['-V', 'acme', '-B']);
    assert.deepEqual(splitDhcpOptions(''), []);
  });
});

void describe('DHCP client options: udhcpc (udhcpc, udhcpc-f, and the helper of dhcp)', () => {
  void test('accepted, in every spelling busybox takes, passed on in one form', () => {
    accepts(UDHCPC, [
      [['-V', 'acme-router'], ['-V', 'acme-router']],
      [['-Vacme'], ['-V', 'acme']],
      [['--vendorclass=acme'], ['-V', 'acme']],
      [['--vendorclass', 'acme'], ['-V', 'acme']],
      [['-r', '10.161.0.5'], ['-r', '10.161.0.5']],
      [['-r10.161.0.5'], ['-r', '10.161.0.5']],
      [['--request=10.161.0.5'], ['-r', '10.161.0.5']],
      [['-x', 'lease:3600'], ['-x', 'lease:3600']],
      [['-xlease:3600'], ['-x', 'lease:3600']],
      [['-x', '0x3d:0100BEEFC0FFEE'], ['-x', '0x3d:0100BEEFC0FFEE']],
      [['-x', 'hostname:web-1', '-x', '61:abc'], ['-x', 'hostname:web-1', '-x', '61:abc']],
      [['-O', 'ntpsrv'], ['-O', 'ntpsrv']],
      [['-O42'], ['-O', '42']],
      [['--request-option=mtu'], ['-O', 'mtu']],
      [['-F', 'web.example.com'], ['-F', 'web.example.com']],
      [['--fqdn=web.example.com'], ['-F', 'web.example.com']],
      [['-C'], ['-C']],
      [['--clientid-none'], ['-C']],
      [['-B'], ['-B']],
      [['--broadcast'], ['-B']],
      [['-R'], ['-R']],
      [['--release'], ['-R']],
      [['-v'], ['-v']],
      [['-a'], ['-a']],
      [['-a500'], ['-a500']],
      [['--arping'], ['-a']],
      [['--arping=500'], ['-a500']],
      [['-t', '7'], ['-t', '7']],
      [['-T2'], ['-T', '2']],
      [['-A', '10'], ['-A', '10']],
      [['--retries=3', '--timeout', '2', '--tryagain=4'], ['-t', '3', '-T', '2', '-A', '4']],
      // Clustered, as getopt reads them: flags, then one that takes the rest of the word (or the next).
      [['-CBv'], ['-C', '-B', '-v']],
      [['-CV', 'acme'], ['-C', '-V', 'acme']],
      [['-BVacme'], ['-B', '-V', 'acme']],
    ]);
  });

  void test('a script, a pidfile, the interface, the mode: refused, naming the option and why', () => {
    refuses(UDHCPC, [
      [['-s', '/tmp/x'], /^DHCP client option -s is not accepted: it names a script [^;]*; udhcpc takes only -V, -r, -x, -O, -F, -C, -B, -a, -R, -t, -T, -A, -v/u],
      [['-s/tmp/x'], /^DHCP client option -s \(in '-s\/tmp\/x'\) is not accepted: it names a script/u],
      [['-Cs/tmp/x'], /^DHCP client option -s \(in '-Cs\/tmp\/x'\) is not accepted: it names a script/u],
      [['-BCs', '/tmp/x'], /^DHCP client option -s \(in '-BCs'\) is not accepted: it names a script/u],
      [['--script=/tmp/x'], /^DHCP client option --script is not accepted: it names a script/u],
      [['--script', '/tmp/x'], /^DHCP client option --script is not accepted: it names a script/u],
      [['--scr=/tmp/x'], /^DHCP client option --scr \(short for --script\) is not accepted: it names a script/u],
      [['-p', '/etc/passwd'], /^DHCP client option -p is not accepted: it names a file \(the pidfile is pipework's\)/u],
      [['-p/etc/passwd'], /^DHCP client option -p \(in '-p\/etc\/passwd'\) is not accepted: it names a file/u],
      [['--pidfile=/etc/passwd'], /^DHCP client option --pidfile is not accepted: it names a file/u],
      [['--pid=/etc/passwd'], /^DHCP client option --pid \(short for --pidfile\) is not accepted: it names a file/u],
      [['-i', 'eth0'], /^DHCP client option -i is not accepted: pipework chooses the interface \(its own -i\)/u],
      [['--interface=eth0'], /^DHCP client option --interface is not accepted: pipework chooses the interface/u],
      [['-f'], /^DHCP client option -f is not accepted: pipework decides whether the client stays/u],
      [['-b'], /^DHCP client option -b is not accepted: pipework decides whether the client stays/u],
      [['-q'], /^DHCP client option -q is not accepted: pipework decides whether the client stays/u],
      [['-n'], /^DHCP client option -n is not accepted: pipework decides whether the client stays/u],
      [['--now'], /^DHCP client option --now is not accepted: pipework decides whether the client stays/u],
      [['-H', 'web'], /^DHCP client option -H is not accepted: [^;]*-x hostname:NAME/u],
      [['-h', 'web'], /^DHCP client option -h is not accepted: [^;]*-x hostname:NAME/u],
      [['-c', '01'], /^DHCP client option -c is not accepted: [^;]*-x 0x3d:/u],
      [['-S'], /^DHCP client option -S is not accepted; udhcpc takes only/u],
      [['-o'], /^DHCP client option -o is not accepted; udhcpc takes only/u],
      [['-P', '68'], /^DHCP client option -P is not accepted; udhcpc takes only/u],
      [['--syslog'], /^DHCP client option --syslog is not accepted; udhcpc takes only/u],
      [['--vendor=acme'], /^DHCP client option --vendor is not accepted: write it in full \(--vendorclass\)/u],
      [['--'], /^DHCP client option -- is not accepted: /u],
      [['-'], /^'-' is not a DHCP client option/u],
      [['eth0'], /^'eth0' is not a DHCP client option: pipework passes only options to udhcpc/u],
      [['/tmp/x'], /^'\/tmp\/x' is not a DHCP client option/u],
      [['-V', 'acme', 'eth0'], /^'eth0' is not a DHCP client option/u],
    ]);
  });

  void test('values of the wrong shape, or missing', () => {
    refuses(UDHCPC, [
      [['-V'], /^DHCP client option -V needs a vendor class/u],
      [['-V', '-s'], /^DHCP client option -V needs a vendor class [^;]*, not '-s'$/u],
      [['-V', 'a'.repeat(256)], /^DHCP client option -V needs a vendor class/u],
      [['-V', 'a\u0007b'], /^DHCP client option -V needs a vendor class .*not "a\\u0007b"$/u],
      [['-V', 'caf\u00e9'], /^DHCP client option -V needs a vendor class/u],
      [['-V', 'a b'], /^DHCP client option -V needs a vendor class/u],
      [['-r', '300.1.1.1'], /^DHCP client option -r needs an IPv4 address/u],
      [['-r', 'fd00::1'], /^DHCP client option -r needs an IPv4 address/u],
      [['-x', 'lease'], /^DHCP client option -x needs OPTION:VALUE/u],
      [['-x', 'lease:'], /^DHCP client option -x needs OPTION:VALUE/u],
      [['-x', '0x3d'], /^DHCP client option -x needs OPTION:VALUE/u],
      [['-x', '300:1'], /^DHCP client option -x needs OPTION:VALUE/u],
      [['-O', 'no such'], /^DHCP client option -O needs an option name or number/u],
      [['-O', '0'], /^DHCP client option -O needs an option name or number/u],
      [['-F', '-web'], /^DHCP client option -F needs a host name/u],
      [['-t', 'x'], /^DHCP client option -t needs a number/u],
      [['-T', '-1'], /^DHCP client option -T needs a number of seconds/u],
      [['-ax'], /^DHCP client option -a needs milliseconds/u],
      [['--broadcast=1'], /^DHCP client option --broadcast takes no value/u],
      [['-C', '-V'], /^DHCP client option -V needs a vendor class$/u],
    ]);
  });
});

void describe('DHCP client options: dhclient', () => {
  void test('accepted, word by word as dhclient reads them', () => {
    accepts(DHCLIENT, [
      [['-v'], ['-v']],
      [['-I'], ['-I']],
      [['-i'], ['-i']],
      [['-N'], ['-N']],
      [['-T'], ['-T']],
      [['-D', 'LL'], ['-D', 'LL']],
      [['-D', 'LLT'], ['-D', 'LLT']],
      [['-s', '10.161.0.1'], ['-s', '10.161.0.1']],
      [['-s', 'fd00:161::1'], ['-s', 'fd00:161::1']],
      [['--dad-wait-time', '3'], ['--dad-wait-time', '3']],
      [['--dad-wait-time=3'], ['--dad-wait-time', '3']],
      [['--prefix-len-hint', '64', '--decline-wait-time', '10', '--address-prefix-len', '64'], ['--prefix-len-hint', '64', '--decline-wait-time', '10', '--address-prefix-len', '64']],
      [['-v', '-I', '-D', 'LL'], ['-v', '-I', '-D', 'LL']],
    ]);
  });

  void test('a script, a file, environment for the hook, the mode: refused', () => {
    refuses(DHCLIENT, [
      [['-sf', '/tmp/x'], /^DHCP client option -sf is not accepted: it names a script [^;]*; dhclient takes only -v, -I, -i, -N, -T, -D, -s, --dad-wait-time, --prefix-len-hint, --decline-wait-time, --address-prefix-len/u],
      [['-sf/tmp/x'], /^DHCP client option -sf \(in '-sf\/tmp\/x'\) is not accepted: it names a script/u],
      [['-cf', '/tmp/x'], /^DHCP client option -cf is not accepted: it names a file/u],
      [['-cf/tmp/x'], /^DHCP client option -cf \(in '-cf\/tmp\/x'\) is not accepted: it names a file/u],
      [['-lf', '/tmp/x'], /^DHCP client option -lf is not accepted: it names a file/u],
      [['-pf', '/tmp/x'], /^DHCP client option -pf is not accepted: it names a file/u],
      [['-df', '/tmp/x'], /^DHCP client option -df is not accepted: it names a file/u],
      [['-e', 'PATH=/tmp'], /^DHCP client option -e is not accepted: it passes environment to pipework's hook/u],
      [['-ePATH=/tmp'], /^DHCP client option -e \(in '-ePATH=\/tmp'\) is not accepted: it passes environment/u],
      [['-p', '67'], /^DHCP client option -p is not accepted; dhclient takes only/u],
      [['-d'], /^DHCP client option -d is not accepted: pipework decides whether the client stays/u],
      [['-nw'], /^DHCP client option -nw is not accepted: pipework decides whether the client stays/u],
      [['-w'], /^DHCP client option -w is not accepted: pipework decides whether the client stays/u],
      [['-1'], /^DHCP client option -1 is not accepted: pipework decides whether the client stays/u],
      [['-q'], /^DHCP client option -q is not accepted/u],
      [['--no-pid'], /^DHCP client option --no-pid is not accepted/u],
      [['-4'], /^DHCP client option -4 is not accepted: pipework chooses the address family \(-a 4\|6\)/u],
      [['-6'], /^DHCP client option -6 is not accepted: pipework chooses the address family/u],
      [['-x'], /^DHCP client option -x is not accepted: it stops or releases/u],
      [['-r'], /^DHCP client option -r is not accepted: it stops or releases/u],
      [['-n'], /^DHCP client option -n is not accepted/u],
      [['-g', '10.161.0.1'], /^DHCP client option -g is not accepted/u],
      [['-P'], /^DHCP client option -P is not accepted/u],
      [['-S'], /^DHCP client option -S is not accepted/u],
      [['--version'], /^DHCP client option --version is not accepted/u],
      [['-vI'], /^DHCP client option -vI is not accepted: dhclient takes one option per word/u],
      [['eth0'], /^'eth0' is not a DHCP client option: pipework passes only options to dhclient/u],
      [['-D', 'XX'], /^DHCP client option -D needs LL or LLT, not 'XX'$/u],
      [['-D'], /^DHCP client option -D needs LL or LLT$/u],
      [['-s', 'server.example'], /^DHCP client option -s needs an IP address/u],
      [['-s', '/tmp/x'], /^DHCP client option -s needs an IP address/u],
      [['--dad-wait-time', 'x'], /^DHCP client option --dad-wait-time needs a number of seconds/u],
      [['--prefix-len-hint', '129'], /^DHCP client option --prefix-len-hint needs a prefix length/u],
    ]);
  });
});

void describe('DHCP client options: dhcpcd', () => {
  void test('accepted, short, glued, clustered or long, passed on as --long=value', () => {
    accepts(DHCPCD, [
      [['-i', 'acme'], ['--vendorclassid=acme']],
      [['-iacme'], ['--vendorclassid=acme']],
      [['--vendorclassid=acme'], ['--vendorclassid=acme']],
      [['--vendorclassid', 'acme'], ['--vendorclassid=acme']],
      [['-I', '01:02:03:04:05:06:07'], ['--clientid=01:02:03:04:05:06:07']],
      [['-I01:02'], ['--clientid=01:02']],
      [['--clientid=web'], ['--clientid=web']],
      [['-l', '3600'], ['--leasetime=3600']],
      [['--leasetime', '3600'], ['--leasetime=3600']],
      [['-r', '10.161.0.5'], ['--request=10.161.0.5']],
      [['-o', 'ntp_servers'], ['--option=ntp_servers']],
      [['-o', 'ntp_servers,domain_search'], ['--option=ntp_servers,domain_search']],
      [['-O', 'domain_name_servers'], ['--nooption=domain_name_servers']],
      [['-Q', 'subnet_mask'], ['--require=subnet_mask']],
      [['-u', 'lab'], ['--userclass=lab']],
      [['-v', '1,abc'], ['--vendor=1,abc']],
      [['-F', 'both'], ['--fqdn=both']],
      [['-h', 'web'], ['--hostname=web']],
      [['-m', '100'], ['--metric=100']],
      [['-y', '5'], ['--reboot=5']],
      [['-t', '20'], ['--timeout=20']],
      [['-A'], ['--noarp']],
      [['--noarp'], ['--noarp']],
      [['-J'], ['--broadcast']],
      [['-d'], ['--debug']],
      [['-Ad'], ['--noarp', '--debug']],
      [['-Ai', 'acme'], ['--noarp', '--vendorclassid=acme']],
      [['-Adl3600'], ['--noarp', '--debug', '--leasetime=3600']],
    ]);
  });

  void test('a script, a file, environment for the hook, other clients, the mode: refused', () => {
    refuses(DHCPCD, [
      [['-c', '/tmp/x'], /^DHCP client option -c is not accepted: it names a script [^;]*; dhcpcd takes only -i, -I, -l, -r, -o, -O, -Q, -u, -v, -F, -h, -m, -y, -t, -A, -J, -d/u],
      [['-c/tmp/x'], /^DHCP client option -c \(in '-c\/tmp\/x'\) is not accepted: it names a script/u],
      [['-Ac/tmp/x'], /^DHCP client option -c \(in '-Ac\/tmp\/x'\) is not accepted: it names a script/u],
      [['--script=/tmp/x'], /^DHCP client option --script is not accepted: it names a script/u],
      [['--script', '/tmp/x'], /^DHCP client option --script is not accepted: it names a script/u],
      [['--scri=/tmp/x'], /^DHCP client option --scri \(short for --script\) is not accepted: it names a script/u],
      [['-e', 'A=1'], /^DHCP client option -e is not accepted: it passes environment to pipework's hook/u],
      [['--env=A=1'], /^DHCP client option --env is not accepted: it passes environment/u],
      [['-f', '/tmp/x'], /^DHCP client option -f is not accepted: it names a file/u],
      [['--config=/tmp/x'], /^DHCP client option --config is not accepted: it names a file/u],
      [['-j', '/tmp/x'], /^DHCP client option -j is not accepted: it names a file/u],
      [['--logfile=/tmp/x'], /^DHCP client option --logfile is not accepted: it names a file/u],
      [['-p'], /^DHCP client option -p is not accepted: pipework decides whether the client stays/u],
      [['-b'], /^DHCP client option -b is not accepted: pipework decides whether the client stays/u],
      [['-B'], /^DHCP client option -B is not accepted: pipework decides whether the client stays/u],
      [['-w'], /^DHCP client option -w is not accepted: pipework decides whether the client stays/u],
      [['--waitip'], /^DHCP client option --waitip is not accepted: pipework decides whether the client stays/u],
      [['-M'], /^DHCP client option -M is not accepted: pipework decides whether the client stays/u],
      [['-1'], /^DHCP client option -1 is not accepted: pipework decides whether the client stays/u],
      [['-4'], /^DHCP client option -4 is not accepted: pipework chooses the address family/u],
      [['-x'], /^DHCP client option -x is not accepted: it stops or releases/u],
      [['-k'], /^DHCP client option -k is not accepted: it stops or releases/u],
      [['-n'], /^DHCP client option -n is not accepted: it stops or releases/u],
      [['-N'], /^DHCP client option -N is not accepted: it stops or releases/u],
      [['-g'], /^DHCP client option -g is not accepted: it stops or releases/u],
      [['-U'], /^DHCP client option -U is not accepted: it names a file/u],
      [['-T'], /^DHCP client option -T is not accepted/u],
      [['-C', 'resolv.conf'], /^DHCP client option -C is not accepted/u],
      [['-G'], /^DHCP client option -G is not accepted/u],
      [['-L'], /^DHCP client option -L is not accepted/u],
      [['-z', 'eth*'], /^DHCP client option -z is not accepted/u],
      [['-S', 'ip_address=10.161.0.9'], /^DHCP client option -S is not accepted/u],
      [['--vendorclass=acme'], /^DHCP client option --vendorclass is not accepted: write it in full \(--vendorclassid\)/u],
      [['eth0'], /^'eth0' is not a DHCP client option: pipework passes only options to dhcpcd/u],
      [['--'], /^DHCP client option -- is not accepted/u],
    ]);
  });

  void test('values of the wrong shape, or missing', () => {
    refuses(DHCPCD, [
      [['-i'], /^DHCP client option -i needs a vendor class/u],
      [['-l', 'long'], /^DHCP client option -l needs a number of seconds/u],
      [['-l', '99999999999'], /^DHCP client option -l needs a number of seconds/u],
      [['-r', 'fd00::1'], /^DHCP client option -r needs an IPv4 address/u],
      [['-o', 'a b'], /^DHCP client option -o needs option names/u],
      [['-o', '/tmp/x'], /^DHCP client option -o needs option names/u],
      [['-v', 'abc'], /^DHCP client option -v needs CODE,VALUE/u],
      [['-F', 'all'], /^DHCP client option -F needs none, ptr, both or disable/u],
      [['-h', 'a/b'], /^DHCP client option -h needs a host name/u],
      [['--noarp=1'], /^DHCP client option --noarp takes no value/u],
    ]);
  });
});

void describe('DHCP client options reach every front door through one decision', () => {
  const c: ContainerView = { runtime: 'docker', id: 'ab'.repeat(32), name: 'web_3', labels: {}, env: [], image: { labels: {}, env: [] } };
  const refusedBy = (f: () => unknown, why: RegExp): void => {
    assert.throws(f, (err: unknown) => err instanceof InvalidArgumentError && why.test(err.message) && !err.message.includes('\n'));
  };

  void test('the command line: refused, or passed on in the canonical form', () => {
    refusedBy(() => parseCommandLine(['br0', 'c1', 'udhcpc:-s/tmp/x']), /^DHCP client option -s \(in '-s\/tmp\/x'\) is not accepted: it names a script/u);
    refusedBy(() => parseCommandLine(['br0', 'c1', 'dhclient-f:-sf /tmp/x']), /^DHCP client option -sf is not accepted: it names a script/u);
    refusedBy(() => parseCommandLine(['br0', 'c1', 'dhcpcd:-c /tmp/x']), /^DHCP client option -c is not accepted: it names a script/u);
    refusedBy(() => parseCommandLine(['br0', 'c1', 'udhcpc-f:-p/etc/shadow']), /^DHCP client option -p \(in '-p\/etc\/shadow'\) is not accepted: it names a file/u);
    refusedBy(() => parseCommandLine(['br0', 'c1', 'dhcp:--script=/tmp/x', '--dhcp-image', 'busybox']), /^DHCP client option --script is not accepted/u);
    refusedBy(() => parseCommandLine(['br0', 'c1', 'dhclient:-e PATH=/tmp']), /^DHCP client option -e is not accepted: it passes environment/u);
    const r = parseCommandLine(['br0', 'c1', 'udhcpc-f:-Vacme  -xlease:600 -CB']);
    assert.ok(r.kind === 'attach' && r.config.kind === 'dhcp');
    assert.deepEqual(r.config.options, ['-V', 'acme', '-x', 'lease:600', '-C', '-B']);
  });

  void test('a batch line names its line', () => {
    assert.throws(() => parseBatchText('br0 c1 10.161.0.2/24\nbr0 c2 "dhclient:-sf /tmp/x"\n'),
      (err: unknown) => err instanceof InvalidArgumentError && /^line 2: DHCP client option -sf is not accepted: it names a script/u.test(err.message));
    assert.throws(() => parseBatchText("br0 c1 'udhcpc:--script=/tmp/x'\n"),
      (err: unknown) => err instanceof InvalidArgumentError && /^line 1: DHCP client option --script is not accepted: it names a script/u.test(err.message));
    const [line] = parseBatchText('br0 c1 dhcpcd:-i\\ acme\n');
    assert.ok(line?.request.config.kind === 'dhcp');
    assert.deepEqual(line.request.config.options, ['--vendorclassid=acme']);
  });

  void test('a topology file: the brief form and dhcp: of the extended form, with line and column', () => {
    const base = 'name: lab\nnetworks:\n  front: {bridge: br-front}\nguests:\n  web: {netns: lab-web}\n  db: {netns: lab-db}\nlinks:\n';
    const lines = fileProblems(`${base}  - web front udhcpc:-s/tmp/x\n  - {guest: db, network: front, dhcp: "dhcpcd-f:--script=/tmp/x"}\n`, 'lab.yaml');
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /^lab\.yaml:8:\d+: links\[0\]: DHCP client option -s \(in '-s\/tmp\/x'\) is not accepted: it names a script/u);
    assert.match(lines[1]!, /^lab\.yaml:9:\d+: links\[1\]\.dhcp: DHCP client option --script is not accepted: it names a script/u);
    const t = parseTopology(`${base}  - web front udhcpc-f:-Vacme\n  - {guest: db, network: front, dhcp: "dhcpcd:-l 600"}\n`, 'lab.yaml');
    assert.deepEqual(t.links.map((l) => l.addressing.kind === 'dhcp' && l.addressing.options), [['-V', 'acme'], ['--leasetime=600']]);
  });

  void test('a label and a pipework_cmd variable', () => {
    refusedBy(() => labelRequest(c, 'pipework.eth1', 'br0 udhcpc:-s/tmp/x'), /^DHCP client option -s \(in '-s\/tmp\/x'\) is not accepted: it names a script/u);
    refusedBy(() => labelRequest(c, 'pipework.eth1', 'br0 "dhclient:-sf /tmp/x"'), /^DHCP client option -sf is not accepted/u);
    refusedBy(() => labelRequest(c, 'pipework.eth1', "br0 'dhcpcd:-c /tmp/x'"), /^DHCP client option -c is not accepted/u);
    refusedBy(() => labelRequest(c, 'pipework.eth1', 'br0 udhcpc-f:-p/etc/passwd'), /^DHCP client option -p \(in '-p\/etc\/passwd'\) is not accepted: it names a file/u);
    refusedBy(() => envRequest(c, 'br0 @CONTAINER_NAME@ "dhcpcd-f:--env=PATH=/tmp"'), /^DHCP client option --env is not accepted: it passes environment/u);
    const ok = labelRequest(c, 'pipework.eth1', 'br0 "udhcpc:-x lease:600 -V acme"');
    assert.ok(ok.config.kind === 'dhcp');
    assert.deepEqual(ok.config.options, ['-x', 'lease:600', '-V', 'acme']);
  });
});

void describe("pipework's own files and script win over anything after them", () => {
  const base = { guestIf: 'eth1', family: 4 as const, hostname: 'web-1', timeoutSec: 30, hook: '/run/pipework/dhcp/K/hook.mjs', stateDir: '/run/pipework/dhcp/K' };
  /** The value after the last `flag` in argv. */
  const last = (argv: string[], flag: string): string | undefined => {
    const i = argv.lastIndexOf(flag);
    return i === -1 ? undefined : argv[i + 1];
  };

  void test('udhcpc: the hook (-s), the pidfile (-p) and the interface (-i) come after the user options', () => {
    for (const method of ['udhcpc', 'udhcpc-f'] as const) {
      const argv = clientArgv({ ...base, method, pidfile: '/var/run/udhcpc.web.pid', options: ['-s', '/tmp/x', '-p', '/tmp/p', '-i', 'eth0'] });
      assert.equal(last(argv, '-s'), base.hook, argv.join(' '));
      assert.equal(last(argv, '-p'), '/var/run/udhcpc.web.pid');
      assert.equal(last(argv, '-i'), 'eth1');
      assert.ok(argv.lastIndexOf('-s') > argv.indexOf('/tmp/x'));
    }
    const helper = helperCommand({ guestIf: 'eth1', hookInHelper: '/run/h', options: ['-s', '/tmp/x', '-i', 'eth0'] });
    assert.equal(last(helper, '-s'), '/run/h');
    assert.equal(last(helper, '-i'), 'eth1');
  });

  void test('dhclient: its configuration, hook, pidfile and lease file come after the user options; the interface last', () => {
    const files = { pidfile: '/var/run/dhclient.web.pid', leasefile: '/etc/dhclient/dhclient.web.leases', conf: '/run/pipework/dhcp/K/dhclient.conf' };
    const argv = clientArgv({ ...base, method: 'dhclient', ...files, options: ['-sf', '/tmp/x', '-cf', '/tmp/c', '-pf', '/tmp/p', '-lf', '/tmp/l'] });
    assert.equal(last(argv, '-sf'), base.hook);
    assert.equal(last(argv, '-cf'), files.conf);
    assert.equal(last(argv, '-pf'), files.pidfile);
    assert.equal(last(argv, '-lf'), files.leasefile);
    assert.equal(argv.at(-1), 'eth1');
  });

  void test('dhcpcd: the hook (-c) and the log (-j) come after the user options; the interface last', () => {
    const argv = clientArgv({ ...base, method: 'dhcpcd-f', options: ['-c', '/tmp/x', '-j', '/tmp/j'] });
    assert.equal(last(argv, '-c'), base.hook);
    assert.equal(last(argv, '-j'), '/run/pipework/dhcp/K/dhcpcd.log');
    assert.equal(argv.at(-1), 'eth1');
  });
});

void describe('DHCP state keys', () => {
  void test('only <netns inode>-<interface name> names a state directory', () => {
    assert.equal(stateDir('4026532999-eth1'), '/run/pipework/dhcp/4026532999-eth1');
    assert.equal(stateDir('42-web.eth-2'), '/run/pipework/dhcp/42-web.eth-2');
    for (const bad of ['', '42', '42-', 'x-eth1', '-eth1', '42-a/b', '42-..', '../42-eth1', '42-.', '42-eth1/..', `42-${'a'.repeat(16)}`,
      '42-a:b', '42-a b', '42-a\u0000', '42-a\nb', '1'.repeat(21) + '-eth1', '42-a%d', "42-a'b"]) {
      assert.throws(() => stateDir(bad), /bad DHCP state key/u, JSON.stringify(bad));
    }
  });
});

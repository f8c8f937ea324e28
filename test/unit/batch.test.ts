// `pipework batch`: a file of classic attach lines → requests, each numbered by its line; and
// every refusal, named by its line (pure, no I/O).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBatchText } from '../../src/front/cli/commands/batch.js';
import { splitWords } from '../../src/front/classic/words.js';
import { InvalidArgumentError, PipeworkError, UsageError } from '../../src/model/errors.js';
import { assertThrows } from './fakes.js';

const guests = (text: string) => parseBatchText(text).map((l) => [l.no, l.request.guest]);

void describe('parseBatchText', () => {
  void test('one attach request per line, numbered by its line in the file', () => {
    const lines = parseBatchText('br0 c1 10.0.0.2/24\nbr0 -i eth2 c2 10.0.0.3/24@10.0.0.1\n');
    assert.deepEqual(lines.map((l) => l.no), [1, 2]);
    assert.deepEqual(lines[0]!.request, {
      kind: 'attach', hostIf: { by: 'name', name: 'br0' }, directPhys: false, guest: 'c1',
      config: { kind: 'static', spec: { address: { family: 4, address: '10.0.0.2', prefix: 24, cidr: '10.0.0.2/24', broadcast: '10.0.0.255' } } },
      replace: false, dryRun: false, json: false,
    });
    assert.equal(lines[1]!.request.guestIf, 'eth2');
    assert.deepEqual(parseBatchText(''), []);
  });

  void test('comments and blank lines are skipped, and keep the numbering', () => {
    const text = [
      '# the web tier',
      '',
      '   ',
      'br0 web 10.0.0.2/24   # the first',
      '\t# indented comment',
      'br0 db 10.0.0.3/24#not-a-comment-mid-word',
    ].join('\n');
    assert.throws(() => parseBatchText(text), /line 6: /u, 'a # inside a word is part of the word');
    assert.deepEqual(guests(text.split('\n').slice(0, 5).join('\n')), [[4, 'web']]);
  });

  void test('shell-like quoting: single quotes, double quotes with \\" and \\\\, backslashes; nothing expanded', () => {
    assert.deepEqual(guests([
      "br0 'my web' 10.0.0.2/24",
      'br0 "db \\"1\\"" 10.0.0.3/24',
      'br0 a\\ b 10.0.0.4/24',
      'br0 $HOME 10.0.0.5/24',
    ].join('\n')), [[1, 'my web'], [2, 'db "1"'], [3, 'a b'], [4, '$HOME']]);
    assert.deepEqual(splitWords(`a 'b c'd "e\\"f" g\\ h # i`), ['a', 'b cd', 'e"f', 'g h']);
  });

  void test('Windows line ends are whitespace', () => {
    assert.deepEqual(guests('br0 c1 10.0.0.2/24\r\nbr0 c2 10.0.0.3/24\r\n'), [[1, 'c1'], [2, 'c2']]);
  });

  void test('a leading "pipework" is optional', () => {
    assert.deepEqual(guests('pipework br0 c1 10.0.0.2/24\nbr0 c2 10.0.0.3/24\n  pipework --replace br0 c3 0/0'), [[1, 'c1'], [2, 'c2'], [3, 'c3']]);
    assert.equal(parseBatchText('pipework --replace br0 c3 0/0')[0]!.request.replace, true);
  });

  void test('a line holding only "pipework" is refused', () => {
    const err = assertThrows(() => parseBatchText('br0 c1 10.0.0.2/24\npipework   # nothing else\n'), UsageError, "line 2: nothing after 'pipework'");
    assert.equal((err as UsageError).reason, 'usage');
  });

  for (const [line, what] of [
    ['del c1', "a 'del' line"],
    ['del --stale', "a 'del' line"],
    ['ls', "an 'ls' line"],
    ['route c1 add default via 10.0.0.1', 'a route, rule or tc line'],
    ['pipework tc c1 qdisc show', 'a route, rule or tc line'],
    ['--wait', 'a --wait line'],
    ['batch other.txt', "'batch'"],
    ['help', "'help'"],
    ['--version', "'version'"],
    ['completion bash', "'completion'"],
  ] as const) {
    void test(`a non-attach line is refused, naming what it is: ${line}`, () => {
      const err = assertThrows(() => parseBatchText(`br0 c1 10.0.0.2/24\n${line}\n`), UsageError, 'line 2: only attach lines go in a batch', `this is ${what}`);
      assert.ok(!err.message.includes('passthrough'), err.message);
    });
  }

  for (const option of ['--dry-run', '--json']) {
    void test(`${option} on a line is refused (it goes on the batch command)`, () => {
      assertThrows(() => parseBatchText(`br0 c1 10.0.0.2/24 ${option}`), UsageError, 'line 1: --dry-run and --json go on the batch command, not on a line');
    });
  }

  void test('every error is prefixed with its line, and keeps its class and reason', () => {
    const cases: [string, abstract new (...args: never[]) => PipeworkError, string][] = [
      ['br0 c1 10.0.0.300/24', InvalidArgumentError, '10.0.0.300'],
      ['br0 c1 dhcpx', InvalidArgumentError, 'neither an address'],
      ["br0 'c1 10.0.0.2/24", UsageError, 'unterminated single quote'],
      ['br0 "c1 10.0.0.2/24', UsageError, 'unterminated double quote'],
      ['br0 c1 10.0.0.2/24 \\', UsageError, 'a backslash ends the line'],
      ['br0 -x c1 10.0.0.2/24', UsageError, "unknown option '-x'"],
    ];
    for (const [line, cls, fragment] of cases) {
      const err = assertThrows(() => parseBatchText(`# header\n\n${line}\n`), cls, `line 3: `, fragment);
      assert.ok(err.message.startsWith('line 3: '), err.message);
      assert.equal((err as PipeworkError).reason, cls === UsageError ? 'usage' : 'invalid-argument');
    }
  });

  void test('the first bad line is the one reported', () => {
    assertThrows(() => parseBatchText('br0 c1 10.0.0.2/24\nbr0 c2 bad\nls\n'), InvalidArgumentError, 'line 2: ');
  });

  void test('a line with too few words says which line (the CLI shows the message, not only the syntax)', () => {
    const err = assertThrows(() => parseBatchText('br0 c1 10.0.0.2/24\nbr0 c2\n'), UsageError, 'line 2: too few arguments');
    // The CLI prints only the syntax lines for an error that asks for them: a batch line must not,
    // or the user never learns which line it was.
    assert.equal((err as UsageError).showSyntax, false, 'a batch line\'s error must be printed with its line number');
  });
});

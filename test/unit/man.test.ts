// The man page pipework(8) (scripts/man.ts) against the help the program prints: every option of
// `pipework --help` and of `pipework help <verb>` for every verb is in the page, and in the page
// as man (or groff) renders it, with no warnings from the formatter.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HELP_PAGE, VERB_PAGES } from '../../src/front/cli/help.js';
import { renderHelp } from '../../src/front/help-text.js';
import { MAN_PAGE, VERB_SECTIONS, packageVersion, renderMan } from '../../scripts/man.js';

/** This file runs as build/test/unit/man.test.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PIPEWORK = join(ROOT, 'bin', 'pipework');
// NODE_EXTRA_CA_CERTS costs every Node start ~40 ms, and pipework speaks no TLS.
const ENV = { ...process.env, NODE_EXTRA_CA_CERTS: '' };

/** What the program prints for `pipework <args>` (exit 0). */
function printed(...args: string[]): string {
  const run = spawnSync(process.execPath, [PIPEWORK, ...args], { encoding: 'utf8', env: ENV });
  assert.equal(run.status, 0, `pipework ${args.join(' ')} exited ${run.status ?? run.signal}: ${run.stderr}`);
  return run.stdout;
}

/** The verbs --help names: each term's words, but placeholders and `help` itself; `<hostif> ...` is attach. */
function verbsOfHelp(): string[] {
  const verbs = new Set(['attach', ...Object.keys(VERB_PAGES)]);
  for (const block of HELP_PAGE) {
    if (block.kind !== 'items' || !block.items.some((i) => i.term === 'del')) continue;
    for (const item of block.items) for (const word of item.term.split(/[\s,]+/u)) if (/^[a-z-]+$/u.test(word)) verbs.add(word.replace(/^--/u, ''));
  }
  verbs.delete('help');
  verbs.delete('bash');
  return [...verbs];
}

/** Every option a help text names: `-i`, `--dry-run`… (not the `-f` of `udhcpc-f`). */
function optionsIn(text: string): string[] {
  return [...new Set(text.match(/(?<![\w-])--?[a-zA-Z][\w-]*/gu) ?? [])];
}

/** The page's text with roff's escapes and fonts taken out, a synopsis's command joined to its arguments. */
function plain(roff: string): string {
  return roff.replace(/^\.SY (\S+)\n/gmu, '$1 ').replaceAll('\\-', '-').replace(/\\f[BIR]/gu, '').replaceAll('\\&', '').replaceAll('\\e', '\\');
}

/** Where an option stands as a word of its own. */
function hasOption(text: string, option: string): boolean {
  return new RegExp(`(?<![\\w-])${option}(?![\\w-])`, 'u').test(text);
}

function which(program: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    if (dir !== '' && existsSync(join(dir, program))) return join(dir, program);
  }
  return undefined;
}

const PAGE = renderMan(packageVersion());

void describe('the man page pipework(8)', () => {
  const helps = new Map<string, string>([['--help', printed('--help')]]);
  for (const verb of verbsOfHelp()) helps.set(`help ${verb}`, printed('help', verb));

  void test('each verb the help names has a section of the page, rendered from the text it prints', () => {
    for (const [asked, text] of helps) {
      if (asked === '--help') continue;
      const verb = asked.slice('help '.length);
      const section = VERB_SECTIONS.find((s) => s.title.split(', ').some((name) => name === verb || name === `--${verb}`));
      assert.ok(section !== undefined, `the man page has no section for ${verb}`);
      assert.equal(renderHelp(section.page), text, `pipework help ${verb}`);
    }
    assert.equal(renderHelp(HELP_PAGE), helps.get('--help'));
  });

  void test('every option the help prints is in the page, in the section of the verb that prints it', () => {
    const text = plain(PAGE);
    // `.SH NAME` / `.SS "title"` → the text up to the next heading.
    const sections = new Map<string, string>();
    for (const part of text.split(/^\.S[HS] /mu).slice(1)) {
      const [title = '', ...rest] = part.split('\n');
      sections.set(title.replace(/^"|"$/gu, ''), rest.join('\n'));
    }
    for (const [asked, help] of helps) {
      const options = optionsIn(help);
      assert.ok(options.length > 0 || !help.includes(' -'), `pipework ${asked}: no options found in its help`);
      const verb = asked.slice('help '.length);
      const title = asked === '--help' ? undefined : VERB_SECTIONS.find((s) => s.title.split(', ').some((n) => n === verb || n === `--${verb}`))?.title;
      const where = title !== undefined ? sections.get(title) ?? '' : text;
      for (const option of options) assert.ok(hasOption(where, option), `pipework ${asked} prints ${option}; the man page does not have it${title !== undefined ? ` under ${title}` : ''}`);
    }
    // --help's list of options is the OPTIONS section, each one a term there.
    const listed = /^Options:\n((?: .*\n)+)/mu.exec(helps.get('--help') ?? '')?.[1] ?? '';
    assert.ok(listed !== '', 'pipework --help lists no options');
    for (const line of listed.split('\n')) {
      const term = /^ {2}(\S.*?)(?: {2,}|$)/u.exec(line)?.[1];
      if (term !== undefined) assert.ok((sections.get('OPTIONS') ?? '').includes(`.TP\n${term}\n`), `--help lists ${term}; OPTIONS has no such term`);
    }
    // Each command form of the synopsis, with its options.
    for (const form of ['pipework del --stale', 'pipework watch --allow', 'pipework cni install', 'pipework graph FILE']) {
      assert.ok((sections.get('SYNOPSIS') ?? '').includes(form), form);
    }
  });

  void test('the page npm run build wrote is this one', (t) => {
    if (!existsSync(MAN_PAGE)) {
      t.skip(`${MAN_PAGE} is not there: npm run build writes it`);
      return;
    }
    assert.equal(readFileSync(MAN_PAGE, 'utf8'), PAGE, 'build/man/pipework.8 is stale: npm run build');
  });

  void test('man (or groff) renders it without a warning, every option readable as typed', (t) => {
    const man = which('man');
    const groff = which('groff');
    if (man === undefined && groff === undefined) {
      t.skip('neither man nor groff is installed: the page is not rendered (apt-get install man-db)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pipework-man-'));
    try {
      const file = join(dir, 'pipework.8');
      writeFileSync(file, PAGE);
      const env: NodeJS.ProcessEnv = { ...process.env, MANWIDTH: '80', LC_ALL: 'C.UTF-8', MANPAGER: 'cat', PAGER: 'cat' };
      delete env['MAN_KEEP_FORMATTING'];
      const run = man !== undefined
        ? spawnSync(man, ['--warnings=w', '-l', file], { encoding: 'utf8', env })
        : spawnSync(groff!, ['-man', '-ww', '-Tutf8', '-P', '-cbou', '-rLL=80n', file], { encoding: 'utf8', env });
      assert.equal(run.status, 0, `${man ?? groff!} failed: ${run.stderr}`);
      assert.equal(run.stderr, '', `the formatter warned:\n${run.stderr}`);
      // Plain text (man does not format for a pipe; grotty is told not to), its lines as one.
      const rendered = run.stdout.replace(/\s+/gu, ' ');
      assert.match(rendered, /^PIPEWORK\(8\) /u);
      for (const heading of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'VERBS', 'OPTIONS', 'EXIT STATUS', 'VERBS IN DETAIL', 'SEE ALSO']) {
        assert.ok(rendered.includes(` ${heading} `), heading);
      }
      for (const [asked, help] of helps) {
        for (const option of optionsIn(help)) assert.ok(hasOption(rendered, option), `pipework ${asked} prints ${option}; man shows no ${option}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

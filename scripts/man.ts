/**
 * The man page pipework(8), made from the help pipework prints: the same blocks that
 * `pipework --help` and `pipework help <verb>` render (src/front/help-text.ts), rendered as roff.
 * `npm run build` runs this (node build/scripts/man.js) and writes build/man/pipework.8, which
 * package.json's "man" installs with `npm install -g`. A change of the help changes both.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP_PAGE, VERB_PAGES } from '../src/front/cli/help.js';
import { CNI_PAGE } from '../src/front/cni/cli.js';
import type { HelpBlock, HelpPage } from '../src/front/help-text.js';
import { TOPOLOGY_PAGE } from '../src/front/topology/cli.js';
import { WATCH_PAGE } from '../src/front/watch/options.js';

/** Each verb's own help, in the order the page shows them, under the name it is asked for by. */
export const VERB_SECTIONS: readonly { title: string; page: HelpPage }[] = [
  ...Object.entries(VERB_PAGES).map(([name, page]) => ({ title: name === 'wait' ? '--wait' : name, page })),
  { title: 'apply, destroy, inspect, graph, schema', page: TOPOLOGY_PAGE },
  { title: 'watch', page: WATCH_PAGE },
  { title: 'cni', page: CNI_PAGE },
];

/** What a heading or label of the help is called in a man page. */
const SECTION_NAMES: Record<string, string> = { Syntax: 'SYNOPSIS', 'Exit codes': 'EXIT STATUS' };

/** The other pages of the manual this one points to. */
const SEE_ALSO = [['ip', 8], ['ip-netns', 8], ['tc', 8], ['ovs-vsctl', 8], ['docker', 1], ['podman', 1]] as const;

/**
 * Text as roff reads it: a backslash, a minus (an option's dash must stay an ASCII `-`, and no
 * line may break at it) and anything beyond ASCII escaped.
 */
function escape(text: string): string {
  return text
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .replace(/[^\x20-\x7e]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** A line of text may not start with a control character (`.` or `'`). */
function textLine(roff: string): string {
  return /^[.']/u.test(roff) ? `\\&${roff}` : roff;
}

const PLACEHOLDER = /<[a-z][^<>()]*>/gu;

/** Prose: placeholders (`<guest>`) in italics. */
function prose(text: string): string {
  let out = '';
  let at = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    out += `${escape(text.slice(at, m.index))}\\fI${escape(m[0])}\\fR`;
    at = m.index + m[0].length;
  }
  return textLine(out + escape(text.slice(at)));
}

/** What is typed as written (a verb, an option, a value) in bold, placeholders in italics. */
function literal(text: string): string {
  const token = /<[^<>]*>|\b[A-Z][A-Z0-9_]+\b|[A-Za-z0-9-][\w.:=-]*/gu;
  let out = '';
  let at = 0;
  for (const m of text.matchAll(token)) {
    const word = m[0];
    const italic = word.startsWith('<') || /^[A-Z][A-Z0-9_]+$/u.test(word);
    out += `${escape(text.slice(at, m.index))}\\f${italic ? 'I' : 'B'}${escape(word)}\\fR`;
    at = m.index + word.length;
  }
  return textLine(out + escape(text.slice(at)));
}

/** A macro's argument, quoted. */
function argument(text: string): string {
  return `"${escape(text).replaceAll('"', '\\(dq')}"`;
}

/** The command forms of a synopsis block: a `pipework` line starts one, others continue it. */
function commands(block: HelpBlock & { kind: 'synopsis' }): string[] {
  const out: string[] = [];
  for (const raw of block.lines) {
    const line = raw.replace(/^usage:/u, '').trim();
    if (/^pipework\b/u.test(line) || out.length === 0) out.push(line);
    else out[out.length - 1] += ` ${line}`;
  }
  return out;
}

function synopsis(command: string): string[] {
  const rest = command.replace(/^pipework\s*/u, '');
  return ['.SY pipework', ...(rest !== '' ? [literal(rest)] : []), '.YS'];
}

/** A page's blocks as roff; headings and labels open sections (`.SH`), or subsections under a verb (`.SS`). */
function body(page: HelpPage, nested: boolean): string[] {
  const out: string[] = [];
  const section = (name: string) => out.push(`${nested ? '.SS' : '.SH'} ${argument(SECTION_NAMES[name] ?? name.toUpperCase())}`);
  for (const block of page) {
    switch (block.kind) {
      case 'title':
      case 'blank':
        break;
      case 'synopsis':
        // The page's own synopsis is the SYNOPSIS section, made of every form of every verb.
        if (nested) for (const c of commands(block)) out.push(...synopsis(c));
        break;
      case 'heading':
        if (block.text !== 'Syntax') section(block.text);
        break;
      case 'text':
        if (block.label !== undefined) section(block.label);
        else out.push('.PP');
        out.push(prose(block.lines.join(' ')));
        break;
      case 'items':
        for (const item of block.items) out.push('.TP', literal(item.term), prose(item.text.join(' ')));
        break;
    }
  }
  return out;
}

/** The whole page, as roff. */
export function renderMan(version: string): string {
  const title = HELP_PAGE.find((b) => b.kind === 'title');
  if (title === undefined) throw new Error('the help has no title line');
  const forms = [...new Set([HELP_PAGE, ...VERB_SECTIONS.map((s) => s.page)].flatMap((page) =>
    page.flatMap((b) => (b.kind === 'synopsis' ? commands(b) : []))))];
  const lines = [
    ".\\\" Made by scripts/man.ts from pipework's help (src/front/help-text.ts and each door's page): edit the help, not this.",
    // No hyphenation: an option broken over two lines could not be searched for or copied.
    '.nr HY 0',
    `.TH PIPEWORK 8 "" ${argument(`pipework ${version}`)} "System Manager's Manual"`,
    '.nh',
    '.SH NAME',
    `${title.name} \\- ${escape(title.summary)}`,
    '.SH SYNOPSIS',
    ...forms.flatMap(synopsis),
    '.SH DESCRIPTION',
    `This page is the help \\fB${title.name}\\fR prints:`,
    '\\fBpipework \\-\\-help\\fR',
    '(VERBS, OPTIONS, EXIT STATUS), and',
    '\\fBpipework help\\fR \\fIverb\\fR',
    'for each verb (VERBS IN DETAIL).',
    ...body(HELP_PAGE, false),
    '.SH "VERBS IN DETAIL"',
    ...VERB_SECTIONS.flatMap(({ title: name, page }) => [`.SS ${argument(name)}`, ...body(page, true)]),
    '.SH "SEE ALSO"',
    SEE_ALSO.map(([page, section], i) => `.BR ${escape(page)} (${section})${i < SEE_ALSO.length - 1 ? ',' : ''}`).join('\n'),
    '.PP',
    'The pages in \\fIdocs/\\fR of pipework\'s source: each front door, the engine, the security model, the tests.',
  ];
  return `${lines.join('\n')}\n`;
}

/** The repository: this file runs as build/scripts/man.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAN_PAGE = join(ROOT, 'build', 'man', 'pipework.8');

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(dirname(MAN_PAGE), { recursive: true });
  writeFileSync(MAN_PAGE, renderMan(packageVersion()));
}

/**
 * Help as data. Each front door's help is a list of blocks; `renderHelp` prints it as the door's
 * --help has always read, and scripts/man.ts renders the same blocks as the man page
 * pipework(8) — one text, two renderings, so the two cannot drift apart. Pure.
 *
 * Every line is kept as it is printed (wrapped by hand); only the layout that both renderings
 * need is structure: what is a command form, a heading, a paragraph, a list of terms.
 */

/** One term of a list (an option, a verb, an argument) and its description, as printed. */
export interface HelpItem {
  term: string;
  /** The description's lines; the first goes beside the term unless `termAlone`. */
  text: readonly string[];
  /** The term is too long to share its line: the description starts on the next one. */
  termAlone?: boolean;
}

export type HelpBlock =
  /** `<name> — <summary>`, a page's first line. */
  | { kind: 'title'; name: string; summary: string }
  /**
   * Command forms, one line each as printed: a line whose first word (after an optional
   * `usage:` and indentation) is `pipework` starts a form, any other line continues it.
   */
  | { kind: 'synopsis'; lines: readonly string[] }
  /** `<text>:` alone on its line, above the blocks it names. */
  | { kind: 'heading'; text: string }
  /** A paragraph; with a label it starts `<label>: ` and is a section of its own in the man page. */
  | { kind: 'text'; lines: readonly string[]; indent: number; label?: string }
  /** Terms at `indent`, their descriptions aligned at `column`. */
  | { kind: 'items'; items: readonly HelpItem[]; indent: number; column: number }
  | { kind: 'blank' };

export type HelpPage = readonly HelpBlock[];

function blockLines(block: HelpBlock): string[] {
  switch (block.kind) {
    case 'title':
      return [`${block.name} — ${block.summary}`];
    case 'synopsis':
      return [...block.lines];
    case 'heading':
      return [`${block.text}:`];
    case 'text': {
      const pad = ' '.repeat(block.indent);
      return block.lines.map((line, i) => `${pad}${i === 0 && block.label !== undefined ? `${block.label}: ` : ''}${line}`);
    }
    case 'items': {
      const out: string[] = [];
      const at = ' '.repeat(block.column);
      for (const item of block.items) {
        const head = `${' '.repeat(block.indent)}${item.term}`;
        const [first, ...rest] = item.text;
        if (item.termAlone === true || first === undefined) out.push(head, ...item.text.map((l) => `${at}${l}`));
        else out.push(`${head.length + 1 <= block.column ? head.padEnd(block.column) : `${head}  `}${first}`, ...rest.map((l) => `${at}${l}`));
      }
      return out;
    }
    case 'blank':
      return [''];
  }
}

/** The page as --help prints it, ending with a newline. */
export function renderHelp(page: HelpPage): string {
  return `${page.flatMap(blockLines).join('\n')}\n`;
}

/**
 * A bad file's problems, each `FILE:LINE:COL: path.to.key: what is wrong` — from the file itself
 * (parse.ts) or from the host it is applied to (make.ts, apply.ts). Plain data, so the parser,
 * loaded apart from the rest (load.ts), hands them over without classes crossing bundles.
 */
import { InvalidArgumentError } from '../../model/errors.js';

/** One problem of a file. */
export interface Problem {
  line: number;
  col: number;
  /** `links[2].vlan`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatProblem(file: string, p: Problem): string {
  return `${file}:${p.line}:${p.col}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** A file with problems: every one is listed (the CLI prints them one per line). */
export class TopologyFileError extends InvalidArgumentError {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(problems.length === 1 ? formatProblem(file, problems[0]!) : `${file}: ${problems.length} problems; nothing was changed`);
  }
  lines(): string[] {
    return this.problems.map((p) => formatProblem(this.file, p));
  }
}

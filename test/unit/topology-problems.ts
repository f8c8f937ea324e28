// Shared by the topology unit tests: the problem lines of a bad file.
import assert from 'node:assert/strict';
import { parseTopology } from '../../src/front/topology/parse.js';
import { TopologyFileError } from '../../src/front/topology/problems.js';

/** The problem lines `file` (named `name`) is refused with; fails the test if it is accepted. */
export function fileProblems(text: string, name: string): string[] {
  try {
    parseTopology(text, name);
  } catch (err) {
    if (err instanceof TopologyFileError) return err.lines();
    throw err;
  }
  assert.fail(`accepted:\n${text}`);
}

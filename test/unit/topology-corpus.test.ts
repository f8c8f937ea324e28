// A corpus of good and bad topology files (test/fixtures/topology/, and the examples): the tool
// reports every problem of a bad file at once, each exactly as the file's trailing
// `# expect: LINE:COL: path: message` lines say; and `pipework schema`, compiled by Ajv in strict
// mode as an editor would, agrees with the tool on every file — good ones both accept, bad ones
// both refuse — except the bad files marked `# tool-only: <why>`, whose rule JSON Schema cannot
// say (the schema's description of the field says the tool checks it): Ajv accepts those.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { parseText } from '../../src/front/topology/parse.js';
import { formatProblem } from '../../src/front/topology/problems.js';
import { jsonSchema } from '../../src/front/topology/schema.js';

const ROOT = join(import.meta.dirname, '../../..');
const CORPUS = join(ROOT, 'test/fixtures/topology');

interface CorpusFile {
  name: string;
  text: string;
  /** The problem lines the tool must print (without the file name), in order. */
  expect: string[];
  /** Why JSON Schema cannot refuse it (bad files only). */
  toolOnly?: string;
}

function corpus(kind: 'good' | 'bad'): CorpusFile[] {
  const dir = join(CORPUS, kind);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => `${kind}/${f}`);
  if (kind === 'good') files.push(...readdirSync(join(ROOT, 'examples/topology')).filter((f) => f.endsWith('.yaml')).map((f) => `../../../examples/topology/${f}`));
  return files.map((name) => {
    const text = readFileSync(join(CORPUS, name), 'utf8');
    const lines = text.split('\n');
    const toolOnly = /^# tool-only: (.+)$/mu.exec(text)?.[1];
    return {
      name, text: lines.filter((l) => !l.startsWith('# expect: ')).join('\n'),
      expect: lines.filter((l) => l.startsWith('# expect: ')).map((l) => l.slice('# expect: '.length)),
      ...(toolOnly !== undefined && { toolOnly }),
    };
  });
}

const GOOD = corpus('good');
const BAD = corpus('bad');

/** The tool's problem lines for a file, without its name. */
function toolProblems(f: CorpusFile): string[] {
  return parseText(f.text, f.name).problems.map((p) => formatProblem(f.name, p).slice(f.name.length + 1));
}

void describe('topology corpus: the tool', () => {
  void test('the corpus is there', () => {
    assert.ok(GOOD.length >= 6, `${GOOD.length} good files`);
    assert.ok(BAD.length >= 40, `${BAD.length} bad files`);
  });

  void test('accepts every good file', () => {
    for (const f of GOOD) assert.deepEqual(toolProblems(f), [], f.name);
  });

  void test('refuses every bad file with exactly its expected problems, each at its line and column', () => {
    for (const f of BAD) {
      assert.ok(f.expect.length > 0, `${f.name} says no # expect: line`);
      assert.deepEqual(toolProblems(f), f.expect, f.name);
    }
  });

  void test('a file with many problems of every stage lists them all, in file order', () => {
    const f = BAD.find((x) => x.name === 'bad/many-at-once.yaml')!;
    assert.ok(f.expect.length >= 6);
    assert.deepEqual(toolProblems(f), f.expect);
  });
});

void describe('topology corpus: pipework schema under Ajv strict mode, as editors use it', () => {
  const ajv = new Ajv({ strict: true, strictRequired: true, allErrors: true });
  // (Compiling is the first test: strict mode refuses a schema with an unknown keyword, a
  // required key not defined beside it, a type it cannot apply to…)
  const validate = ajv.compile(jsonSchema());

  /** Ajv's verdict on a file, as an editor reads it: YAML first (a duplicate key is refused there), then the schema. */
  const accepts = (f: CorpusFile): { ok: boolean; why: string } => {
    let data: unknown;
    try {
      data = parse(f.text);
    } catch (err) {
      return { ok: false, why: `YAML: ${(err as Error).message.split('\n')[0]!}` };
    }
    const ok = validate(data);
    return { ok, why: ok ? '' : JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.message ?? ''}`)) };
  };

  void test('accepts every good file', () => {
    for (const f of GOOD) {
      const v = accepts(f);
      assert.ok(v.ok, `${f.name}: ${v.why}`);
    }
  });

  void test('refuses every bad file the tool refuses, but those marked tool-only', () => {
    for (const f of BAD.filter((x) => x.toolOnly === undefined)) assert.equal(accepts(f).ok, false, `${f.name}: Ajv accepts what the tool refuses (${f.expect.join('; ')})`);
  });

  void test('the tool-only files are those JSON Schema cannot refuse (a marker that is no longer true is taken off)', () => {
    const toolOnly = BAD.filter((x) => x.toolOnly !== undefined);
    assert.ok(toolOnly.length > 0);
    for (const f of toolOnly) {
      const v = accepts(f);
      assert.ok(v.ok, `${f.name} is marked tool-only (${f.toolOnly!}) but Ajv refuses it: ${v.why}`);
    }
  });

  void test('the schema says in its descriptions what only the tool checks', () => {
    const text = JSON.stringify(jsonSchema());
    for (const rule of ['outside the network\'s subnet', 'network or broadcast address', 'host bits set', 'not a key of guests: or networks:', 'auto on a network without subnet:', 'one VNI on two networks']) {
      assert.ok(text.includes(rule), `no description says: ${rule}`);
    }
  });
});

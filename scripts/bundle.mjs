// Bundle each entry into one file (esbuild), then write the CLI's V8 code cache by running it
// once: `pipework --help` compiles the parts every run goes through. The cache is this Node's
// (build/dist/pipework.cjs.<version>-<arch>.cache); another Node compiles without one, or has its
// own written the same way (scripts/test.sh does for the Nodes it tests with).
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';

const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', outdir: 'build/dist' };
rmSync('build/dist', { recursive: true, force: true });
// The CLI as a script (not a module) so bin/pipework can compile it with a code cache; the
// bundle's import.meta.url is the bundle's own URL, handed in by bin/pipework.
await build({ ...common, entryPoints: { pipework: 'src/front/cli/main.ts' }, format: 'cjs', outExtension: { '.js': '.cjs' }, define: { 'import.meta.url': '__pipework_url' } });
// The CNI plugin alone, the same way: what bin/pipework loads when CNI_COMMAND is set (its code
// cache is written by the first ADD that succeeds, src/front/cni/entry.ts).
await build({ ...common, entryPoints: { 'pipework-cni': 'src/front/cni/entry.ts' }, format: 'cjs', outExtension: { '.js': '.cjs' }, define: { 'import.meta.url': '__pipework_url' } });
// bin/pipework reads its bundles as latin1, one byte a character, with no decoding (2 ms for the
// CLI's against 3 as utf8 here): that is the same text only while every byte is ASCII. esbuild
// escapes what strings hold; a comment it keeps (a class member's) could still bring in one beyond.
for (const file of ['build/dist/pipework.cjs', 'build/dist/pipework-cni.cjs']) {
  const text = readFileSync(file);
  const wide = text.findIndex((b) => b > 0x7f);
  if (wide !== -1) {
    const line = text.subarray(0, wide).toString('latin1').split('\n').length;
    throw new Error(`${file} line ${line} has a character beyond ASCII (bin/pipework reads it as latin1): write it in ASCII in the source`);
  }
}
// The topology file parser (yaml, TypeBox): loaded only when a file's validated model is not cached.
await build({
  ...common, entryPoints: { 'topology-parse': 'src/front/topology/parse.ts' }, format: 'cjs', outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__pipework_parse_url' }, banner: { js: "var __pipework_parse_url = require('node:url').pathToFileURL(__filename).href;" },
});
// The DHCP agent and hook run as their own programs.
await build({ ...common, entryPoints: { 'dhcp-agent': 'src/dhcp/agent.ts', 'dhcp-hook': 'src/dhcp/hook.ts' }, format: 'esm' });
const run = spawnSync(process.execPath, ['bin/pipework', '--help'], { env: { ...process.env, PIPEWORK_WRITE_CODE_CACHE: '1' }, stdio: ['ignore', 'ignore', 'inherit'] });
if (run.status !== 0) throw new Error(`writing the code cache: pipework --help exited ${run.status ?? run.signal}`);

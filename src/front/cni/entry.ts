/**
 * The CNI plugin's own bundle (build/dist/pipework-cni.cjs): what bin/pipework loads when the
 * environment has CNI_COMMAND, instead of the whole CLI. A runtime with no resident daemon starts
 * Node for every request, and each start reads the bundle and its V8 code cache: this one holds
 * only the plugin (413 kB against the CLI's 712; its cache after an ADD 371 kB against the CLI
 * bundle's 494, Node 20). The CLI's own path to the plugin (src/front/cli/main.ts) stays for a
 * build without this bundle.
 */
import { leave } from '../signals.js';
import { pluginMain } from './plugin.js';
import { Code, CniError, errorJson, SPEC_VERSION } from './protocol.js';

pluginMain().then(
  (code) => leave(code),
  (err: unknown) => {
    // (pluginMain answers every failure itself; this is for a fault of its own.)
    process.stdout.write(errorJson(new CniError(Code.Internal, `pipework failed: ${err instanceof Error ? err.message : String(err)}`), SPEC_VERSION));
    leave(1);
  },
);

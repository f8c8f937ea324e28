// Run inside the full-kernel VM by suite.sh (bundled by scripts/vm-test.sh into
// build/vm/keep-settings.js, as the VM has no node_modules): the attach the watcher makes of a
// container's label `BRIDGE … @VLAN` — a spec whose bridge keeps its settings — on an existing
// Linux bridge whose VLAN filtering is off (a kernel that has the feature: this machine's has
// not). It must be refused, saying the operator must turn filtering on, before anything changes.
// Exit 0 when refused so; 1 otherwise (what happened on stdout).
//
//   node keep-settings.js BRIDGE NETNS VLAN
import { attachSpecs } from '../../src/engine/attach.js';
import { newRun } from '../../src/engine/context.js';
import { ConflictError } from '../../src/model/errors.js';
import { narrowSpec } from '../../src/front/watch/narrow.js';
import type { AttachSpec } from '../../src/model/attach-spec.js';

const [bridge, netns, vlan] = process.argv.slice(2);
if (bridge === undefined || netns === undefined || vlan === undefined) {
  process.stdout.write('usage: keep-settings.js BRIDGE NETNS VLAN\n');
  process.exit(2);
}

// What the watcher's translator makes of the label (its guest is a container there; a named
// netns stands in here, so the bridge rule alone is what is tried).
const fromLabel = narrowSpec({
  guest: { kind: 'docker', name: 'stand-in' }, guestIf: 'eth1',
  host: { kind: 'bridge', bridge, create: false, vlan: Number(vlan) },
  addressing: { kind: 'static', addresses: [], routes: [] }, announce: false, owner: { kind: 'watch' }, onConflict: 'refuse',
}, {});
const spec: AttachSpec = { ...fromLabel, guest: { kind: 'netns', name: netns } };

try {
  await attachSpecs([spec], newRun());
  process.stdout.write(`attached: the label's VLAN ${vlan} on ${bridge} was not refused\n`);
  process.exit(1);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stdout.write(`${message}\n`);
  const expected = `bridge ${bridge} has VLAN filtering off, and a container's label does not change an operator's bridge`;
  process.exit(err instanceof ConflictError && message.includes(expected) ? 0 : 1);
}

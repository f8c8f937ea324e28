/**
 * The V8 flags pipework's DHCP supervisor starts with: a poller that wakes once a second, tuned
 * for memory rather than speed (about 9 MB private, 45 MB RSS). They are V8's own, and change
 * with it: --lite-mode turns WebAssembly off, which V8 before 13 (Node 20, 22) announces on
 * stderr ("disabling flag --expose_wasm due to conflicting flags") unless --no-expose-wasm says
 * so too — and V8 13 (Node 24) has no --expose-wasm flag at all: Node refuses to start with it
 * ("bad option"), so the supervisor never came up. The supervisor runs on the Node running
 * pipework (process.execPath): its V8 version decides.
 */

/** The major version of a V8 version string (`13.6.233.17-node.63` → 13), or undefined. */
export function v8Major(version: string): number | undefined {
  const m = /^(\d+)\./u.exec(version);
  return m === null ? undefined : Number(m[1]);
}

export function supervisorNodeFlags(v8Version: string = process.versions.v8): string[] {
  const major = v8Major(v8Version);
  // An unknown version gets no --no-expose-wasm: at worst a warning in the supervisor's log,
  // never a supervisor that cannot start.
  const quietWasm = major !== undefined && major < 13 ? ['--no-expose-wasm'] : [];
  return ['--lite-mode', ...quietWasm, '--max-semi-space-size=1', '--max-old-space-size=16'];
}

// LXC for integration tests: busybox containers made with the lxc-* tools and an explicit
// config (the distribution's /etc/lxc/default.conf names a missing lxcbr0 and there is no
// AppArmor on the test machines). Every wait is bounded.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sh, shOk, sleep } from './run.js';

export interface LxcCreateOptions {
  /**
   * Extra config lines, e.g. `lxc.cgroup.dir.container = lxc/NAME` for the classic cgroup path.
   * The base config is `lxc.net.0.type = empty` and `lxc.apparmor.profile = unconfined`.
   */
  extraConfig?: string[];
}

export interface LxcContainer {
  name: string;
  /** PID of the container's init on the host. */
  pid: number;
}

/** True when the lxc tools and the busybox template are there. */
export async function lxcAvailable(): Promise<boolean> {
  const r = await sh(['lxc-ls', '--version'], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** Names of all LXC containers (`lxc-ls -1`). */
export async function listContainers(): Promise<string[]> {
  const out = await shOk(['lxc-ls', '-1'], { timeoutMs: 10_000 });
  return out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** `lxc-create -n NAME -t busybox -f CONF` (destroys a leftover of that name first). */
export async function createContainer(name: string, opts: LxcCreateOptions = {}): Promise<void> {
  await destroyContainer(name);
  const dir = await mkdtemp(join(process.env.PIPEWORK_TEST_TMP ?? tmpdir(), 'pwh-lxc-'));
  try {
    const conf = join(dir, 'lxc.conf');
    const lines = ['lxc.net.0.type = empty', 'lxc.apparmor.profile = unconfined', ...(opts.extraConfig ?? [])];
    await writeFile(conf, `${lines.join('\n')}\n`);
    await shOk(['lxc-create', '-n', name, '-t', 'busybox', '-f', conf], { timeoutMs: 60_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The container's init PID (`lxc-info -n NAME -p -H`); undefined when not running. */
export async function getPid(name: string): Promise<number | undefined> {
  const r = await sh(['lxc-info', '-n', name, '-p', '-H'], { timeoutMs: 10_000 });
  const s = r.stdout.trim();
  if (r.code !== 0 || !/^\d+$/.test(s)) return undefined;
  const pid = Number(s);
  return pid > 0 ? pid : undefined;
}

/** `lxc-start -n NAME`, wait for RUNNING (10 s) and for a PID; returns the PID. */
export async function startContainer(name: string): Promise<number> {
  await shOk(['lxc-start', '-n', name], { timeoutMs: 30_000 });
  await shOk(['lxc-wait', '-n', name, '-s', 'RUNNING', '-t', '10'], { timeoutMs: 15_000 });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pid = await getPid(name);
    if (pid !== undefined) return pid;
    if (Date.now() >= deadline) throw new Error(`lxc container ${name}: no PID 10 s after RUNNING`);
    await sleep(100);
  }
}

/** Create and start a busybox container; returns its name and PID. */
export async function runContainer(name: string, opts: LxcCreateOptions = {}): Promise<LxcContainer> {
  await createContainer(name, opts);
  const pid = await startContainer(name);
  return { name, pid };
}

/** Kill the container (`lxc-stop -k`) and wait until STOPPED; no error if not running. */
export async function stopContainer(name: string): Promise<void> {
  if ((await getPid(name)) === undefined) return;
  await sh(['lxc-stop', '-n', name, '-k'], { timeoutMs: 20_000 });
  await shOk(['lxc-wait', '-n', name, '-s', 'STOPPED', '-t', '10'], { timeoutMs: 15_000 });
}

/** Stop and destroy the container; no error if it does not exist. */
export async function destroyContainer(name: string): Promise<void> {
  if (!(await listContainers()).includes(name)) return;
  await stopContainer(name);
  await shOk(['lxc-destroy', '-n', name, '-f'], { timeoutMs: 30_000 });
}

/** Destroy every container whose name starts with PREFIX. */
export async function destroyByPrefix(prefix: string): Promise<void> {
  if (prefix.length < 3) throw new Error(`prefix too short: '${prefix}'`);
  for (const n of await listContainers()) {
    if (n.startsWith(prefix)) await destroyContainer(n);
  }
}

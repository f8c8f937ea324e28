// The tiny busybox root filesystem the container images of the tests are made from (there is no
// image registry on the test machines): exactly the recipe of the testbed notes.
import { mkdir, mkdtemp, rm, writeFile, copyFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shOk } from './run.js';

/** A built rootfs tarball; call dispose() to delete it. */
export interface RootfsTar {
  path: string;
  dispose(): Promise<void>;
}

/**
 * Build a busybox-static root filesystem (/bin/busybox + applet symlinks, /etc/passwd) and pack
 * it as an uncompressed tar file.
 */
export async function buildBusyboxTar(): Promise<RootfsTar> {
  const dir = await mkdtemp(join(process.env.PIPEWORK_TEST_TMP ?? tmpdir(), 'pwh-rootfs-'));
  try {
    const root = join(dir, 'root');
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root']) {
      await mkdir(join(root, d), { recursive: true });
    }
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    await shOk(['chroot', root, '/bin/busybox', '--install', '-s'], { timeoutMs: 20_000 });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
    const path = join(dir, 'rootfs.tar');
    await shOk(['tar', '-C', root, '-cf', path, '.'], { timeoutMs: 30_000 });
    await rm(root, { recursive: true, force: true });
    return { path, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

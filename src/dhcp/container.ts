/**
 * The `dhcp` method's helper container, through the Docker (or Podman) Runtime API on its unix
 * socket: busybox's udhcpc in a container that shares the guest's network namespace — and its
 * PID namespace, so that when the guest's init dies the kernel kills the helper's udhcpc too
 * (and AutoRemove deletes the helper): no client outlives its guest, with no supervisor.
 */
import { existsSync } from 'node:fs';
import { apiMessage, apiRequest, dockerSocketPath } from '../guest/runtime-api.js';
import type { Runtime } from './plan.js';

/** The API socket of a container runtime: DOCKER_HOST or /var/run/docker.sock; CONTAINER_HOST or /run/podman/podman.sock. */
export function runtimeSocket(engine: Runtime, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (engine === 'docker') return dockerSocketPath(env);
  const host = env['CONTAINER_HOST'];
  const candidates = [...(host?.startsWith('unix://') ? [host.slice('unix://'.length)] : []), '/run/podman/podman.sock'];
  return candidates.find((s) => existsSync(s));
}

export async function imagePresent(socket: string, image: string): Promise<boolean> {
  const res = await apiRequest(socket, 'GET', `/images/${encodeURIComponent(image)}/json`);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw new Error(`the container API answered ${res.status} about image ${image}: ${apiMessage(res.body)}`);
}

/** The container's own resolv.conf on the host (Docker and Podman bind-mount it into the container). */
export async function resolvConfPath(socket: string, id: string): Promise<string | undefined> {
  const res = await apiRequest(socket, 'GET', `/containers/${encodeURIComponent(id)}/json`);
  if (res.status !== 200) return undefined;
  const path = (JSON.parse(res.body) as { ResolvConfPath?: string }).ResolvConfPath;
  return path !== undefined && path !== '' ? path : undefined;
}

export interface HelperSpec {
  name: string;
  image: string;
  guestId: string;
  /** Its command: the entrypoint (src/dhcp/methods.ts helperCommand). */
  cmd: string[];
  /** Host path of the helper's udhcpc script, mounted read-only at `hookInHelper`. */
  hook: string;
  hookInHelper: string;
}

/**
 * What busybox udhcpc needs in the helper, and nothing more: a raw socket to ask for a lease
 * (NET_RAW), the address and routes its script sets (NET_ADMIN), and port 68 once it renews over
 * UDP (NET_BIND_SERVICE: in a Podman container's namespace ports below 1024 stay privileged —
 * without it the helper died at its first renewal with "bind: Permission denied").
 */
export const HELPER_CAPS = ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'] as const;

/** The body of the helper's create request (Docker's Runtime API; Podman's compatible one takes it as is). */
export function helperBody(spec: HelperSpec): Record<string, unknown> {
  return {
    Image: spec.image,
    // pipework's command is the entrypoint: the image's own ENTRYPOINT and CMD never run (an
    // image's entrypoint would otherwise run first, with the capabilities below, in the guest).
    Entrypoint: spec.cmd,
    Labels: { 'pipework.dhcp-helper-for': spec.guestId },
    HostConfig: {
      NetworkMode: `container:${spec.guestId}`,
      PidMode: `container:${spec.guestId}`,
      CapDrop: ['ALL'],
      CapAdd: [...HELPER_CAPS],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Binds: [`${spec.hook}:${spec.hookInHelper}:ro`],
      AutoRemove: true,
    },
  };
}

/** Create and start the helper. Returns its id. */
export async function startHelper(socket: string, spec: HelperSpec): Promise<string> {
  const body = helperBody(spec);
  const created = await apiRequest(socket, 'POST', `/containers/create?name=${encodeURIComponent(spec.name)}`, body);
  if (created.status !== 201) {
    throw new Error(`could not create helper container ${spec.name}: ${apiMessage(created.body)} (HTTP ${created.status})`);
  }
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  const started = await apiRequest(socket, 'POST', `/containers/${id}/start`);
  if (started.status !== 204 && started.status !== 304) {
    await removeHelper(socket, id);
    throw new Error(`could not start helper container ${spec.name}: ${apiMessage(started.body)} (HTTP ${started.status})`);
  }
  return id;
}

/** Is the helper still running? (undefined: it is gone — AutoRemove deletes it once it exits) */
export async function helperRunning(socket: string, id: string): Promise<boolean | undefined> {
  const res = await apiRequest(socket, 'GET', `/containers/${encodeURIComponent(id)}/json`);
  if (res.status === 404) return undefined;
  const info = JSON.parse(res.body) as { State?: { Running?: boolean } };
  return info.State?.Running === true;
}

/** The last lines of the helper's output (for an error message); '' when it is gone. */
export async function helperLogs(socket: string, id: string): Promise<string> {
  const res = await apiRequest(socket, 'GET', `/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=5`);
  if (res.status !== 200) return '';
  // The stream is multiplexed (8-byte frame headers) when the container has no TTY.
  // eslint-disable-next-line no-control-regex -- dropping the frame headers' bytes is the point
  return res.body.replace(/[\u0000-\u0008\u000e-\u001f]/gu, '').split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(-3).join('; ');
}

/** Remove the helper (force: it is stopped first). Absent is fine. */
export async function removeHelper(socket: string, nameOrId: string): Promise<void> {
  const res = await apiRequest(socket, 'DELETE', `/containers/${encodeURIComponent(nameOrId)}?force=true`);
  if (res.status !== 204 && res.status !== 404 && res.status !== 409) {
    throw new Error(`could not remove helper container ${nameOrId}: ${apiMessage(res.body)} (HTTP ${res.status})`);
  }
}

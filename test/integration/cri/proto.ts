// The runtime.v1 (CRI) messages the tests exchange with containerd, written from the published
// field numbers of the Kubernetes CRI API: only the fields a kubelet sets for a pod sandbox and
// the ones the tests read back. Every other field is left out when writing and skipped when
// reading (protobuf's rule for unknown fields).
import { Message, Writer } from './pb.js';

export const SERVICE = 'runtime.v1.RuntimeService';

// --- requests ---------------------------------------------------------------------------------

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];

export interface PortMapping {
  protocol?: Protocol;
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

/** NamespaceMode: POD 0, CONTAINER 1, NODE 2, TARGET 3. */
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
const NAMESPACE_MODES: NamespaceMode[] = ['POD', 'CONTAINER', 'NODE', 'TARGET'];

export interface NamespaceOptions {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    namespaceOptions?: NamespaceOptions;
  };
}

function metadataMsg(m: PodSandboxMetadata): Writer {
  // PodSandboxMetadata: name 1, uid 2, namespace 3, attempt 4.
  return new Writer().string(1, m.name).string(2, m.uid).string(3, m.namespace).uint(4, m.attempt);
}

function portMappingMsg(p: PortMapping): Writer {
  // PortMapping: protocol 1 (enum), container_port 2, host_port 3 (int32), host_ip 4.
  return new Writer().uint(1, PROTOCOLS.indexOf(p.protocol ?? 'TCP')).int32(2, p.containerPort).int32(3, p.hostPort).string(4, p.hostIp);
}

function modeOf(m: NamespaceMode | undefined): number {
  return m === undefined ? 0 : NAMESPACE_MODES.indexOf(m);
}

/** PodSandboxConfig, as RunPodSandboxRequest carries it. */
export function podSandboxConfigMsg(c: PodSandboxConfig): Writer {
  const w = new Writer()
    .message(1, metadataMsg(c.metadata)) // metadata
    .string(2, c.hostname)
    .string(3, c.logDirectory);
  for (const p of c.portMappings ?? []) w.message(5, portMappingMsg(p));
  w.map(6, c.labels).map(7, c.annotations);
  if (c.linux !== undefined) {
    // LinuxPodSandboxConfig: cgroup_parent 1, security_context 2
    // (LinuxSandboxSecurityContext: namespace_options 1; NamespaceOption: network 1, pid 2, ipc 3).
    const ns = c.linux.namespaceOptions;
    const security = ns === undefined ? undefined : new Writer().message(1, new Writer().uint(1, modeOf(ns.network)).uint(2, modeOf(ns.pid)).uint(3, modeOf(ns.ipc)));
    w.message(8, new Writer().string(1, c.linux.cgroupParent).message(2, security));
  }
  return w;
}

export function versionRequest(apiVersion = 'v1'): Buffer {
  return new Writer().string(1, apiVersion).finish();
}

/** RunPodSandboxRequest: config 1, runtime_handler 2. */
export function runPodSandboxRequest(config: PodSandboxConfig, runtimeHandler?: string): Buffer {
  return new Writer().message(1, podSandboxConfigMsg(config)).string(2, runtimeHandler).finish();
}

/** Stop, Remove: pod_sandbox_id 1. */
export function sandboxIdRequest(id: string): Buffer {
  return new Writer().string(1, id).finish();
}

/** PodSandboxStatusRequest: pod_sandbox_id 1, verbose 2. */
export function podSandboxStatusRequest(id: string, verbose: boolean): Buffer {
  return new Writer().string(1, id).bool(2, verbose).finish();
}

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
const STATES: SandboxState[] = ['SANDBOX_READY', 'SANDBOX_NOTREADY'];

export interface PodSandboxFilter {
  id?: string;
  state?: SandboxState;
  labelSelector?: Record<string, string>;
}

/** ListPodSandboxRequest: filter 1 (PodSandboxFilter: id 1, state 2 {state 1}, label_selector 3). */
export function listPodSandboxRequest(filter?: PodSandboxFilter): Buffer {
  if (filter === undefined) return Buffer.alloc(0);
  const f = new Writer().string(1, filter.id);
  if (filter.state !== undefined) f.message(2, new Writer().uint(1, STATES.indexOf(filter.state)));
  f.map(3, filter.labelSelector);
  return new Writer().message(1, f).finish();
}

/** StatusRequest: verbose 1. */
export function statusRequest(verbose: boolean): Buffer {
  return new Writer().bool(1, verbose).finish();
}

// --- responses --------------------------------------------------------------------------------

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export function decodeVersionResponse(b: Buffer): VersionResponse {
  const m = new Message(b);
  return { version: m.string(1), runtimeName: m.string(2), runtimeVersion: m.string(3), runtimeApiVersion: m.string(4) };
}

/** RunPodSandboxResponse: pod_sandbox_id 1. */
export function decodeRunPodSandboxResponse(b: Buffer): string {
  return new Message(b).string(1);
}

function decodeMetadata(m: Message | undefined): PodSandboxMetadata {
  return { name: m?.string(1) ?? '', uid: m?.string(2) ?? '', namespace: m?.string(3) ?? '', attempt: m?.uint(4) ?? 0 };
}

function stateOf(n: number): SandboxState {
  const s = STATES[n];
  if (s === undefined) throw new Error(`unknown PodSandboxState ${n}`);
  return s;
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: SandboxState;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  /** network.ip, '' when the sandbox has none. */
  ip: string;
  /** network.additional_ips. */
  additionalIps: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus;
  /** Verbose only: JSON texts by key (containerd's is "info"). */
  info: Record<string, string>;
}

/**
 * PodSandboxStatusResponse: status 1, info 2. PodSandboxStatus: id 1, metadata 2, state 3,
 * created_at 4, network 5 (ip 1, additional_ips 2 {ip 1}), linux 6, labels 7, annotations 8,
 * runtime_handler 9.
 */
export function decodePodSandboxStatusResponse(b: Buffer): PodSandboxStatusResponse {
  const m = new Message(b);
  const s = m.message(1) ?? new Message();
  const net = s.message(5);
  return {
    status: {
      id: s.string(1),
      metadata: decodeMetadata(s.message(2)),
      state: stateOf(s.uint(3)),
      createdAt: s.int64(4),
      ip: net?.string(1) ?? '',
      additionalIps: (net?.messages(2) ?? []).map((p) => p.string(1)),
      labels: s.map(7),
      annotations: s.map(8),
      runtimeHandler: s.string(9),
    },
    info: m.map(2),
  };
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: SandboxState;
  createdAt: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

/**
 * ListPodSandboxResponse: items 1. PodSandbox: id 1, metadata 2, state 3, created_at 4,
 * labels 5, annotations 6, runtime_handler 7.
 */
export function decodeListPodSandboxResponse(b: Buffer): PodSandbox[] {
  return new Message(b).messages(1).map((p) => ({
    id: p.string(1),
    metadata: decodeMetadata(p.message(2)),
    state: stateOf(p.uint(3)),
    createdAt: p.int64(4),
    labels: p.map(5),
    annotations: p.map(6),
    runtimeHandler: p.string(7),
  }));
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface StatusResponse {
  conditions: RuntimeCondition[];
  info: Record<string, string>;
}

/**
 * StatusResponse: status 1 (RuntimeStatus: conditions 1), info 2. RuntimeCondition: type 1,
 * status 2, reason 3, message 4.
 */
export function decodeStatusResponse(b: Buffer): StatusResponse {
  const m = new Message(b);
  return {
    conditions: (m.message(1)?.messages(1) ?? []).map((c) => ({ type: c.string(1), status: c.bool(2), reason: c.string(3), message: c.string(4) })),
    info: m.map(2),
  };
}

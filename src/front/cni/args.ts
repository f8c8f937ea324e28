/**
 * CNI_ARGS: `K=V;K2=V2`, read as libcni's LoadArgs reads it (every pair has exactly one `=`;
 * a key we do not know is an error unless IgnoreUnknown is 1 or true). Pure.
 */
import { Code, CniError } from './protocol.js';

/** The keys we know (the well-known ones of CONVENTIONS.md). */
const KNOWN = ['IgnoreUnknown', 'IP', 'MAC', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'] as const;

export interface CniArgs {
  ignoreUnknown: boolean;
  /** IP=…: for the IPAM plugin (host-local and static read it themselves). */
  ip?: string;
  mac?: string;
  k8sNamespace?: string;
  k8sPod?: string;
  k8sInfraContainerId?: string;
  k8sPodUid?: string;
  /** Keys IgnoreUnknown let through, kept for messages. */
  unknown: string[];
}

function bool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new CniError(Code.InvalidEnvironment, `invalid CNI_ARGS: ${key}=${value}`, `${key} is 1, true, 0 or false`);
}

export function parseCniArgs(text: string): CniArgs {
  const out: CniArgs = { ignoreUnknown: false, unknown: [] };
  if (text === '') return out;
  const pairs = text.split(';').filter((p) => p !== '').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '') {
      throw new CniError(Code.InvalidEnvironment, `invalid CNI_ARGS: '${pair}' is not KEY=VALUE`, 'CNI_ARGS is a list of KEY=VALUE pairs separated by ;');
    }
    return [kv[0]!, kv[1]!] as const;
  });
  // IgnoreUnknown applies to every pair, wherever it is.
  for (const [k, v] of pairs) if (k === 'IgnoreUnknown') out.ignoreUnknown = bool(k, v);
  for (const [k, v] of pairs) {
    switch (k) {
      case 'IgnoreUnknown': break;
      case 'IP': out.ip = v; break;
      case 'MAC': out.mac = v; break;
      case 'K8S_POD_NAMESPACE': out.k8sNamespace = v; break;
      case 'K8S_POD_NAME': out.k8sPod = v; break;
      case 'K8S_POD_INFRA_CONTAINER_ID': out.k8sInfraContainerId = v; break;
      case 'K8S_POD_UID': out.k8sPodUid = v; break;
      default:
        if (!out.ignoreUnknown) {
          throw new CniError(Code.InvalidEnvironment, `invalid CNI_ARGS: unknown key '${k}'`, `pipework knows ${KNOWN.join(', ')}; set IgnoreUnknown=1 to pass others`);
        }
        out.unknown.push(k);
    }
  }
  return out;
}

// The shape of a CNI ADD result, per version, as the spec defines it (0.3.0/0.3.1/0.4.0: ips
// carry "version"; 1.0.0 drops it; 1.1.0 adds interface mtu, socketPath, pciID and route
// mtu/advmss/priority/table/scope). Returns every problem found (empty: valid).
import ipaddr from 'ipaddr.js';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/u;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    ipaddr.parseCIDR(v);
    return true;
  } catch {
    return false;
  }
}

function isIp(v: unknown): boolean {
  return typeof v === 'string' && ipaddr.isValid(v);
}

export function resultProblems(value: unknown, version: string): string[] {
  const p: string[] = [];
  if (!isObject(value)) return ['not an object'];
  const v1 = version.startsWith('1.');
  const v11 = version === '1.1.0';
  for (const k of Object.keys(value)) if (!['cniVersion', 'interfaces', 'ips', 'routes', 'dns'].includes(k)) p.push(`unknown top-level key ${k}`);
  if (value['cniVersion'] !== version) p.push(`cniVersion ${String(value['cniVersion'])}, not ${version}`);
  const interfaces = value['interfaces'] ?? [];
  if (!Array.isArray(interfaces)) p.push('interfaces is not a list');
  const ifs = Array.isArray(interfaces) ? interfaces : [];
  ifs.forEach((i: unknown, n) => {
    if (!isObject(i)) return p.push(`interfaces[${n}] is not an object`);
    const allowed = ['name', 'mac', 'sandbox', ...(v11 ? ['mtu', 'socketPath', 'pciID'] : [])];
    for (const k of Object.keys(i)) if (!allowed.includes(k)) p.push(`interfaces[${n}] has ${k}, not in ${version}`);
    if (typeof i['name'] !== 'string' || i['name'] === '') p.push(`interfaces[${n}] has no name`);
    if (i['mac'] !== undefined && (typeof i['mac'] !== 'string' || !MAC.test(i['mac']))) p.push(`interfaces[${n}].mac ${JSON.stringify(i['mac'])}`);
    if (i['sandbox'] !== undefined && typeof i['sandbox'] !== 'string') p.push(`interfaces[${n}].sandbox`);
    if (i['mtu'] !== undefined && (typeof i['mtu'] !== 'number' || !Number.isInteger(i['mtu']))) p.push(`interfaces[${n}].mtu`);
    return undefined;
  });
  const ips = value['ips'] ?? [];
  if (!Array.isArray(ips)) p.push('ips is not a list');
  (Array.isArray(ips) ? ips : []).forEach((ip: unknown, n) => {
    if (!isObject(ip)) return p.push(`ips[${n}] is not an object`);
    const allowed = ['address', 'gateway', 'interface', ...(v1 ? [] : ['version'])];
    for (const k of Object.keys(ip)) if (!allowed.includes(k)) p.push(`ips[${n}] has ${k}, not in ${version}`);
    if (!isCidr(ip['address'])) p.push(`ips[${n}].address ${String(ip['address'])}`);
    if (!v1) {
      const fam = typeof ip['address'] === 'string' && ip['address'].includes(':') ? '6' : '4';
      if (ip['version'] !== fam) p.push(`ips[${n}].version ${String(ip['version'])}, expected "${fam}"`);
    }
    if (ip['gateway'] !== undefined && !isIp(ip['gateway'])) p.push(`ips[${n}].gateway`);
    const idx = ip['interface'];
    if (idx !== undefined && (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0 || idx >= ifs.length)) p.push(`ips[${n}].interface ${JSON.stringify(idx)} is not an index of interfaces`);
    return undefined;
  });
  const routes = value['routes'] ?? [];
  if (!Array.isArray(routes)) p.push('routes is not a list');
  (Array.isArray(routes) ? routes : []).forEach((r: unknown, n) => {
    if (!isObject(r)) return p.push(`routes[${n}] is not an object`);
    const allowed = ['dst', 'gw', ...(v11 ? ['mtu', 'advmss', 'priority', 'table', 'scope'] : [])];
    for (const k of Object.keys(r)) if (!allowed.includes(k)) p.push(`routes[${n}] has ${k}, not in ${version}`);
    if (!isCidr(r['dst'])) p.push(`routes[${n}].dst`);
    if (r['gw'] !== undefined && !isIp(r['gw'])) p.push(`routes[${n}].gw`);
    return undefined;
  });
  const dns = value['dns'];
  if (dns !== undefined) {
    if (!isObject(dns)) p.push('dns is not an object');
    else for (const k of Object.keys(dns)) if (!['nameservers', 'domain', 'search', 'options'].includes(k)) p.push(`dns has ${k}`);
  }
  return p;
}

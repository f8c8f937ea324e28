// A generated lab of netns guests for the graph tests (unit: the layout; integration: the page in
// Chromium): `n` guests over six networks, grouped eight ways (one to three networks each), with
// static, `auto`, DHCP (with a VLAN), IPv4+IPv6, MAC, gateway and impaired links among them.

const NETWORKS = ['front', 'mid', 'back', 'mgmt', 'storage', 'dmz'];
const GROUPS = [[0], [0, 1], [1, 2], [2], [3, 0], [1, 4], [5, 0, 3], [2, 4]];

/** The YAML of a lab named `name` whose netns are `<prefix>-<i>` and bridges `br-<prefix>-<i>`. */
export function graphLab(n: number, name: string, prefix: string): string {
  const out = [`name: ${name}`, 'networks:'];
  NETWORKS.forEach((k, i) => out.push(`  ${k}: {bridge: br-${prefix}-${i}, subnet: 10.${100 + i}.0.0/16${i === 4 ? ', mtu: 9000' : ''}}`));
  out.push('guests:');
  const key = (g: number) => `g${String(g).padStart(3, '0')}`;
  for (let g = 0; g < n; g++) out.push(`  ${key(g)}: {netns: ${prefix}-${g}}`);
  out.push('links:');
  for (let g = 0; g < n; g++) {
    const host = `${(g + 2) >> 8}.${(g + 2) & 255}`;
    GROUPS[g % GROUPS.length]!.forEach((ni, j) => {
      const net = NETWORKS[ni]!;
      const ifname = `eth${j + 1}`;
      if (g % 11 === 5 && j === 0) out.push(`  - {guest: ${key(g)}, interface: ${ifname}, network: ${net}, dhcp: udhcpc, vlan: 3}`);
      else if (g % 7 === 3) {
        out.push(`  - {guest: ${key(g)}, interface: ${ifname}, network: ${net}, address: [10.${100 + ni}.${host}/16, "fd00:${ni}::${g + 2}/64"], `
          + `mac: "02:42:ac:${String(ni).padStart(2, '0')}:${(g >> 8).toString(16).padStart(2, '0')}:${(g % 256).toString(16).padStart(2, '0')}", gateway: 10.${100 + ni}.0.1, impair: {delay: 20ms, rate: 10mbit}}`);
      } else out.push(`  - ${key(g)}:${ifname} ${net} ${g % 3 === 0 ? 'auto' : `10.${100 + ni}.${host}/16`}`);
    });
  }
  return `${out.join('\n')}\n`;
}

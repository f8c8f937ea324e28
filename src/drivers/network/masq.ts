/**
 * ipMasq, as the reference bridge plugin does it: one iptables nat chain per network, container
 * and interface, under pipework's own prefix — traffic from the container's addresses leaving their
 * subnet is masqueraded. Creation and removal are planned here only (the chain's undo is its
 * removal), and what is live is judged here against what is wanted. Pure.
 */
import type { Action, Step } from '../../model/plan.js';
import { digest } from '../../model/hash.js';

export interface MasqRule {
  family: 4 | 6;
  /** The container's address (POSTROUTING -s). */
  ip: string;
  /** Its subnet (not masqueraded). */
  subnet: string;
}

/** A container's masquerading: its chain, the comment on every rule, and the rules. */
export interface Masq {
  chain: string;
  comment: string;
  rules: MasqRule[];
}

/**
 * The chain of one attachment: a container's interface on a network (the reference plugin's
 * chain, under our own prefix). Without `ifname`, the chain as records before version 3 named it,
 * one per network and container (a second interface on the same network could not have its own):
 * DEL and GC still find those by it.
 */
export function masqChain(network: string, containerId: string, ifname?: string): string {
  const key = ifname === undefined ? `${network}/${containerId}` : `${network}/${containerId}/${ifname}`;
  return `PW-${digest('sha256', key).toString('hex').slice(0, 24).toUpperCase()}`;
}

/** The comment on its rules (without `ifname`: as records before version 3 wrote it). */
export function masqComment(network: string, containerId: string, ifname?: string): string {
  return `name: "${network}" id: "${containerId}"${ifname === undefined ? '' : ` ifname: "${ifname}"`}`;
}

function tool(family: 4 | 6): string {
  return family === 4 ? 'iptables' : 'ip6tables';
}

const NOT_MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;

function ipt(family: 4 | 6, args: string[], mayFail = false): Action {
  return { kind: 'exec', place: 'host', argv: [tool(family), '-w', '-t', 'nat', ...args], timeoutMs: 30_000, ...(mayFail && { mayFail: true }) };
}

const familiesOf = (m: Masq) => ([4, 6] as const).filter((f) => m.rules.some((r) => r.family === f));

/** The rule in POSTROUTING that sends one address through the chain. */
function jumpRule(m: Masq, r: MasqRule): string[] {
  return ['POSTROUTING', '-s', r.ip, '-j', m.chain, '-m', 'comment', '--comment', m.comment];
}

/** The chain, its rules, and the jumps to it; each undone by the run's rollback. */
export function planMasqCreate(m: Masq): Step[] {
  const steps: Step[] = [];
  const c = ['-m', 'comment', '--comment', m.comment];
  for (const family of familiesOf(m)) {
    const mine = m.rules.filter((r) => r.family === family);
    steps.push({
      title: `create ${tool(family)} nat chain ${m.chain}`,
      action: ipt(family, ['-N', m.chain]),
      undo: [ipt(family, ['-X', m.chain]), ipt(family, ['-F', m.chain])],
    });
    for (const subnet of [...new Set(mine.map((r) => r.subnet))]) {
      steps.push({ title: `do not masquerade traffic to ${subnet}`, action: ipt(family, ['-A', m.chain, '-d', subnet, '-j', 'ACCEPT', ...c]), undo: [] });
    }
    steps.push({ title: `masquerade the rest in ${m.chain}`, action: ipt(family, ['-A', m.chain, '!', '-d', NOT_MULTICAST[family], '-j', 'MASQUERADE', ...c]), undo: [] });
    for (const r of mine) {
      steps.push({ title: `send traffic from ${r.ip} through ${m.chain}`, action: ipt(family, ['-A', ...jumpRule(m, r)]), undo: [ipt(family, ['-D', ...jumpRule(m, r)])] });
    }
  }
  return steps;
}

/**
 * The jumps, then the chain: each may be gone already (a DEL after a DEL, a host rebooted since),
 * which is no failure.
 */
export function planMasqRemove(m: Masq): Step[] {
  return familiesOf(m).flatMap((family) => [
    ...m.rules.filter((r) => r.family === family).map((r): Step => ({
      title: `stop sending traffic from ${r.ip} through ${m.chain}`, action: ipt(family, ['-D', ...jumpRule(m, r)], true), undo: [],
    })),
    { title: `empty ${tool(family)} nat chain ${m.chain}`, action: ipt(family, ['-F', m.chain], true), undo: [] },
    { title: `remove ${tool(family)} nat chain ${m.chain}`, action: ipt(family, ['-X', m.chain], true), undo: [] },
  ]);
}

/** The argv that lists the nat rules of one family (`-S`: in the form they were added). */
export function masqListArgv(family: 4 | 6): string[] {
  return [tool(family), '-w', '-t', 'nat', '-S'];
}

/**
 * What is missing of this masquerading, from `iptables -t nat -S` of each family (`listed`): the
 * chain, a jump from POSTROUTING. Comments are compared without iptables' quoting.
 */
export function masqDrift(m: Masq, listed: Partial<Record<4 | 6, string>>): string[] {
  const out: string[] = [];
  for (const family of familiesOf(m)) {
    const text = listed[family];
    if (text === undefined) continue;
    const lines = text.split('\n').map((l) => l.trim());
    if (!lines.includes(`-N ${m.chain}`)) {
      out.push(`${tool(family)} nat chain ${m.chain} is missing`);
      continue;
    }
    for (const r of m.rules.filter((x) => x.family === family)) {
      const ip = r.ip.includes('/') ? r.ip : `${r.ip}/${family === 4 ? 32 : 128}`;
      if (!lines.some((l) => l.startsWith(`-A POSTROUTING -s ${ip} `) && l.endsWith(`-j ${m.chain}`))) {
        out.push(`traffic from ${r.ip} is not sent through ${m.chain}`);
      }
    }
  }
  return out;
}

/**
 * The command-line forms (printed on too few arguments, exit 1), --help, and help per verb. Kept
 * as data (src/front/help-text.ts): the same blocks print here and make the man page pipework(8).
 */
import { renderHelp, type HelpBlock, type HelpPage } from '../help-text.js';

const SYNTAX_BLOCKS: readonly HelpBlock[] = [
  { kind: 'heading', text: 'Syntax' },
  {
    kind: 'synopsis',
    lines: [
      'pipework [--direct-phys] <hostif> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <ip>/<prefix>[@<gateway>] [<mac>][@<vlan>]',
      'pipework [--direct-phys] <hostif> [-i <guestif>] [-l <localif>] <guest> <dhcp-method>[:<client options>] [<mac>][@<vlan>]',
      'pipework mac:<host mac> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <ip>/<prefix>[@<gateway>] [<mac>][@<vlan>]',
      'pipework mac:<host mac> [-i <guestif>] [-l <localif>] <guest> <dhcp-method>[:<client options>] [<mac>][@<vlan>]',
      'pipework route <guest> <ip route arguments...>',
      'pipework rule <guest> <ip rule arguments...>',
      'pipework tc <guest> <tc arguments...>',
      'pipework --wait [-i <guestif>] [--timeout <seconds>]',
    ],
  },
];

export const SYNTAX = renderHelp(SYNTAX_BLOCKS);

/** A verb's help: its command form(s), then what it does. */
const verbPage = (synopsis: string, ...lines: string[]): HelpBlock[] => [
  { kind: 'synopsis', lines: [synopsis] },
  { kind: 'text', indent: 2, lines },
];

/** One page per verb: `pipework help <verb>`. */
export const VERB_PAGES: Record<string, HelpPage> = {
  attach: [
    ...verbPage(
      'pipework [options] <hostif> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <address|dhcp-method> [<mac>][@<vlan>]',
      'Put an interface into <guest> over <hostif> (the classic command line).',
    ),
    {
      kind: 'items', indent: 2, column: 16,
      items: [
        {
          term: '<hostif>',
          text: [
            'an existing Linux bridge, Open vSwitch bridge, IPoIB interface or NIC (macvlan; with',
            '--direct-phys the NIC itself); a missing br* (Linux bridge), ovs* (OVS bridge) or',
            'dummy* (a dummy interface) is made; mac:<hostmac> names it by MAC',
          ],
        },
        {
          term: '<guest>',
          text: [
            'a Docker or Podman container (name, id or unique id prefix), an LXC container, a',
            'PID, or a named network namespace; docker:, podman:, lxc:, pid:, netns: say which',
          ],
        },
        { term: '<address>', text: ['<ip>/<prefix>[@<gateway>] (IPv4 or IPv6), or 0/0 for none'] },
        {
          term: '<dhcp-method>',
          text: [
            'udhcpc, dhclient, dhcpcd (a lease, then the client exits); udhcpc-f, dhclient-f,',
            'dhcpcd-f (the client stays and renews); dhcp (busybox udhcpc in a helper container);',
            "text after ':' goes to the client; -a 6 with dhclient or dhcpcd: DHCPv6",
          ],
        },
        { term: '<mac>', text: ["the guest interface's MAC; U:<text> derives a stable one"] },
        {
          term: '@<vlan>',
          text: [
            'VLAN id 1-4094 (OVS tag, 802.1Q sub-interface, bridge VLAN filtering); for IPoIB',
            'the partition key (hex)',
          ],
        },
        { term: '-i <guestif>', text: ['the guest interface (default eth1; ib0 for IPoIB)'] },
        { term: '-l <localif>', text: ["the veth's host end (default v<guestif>pl<pid>, or a hashed pwv… name)"] },
        { term: '-a 4|6', text: ['the address family'] },
        { term: '--direct-phys', text: ['move the NIC itself into the guest (SR-IOV virtual functions)'] },
        { term: '--replace', text: ['re-plumb an interface pipework made with another configuration (all or nothing)'] },
        { term: '--dhcp-timeout <sec>', text: ['no lease after this long (default 30) fails and undoes the attach'] },
        { term: '--dhcp-image <image>', text: ["the 'dhcp' method's helper image (default busybox; never pulled)"] },
        { term: '--dry-run', text: ['print the plan (the commands, runnable as shown) and change nothing'] },
        { term: '--json', text: ['print the result as JSON (errors too)'] },
      ],
    },
    {
      kind: 'text', indent: 2,
      lines: [
        'Running the same attach again changes nothing, or repairs what drifted (a bridge removed, an',
        'address flushed, a link set down).',
      ],
    },
  ],
  del: [
    ...verbPage(
      'pipework del [-i <guestif> | --all] [--owner <owner>] [--dry-run] [--json] <guest>',
      'Remove what pipework plumbed in <guest>: the interface (default eth1; ib0 where an IPoIB attach',
      'made it), its host end, OVS port and VLAN sub-interface, a DHCP client renewing its lease; the',
      'default route its gateway replaced comes back. Only what the command line made, unless',
      '--owner names another owner (topology:NAME, cni:NET, watch). Absent is fine.',
    ),
    ...verbPage(
      'pipework del --stale [<guest>] [--dry-run] [--json]',
      'Clean what dead guests left on the host: OVS port rows, NICs given back under their guest-side',
      'name, resolv.conf files a DHCP lease wrote for a named netns that is gone.',
    ),
  ],
  ls: verbPage(
    'pipework ls [<guest> | <hostif>] [--owner <owner>] [--json]',
    'What pipework plumbed: everywhere, in one guest, or on one bridge or NIC — with who made it',
    '(OWNER) and its live state: DRIFT says what differs from the record (re-run the attach to',
    'repair), STALE what a dead guest left (pipework del --stale cleans it).',
  ),
  batch: verbPage(
    'pipework batch [<file> | -] [--dry-run] [--json]',
    "Many attach lines at once (# comments, shell-like quoting, an optional leading 'pipework'):",
    'every host side in one ip -batch, one process per guest, all or nothing. The same line twice',
    'is done once; two different lines for one guest interface are refused.',
  ),
  route: verbPage('pipework route <guest> <ip route arguments...>', "Run 'ip route ...' inside <guest>; its output and exit status pass through."),
  rule: verbPage('pipework rule <guest> <ip rule arguments...>', "Run 'ip rule ...' inside <guest>; its output and exit status pass through."),
  tc: verbPage('pipework tc <guest> <tc arguments...>', "Run 'tc ...' inside <guest>; its output and exit status pass through."),
  wait: verbPage('pipework --wait [-i <guestif>] [--timeout <seconds>]', 'Inside a container: return once <guestif> (default eth1) exists and has carrier.'),
  completion: verbPage(
    'pipework completion bash',
    'Print a bash completion script: source <(pipework completion bash), or save it to',
    '/etc/bash_completion.d/pipework.',
  ),
};

/** One paragraph per verb: `pipework help <verb>`. */
export const VERB_HELP: Record<string, string> = Object.fromEntries(Object.entries(VERB_PAGES).map(([name, page]) => [name, renderHelp(page)]));

/** `pipework --help`. */
export const HELP_PAGE: HelpPage = [
  { kind: 'title', name: 'pipework', summary: 'plumb extra network interfaces into running containers' },
  { kind: 'blank' },
  ...SYNTAX_BLOCKS,
  { kind: 'blank' },
  { kind: 'heading', text: 'Verbs' },
  {
    kind: 'items', indent: 2, column: 22,
    items: [
      { term: '<hostif> ...', text: ['attach an interface (pipework help attach)'] },
      { term: 'del', text: ['remove what pipework plumbed (pipework help del)'] },
      { term: 'ls', text: ['what pipework plumbed, who made it, its live state (pipework help ls)'] },
      { term: 'batch', text: ['many attach lines at once, all or nothing (pipework help batch)'] },
      { term: 'route, rule, tc', text: ['run ip route / ip rule / tc inside a guest'] },
      { term: '--wait', text: ['inside a container: wait for an interface'] },
      { term: 'apply, destroy', text: ['make the host match a topology file; remove what it made'] },
      { term: 'inspect, graph', text: ["a topology file's links, desired vs live; drawn (mermaid, dot, html)"] },
      { term: 'schema', text: ["the topology format's JSON Schema"] },
      { term: 'watch', text: ['plumb containers from their labels as they start (pipework help watch)'] },
      {
        term: 'cni',
        text: [
          'install the CNI plugin, or run its daemon (pipework help cni); with',
          'CNI_COMMAND set, pipework is the CNI plugin itself',
        ],
      },
      { term: 'help <verb>', text: ['help on one verb'] },
      { term: 'completion bash', text: ['a bash completion script'] },
    ],
  },
  { kind: 'blank' },
  { kind: 'heading', text: 'Options' },
  {
    kind: 'items', indent: 2, column: 22,
    items: [
      { term: '-i <guestif>', text: ['the guest interface (default eth1; ib0 for IPoIB)'] },
      { term: '-l <localif>', text: ["the veth's host end"] },
      { term: '-a 4|6', text: ['the address family'] },
      { term: '--direct-phys', text: ['move the NIC itself into the guest'] },
      { term: '--replace', text: ['re-plumb an interface pipework made with another configuration'] },
      { term: '--all', text: ['with del: every pipework interface of the guest'] },
      { term: '--stale', text: ['with del: what dead guests left on the host'] },
      { term: '--owner <owner>', text: ['with ls and del: cli, watch, topology[:NAME], cni[:NETWORK]'] },
      { term: '--dhcp-timeout <s>', text: ['with a DHCP method: give up (and undo) after this long (default 30)'] },
      { term: '--dhcp-image <img>', text: ["the 'dhcp' method's helper image (default busybox; never pulled)"] },
      { term: '--timeout <s>', text: ['with --wait: give up after this long'] },
      { term: '--dry-run', text: ['print the plan and change nothing'] },
      { term: '--json', text: ['machine-readable output, errors as {"error": {"reason", "message"}}'] },
      { term: '--', text: ['the end of the options (a guest named -x)'] },
      { term: '-h, --help', text: ['this text'] },
      { term: '-V, --version', text: ['the version'] },
    ],
  },
  { kind: 'blank' },
  {
    kind: 'text', indent: 0, label: 'Exit codes',
    lines: [
      '0 done (or nothing to do); 1 an error (nothing was left changed); 70 an internal',
      'error; 130 interrupted (what the run did was undone); route/rule/tc pass on their own.',
    ],
  },
];

export const HELP = renderHelp(HELP_PAGE);

export function helpFor(verb: string | undefined): string | undefined {
  if (verb === undefined) return HELP;
  return VERB_HELP[verb === '--wait' ? 'wait' : verb];
}

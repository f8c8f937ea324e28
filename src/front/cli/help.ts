/** The command-line forms (printed on too few arguments, exit 1), --help, and help per verb. */
export const SYNTAX = `Syntax:
pipework [--direct-phys] <hostif> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <ip>/<prefix>[@<gateway>] [<mac>][@<vlan>]
pipework [--direct-phys] <hostif> [-i <guestif>] [-l <localif>] <guest> <dhcp-method>[:<client options>] [<mac>][@<vlan>]
pipework mac:<host mac> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <ip>/<prefix>[@<gateway>] [<mac>][@<vlan>]
pipework mac:<host mac> [-i <guestif>] [-l <localif>] <guest> <dhcp-method>[:<client options>] [<mac>][@<vlan>]
pipework route <guest> <ip route arguments...>
pipework rule <guest> <ip rule arguments...>
pipework tc <guest> <tc arguments...>
pipework --wait [-i <guestif>] [--timeout <seconds>]
`;

/** One paragraph per verb: `pipework help <verb>`. */
export const VERB_HELP: Record<string, string> = {
  attach: `pipework [options] <hostif> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> <address|dhcp-method> [<mac>][@<vlan>]
  Put an interface into <guest> over <hostif> (the classic command line).
  <hostif>      an existing Linux bridge, Open vSwitch bridge, IPoIB interface or NIC (macvlan; with
                --direct-phys the NIC itself); a missing br* (Linux bridge), ovs* (OVS bridge) or
                dummy* (a dummy interface) is made; mac:<hostmac> names it by MAC
  <guest>       a Docker or Podman container (name, id or unique id prefix), an LXC container, a
                PID, or a named network namespace; docker:, podman:, lxc:, pid:, netns: say which
  <address>     <ip>/<prefix>[@<gateway>] (IPv4 or IPv6), or 0/0 for none
  <dhcp-method> udhcpc, dhclient, dhcpcd (a lease, then the client exits); udhcpc-f, dhclient-f,
                dhcpcd-f (the client stays and renews); dhcp (busybox udhcpc in a helper container);
                text after ':' goes to the client; -a 6 with dhclient or dhcpcd: DHCPv6
  <mac>         the guest interface's MAC; U:<text> derives a stable one
  @<vlan>       VLAN id 1-4094 (OVS tag, 802.1Q sub-interface, bridge VLAN filtering); for IPoIB
                the partition key (hex)
  -i <guestif>  the guest interface (default eth1; ib0 for IPoIB)
  -l <localif>  the veth's host end (default v<guestif>pl<pid>, or a hashed pwv… name)
  -a 4|6        the address family
  --direct-phys move the NIC itself into the guest (SR-IOV virtual functions)
  --replace     re-plumb an interface pipework made with another configuration (all or nothing)
  --dhcp-timeout <sec>  no lease after this long (default 30) fails and undoes the attach
  --dhcp-image <image>  the 'dhcp' method's helper image (default busybox; never pulled)
  --dry-run     print the plan (the commands, runnable as shown) and change nothing
  --json        print the result as JSON (errors too)
  Running the same attach again changes nothing, or repairs what drifted (a bridge removed, an
  address flushed, a link set down).
`,
  del: `pipework del [-i <guestif> | --all] [--owner <owner>] [--dry-run] [--json] <guest>
  Remove what pipework plumbed in <guest>: the interface (default eth1; ib0 where an IPoIB attach
  made it), its host end, OVS port and VLAN sub-interface, a DHCP client renewing its lease; the
  default route its gateway replaced comes back. Only what the command line made, unless
  --owner names another owner (topology:NAME, cni:NET, watch). Absent is fine.
pipework del --stale [<guest>] [--dry-run] [--json]
  Clean what dead guests left on the host: OVS port rows, NICs given back under their guest-side
  name, resolv.conf files a DHCP lease wrote for a named netns that is gone.
`,
  ls: `pipework ls [<guest> | <hostif>] [--owner <owner>] [--json]
  What pipework plumbed: everywhere, in one guest, or on one bridge or NIC — with who made it
  (OWNER) and its live state: DRIFT says what differs from the record (re-run the attach to
  repair), STALE what a dead guest left (pipework del --stale cleans it).
`,
  batch: `pipework batch [<file> | -] [--dry-run] [--json]
  Many attach lines at once (# comments, shell-like quoting, an optional leading 'pipework'):
  every host side in one ip -batch, one process per guest, all or nothing. The same line twice
  is done once; two different lines for one guest interface are refused.
`,
  route: `pipework route <guest> <ip route arguments...>
  Run 'ip route ...' inside <guest>; its output and exit status pass through.
`,
  rule: `pipework rule <guest> <ip rule arguments...>
  Run 'ip rule ...' inside <guest>; its output and exit status pass through.
`,
  tc: `pipework tc <guest> <tc arguments...>
  Run 'tc ...' inside <guest>; its output and exit status pass through.
`,
  wait: `pipework --wait [-i <guestif>] [--timeout <seconds>]
  Inside a container: return once <guestif> (default eth1) exists and has carrier.
`,
  completion: `pipework completion bash
  Print a bash completion script: source <(pipework completion bash), or save it to
  /etc/bash_completion.d/pipework.
`,
};

export const HELP = `pipework — plumb extra network interfaces into running containers

${SYNTAX}
Verbs:
  <hostif> ...        attach an interface (pipework help attach)
  del                 remove what pipework plumbed (pipework help del)
  ls                  what pipework plumbed, who made it, its live state (pipework help ls)
  batch               many attach lines at once, all or nothing (pipework help batch)
  route, rule, tc     run ip route / ip rule / tc inside a guest
  --wait              inside a container: wait for an interface
  apply, destroy      make the host match a topology file; remove what it made
  inspect, graph      a topology file's links, desired vs live; drawn (mermaid, dot, html)
  schema              the topology format's JSON Schema
  watch               plumb containers from their labels as they start (pipework help watch)
  cni                 install the CNI plugin, or run its daemon (pipework help cni); with
                      CNI_COMMAND set, pipework is the CNI plugin itself
  help <verb>         help on one verb
  completion bash     a bash completion script

Options:
  -i <guestif>        the guest interface (default eth1; ib0 for IPoIB)
  -l <localif>        the veth's host end
  -a 4|6              the address family
  --direct-phys       move the NIC itself into the guest
  --replace           re-plumb an interface pipework made with another configuration
  --all               with del: every pipework interface of the guest
  --stale             with del: what dead guests left on the host
  --owner <owner>     with ls and del: cli, watch, topology[:NAME], cni[:NETWORK]
  --dhcp-timeout <s>  with a DHCP method: give up (and undo) after this long (default 30)
  --dhcp-image <img>  the 'dhcp' method's helper image (default busybox; never pulled)
  --timeout <s>       with --wait: give up after this long
  --dry-run           print the plan and change nothing
  --json              machine-readable output, errors as {"error": {"reason", "message"}}
  --                  the end of the options (a guest named -x)
  -h, --help          this text
  -V, --version       the version

Exit codes: 0 done (or nothing to do); 1 an error (nothing was left changed); 70 an internal
error; 130 interrupted (what the run did was undone); route/rule/tc pass on their own.
`;

export function helpFor(verb: string | undefined): string | undefined {
  if (verb === undefined) return HELP;
  return VERB_HELP[verb === '--wait' ? 'wait' : verb];
}

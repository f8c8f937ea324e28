/** The command-line forms, printed on too few arguments (exit 1) and by --help. */
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

export const HELP = `pipework — plumb extra network interfaces into running containers

${SYNTAX}
<hostif>      an existing Linux bridge; or br* (a bridge, created when missing)
<guest>       a Docker or Podman container (name, id or unique id prefix), an LXC container,
              a PID, or a named network namespace (ip netns); prefix with docker:, podman:,
              lxc:, pid: or netns: to say which
<ip>/<prefix> an IPv4 or IPv6 address (IPv6 also with -a 6); 0/0 for no address
@<gateway>    replace the guest's default route of that family with one via this gateway
<mac>         the guest interface's MAC; U:<text> derives a stable one from <text>
<dhcp-method> dhcp, udhcpc, udhcpc-f, dhclient, dhclient-f, dhcpcd, dhcpcd-f

Options of ours:
  --dry-run         print the plan (the exact commands, in order) and change nothing
  --timeout <sec>   with --wait: give up after this many seconds (exit 1)
  -h, --help        this text
  -V, --version     the version
`;

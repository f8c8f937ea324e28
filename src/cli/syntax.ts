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
<dhcp-method> udhcpc, dhclient, dhcpcd: a lease, then the client exits;
              udhcpc-f, dhclient-f, dhcpcd-f: the client stays and renews while the guest lives;
              dhcp: busybox udhcpc in a helper container (Docker/Podman guests);
              -a 6 with dhclient and dhcpcd: DHCPv6. Text after ':' goes to the client

Options of ours:
  --dry-run         print the plan (the exact commands, in order) and change nothing
  --timeout <sec>   with --wait: give up after this many seconds (exit 1)
  --dhcp-timeout <sec>  with a DHCP method: no lease after this long (default 30) fails and
                    undoes the attach
  --dhcp-image <image>  the 'dhcp' method's helper image (default busybox; never pulled)
  -h, --help        this text
  -V, --version     the version
`;

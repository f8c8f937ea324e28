/** The DHCP methods of the classic command line (src/dhcp/methods.ts says what each runs). */
export const DHCP_METHODS = ['dhcp', 'udhcpc', 'udhcpc-f', 'dhclient', 'dhclient-f', 'dhcpcd', 'dhcpcd-f'] as const;
export type DhcpMethod = (typeof DHCP_METHODS)[number];

export function isDhcpMethod(text: string): text is DhcpMethod {
  return (DHCP_METHODS as readonly string[]).includes(text);
}

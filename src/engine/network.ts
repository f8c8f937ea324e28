/**
 * The network-level host objects front doors make beside their attachments — today the CNI
 * plugin's masquerading chain — planned by their drivers (src/drivers/network/), run by the
 * engine's executor. Front doors reach them here, never the drivers themselves.
 */
export { masqChain, masqComment, masqDrift, masqListArgv, planMasqCreate, planMasqRemove, type Masq, type MasqRule } from '../drivers/network/masq.js';

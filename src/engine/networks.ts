/**
 * The network-level host objects' drivers (src/drivers/network/: a Linux bridge, an Open vSwitch
 * bridge, a VXLAN device, pipework's owner mark on them, and the CNI plugin's masquerading chain),
 * as the front doors reach them: through the engine.
 */
export { BRIDGE_VLAN_UNSUPPORTED, checkBridge, createBridge, markBridge, removeBridge, type BridgeWant } from '../drivers/network/bridge.js';
export { markedBy, markOf, markText, OVS_MARK_KEY } from '../drivers/network/mark.js';
export type { NetworkCheck, NetworkRemoval } from '../drivers/network/network.js';
export { checkOvsBridge, checkOvsUsable, createOvsBridge, removeOvsBridge, type LiveOvsBridge, type OvsBridgeWant } from '../drivers/network/ovs-bridge.js';
export {
  checkVxlan, createVxlan, planVxlan, removeVxlan, vxlanDeviceName, vxlanMtu, vxlanOverhead, vxlanSettingsDiffer,
  type LiveVxlan, type VxlanDevice, type VxlanDrift,
} from '../drivers/network/vxlan.js';
export { masqChain, masqComment, masqDrift, masqListArgv, planMasqCreate, planMasqRemove, type Masq, type MasqRule } from '../drivers/network/masq.js';

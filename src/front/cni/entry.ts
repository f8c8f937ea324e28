/**
 * The plugin bundle's entry (build/dist/cni-plugin.cjs, what the launcher starts Node on): only
 * the plugin, as CommonJS, so a cold request loads as little as it can.
 */
import { pluginMain } from './plugin.js';

pluginMain().then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    // pluginMain answers every failure itself; this is the last resort.
    process.exitCode = 1;
  },
);

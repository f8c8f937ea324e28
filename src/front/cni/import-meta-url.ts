/**
 * esbuild --inject for the CommonJS plugin bundle (build/dist/cni-plugin.cjs): what
 * `import.meta.url` is in the ES modules it bundles (they find the netlink addon and node:crypto
 * from it). Inlined into that bundle only; never imported by the ES module build.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS is what this file is for
export const importMetaUrl: string = (require('node:url') as typeof import('node:url')).pathToFileURL(__filename).href;

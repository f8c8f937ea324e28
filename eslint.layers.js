// The layers of src, as lint rules (docs/engine.md, "How the code is laid out"):
//   front → engine → drivers → host, guest, dhcp → exec → model
// A layer imports only those to its right. The engine reaches a host kind through the drivers'
// registry and contract (registry, driver, names, facts) and network objects through
// drivers/network; a front door reaches drivers only through the engine, and never imports
// another door (what doors share lives in src/front/classic and src/front/*.ts).
const SPAWN = [
  { name: 'node:child_process', message: 'Spawn only through src/exec.' },
  { name: 'child_process', message: 'Spawn only through src/exec.' },
];
const DOORS = ['cli', 'cni', 'topology', 'watch'];

/** An import naming a file under any of these folders of src. */
const under = (dirs) => `(^|/)(${dirs.join('|')})/`;
const rule = (patterns, spawn = true) => ['error', { ...(spawn && { paths: SPAWN }), patterns }];
const layer = (files, patterns, spawn = true) => ({ files, rules: { 'no-restricted-imports': rule(patterns, spawn) } });

export const layers = [
  layer(['src/model/**/*.ts'], [
    { regex: '^\\.\\./', message: 'model is the bottom layer: it imports nothing of pipework but model.' },
  ]),
  layer(['src/exec/**/*.ts'], [
    { regex: under(['host', 'guest', 'dhcp', 'drivers', 'engine', 'front']), message: 'exec runs programs and talks to the kernel: it imports only model.' },
  ], false),
  layer(['src/host/**/*.ts', 'src/guest/**/*.ts', 'src/dhcp/**/*.ts'], [
    { regex: under(['drivers', 'engine', 'front']), message: 'host, guest and dhcp act through exec: they never import a driver, the engine or a front door.' },
  ]),
  layer(['src/drivers/**/*.ts'], [
    { regex: under(['engine', 'front']), message: 'Drivers plan below the engine: they import host, guest, dhcp, exec and model only.' },
  ]),
  layer(['src/engine/**/*.ts'], [
    { regex: under(['front']), message: 'The engine serves the front doors; it never imports one.' },
    { regex: '(^|/)drivers/(?!(registry|driver|names|facts)\\.js$|network/)', message: 'The engine reaches a host kind through drivers/registry.ts, never its driver file.' },
  ]),
  ...DOORS.map((door) => layer([`src/front/${door}/**/*.ts`], [
    { regex: under(['drivers']), message: 'Front doors reach drivers only through the engine (src/engine/host-kinds.ts, networks.ts).' },
    { regex: `^\\.\\./(${DOORS.filter((d) => d !== door).join('|')})/`, message: 'A front door never imports another: what doors share lives in src/front/classic or src/front/*.ts.' },
  ])),
  layer(['src/front/*.ts', 'src/front/classic/**/*.ts'], [
    { regex: under(['drivers']), message: 'Front doors reach drivers only through the engine (src/engine/host-kinds.ts, networks.ts).' },
    { regex: under(DOORS), message: 'What the doors share never imports a door.' },
  ]),
];

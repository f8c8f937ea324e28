/**
 * The `watch` front door: `pipework watch --allow … [--once] [--json]`. Parses, says what it
 * serves, runs the watcher until SIGTERM/SIGINT (or, with --once, until what runs now is
 * reconciled), and exits 0 once the work in flight is finished or undone.
 */
import { requireRoot } from '../root.js';
import { giveUp, takeEarly } from '../signals.js';
import { makeLogger } from './log.js';
import { WATCH_HELP, formatGrant, parseWatchArgs, sourcesOf } from './options.js';
import { Watcher } from './watcher.js';

/** A second signal while stopping gives up at once (what runs may be left half-undone). */
const FORCED_EXIT = 130;

export async function run(argv: readonly string[]): Promise<number> {
  const request = parseWatchArgs(argv);
  if (request.kind === 'help') {
    process.stdout.write(WATCH_HELP);
    return 0;
  }
  requireRoot();
  const logger = makeLogger(request.json);
  const sources = sourcesOf(request);
  // The engine finds a container through DOCKER_HOST / CONTAINER_HOST: the sockets watched.
  for (const s of sources) process.env[s.runtime === 'docker' ? 'DOCKER_HOST' : 'CONTAINER_HOST'] = `unix://${s.socket}`;
  logger.log({
    action: 'watch', result: 'started',
    message: request.allow.length === 0
      ? 'no --allow: this watcher serves no host interface, so every label is refused (start it with --allow <hostif>,…)'
      : `serving ${request.allow.map(formatGrant).join(', ')}${request.allowDirect ? ' (--direct-phys allowed)' : ''}; image labels ${request.trustImageLabels ? 'trusted' : 'ignored'}`
        + `${request.dhcpImage !== undefined ? `; dhcp helper image ${request.dhcpImage}` : ''}${request.once ? '; once' : ''}`,
  });
  const watcher = new Watcher(request, sources, logger);
  let stopping: Promise<void> | undefined;
  const onStop = (sig: NodeJS.Signals) => {
    if (stopping !== undefined) {
      giveUp(FORCED_EXIT);
      return;
    }
    logger.log({ action: 'watch', result: 'stopping', message: `${sig}: finishing or undoing the work in flight` });
    stopping = watcher.stop(sig);
  };
  const onHup = () => watcher.relist();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // A signal that came while the watcher was starting counts now.
  for (const sig of takeEarly()) {
    if (sig === 'SIGHUP') onHup();
    else onStop(sig);
  }
  try {
    if (request.once) await watcher.once();
    else await watcher.run();
    await stopping;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
  const code = request.once && watcher.failures > 0 ? 1 : 0;
  logger.log({ action: 'watch', result: 'stopped', message: request.once ? `reconciled${watcher.failures > 0 ? `; ${watcher.failures} container(s) not plumbed` : ''}` : 'stopped' });
  // Nothing should keep the process now; if something does, it must not keep a service from stopping.
  setTimeout(() => process.exit(code), 1_000).unref();
  return code;
}

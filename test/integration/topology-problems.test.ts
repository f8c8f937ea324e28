// Every problem before anything (issue 22, item 3), as root with dockerd: one run of apply — dry
// or not — lists the file's own problems (an auto address without subnet:, a subnet the file's
// auto links do not fit in) together with the host's (an external bridge that is not there, a
// container that is not there, an image that is not there), each at FILE:LINE:COL of the YAML
// node it comes from, in file order, exit 1; and the host is exactly as before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerAvailable } from './helpers/docker.js';
import { assertSameState, cleanupAll, hostState, pw, scratch, write } from './topology-lib.js';

const FILE = `name: tgprob
networks:
  lan:   {bridge: br-tgprob}
  up:    {bridge: br-tgprobnone, external: true}
  small: {bridge: br-tgprobs, subnet: 10.206.0.0/30}
guests:
  a: {netns: tgprob-a}
  c: {container: docker:tgprob-no-such-container}
  i: {image: "tgprob-no-such-image:1"}
links:
  - a lan auto
  - a:eth2 up 10.1.0.2/24
  - c small auto
  - i small auto
  - a:eth3 small auto
`;

void describe('topology: every problem of a file and its host in one run, nothing changed', async () => {
  const docker = await dockerAvailable();
  let dir: string;
  before(async () => {
    assert.ok(docker, 'Docker is not reachable on /var/run/docker.sock (scripts/test.sh starts dockerd)');
    await cleanupAll();
    dir = scratch();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgprob']);
    await cleanupAll();
  });

  for (const dry of [true, false]) {
    void test(`apply${dry ? ' --dry-run' : ''}: the five problems at once, with their positions`, async () => {
      const file = write(dir, 'problems.yaml', FILE);
      const pristine = await hostState();
      const r = await pw(['apply', file, ...(dry ? ['--dry-run'] : [])]);
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.deepEqual(lines, [
        `${file}:4:19: networks.up.bridge: bridge br-tgprobnone does not exist, and the network is external: true (never made): create it first`,
        `${file}:8:18: guests.c.container: ${lines[1]!.slice(`${file}:8:18: guests.c.container: `.length)}`,
        `${file}:9:14: guests.i.image: image tgprob-no-such-image:1 is not there for docker (guest i): pull or import it first`,
        `${file}:11:5: links[0]: address auto needs a subnet: on network lan`,
        `${file}:15:5: links[4]: no free address left in 10.206.0.0/30 (network small) for auto: the file's addresses and the auto links before this one take all of its hosts (10.206.0.1 to 10.206.0.2)`,
      ]);
      // (The runtime's own words for a missing container vary: that it names the container is enough.)
      assert.match(lines[1]!, /tgprob-no-such-container/u);
      await assertSameState(pristine, `apply${dry ? ' --dry-run' : ''} of a bad file changed the host`);
    });
  }

  void test('--json: the same problems, as data', async () => {
    const file = write(dir, 'problems.yaml', FILE);
    const r = await pw(['apply', file, '--json']);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { error: { message: string; problems: string[] } };
    assert.equal(out.error.message, `${file}: 5 problems; nothing was changed`);
    assert.deepEqual(out.error.problems.map((p) => p.slice(file.length + 1).split(': ')[0]), ['4:19', '8:18', '9:14', '11:5', '15:5']);
  });

  void test('a file whose name is bad is not taken to the host: its own problems only (a link to a guest with a problem says nothing more)', async () => {
    const file = write(dir, 'badname.yaml', FILE.replace('name: tgprob', 'name: "../tgprob"'));
    const pristine = await hostState();
    const r = await pw(['apply', file, '--dry-run']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stderr.trimEnd().split('\n').map((l) => l.slice(file.length + 1).split(': ')[0]), ['1:7', '9:14', '11:5']);
    await assertSameState(pristine, 'a bad name changed the host');
  });
});

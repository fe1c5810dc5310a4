/**
 * The pre-flight of a move's files (issue 20): `godwit why` and `mosmigrate --dry-run` list what
 * a program uses and what a move would carry, without stopping it; a move whose node-local files
 * pass the limit is refused before anything stops, and one within it goes, its files with it.
 * Files deleted while open travel inside the images as CRIU ghost files, however large. Another
 * user learns nothing.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { WhyResult } from '@godwit/schemas';
import { REPO, api, asGuest, cli, cluster, eventually, migrations, mosrun, processInfo, program, type Harness } from './harness.js';

const MiB = 1 << 20;
const heldLines = (out: string) => out.split('\n').filter((l) => /^held \d+$/.test(l)).length;

describe('the pre-flight of files: godwit why, mosmigrate --dry-run and the carry limit', function () {
  let h: Harness;
  // /tmp is each node's own (not among the cluster's sharedPaths): a file there is node-local
  const prefix = `/tmp/godwit-preflight-${process.pid}-`;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });
  after(() => {
    for (const node of ['node0', 'node1']) for (const name of ['scratch.dat', 'ghost.dat']) rmSync(join(h.home, 'nodes', node, 'local', `${prefix}${name}`), { force: true });
  });

  it('names a 50 MiB file in /tmp over a 10 MiB limit beforehand, refuses the move with it (the program runs on), and moves it, file and all, with the limit raised', async function () {
    this.timeout(300_000);
    const big = `${prefix}scratch.dat`;
    const run = mosrun(h, [program('held_file.py'), big, '50', 'keep', '900']);
    const id = await run.id();
    await run.waitFor(/^held 2$/m);
    const before = await processInfo(h, id);

    // godwit why lists every file it uses: the scratch file is carried, its working directory (the checkout) stays
    const why = await cli(h, 'godwit', ['why', '--json', String(id)]);
    expect(why.exitCode, why.stderr).to.equal(0);
    const w = JSON.parse(why.stdout) as WhyResult;
    const scratch = w.carry?.files.find((f) => f.path === big);
    expect(scratch, `the scratch file among ${JSON.stringify(w.carry?.files.map((f) => f.path))}`).to.include({ kind: 'file', fate: 'carried', apparentBytes: 50 * MiB });
    expect(scratch!.allocatedBytes, 'its allocated bytes').to.be.at.least(50 * MiB);
    expect(w.carry?.files.find((f) => f.path === REPO), `the checkout, its working directory, among ${JSON.stringify(w.carry?.files)}`).to.include({ kind: 'directory', fate: 'stays' });
    expect(w.carry?.files.some((f) => f.path.startsWith('/proc') || f.path.startsWith('/dev/')), 'nothing of /proc or /dev is listed').to.equal(false);
    expect(w.movable, `within the default limit: ${JSON.stringify(w.reasons)}`).to.equal(true);

    // the dry run with a 10 MiB limit says it would be refused, and names the file
    const dry = await cli(h, 'mosmigrate', [String(id), 'node1', '--dry-run', '--carry-max', '10M']);
    expect(dry.exitCode, dry.stderr).to.equal(0);
    expect(dry.stdout, dry.stdout).to.match(new RegExp(`process ${id} cannot move to node1 now`));
    expect(dry.stdout, dry.stdout).to.include(`${big} (50 MiB)`).and.to.include('limit of 10 MiB').and.to.include('--carry-max');
    const lines = heldLines(run.stdout());
    await run.waitFor(new RegExp(`^held ${lines + 2}$`, 'm'));
    expect(await processInfo(h, id), 'the dry run stopped nothing').to.include({ node: 'node0', pid: before.pid, state: 'running' });

    // the move itself is refused, in the same words, before the program stops
    const refused = await cli(h, 'mosmigrate', [String(id), 'node1', '--carry-max', '10M']);
    expect(refused.exitCode, refused.stdout).to.not.equal(0);
    expect(refused.stderr, refused.stderr).to.include(big).and.to.include('limit of 10 MiB');
    expect((await migrations(h, id)).at(-1), 'the failed migration').to.include({ state: 'failed', code: 'GODWIT_ERR_CARRY_LIMIT' });
    const after = heldLines(run.stdout());
    await run.waitFor(new RegExp(`^held ${after + 2}$`, 'm'));
    expect(await processInfo(h, id), 'it runs on where it was').to.include({ node: 'node0', pid: before.pid, state: 'running' });

    // another user learns nothing of it: not found, and no file name
    const guest = asGuest(h);
    for (const args of [['why', String(id)], ['why', '--json', String(id)]]) {
      const res = await cli(guest, 'godwit', args);
      expect(res.exitCode, res.stdout).to.not.equal(0);
      expect(`${res.stdout}${res.stderr}`, 'the guest is told there is no such process of theirs').to.match(/no process/).and.not.include(prefix);
    }
    const guestDry = await cli(guest, 'mosmigrate', [String(id), 'node1', '--dry-run']);
    expect(guestDry.exitCode, guestDry.stdout).to.not.equal(0);
    expect(`${guestDry.stdout}${guestDry.stderr}`).to.match(/no process/).and.not.include(prefix);
    const guestApi = await api<{ code: string }>(h, 'GET', `/v1/processes/${id}/why?to=node1`, undefined, h.info.guest.token);
    expect([guestApi.status, guestApi.body.code], JSON.stringify(guestApi.body)).to.deep.equal([404, 'GODWIT_ERR_PROCESS_NOT_FOUND']);
    expect(JSON.stringify(guestApi.body)).to.not.include(prefix);

    // raised for this move, it goes, and the file with it: node1's own /tmp has it, node0's no more
    const moved = await cli(h, 'mosmigrate', [String(id), 'node1', '--carry-max', '64M']);
    expect(moved.exitCode, moved.stderr).to.equal(0);
    expect(await processInfo(h, id)).to.include({ node: 'node1', state: 'running' });
    const local = (node: string) => join(h.home, 'nodes', node, 'local', big);
    expect(existsSync(local('node1')), `${local('node1')} after the move`).to.equal(true);
    // the source removes what it carried once told the move succeeded, just after mosmigrate's answer
    await eventually(async () => (!existsSync(local('node0')) ? true : undefined), () => `${local('node0')} to be removed after the move (still there: ${existsSync(local('node0'))})`, 60_000);
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    expect(run.stdout()).to.match(/^result=50 MiB intact$/m);
  });

  it('moves a program holding an 8 MiB file deleted while open (a ghost file past CRIU\'s 1 MiB default), its content intact', async function () {
    this.timeout(300_000);
    const ghost = `${prefix}ghost.dat`;
    const run = mosrun(h, [program('held_file.py'), ghost, '8', 'deleted', '300']);
    const id = await run.id();
    await run.waitFor(/^held 2$/m);

    const why = JSON.parse((await cli(h, 'godwit', ['why', '--json', String(id)])).stdout) as WhyResult;
    expect(why.carry?.files.find((f) => f.path === ghost), JSON.stringify(why.carry?.files)).to.include({ kind: 'deleted', fate: 'ghost', apparentBytes: 8 * MiB });
    expect(why.carry?.ghostLimitBytes).to.equal(8 * MiB);
    expect(why.carry?.carriedBytes, 'the ghost file counts in what the move carries').to.be.at.least(8 * MiB);

    const moved = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(moved.exitCode, moved.stderr).to.equal(0);
    expect(await processInfo(h, id)).to.include({ node: 'node1', state: 'running' });
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    expect(run.stdout(), 'read back through its descriptor after the move').to.match(/^result=8 MiB intact$/m);
  });
});

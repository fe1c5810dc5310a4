/**
 * A forked tree whose processes share memory copy-on-write (a pre-fork server's workers) keeps
 * that sharing when it moves: auto sees it before the program stops and copies the tree whole,
 * saying why, where a lazy move would have given every process its own copy.
 */
import { expect } from 'chai';
import { treePids, treePss } from '../../agent/src/preflight.js';
import { asGuest, cli, cluster, eventually, migrations, mosrun, processInfo, program, type Harness, type Run } from './harness.js';

const MiB = 1024 * 1024;
const NPROC = 8;
const SIZE_MIB = 64;


describe('copy-on-write kept across a move', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
  });

  /** asks every process of the tree for its memory's checksum and expects the first one */
  async function expectIntact(run: Run, sum: string, nth: number): Promise<void> {
    run.child.stdin!.write('check\n');
    const answers = () => run.stdout().match(/^sum \d+ [0-9a-f]{16}$/gm) ?? [];
    await eventually(async () => (answers().length >= nth * NPROC ? true : undefined), () => `${nth * NPROC} answers to "check"; stdout: ${run.stdout()}`, 120_000);
    const wrong = answers().filter((a) => !a.endsWith(` ${sum}`));
    expect(wrong, `every process's memory intact after the move; stdout: ${run.stdout()}`).to.deep.equal([]);
  }

  it(`moves ${NPROC} processes sharing ${SIZE_MIB} MiB by full copy under auto, saying why, its memory still shared`, async function () {
    this.timeout(300_000);
    const run = mosrun(h, [program('bin/cowtree'), String(NPROC), String(SIZE_MIB)], { input: true });
    const id = await run.id();
    const sum = (await run.waitFor(/^ready ([0-9a-f]{16})$/m, 120_000))[1]!;
    const before = await processInfo(h, id);
    const pssBefore = treePss(before.pid!);
    expect(pssBefore, `the tree holds its ${SIZE_MIB} MiB once (PSS ${pssBefore / MiB} MiB)`).to.be.below((SIZE_MIB + 48) * MiB);

    // said beforehand, without stopping it
    const dry = await cli(h, 'mosmigrate', [String(id), 'node1', '--dry-run']);
    expect(dry.exitCode, `mosmigrate --dry-run: ${dry.stderr}`).to.equal(0);
    expect(dry.stdout).to.match(/it would move by full copy: auto: full copy, as its processes share memory copy-on-write/);
    const dryLazy = await cli(h, 'mosmigrate', [String(id), 'node1', '--dry-run', '--strategy', 'lazy']);
    expect(dryLazy.stdout, dryLazy.stderr).to.match(/it would move lazily: lazy, as asked: .*; but its processes share memory copy-on-write, which a lazy move would copy once per process: [\d.]+ MiB more/);
    expect((await processInfo(h, id)).pid, 'a dry run stops nothing').to.equal(before.pid);

    const res = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(res.exitCode, `mosmigrate ${id} node1: ${res.stderr}`).to.equal(0);
    const m = (await migrations(h, id)).at(-1)!;
    expect(m.strategy, `strategy of migration ${m.id}: ${m.strategyReason}`).to.equal('full');
    expect(m.strategyReason).to.match(/^auto: full copy, as its processes share memory copy-on-write, which a lazy move would copy once per process: [\d.]+ MiB more/);
    const after = await processInfo(h, id);
    expect(after.node, 'where it runs now').to.equal('node1');
    expect(after.pid, 'a new host PID on node1').to.not.equal(before.pid);
    expect(treePids(after.pid!), `all ${NPROC} processes restored`).to.have.length.at.least(NPROC);
    const pssAfter = treePss(after.pid!);
    expect(pssAfter, `the tree's memory after the move (PSS ${(pssAfter / MiB).toFixed(1)} MiB) within 5% of before (${(pssBefore / MiB).toFixed(1)} MiB)`)
      .to.be.within(0.95 * pssBefore, 1.05 * pssBefore);
    await expectIntact(run, sum, 1);
    run.child.stdin!.end();
    const end = await run.child;
    expect(end.exitCode, `mosrun's exit; stdout: ${run.stdout()} stderr: ${run.stderr()}`).to.equal(0);
    expect(run.stdout()).to.match(new RegExp(`^result=procs=${NPROC} intact$`, 'm'));
  });
});

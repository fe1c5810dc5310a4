/**
 * Recovery and exit say what they do (issue 26): `mosmigrate ID exit` makes the foreground mosrun
 * name the checkpoint and the `mosrun -R` that brings it back, with a status no crash gives; and
 * `mosrun -R` names the files of the working directory it rolls back, with their sizes then and
 * now, and goes on only when told: asked on a terminal, or --rollback-files off one.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Process } from '@godwit/schemas';
import { api, cli, cluster, type Harness, mosrun, processInfo, program, REPO, scratchDir } from './harness.js';
import { openTerminal } from './tmux.js';

/** logcount's last line: the sum of 1..n and how many lines its log holds */
const resultOf = (n: number) => new RegExp(`^result=sum ${(n * (n + 1)) / 2} log-lines ${n}$`, 'm');
/** what a user appends to the program's log after the checkpoint: the 48 bytes a recovery takes away */
const APPENDED = `${'a line written after the checkpoint'.padEnd(47, '.')}\n`;

describe('recovery and exit say what they do', function () {
  let h: Harness;
  let dir: string;
  let mine: string;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    mine = join(h.home, 'checkpoints', h.info.client.user);
  });
  beforeEach(() => {
    dir = scratchDir('godwit-talk-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const processIds = async () => (await api<Process[]>(h, 'GET', '/v1/processes')).body.map((p) => p.id);

  /**
   * logcount in `dir`, ended by `mosmigrate ID exit` while its mosrun follows; returns its
   * checkpoint, its log's size then, and the line its mosrun said
   */
  async function endedAtCheckpoint(name: string, lines: number) {
    const run = mosrun(h, ['-C', name, program('logcount'), String(lines)], { cwd: dir });
    const id = await run.id();
    await run.waitFor(/^5$/m);
    const exit = await cli(h, 'mosmigrate', [String(id), 'exit']);
    expect(exit.exitCode, exit.stderr).to.equal(0);
    const ended = await run.child;
    const file = join(mine, `${name}.1`);
    return { id, file, exitCode: ended.exitCode, stderr: run.stderr(), logSize: statSync(join(dir, 'progress.log')).size };
  }

  it('mosmigrate exit: the foreground mosrun says where the checkpoint is and the -R that brings it back, and exits 75; -R off a terminal rolls files back only with --rollback-files, naming them', async function () {
    this.timeout(300_000);
    const LINES = 60;
    const { id, file, exitCode, stderr, logSize } = await endedAtCheckpoint('talk', LINES);
    expect(exitCode, `EX_TEMPFAIL, not 137; stderr: ${stderr}`).to.equal(75);
    expect(stderr).to.include(`godwit: process ${id} was checkpointed to ${file} and ended there, as asked (mosmigrate ${id} exit); \`mosrun -R ${file}\` brings it back`);
    expect(stderr, 'no word of a kill').to.not.match(/SIGKILL|killed/);
    const info = await processInfo(h, id);
    expect([info.state, info.exitCheckpoint]).to.deep.equal(['exited', file]);
    const ps = await cli(h, 'mosps', ['--exited']);
    expect(ps.stdout).to.match(new RegExp(`^${id}\\s.*\\scheckpointed\\s`, 'm'));

    const log = join(dir, 'progress.log');
    appendFileSync(log, APPENDED);
    const before = readFileSync(log);
    const ids = await processIds();
    const listed = `${log}: ${logSize} bytes then, ${logSize + 48} bytes now`;

    const refused = await cli(h, 'mosrun', ['-R', file], { cwd: dir });
    expect(refused.exitCode, refused.stdout).to.equal(2);
    expect(refused.stderr).to.include(`godwit: recovering ${file} rolls back this file of ${dir} to the checkpoint`);
    expect(refused.stderr).to.include(listed);
    expect(refused.stderr).to.include('nothing recovered: not on a terminal, so mosrun -R rolls files back only with --rollback-files');
    expect(readFileSync(log).equals(before), 'the log is as it was').to.equal(true);
    expect(await processIds(), 'nothing started').to.deep.equal(ids);

    const back = await cli(h, 'mosrun', ['-R', file, '--rollback-files'], { cwd: dir });
    expect(back.exitCode, back.stderr).to.equal(0);
    expect(back.stderr).to.include(listed);
    expect(back.stdout, 'its log came back as it was at the checkpoint: the appended line is gone').to.match(resultOf(LINES));
    expect(readFileSync(log, 'utf8')).to.not.include(APPENDED);
  });

  it('mosrun -R on a terminal lists what it rolls back and asks; n leaves everything as it was', async function () {
    this.timeout(300_000);
    const { file } = await endedAtCheckpoint('asked', 60);
    const log = join(dir, 'progress.log');
    appendFileSync(log, APPENDED);
    const before = readFileSync(log);
    const ids = await processIds();
    const term = await openTerminal({ argv: [process.execPath, join(REPO, 'cli', 'dist', 'bin', 'mosrun.js'), '-R', file], env: h.env, cwd: dir, columns: 250, rows: 20 });
    try {
      const asked = await term.waitFor(/roll them back and recover it\? \[y\/N\]/, 'the question');
      expect(asked).to.include(`${log}: ${before.length - 48} bytes then, ${before.length} bytes now`);
      await term.keys('n', 'Enter');
      const ended = await term.waitFor(/\[exited \d+\]/, 'mosrun to end');
      expect(ended).to.include('godwit: nothing recovered: the files are left as they are');
      expect(ended).to.match(/\[exited 1\]/);
    } finally {
      await term.close();
    }
    expect(readFileSync(log).equals(before), 'the log is as it was').to.equal(true);
    expect(await processIds(), 'nothing started').to.deep.equal(ids);
  });
});

/** mosmon as a person uses it: in a terminal (tmux), keys pressed, the screen read. */
import { join } from 'node:path';
import { expect } from 'chai';
import type { Node } from '@godwit/schemas';
import { restartComponent, stopComponent } from '../../cli/src/cluster/index.js';
import { api, cli, cluster, eventually, mosrun, processInfo, program, REPO, type Harness, type Run } from './harness.js';
import { openTerminal, type Terminal } from './tmux.js';

/** one node's row in a bar view: its name, a bar, its figures */
const nodeRow = (name: string, figures = '') => new RegExp(`^${name}\\s+\\[[#.]+\\]\\s+${figures}`, 'm');

describe('mosmon in a terminal', function () {
  let h: Harness;
  let term: Terminal | undefined;
  let run: Run | undefined;
  let drained: string | undefined;
  let admin: { env: NodeJS.ProcessEnv };

  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    admin = { env: { ...h.env, GODWIT_CONFIG: h.info.adminConfigPath } };
  });

  afterEach(async function () {
    this.timeout(60_000);
    await term?.close();
    if (drained) await cli(h, 'mosctl', ['undrain', drained], admin);
    if (run) {
      // a frozen process ends on SIGKILL where it lies
      const id = await run.id();
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await run.child;
    }
    [term, run, drained] = [undefined, undefined, undefined];
  });

  const open = (columns = 100, rows = 30) =>
    openTerminal({
      argv: ['node', join(REPO, 'cli', 'dist', 'bin', 'mosmon.js'), '--interval', '0.5'],
      // Ink draws nothing until it exits when it believes it runs under CI
      env: { ...h.env, CI: undefined, CONTINUOUS_INTEGRATION: undefined },
      cwd: REPO,
      columns,
      rows,
    });

  it('shows each view on its key: load, frozen and free memory, memory, dead or drained nodes, help; q quits', async function () {
    this.timeout(240_000);
    term = await open();
    let screen = await term.waitFor(/CPU load[\s\S]*3 nodes, updated/, 'the load view of 3 nodes');
    for (const n of ['node0', 'node1', 'node2']) expect(screen, screen).to.match(nodeRow(n, '\\S+/1 CPU  \\d+ running'));

    run = mosrun(h, ['-r', 'node1', program('counter'), '600']);
    const id = await run.id();
    await term.waitFor(nodeRow('node1', '\\S+/1 CPU  1 running'), 'node1 running the counter');

    const frozen = await cli(h, 'mosmigrate', [String(id), 'freeze']);
    expect(frozen.exitCode, frozen.stderr).to.equal(0);
    expect((await processInfo(h, id)).state).to.equal('frozen');
    await term.keys('f');
    screen = await term.waitFor(nodeRow('node1', '1 frozen  \\S+ GiB free'), 'the frozen view with the counter frozen on node1');
    expect(screen, screen).to.match(/frozen processes and free memory/);
    expect(screen, screen).to.match(nodeRow('node0', '0 frozen'));

    await term.keys('m');
    screen = await term.waitFor(/memory \(used \/ total\)/, 'the memory view');
    for (const n of ['node0', 'node1', 'node2']) expect(screen, screen).to.match(nodeRow(n, '\\S+ \\S+/4\\.0 GiB used  \\S+ \\S+ free'));

    await term.keys('d');
    await term.waitFor(/dead and drained nodes[\s\S]*no dead or drained nodes \(3 online\)/, 'the dead view with every node well');
    const drain = await cli(h, 'mosctl', ['drain', 'node2'], admin);
    expect(drain.exitCode, drain.stderr).to.equal(0);
    drained = 'node2';
    screen = await term.waitFor(/^node2\s+drained: nothing new starts or moves here/m, 'node2 drained in the dead view');
    expect(screen, screen).to.match(/2 of 3 nodes online and taking programs/);
    expect(screen, screen).to.not.match(/^node[01]\s/m);
    await term.keys('l');
    await term.waitFor(nodeRow('node2', '\\S+/1 CPU  0 running\\s+drained$'), 'node2 marked drained in the load view');
    expect((await cli(h, 'mosctl', ['undrain', 'node2'], admin)).exitCode).to.equal(0);
    drained = undefined;
    await term.keys('d');
    await term.waitFor(/no dead or drained nodes \(3 online\)/, 'node2 gone from the dead view once undrained');

    await term.keys('h');
    screen = await term.waitFor(/godwit mosmon: help/, 'the help view');
    for (const key of ['l', 'f', 'm', 'd', 'h', 'q']) expect(screen, screen).to.match(new RegExp(`^${key}   \\S`, 'm'));

    await term.keys('q');
    screen = await term.waitFor(/\[exited \d+\]/, 'mosmon to end on q');
    expect(screen, screen).to.match(/\[exited 0\]/);
    expect(screen, 'the screen from before mosmon is back').to.not.match(/godwit mosmon/);
  });

  it('gives the terminal its screen back when it is ended by SIGTERM, as on q', async function () {
    this.timeout(60_000);
    term = await open();
    await term.waitFor(/3 nodes, updated/, 'the load view');
    process.kill(await term.programPid(), 'SIGTERM');
    const screen = await term.waitFor(/\[exited \d+\]/, 'mosmon to end on SIGTERM');
    expect(screen, screen).to.match(/\[exited 143\]/);
    expect(screen, 'the screen from before mosmon is back').to.not.match(/godwit mosmon/);
  });

  it('redraws to the size of the terminal when it is resized', async function () {
    this.timeout(120_000);
    term = await open(120, 30);
    const wide = await term.waitFor(nodeRow('node2'), 'the load view');
    const barOf = (screen: string) => /^node0\s+(\[[#.]+\])/m.exec(screen)?.[1] ?? '';
    await term.resize(60, 12);
    const narrow = await term.waitFor(/^node0\s+\[[#.]{1,40}\]/m, 'node0 with a shorter bar', 30_000);
    expect(barOf(narrow).length, `before:\n${wide}\nafter:\n${narrow}`).to.be.lessThan(barOf(wide).length);
    for (const line of narrow.split('\n')) expect(line.length, narrow).to.be.at.most(60);
    expect(narrow.split('\n').filter((l) => /^godwit mosmon/.test(l)), `one title, nothing left of the wider screen:\n${narrow}`).to.have.length(1);
  });

  it('says when the orchestrator is unreachable, and recovers when it is back', async function () {
    this.timeout(180_000);
    term = await open();
    await term.waitFor(/3 nodes, updated/, 'the load view');
    await stopComponent({ home: h.home, name: 'orchestrator' });
    try {
      const screen = await term.waitFor(/orchestrator unreachable:[\s\S]*retrying/, 'the orchestrator reported unreachable');
      expect(screen, 'the last figures stay').to.match(nodeRow('node0'));
    } finally {
      await restartComponent({ home: h.home, name: 'orchestrator' });
      await eventually(async () => {
        const nodes = await api<Node[]>(h, 'GET', '/v1/nodes');
        return nodes.status === 200 && nodes.body.every((n) => n.state === 'online') ? true : undefined;
      }, 'every node online after the orchestrator restarted', 60_000);
    }
    const screen = await term.waitFor(/^3 nodes, updated/m, 'mosmon reading the cluster again');
    expect(screen, screen).to.not.match(/unreachable/);
  });
});

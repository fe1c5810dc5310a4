/**
 * Bad input and faults: every refusal says why in words, exits non-zero, and leaves the program
 * running where it was.
 */
import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Migration } from '@godwit/schemas';
import { api, cli, cluster, debuggerOn, eventually, type Harness, migrations, mosrun, numbersIn, oneTo, processInfo, program, REPO, scratchDir } from './harness.js';
import { restartComponent, stopComponent } from '../../cli/src/cluster/index.js';

/** a counter's lines (100 ms each): it must outlast a few CLI calls on a loaded machine */
const LINES = 150;

describe('bad input and faults', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('refuses a request without a token with 401 in the API error shape', async function () {
    const res = await api<{ code: string; statusCode: number }>(h, 'GET', '/v1/processes', undefined, '');
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    const bad = await api<{ code: string }>(h, 'GET', '/v1/processes', undefined, 'not-a-token-of-anyone');
    expect(bad.status).to.equal(401);
  });

  it('refuses an unknown node, listing the nodes, and the program runs on', async function () {
    this.timeout(60_000);
    const run = mosrun(h, [program('counter'), '40']);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const res = await cli(h, 'mosmigrate', [String(id), 'node9']);
    expect(res.exitCode).to.not.equal(0);
    expect(res.stderr, 'the error names the known nodes').to.match(/node9/).and.match(/node0/).and.match(/node1/).and.match(/node2/);
    expect(res.stderr).to.not.match(/\bat .*\.js:\d+/);
    expect((await processInfo(h, id)).node).to.equal('node0');
    const result = await run.child;
    expect(result.exitCode).to.equal(0);
    expect(run.stdout()).to.match(/result=counted 40/);
  });

  it('refuses an unknown process id', async function () {
    const res = await cli(h, 'mosmigrate', ['987654', 'node1']);
    expect(res.exitCode).to.not.equal(0);
    expect(res.stderr).to.match(/987654/);
    expect(res.stderr).to.not.match(/\bat .*\.js:\d+/);
  });

  it('refuses bad arguments with a usage error', async function () {
    const res = await cli(h, 'mosmigrate', []);
    expect(res.exitCode).to.not.equal(0);
    expect(res.stderr).to.match(/usage|missing|argument/i);
  });

  it('does not move a program being traced by a debugger, says so, and it runs on', async function () {
    this.timeout(90_000);
    const run = mosrun(h, [program('counter'), String(LINES)]);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const { pid } = await processInfo(h, id);
    const tracer = await debuggerOn(pid!);
    try {
      const why = await cli(h, 'godwit', ['why', String(id)]);
      expect(why.exitCode, why.stderr).to.equal(0);
      expect(why.stdout).to.match(new RegExp(`process ${id} cannot move now:\\n  - process \\d+ is being traced by process ${tracer.pid}`));
      const res = await cli(h, 'mosmigrate', [String(id), 'node1']);
      expect(res.exitCode).to.not.equal(0);
      expect(res.stderr).to.match(/traced/);
      expect(res.stderr).to.match(/keeps running on node0/);
    } finally {
      await tracer.stop();
    }
    const free = await cli(h, 'godwit', ['why', '--json', String(id)]);
    const why = JSON.parse(free.stdout) as { movable: boolean; reasons: string[]; notAutomatically: string[] };
    expect(why, free.stderr).to.deep.include({ processId: id, movable: true, reasons: [] });
    // a counter sleeps between lines: the balancer would gain nothing moving it
    expect(why.notAutomatically.join('; ')).to.match(/hardly uses the CPU/);
    const after = await processInfo(h, id);
    expect(after.node).to.equal('node0');
    expect(after.state).to.equal('running');
    const migs = await migrations(h, id);
    expect(migs.at(-1)?.state, 'the refused migration is recorded as failed').to.equal('failed');
    const result = await run.child;
    expect(result.exitCode).to.equal(0);
    expect(numbersIn(run.stdout())).to.deep.equal(oneTo(LINES));
  });

  it('does not move a program whose TCP connection leads off its node, and says why', async function () {
    this.timeout(90_000);
    // a peer in the root namespace, at the cluster bridge's address: not on any node
    const bridge = new URL(h.info.url).hostname;
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => {
      sockets.add(s);
      s.on('data', (d) => s.write(d));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, bridge, r));
    const port = (server.address() as { port: number }).port;
    const client = [
      'import socket, sys, time',
      `s = socket.create_connection(("${bridge}", ${port}))`,
      'for i in range(1, 300):',
      '    s.sendall(b"%d\\n" % i); print("echo", s.recv(64).decode().strip(), flush=True); time.sleep(0.1)',
    ].join('\n');
    const run = mosrun(h, ['python3', '-c', client]);
    try {
      const id = await run.id();
      await run.waitFor(/echo 3/);
      const res = await cli(h, 'mosmigrate', [String(id), 'node1']);
      expect(res.exitCode).to.not.equal(0);
      expect(res.stderr).to.match(/TCP connection/).and.match(new RegExp(bridge.replace(/\./g, '\\.')));
      const count = run.stdout().length;
      await run.waitFor(new RegExp(`[\\s\\S]{${count + 10},}`), 30_000);
      expect((await processInfo(h, id)).node).to.equal('node0');
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
      await run.child;
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('refuses a strategy the nodes cannot do before anything stops, and the program runs on', async function () {
    this.timeout(120_000);
    const run = mosrun(h, [program('counter'), String(LINES)]);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const res = await cli(h, 'mosmigrate', ['--strategy', 'precopy', String(id), 'node1']);
    expect(res.exitCode).to.not.equal(0);
    // this machine's kernel has no soft-dirty tracking (see the platform notes)
    expect(res.stderr).to.match(/pre-copy migration cannot be used: it needs memory dirty tracking/).and.match(/not stopped/);
    expect(await migrations(h, id), 'nothing recorded: nothing began').to.deep.equal([]);
    const auto = await cli(h, 'mosmigrate', ['--json', String(id), 'node1']);
    expect(auto.exitCode, auto.stderr).to.equal(0);
    expect(JSON.parse(auto.stdout)).to.include({ strategy: 'lazy', state: 'done' }).and.have.property('strategyReason').that.matches(/^auto: lazy/);
    const result = await run.child;
    expect(result.exitCode, run.stderr()).to.equal(0);
    expect(numbersIn(run.stdout())).to.deep.equal(oneTo(LINES));
  });

  it('keeps the program at the source when the destination agent dies during the transfer', async function () {
    this.timeout(240_000);
    const run = mosrun(h, [join(REPO, 'bench', 'bin', 'memhog'), '1024', '120']);
    const id = await run.id();
    await run.waitFor(/beat 1\b/, 120_000);
    const pending = api<Migration | { code: string; message: string }>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node1', strategy: 'full' });
    // the pages flow to node1 while the dump runs (its CRIU page server takes them), the rest of
    // the images after it: either is the middle of the transfer
    const seen: string[] = [];
    await eventually(async () => {
      const state = (await migrations(h, id)).at(-1)?.state;
      if (state && seen.at(-1) !== state) seen.push(state);
      return state === 'dumping' || state === 'dumped' || state === 'transferring' ? true : undefined;
    }, () => `the migration to be dumping or transferring (states seen: ${seen.join(', ') || 'none'})`, 120_000);
    await stopComponent({ home: h.home, name: 'node1', signal: 'SIGKILL' });
    try {
      const res = await pending;
      expect(res.status, JSON.stringify(res.body)).to.be.at.least(400);
      const mig = (await migrations(h, id)).at(-1)!;
      expect(mig.state).to.equal('failed');
      expect(mig.reason, 'the failure is recorded with its reason').to.be.a('string').and.not.be.empty;
      const proc = await processInfo(h, id);
      expect(proc.node).to.equal('node0');
      expect(proc.state).to.equal('running');
      const beats = (run.stdout().match(/beat (\d+)/g) ?? []).length;
      await run.waitFor(new RegExp(`beat ${beats + 3}\\b`), 60_000);
    } finally {
      await restartComponent({ home: h.home, name: 'node1' });
    }
    await eventually(async () => {
      const nodes = await api<{ name: string; state: string }[]>(h, 'GET', '/v1/nodes');
      return nodes.body.find((n) => n.name === 'node1')?.state === 'online' ? true : undefined;
    }, 'node1 to come back online');
    const images = join(h.home, 'nodes', 'node1', 'data', 'images');
    const partial = existsSync(images) ? readdirSync(images).filter((n) => n.endsWith('.partial')) : [];
    expect(partial, `half-received images left on node1 after its agent restarted, in ${images}`).to.deep.equal([]);
    await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' });
    await run.child;
  });

  it('resumes the program at the source, output unbroken, when the restore at the destination fails', async function () {
    this.timeout(120_000);
    // the program holds a file open that another process keeps appending to: CRIU refuses to
    // restore a file whose size changed since the dump
    const dir = scratchDir('godwit-grow-');
    const file = join(dir, 'shared.log');
    writeFileSync(file, '');
    const script = `exec 3<${file}; for i in $(seq 1 80); do echo $i; sleep 0.1; done`;
    try {
      const run = mosrun(h, ['bash', '-c', script]);
      const writer = setInterval(() => appendFileSync(file, 'x'), 5);
      try {
        const id = await run.id();
        await run.waitFor(/^3$/m);
        const res = await cli(h, 'mosmigrate', [String(id), 'node1']);
        expect(res.exitCode, `mosmigrate should fail; stdout: ${res.stdout}`).to.not.equal(0);
        expect(res.stderr, `the reason, in: ${res.stderr}`).to.match(/restore/i).and.match(/keeps running on node0/);
        const proc = await processInfo(h, id);
        expect(proc.node).to.equal('node0');
        expect(proc.state).to.equal('running');
        expect((await migrations(h, id)).at(-1)?.state).to.equal('failed');
      } finally {
        clearInterval(writer);
      }
      const result = await run.child;
      expect(result.exitCode, run.stderr()).to.equal(0);
      const numbers = numbersIn(run.stdout());
      expect(numbers, 'every line once, in order, through the failed move').to.deep.equal(oneTo(80));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

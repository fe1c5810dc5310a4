/**
 * Programs with an address of their own (issue 21, first part): `mosrun --ip` starts a program in
 * a network namespace of its own, with an address from the orchestrator's pool on the cluster
 * network. A client in the host's namespace and other nodes reach its server there; no address is
 * given twice, each comes back when its program ends, and the pool survives an orchestrator
 * restart. Moving such a program is not built yet: it is refused before anything stops.
 */
import net from 'node:net';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, crashAndRestart, eventually, mosrun, processInfo, program, type Harness, type Run } from './harness.js';

/** answers each line "N" with "N ok", every client, on port 7000 of every address it has */
const SERVER = [
  'import socket, threading',
  's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  "s.bind(('0.0.0.0', 7000)); s.listen(8); print('listening', flush=True)",
  'def serve(c):',
  "    f = c.makefile('rwb', buffering=0)",
  "    for line in f: f.write(line.strip() + b' ok\\n')",
  'while True:',
  '    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()',
].join('\n');

/** the one answer to "N" from address:7000, from the host's namespace */
function ask(address: string, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: address, port: 7000, timeout: 10_000 });
    let got = '';
    sock.on('connect', () => sock.write(`${n}\n`));
    sock.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) {
        sock.destroy();
        resolve(got.trim());
      }
    });
    sock.on('timeout', () => sock.destroy(new Error(`no answer from ${address}:7000 in 10 s (got ${JSON.stringify(got)})`)));
    sock.on('error', reject);
  });
}

/** asks address:7000 for "N" from inside the network namespace at nsPath (another node's, or the program's own) */
async function askFrom(nsPath: string, address: string, n: number): Promise<string> {
  const code = `import socket; c = socket.create_connection(('${address}', 7000), timeout=10); c.sendall(b'${n}\\n'); print(c.makefile().readline().strip())`;
  const r = await execa('nsenter', [`--net=${nsPath}`, '--', '/usr/bin/python3', '-c', code], { reject: false, timeout: 30_000 });
  return r.exitCode === 0 ? r.stdout.trim() : `failed (${r.exitCode}): ${r.stderr.trim()}`;
}

async function ended(h: Harness, id: number): Promise<void> {
  await eventually(async () => ((await processInfo(h, id)).state === 'running' ? undefined : true), `process ${id} to end`, 60_000);
}

async function kill(h: Harness, run: Run | undefined): Promise<void> {
  if (!run) return;
  const id = await run.id().catch(() => undefined);
  if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
  await run.child;
}

describe('programs with an address of their own (mosrun --ip)', function () {
  let h: Harness;
  let guest: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    guest = asGuest(h);
  });

  after(async function () {
    this.timeout(30_000);
    // a namespace is named only while its program starts: none may stay named, on any path
    if (!h) return;
    const prefix = `godwit-ip-${h.info.nodes[0]!.address.replace(/\.\d+$/, '.')}`;
    const left = (await execa('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(prefix));
    expect(left, 'named program namespaces left').to.deep.equal([]);
  });

  it('a server started with --ip answers at its own address: from the host, another node and its own loopback; a move is refused and it runs on', async function () {
    this.timeout(240_000);
    let run: Run | undefined;
    try {
      run = mosrun(guest, ['--ip', '-r', 'node1', 'python3', '-u', '-c', SERVER]);
      const id = await run.id();
      await run.waitFor(/listening/);
      const proc = await processInfo(guest, id);
      const base = h.info.nodes[0]!.address.replace(/\.\d+$/, '');
      expect(proc.address, JSON.stringify(proc)).to.match(new RegExp(`^${base.replace(/\./g, '\\.')}\\.2\\d\\d$`));
      const address = proc.address!;
      expect(proc.node).to.equal('node1');

      expect(await ask(address, 1), 'from the host').to.equal('1 ok');
      expect(await askFrom(`/run/netns/${h.info.nodes[2]!.netns}`, address, 2), 'from node2').to.equal('2 ok');
      expect(await askFrom(`/proc/${proc.pid}/ns/net`, '127.0.0.1', 3), 'over its own loopback').to.equal('3 ok');
      // its namespace is its own: its link has the address, its node's does not
      const own = await execa('nsenter', [`--net=/proc/${proc.pid}/ns/net`, '--', 'ip', '-br', 'addr', 'show']);
      expect(own.stdout, 'the program\'s links').to.match(new RegExp(`^eth0@\\S+\\s+UP\\s+${address.replace(/\./g, '\\.')}/24`, 'm'));
      expect(own.stdout, 'the program\'s links').to.match(/^lo\s+UNKNOWN\s+127\.0\.0\.1\/8/m);
      const node1 = await execa('ip', ['-n', h.info.nodes[1]!.netns, '-br', 'addr', 'show']);
      expect(node1.stdout, 'node1\'s links').to.not.include(address);

      const ps = await cli(guest, 'mosps', ['-f']);
      const row = ps.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? `(no row for ${id} in ${ps.stdout})`;
      expect(row).to.match(new RegExp(`\\s${address.replace(/\./g, '\\.')}\\s+\\S*python3 -u -c`));

      for (const args of [[String(id), 'node2'], [String(id), 'freeze']]) {
        const refused = await cli(guest, 'mosmigrate', args);
        expect(refused.exitCode, `mosmigrate ${args.join(' ')}: ${refused.stdout}${refused.stderr}`).to.not.equal(0);
        expect(refused.stderr).to.include(`its own address ${address} (mosrun --ip)`);
        expect(refused.stderr).to.include('not built yet');
        expect(refused.stderr).to.not.match(/\n\s+at /);
      }
      const ckpt = await api<{ code: string; message: string }>(guest, 'POST', `/v1/processes/${id}/checkpoint`, {}, guest.token);
      expect(ckpt.body.code, JSON.stringify(ckpt.body)).to.equal('GODWIT_ERR_ADDRESS_CANNOT_MOVE');
      const after = await processInfo(guest, id);
      expect({ node: after.node, pid: after.pid, state: after.state, nmigs: after.nmigs }).to.deep.equal({ node: 'node1', pid: proc.pid, state: 'running', nmigs: 0 });
      expect(await ask(address, 4), 'after the refusals').to.equal('4 ok');
    } finally {
      await kill(guest, run);
    }
  });

  it('never gives one address twice, gives it back when its program ends, keeps the pool across an orchestrator restart, and one user cannot end or free another\'s', async function () {
    this.timeout(300_000);
    // detached: their lives do not follow a mosrun's connection across the orchestrator's restart
    const started: { id: number; as: Harness }[] = [];
    const start = async (as: Harness, ip = true): Promise<Process> => {
      const r = await cli(as, 'mosrun', ['--detach', ...(ip ? ['--ip'] : []), '-r', 'node0', program('counter'), '3000']);
      expect(r.exitCode, `mosrun: ${r.stdout}${r.stderr}`).to.equal(0);
      const id = Number(r.stdout.trim());
      started.push({ id, as });
      return processInfo(as, id);
    };
    /** each started process's state and address, for the failure messages */
    const seen = async () => (await Promise.all(started.map(async ({ id, as }) => processInfo(as, id)))).map((p) => `${p.id} ${p.state} ${p.address}`).join(', ');
    try {
      const a = await start(guest);
      const b = await start(h);
      expect(a.address).to.be.a('string');
      expect(b.address).to.be.a('string');
      expect(b.address, 'two live programs').to.not.equal(a.address);

      await crashAndRestart(h, 'orchestrator');
      const c = await start(h);
      expect([a.address, b.address], `after the restart, process ${c.id} got ${c.address}; ${await seen()}`).to.not.include(c.address);

      // the user cannot end the guest's program, so its address stays held
      const stranger = await api<{ code: string }>(h, 'POST', `/v1/processes/${a.id}/signal`, { signal: 'SIGKILL' });
      expect(stranger.status, JSON.stringify(stranger.body)).to.equal(404);
      const d = await start(h);
      expect([a.address, b.address, c.address], `process ${d.id} got ${d.address}; ${await seen()}`).to.not.include(d.address);

      // the guest's program ends: its address is the lowest free one again, and the next start gets it
      await api(guest, 'POST', `/v1/processes/${a.id}/signal`, { signal: 'SIGKILL' }, guest.token);
      await ended(guest, a.id);
      const e = await start(h);
      expect(e.address, `process ${e.id} after ${a.id} (${a.address}) ended; ${await seen()}`).to.equal(a.address);

      // a program that is not asked to have one has none
      expect((await start(h, false)).address ?? null).to.equal(null);
    } finally {
      for (const { id, as } of started) await api(as, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }, as.token);
    }
  });
});

/**
 * A stranger on the network finds a lazy move's page server (the source's `criu dump
 * --lazy-pages`, listening on a port of the configured range) and connects to it while the
 * program moves: in clear text, with TLS and a certificate of another CA, and with TLS and no
 * certificate. None of them reads a byte of the program's memory, and the program's memory stays
 * whole: the move either succeeds or fails with the program running on at its source.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { expect } from 'chai';
import type { AgentConfig } from '@godwit/schemas';
import { makeClusterCerts } from '../../cli/src/cluster/certs.js';
import { api, cli, cluster, eventually, migrations, mosrun, processInfo, type Harness } from './harness.js';

/** how a stranger talks to the page server once it has a connection; silent: says nothing and holds it */
type Kind = 'clear text' | "another CA's certificate" | 'no certificate' | 'silent';

interface Seen {
  /** it got a connection to the page server */
  connected: boolean;
  /** every byte the page server sent it (after TLS, the decrypted ones) */
  received: Buffer;
  /** how the connection ended, in words */
  end: string;
}

/**
 * A request for pages as CRIU's page server protocol frames one (struct page_server_iov: command,
 * number of pages, address, image id), sent in clear: what a reader of memory would ask.
 */
const CLEAR_REQUEST = Buffer.alloc(24);
CLEAR_REQUEST.writeUInt32LE(7, 0);
CLEAR_REQUEST.writeUInt32LE(256, 4);

/** how often the stranger tries the port while nothing listens there yet */
const RETRY_MS = 3;
/** how often it looks for the port (in the source's log: a scan of the range finds it as well, only slower) */
const LOOK_MS = 20;
/** how long it stays on a connection it got, reading whatever comes */
const LINGER_MS = 15_000;

/**
 * Connects to host:port as soon as something listens there (until `stop` says the move is over),
 * then talks as `kind` does and keeps every byte it is sent.
 */
async function stranger(kind: Kind, host: string, port: () => number | undefined, stop: () => boolean, otherCa: { cert: Buffer; key: Buffer }): Promise<Seen> {
  let raw: net.Socket | undefined;
  let p: number | undefined;
  let lookedAt = 0;
  while (!raw && !stop()) {
    if (p === undefined && Date.now() - lookedAt >= LOOK_MS) {
      lookedAt = Date.now();
      p = port();
    }
    const at = p;
    if (at !== undefined) {
      raw = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect({ host, port: at });
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
    }
    if (!raw) await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  if (!raw) return { connected: false, received: Buffer.alloc(0), end: 'never connected' };
  const socket: net.Socket =
    kind === 'clear text' || kind === 'silent'
      ? raw
      : tls.connect({ socket: raw, rejectUnauthorized: false, ...(kind === "another CA's certificate" ? otherCa : {}) });
  const chunks: Buffer[] = [];
  const end = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`still open after ${LINGER_MS} ms`), LINGER_MS);
    const done = (why: string) => {
      clearTimeout(timer);
      resolve(why);
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`error: ${err.code ?? ''} ${err.message}`));
    socket.once('close', () => done('closed by the page server'));
    if (kind === 'clear text') socket.write(CLEAR_REQUEST);
    else if (kind !== 'silent') socket.once('secureConnect', () => socket.write(CLEAR_REQUEST));
  });
  socket.destroy();
  return { connected: true, received: Buffer.concat(chunks), end };
}

describe("a stranger at a lazy move's page server", function () {
  let h: Harness;
  let strangerDir: string;
  let otherCa: { cert: Buffer; key: Buffer };
  const node0 = () => h.info.nodes[0]!;

  before(async function () {
    this.timeout(240_000);
    h = await cluster();
    // a CA of its own, made as the cluster makes its own, and a certificate from it in node1's very name
    strangerDir = mkdtempSync(join(tmpdir(), 'godwit-stranger-'));
    const node1 = h.info.nodes[1]!;
    const other = await makeClusterCerts(strangerDir, { orchestratorAddress: '127.0.0.1', nodes: [{ name: node1.name, address: node1.address }] });
    const files = other.nodes.get(node1.name)!;
    otherCa = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  });

  after(() => rmSync(strangerDir, { recursive: true, force: true }));

  /** the port of the lazy dump node0 started after `offset` in its log, once it says so */
  function lazyDumpPort(offset: number): number | undefined {
    const log = readFileSync(join(h.info.logsDir, 'node0.log'), 'utf8').slice(offset);
    const started = log
      .split('\n')
      .filter((l) => l.includes('CRIU lazy daemon started'))
      .map((l) => JSON.parse(l) as { argv: string[] })
      .find((l) => l.argv.includes('dump'));
    return started ? Number(started.argv[started.argv.indexOf('--port') + 1]) : undefined;
  }

  for (const kind of ['clear text', "another CA's certificate", 'no certificate'] as const) {
    it(`with ${kind}: reads none of the memory, and the program runs on whole at its source`, async function () {
      this.timeout(240_000);
      // 64 MiB of a marker no one else knows; after the move the program says whether its memory is as it was
      const marker = `godwit-secret-${randomBytes(12).toString('hex')}|`;
      const script = `import sys,hashlib; m=${JSON.stringify(marker)}.encode(); b=bytearray(m*((64<<20)//len(m))); h=hashlib.sha256(b).hexdigest(); print("ready", flush=True); sys.stdin.readline(); print("same" if hashlib.sha256(b).hexdigest()==h else "changed", flush=True)`;
      const run = mosrun(h, ['python3', '-c', script], { input: true });
      let id: number | undefined;
      try {
        id = await run.id();
        await run.waitFor(/^ready$/m);
        const logOffset = readFileSync(join(h.info.logsDir, 'node0.log'), 'utf8').length;
        let over = false;
        const seeing = stranger(kind, node0().address, () => lazyDumpPort(logOffset), () => over, otherCa);
        const mig = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
        over = true;
        const seen = await seeing;
        const what = `the stranger (${kind}): ${seen.connected ? `connected, got ${seen.received.length} bytes, ${seen.end}` : 'never connected'}; mosmigrate exit ${mig.exitCode}: ${mig.stderr.trim()}`;
        expect(seen.connected, `the stranger got no connection to the page server: ${what}`).to.equal(true);
        expect(seen.received.includes(Buffer.from(marker)), `the program's memory reached the stranger: ${what}`).to.equal(false);
        expect(seen.received.length, `the page server sent the stranger something: ${what}`).to.be.below(4096);
        // the page server takes one connection: the stranger's, so the destination gets none
        // and the move fails, the program running on at its source
        expect(mig.exitCode, `the move after the stranger took the page server's connection: ${what}`).to.not.equal(0);
        // the destination's lazy-pages daemon finds the port closed; its restore is ended, not left waiting
        expect(mig.stderr, what).to.match(/CRIU's lazy-pages daemon, which brings its memory from [\d.]+:\d+, ended: /).and.match(/keeps running on node0/);
        const [last] = (await migrations(h, id)).slice(-1);
        expect(last?.state, `the migration: ${JSON.stringify(last)}`).to.equal('failed');
        const p = await eventually(async () => {
          const info = await processInfo(h, id!);
          return info.state === 'running' ? info : undefined;
        }, `process ${id} running again`);
        expect(p.node, what).to.equal('node0');
        run.child.stdin!.write('\n');
        await run.waitFor(/^(same|changed)$/m);
        expect(run.stdout(), `the program after the stranger: ${what}`).to.match(/^same$/m);
      } finally {
        if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }).catch(() => undefined);
        await run.child.catch(() => undefined);
      }
    });
  }

  /** the command lines of the processes whose command line contains `text` */
  function commandsWith(text: string): string[] {
    const found: string[] = [];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let argv: string;
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        continue; // gone meanwhile
      }
      if (argv.includes(text)) found.push(`${pid}: ${argv.slice(0, 160)}`);
    }
    return found;
  }

  it('silent (connects, sends nothing, holds the connection): the move ends within its deadline, saying why if it fails, the program whole and nothing left at the destination', async function () {
    this.timeout(240_000);
    const marker = `godwit-silent-${randomBytes(12).toString('hex')}|`;
    const script = `import sys,hashlib; m=${JSON.stringify(marker)}.encode(); b=bytearray(m*((64<<20)//len(m))); h=hashlib.sha256(b).hexdigest(); print("ready", flush=True); sys.stdin.readline(); print("same" if hashlib.sha256(b).hexdigest()==h else "changed", flush=True)`;
    const node1 = JSON.parse(readFileSync(join(h.home, 'nodes', 'node1', 'config.json'), 'utf8')) as AgentConfig;
    const run = mosrun(h, ['python3', '-c', script], { input: true });
    let id: number | undefined;
    try {
      id = await run.id();
      await run.waitFor(/^ready$/m);
      const logOffset = readFileSync(join(h.info.logsDir, 'node0.log'), 'utf8').length;
      let over = false;
      const seeing = stranger('silent', node0().address, () => lazyDumpPort(logOffset), () => over, otherCa);
      const started = Date.now();
      const mig = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
      const took = Date.now() - started;
      over = true;
      const seen = await seeing;
      const what = `the silent stranger: ${seen.connected ? `connected, got ${seen.received.length} bytes, ${seen.end}` : 'never connected'}; mosmigrate exit ${mig.exitCode} after ${took} ms: ${mig.stderr.trim()}`;
      expect(seen.connected, `the stranger got no connection to the page server: ${what}`).to.equal(true);
      expect(seen.received.includes(Buffer.from(marker)), `the program's memory reached the stranger: ${what}`).to.equal(false);
      const p = await eventually(async () => {
        const info = await processInfo(h, id!);
        return info.state === 'running' ? info : undefined;
      }, `process ${id} running again`);
      if (mig.exitCode === 0) expect(p.node, what).to.equal('node1');
      else {
        // a failed move says why, and leaves the program where it was
        expect(mig.stderr, what).to.match(/keeps running on node0/);
        expect(p.node, what).to.equal('node0');
      }
      // nothing of the move is left: no CRIU working on node1's images, one copy of the program
      const criuLeft = () => [...commandsWith(node1.dataDir), ...(node1.runDir ? commandsWith(node1.runDir) : [])].filter((c) => /criu/.test(c));
      await eventually(async () => (criuLeft().length === 0 ? true : undefined), () => `no CRIU left for node1's images: ${JSON.stringify(criuLeft())}; ${what}`);
      // the program's processes (its init, python) in the network namespace of the node it left
      const left = h.info.nodes[p.node === 'node0' ? 1 : 0]!;
      const leftNs = `net:[${statSync(`/run/netns/${left.netns}`).ino}]`;
      const stayed = commandsWith(marker).filter((c) => {
        try {
          return readlinkSync(`/proc/${c.split(':')[0]}/ns/net`) === leftNs;
        } catch {
          return false; // gone meanwhile
        }
      });
      expect(stayed, `the program's processes left on ${left.name}: ${what}`).to.deep.equal([]);
      expect(commandsWith(marker).some((c) => c.startsWith(`${p.pid}: `)), `process ${p.pid} where it runs: ${what}`).to.equal(true);
      run.child.stdin!.write('\n');
      await run.waitFor(/^(same|changed)$/m);
      expect(run.stdout(), `the program after the silent stranger: ${what}`).to.match(/^same$/m);
    } finally {
      if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }).catch(() => undefined);
      await run.child.catch(() => undefined);
    }
  });
});

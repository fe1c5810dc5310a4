/**
 * The running node's output, rotated: a program's keeper writes its output in segments of the
 * agent's outputSpoolBytes (256 KiB here, the default) and removes each once the orchestrator has
 * stored it, so a program that prints many times that keeps its node's files within about two
 * spools, measured by their apparent sizes: while the orchestrator is stopped (the program waits
 * on its pipe), while its output pours out after, and across a move to another node. What mosrun
 * prints is checked whole (checksum): complete, in order, nothing repeated. Another user cannot
 * read the segments.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { stopComponent } from '../../cli/src/cluster/index.js';
import { api, cli, cluster, eventually, mosrun, processInfo, restartAndWait, scratchDir, type Harness } from './harness.js';

/** the agent's default outputSpoolBytes (agent/src/keeper.ts), which is also its segment size */
const SPOOL = 256 * 1024;
/** a keeper's read past a bound (a pipe's worth) and a frame header */
const READ_SLACK = 65536 + 5;
/** per node: what is not yet taken, the rest of the segment it began in, and a pipe drained after the program's end there */
const BOUND = 2 * (SPOOL + READ_SLACK) + READ_SLACK;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** what `seq FROM TO` prints */
const seq = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');

/** says where got first differs from want, for a failure message */
function firstDifference(got: string, want: string): string {
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  return `${got.length} bytes printed, ${want.length} expected; first difference at byte ${i}: printed ${JSON.stringify(got.slice(Math.max(0, i - 20), i + 20))}, expected ${JSON.stringify(want.slice(Math.max(0, i - 20), i + 20))}`;
}

describe("the running node's output rotated", function () {
  let h: Harness;
  let gates: string;
  before(async function () {
    this.timeout(300_000);
    h = await cluster();
    // seen by the programs on every node: the host's /tmp is not (each node has its own)
    gates = scratchDir('godwit-output-rotation-');
  });
  after(() => rmSync(gates, { recursive: true, force: true }));

  /** the program's output segments on a node now: apparent sizes, and where each starts (out.EPOCH.START) */
  function segmentsOn(node: string, id: number): { epoch: number; start: number; size: number }[] {
    const dir = join(h.home, 'nodes', node, 'data', 'procs', String(id));
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    return names.flatMap((name) => {
      const m = /^out\.(\d+)\.(\d+)$/.exec(name);
      if (!m) return [];
      try {
        return [{ epoch: Number(m[1]), start: Number(m[2]), size: statSync(join(dir, name)).size }];
      } catch {
        return []; // removed between the listing and the look: stored for good
      }
    });
  }

  /**
   * Looks at the program's segments on every node every 50 ms until stopped: the most bytes one
   * node held at once, and every segment seen (a rotation shows as a start above 0).
   */
  function watchSegments(id: number) {
    const most = new Map<string, { bytes: number; seen: string }>();
    const starts = new Map<string, Set<number>>();
    const look = () => {
      for (const node of h.info.nodes.map((n) => n.name)) {
        const segs = segmentsOn(node, id);
        const bytes = segs.reduce((sum, s) => sum + s.size, 0);
        if (bytes > (most.get(node)?.bytes ?? -1)) most.set(node, { bytes, seen: JSON.stringify(segs) });
        for (const s of segs) {
          const key = `${node} epoch ${s.epoch}`;
          if (!starts.has(key)) starts.set(key, new Set());
          starts.get(key)!.add(s.start);
        }
      }
    };
    const timer = setInterval(look, 50);
    return {
      look,
      stop: () => clearInterval(timer),
      /** segments begun on node in epoch: more than one means it rotated */
      segmentsBegun: (node: string, epoch: number) => starts.get(`${node} epoch ${epoch}`)?.size ?? 0,
      /** checks every node stayed within the bound */
      expectBounded: () => {
        for (const [node, m] of most) {
          expect(m.bytes, `the most output files of process ${id} on ${node} held at once: ${m.bytes} bytes (${m.seen}); bound ${BOUND}`).to.be.at.most(BOUND);
        }
      },
    };
  }

  it('keeps the node within two spools while the orchestrator is stopped and after; the output arrives whole', async function () {
    this.timeout(600_000);
    const lines = 1_000_000; // 6.9 MB: 26 spools
    const gate = join(gates, 'stopped');
    const run = mosrun(h, ['-r', 'node1', 'sh', '-c', `echo ready; while [ ! -e ${gate} ]; do sleep 0.1; done; seq 1 ${lines}; echo done`]);
    const id = await run.id();
    const watch = watchSegments(id);
    let stopped = false;
    try {
      await run.waitFor(/^ready$/m);
      await stopComponent({ home: h.home, name: 'orchestrator', signal: 'SIGTERM' });
      stopped = true;
      writeFileSync(gate, '');
      // with no one to take it, the program writes a spool's worth and waits on its pipe
      let last = -1;
      let segs: ReturnType<typeof segmentsOn> = [];
      await eventually(async () => {
        segs = segmentsOn('node1', id);
        const written = Math.max(0, ...segs.map((s) => s.start + s.size));
        const steady = written === last && written >= SPOOL;
        last = written;
        return steady ? true : undefined;
      }, () => `the program's output on node1 to stop growing past a spool with the orchestrator stopped; segments: ${JSON.stringify(segs)}`, 60_000);
      watch.look();
      // what it wrote past "ready" (a frame, taken before the stop), at most a spool and a read
      expect(last, `the output written on node1 while no one took it (segments ${JSON.stringify(segs)})`).to.be.within(SPOOL, SPOOL + READ_SLACK + 11);
      // another user cannot read what waits there: the segments are root's alone
      const segment = join(h.home, 'nodes', 'node1', 'data', 'procs', String(id), `out.0.${segs[0]!.start}`);
      expect(statSync(segment).mode & 0o777, `${segment}'s mode`).to.equal(0o600);
      const { uid, gid } = h.info.guestAccount;
      const stranger = await execa('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', 'cat', segment], { reject: false });
      expect(stranger.exitCode, `the guest reading ${segment}: ${stranger.stdout.slice(0, 80)}${stranger.stderr}`).not.to.equal(0);
      expect(stranger.stderr).to.contain('Permission denied');
      await restartAndWait(h, 'orchestrator');
      stopped = false;
      const result = await run.child;
      expect(result.exitCode, `mosrun's exit status; stderr: ${run.stderr()}`).to.equal(0);
      watch.look();
      const want = `ready\n${seq(1, lines)}done\n`;
      const got = run.stdout();
      expect(sha256(got), firstDifference(got, want)).to.equal(sha256(want));
      expect(watch.segmentsBegun('node1', 0), 'segments seen begun on node1: it rotated').to.be.at.least(3);
      watch.expectBounded();
    } finally {
      watch.stop();
      if (stopped) await restartAndWait(h, 'orchestrator');
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    }
  });

  it('rotates on both nodes across a move in the middle of the output; the output arrives whole', async function () {
    this.timeout(600_000);
    const half = 600_000; // 3.9 MB before the move's gate, 4.3 MB after
    const gate = join(gates, 'moved');
    const run = mosrun(h, ['-r', 'node1', 'sh', '-c', `seq 1 ${half}; while [ ! -e ${gate} ]; do sleep 0.1; done; seq ${half + 1} ${2 * half}; echo done`]);
    const id = await run.id();
    const watch = watchSegments(id);
    try {
      // moved once node1 has rotated: most likely while it still prints its first half
      await eventually(async () => (watch.segmentsBegun('node1', 0) > 1 ? true : undefined), () => `node1 to begin a second segment; mosrun printed ${run.stdout().length} bytes`, 120_000);
      const mig = await cli(h, 'mosmigrate', [String(id), 'node2']);
      expect(mig.exitCode, `mosmigrate ${id} node2: ${mig.stderr}`).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node2');
      writeFileSync(gate, '');
      const result = await run.child;
      expect(result.exitCode, `mosrun's exit status; stderr: ${run.stderr()}`).to.equal(0);
      watch.look();
      const want = `${seq(1, 2 * half)}done\n`;
      const got = run.stdout();
      expect(sha256(got), firstDifference(got, want)).to.equal(sha256(want));
      expect(watch.segmentsBegun('node2', 1), "segments seen begun on node2 for the program's second epoch: it rotated there too").to.be.at.least(3);
      watch.expectBounded();
      // the epochs' files go once stored: none is left on either node
      await eventually(async () => (segmentsOn('node1', id).length + segmentsOn('node2', id).length === 0 ? true : undefined),
        () => `process ${id}'s output files to go; left: node1 ${JSON.stringify(segmentsOn('node1', id))}, node2 ${JSON.stringify(segmentsOn('node2', id))}`);
    } finally {
      watch.stop();
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    }
  });
});

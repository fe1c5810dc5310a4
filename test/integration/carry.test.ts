/**
 * Files that move with the program: a program's files in its node's own /tmp go with it to the
 * destination's /tmp (content, mode, times; a sparse file stays sparse), and leave nothing behind;
 * a place already taken on the destination refuses the move before the program stops, naming it.
 */
import type { Event } from '@godwit/schemas';
import { expect } from 'chai';
import { chmodSync, chownSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { api, asGuest, cli, cluster, eventually, guestDir, type Harness, migrations, mosrun, processInfo, type Run, scratchDir } from './harness.js';

const MiB = 1 << 20;
const localDir = (h: Harness, node: string, path: string) => join(h.home, 'nodes', node, 'local', path);

/**
 * python3: writes 50 MiB of random bytes to argv[1] and a sparse file (256 MiB, 20 bytes of
 * data at its end) to argv[2], holding both open; prints the first's checksum, and for each
 * line read re-reads both from the start.
 */
const SCRATCH = `
import hashlib, os, sys
f = open(sys.argv[1], 'w+b')
h = hashlib.sha256()
for i in range(50):
    b = os.urandom(1 << 20)
    f.write(b)
    h.update(b)
f.flush()
s = open(sys.argv[2], 'w+b')
s.seek(256 << 20)
s.write(b'end of a sparse file')
s.flush()
print('wrote', h.hexdigest(), flush=True)
for line in sys.stdin:
    f.seek(0)
    print('read', hashlib.sha256(f.read()).hexdigest(), flush=True)
    s.seek(256 << 20)
    print('sparse', s.read().decode(), flush=True)
`;

/**
 * python3: a SQLite database in WAL mode at argv[1], its connection open throughout; for each
 * line read, 100 more rows committed one by one, then the row count and the integrity check.
 */
const SQLITE = `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
print('mode', db.execute('pragma journal_mode=wal').fetchone()[0], flush=True)
db.execute('create table t(n integer primary key, v text)')
n = 0
for line in sys.stdin:
    for k in range(100):
        n += 1
        db.execute('begin')
        db.execute('insert into t values (?, ?)', (n, 'row %d' % n))
        db.execute('commit')
    print('rows', db.execute('select count(*) from t').fetchone()[0], db.execute('pragma integrity_check').fetchone()[0], flush=True)
`;

/**
 * python3: 64 MiB of random bytes at argv[1], kept in memory too; once the file argv[2] exists (on
 * a shared path: input would reach it only after a move) it rewrites random 4 KiB blocks of the
 * file (and of its memory) until a line of input comes, then prints
 * the checksum of what the file must hold and how many blocks it wrote. Says when it began writing (ms).
 */
const REWRITER = `
import hashlib, os, random, select, sys, time
size = 64 << 20
mem = bytearray(os.urandom(size))
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
done = 0
while done < size:
    done += os.write(fd, mem[done:])
print('ready', flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
print('writing from', int(time.time() * 1000), flush=True)
writes = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    off = random.randrange(0, size - 4096)
    b = os.urandom(4096)
    os.pwrite(fd, b, off)
    mem[off:off + 4096] = b
    writes += 1
    time.sleep(0.001)
sys.stdin.readline()
print('last', hashlib.sha256(mem).hexdigest(), writes, flush=True)
`;

/**
 * python3: 16 MiB of random bytes at argv[1], kept in memory too; then, until a line of input
 * comes, appends a line and rewrites the 16-byte header every 2 ms, to the file and to its memory
 * alike (so through the pre-copy, and up to the instant its move stops it); then re-reads the
 * file and prints the checksums of what it holds in memory and of what the file holds, and how
 * many writes it made.
 */
const APPENDER = `
import hashlib, os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
mem = bytearray(os.urandom(16 << 20))
done = 0
while done < len(mem):
    done += os.pwrite(fd, mem[done:], done)
print('ready', flush=True)
n = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    n += 1
    line = b'line %d\\n' % n
    os.pwrite(fd, line, len(mem))
    mem += line
    head = b'%016d' % n
    os.pwrite(fd, head, 0)
    mem[0:16] = head
    time.sleep(0.002)
sys.stdin.readline()
size = os.fstat(fd).st_size
got = bytearray()
while len(got) < size:
    got += os.pread(fd, size - len(got), len(got))
print('memory', hashlib.sha256(mem).hexdigest(), 'file', hashlib.sha256(got).hexdigest(), 'writes', n, flush=True)
`;

/** what the orchestrator logged of the files it carried ahead for a migration */
function carriedAhead(h: Harness, migrationId: number): { bytes: number } | undefined {
  const lines = readFileSync(join(h.home, 'logs', 'orchestrator.log'), 'utf8').split('\n').filter((l) => l.includes('carried ahead'));
  const found = lines.map((l) => JSON.parse(l) as { migration?: number; bytes?: number }).find((l) => l.migration === migrationId);
  return found?.bytes === undefined ? undefined : { bytes: found.bytes };
}

/** asks the program to re-read its files; resolves with what it read the nth time */
async function reread(run: Run, n: number): Promise<{ sum: string; tail: string }> {
  run.child.stdin!.write('again\n');
  await eventually(async () => ((run.stdout().match(/^sparse .*$/gm)?.length ?? 0) >= n ? true : undefined), () => `re-read #${n}; stdout: ${run.stdout().slice(-300)}`, 60_000);
  const sums = [...run.stdout().matchAll(/^read (\w+)$/gm)].map((m) => m[1]!);
  const tails = [...run.stdout().matchAll(/^sparse (.*)$/gm)].map((m) => m[1]!);
  return { sum: sums[n - 1]!, tail: tails[n - 1]! };
}

describe('files that move with the program', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  for (const strategy of ['full', 'lazy']) {
    it(`carries a 50 MiB scratch file and a sparse file in /tmp node0 -> node1 -> node2 (${strategy}), leaving nothing behind`, async function () {
      this.timeout(600_000);
      const name = `godwit-carry-${strategy}-${process.pid}`;
      const sparse = `${name}.sparse`;
      const run = mosrun(h, ['python3', '-c', SCRATCH, `/tmp/${name}`, `/tmp/${sparse}`], { input: true });
      const id = await run.id();
      const wrote = (await run.waitFor(/^wrote (\w+)$/m, 120_000))[1]!;
      const mode = statSync(localDir(h, 'node0', `tmp/${name}`)).mode;
      const mtime = statSync(localDir(h, 'node0', `tmp/${name}`)).mtimeMs;
      try {
        let n = 0;
        for (const [from, to] of [['node0', 'node1'], ['node1', 'node2']] as const) {
          const mig = await cli(h, 'mosmigrate', ['--strategy', strategy, String(id), to]);
          expect(mig.exitCode, `mosmigrate to ${to}: ${mig.stdout} ${mig.stderr}`).to.equal(0);
          const info = await processInfo(h, id);
          expect(info.node).to.equal(to);
          const last = (await migrations(h, id)).at(-1)!;
          expect(last.strategy, `migration ${last.id}'s strategy (${last.strategyReason})`).to.equal(strategy);
          const there = statSync(localDir(h, to, `tmp/${name}`));
          expect(there.size, `the file in ${to}'s /tmp`).to.equal(50 * MiB);
          expect(there.mode, 'its mode').to.equal(mode);
          expect(there.mtimeMs, 'its modification time').to.equal(mtime);
          const sparseThere = statSync(localDir(h, to, `tmp/${sparse}`));
          expect(sparseThere.size, 'the sparse file keeps its size').to.equal(256 * MiB + 20);
          expect(sparseThere.blocks * 512, `the sparse file stays sparse on ${to} (blocks: ${sparseThere.blocks})`).to.be.below(MiB);
          await eventually(
            async () => (!existsSync(localDir(h, from, `tmp/${name}`)) && !existsSync(localDir(h, from, `tmp/${sparse}`)) ? true : undefined),
            `the files to leave ${from}'s /tmp (there: ${existsSync(localDir(h, from, `tmp/${name}`))})`,
          );
          const read = await reread(run, ++n);
          expect(read.sum, `what the program re-reads on ${to} is what it wrote`).to.equal(wrote);
          expect(read.tail).to.equal('end of a sparse file');
        }
        for (const node of ['node0', 'node1']) expect(existsSync(localDir(h, node, `tmp/${name}`)), `nothing left on ${node}`).to.equal(false);
        run.child.stdin!.end();
        expect((await run.child).exitCode, run.stderr()).to.equal(0);
      } finally {
        for (const node of ['node0', 'node1', 'node2']) for (const f of [name, sparse]) rmSync(localDir(h, node, `tmp/${f}`), { force: true });
      }
    });
  }

  for (const strategy of ['full', 'lazy']) {
    it(`carries a file the program keeps writing through the pre-copy and up to its stop (${strategy}): the destination has what it had at the stop, nothing is left at the source`, async function () {
      this.timeout(300_000);
      const name = `godwit-appender-${strategy}-${process.pid}`;
      const run = mosrun(h, ['python3', '-c', APPENDER, `/tmp/${name}`], { input: true });
      const id = await run.id();
      await run.waitFor(/^ready$/m, 120_000);
      const source = localDir(h, 'node0', `tmp/${name}`);
      try {
        // written to since its start: the pre-copy sends a version the program goes on changing
        await eventually(async () => (statSync(source).size > 16 * MiB + 1000 ? true : undefined), () => `the program to append (size ${statSync(source).size})`, 60_000);
        const mig = await cli(h, 'mosmigrate', ['--strategy', strategy, String(id), 'node1']);
        expect(mig.exitCode, `mosmigrate to node1: ${mig.stdout} ${mig.stderr}`).to.equal(0);
        expect((await processInfo(h, id)).node).to.equal('node1');
        const last = (await migrations(h, id)).at(-1)!;
        expect(last.strategy, `migration ${last.id}'s strategy (${last.strategyReason})`).to.equal(strategy);
        expect(carriedAhead(h, last.id)?.bytes, `migration ${last.id} sent the file ahead while the program wrote`).to.be.at.least(16 * MiB);
        await eventually(async () => (!existsSync(source) ? true : undefined), () => `the file to leave node0's /tmp (still there, ${statSync(source).size} bytes)`, 60_000);
        run.child.stdin!.write('stop\n');
        const [, memory, file, writes] = await run.waitFor(/^memory (\w+) file (\w+) writes (\d+)$/m, 120_000);
        expect(file, `the file on node1 holds what the program wrote up to its stop (${writes} writes)`).to.equal(memory);
        expect(statSync(localDir(h, 'node1', `tmp/${name}`)).size, "the file is in node1's /tmp").to.be.above(16 * MiB);
        expect((await run.child).exitCode, run.stderr()).to.equal(0);
      } finally {
        for (const node of ['node0', 'node1']) rmSync(localDir(h, node, `tmp/${name}`), { force: true });
      }
    });
  }

  it('moves a python program with a SQLite database in WAL mode in /var/tmp, which keeps committing', async function () {
    this.timeout(300_000);
    const name = `godwit-wal-${process.pid}.db`;
    const run = mosrun(h, ['python3', '-c', SQLITE, `/var/tmp/${name}`], { input: true });
    const id = await run.id();
    await run.waitFor(/^mode wal$/m);
    const commit = async (rows: number) => {
      run.child.stdin!.write('more\n');
      await run.waitFor(new RegExp(`^rows ${rows} ok$`, 'm'));
    };
    try {
      await commit(100);
      for (const [to, rows] of [['node1', 200], ['node2', 300]] as const) {
        const mig = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), to]);
        expect(mig.exitCode, `mosmigrate to ${to}: ${mig.stdout} ${mig.stderr}`).to.equal(0);
        expect((await processInfo(h, id)).node).to.equal(to);
        expect(existsSync(localDir(h, to, `var/tmp/${name}-wal`)), `its write-ahead log is in ${to}'s /var/tmp`).to.equal(true);
        await commit(rows);
      }
      for (const node of ['node0', 'node1']) {
        await eventually(async () => (['', '-wal', '-shm'].every((x) => !existsSync(localDir(h, node, `var/tmp/${name}${x}`))) ? true : undefined), `the database to leave ${node}`);
      }
      run.child.stdin!.end();
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
    } finally {
      for (const node of ['node0', 'node1', 'node2']) for (const x of ['', '-wal', '-shm']) rmSync(localDir(h, node, `var/tmp/${name}${x}`), { force: true });
    }
  });

  it("recovers on node2 a checkpoint taken on node0 with the program's file in node0's /tmp (mosrun -I says it stores it): the file comes back in node2's", async function () {
    this.timeout(300_000);
    const name = `godwit-ckpt-${process.pid}`;
    const cwd = scratchDir('godwit-carry-ckpt-');
    const mine = join(h.home, 'checkpoints', h.info.client.user);
    try {
      const run = mosrun(h, ['-C', name, 'sh', '-c', `exec 3>/tmp/${name}; echo as checkpointed >&3; echo held; read line; cat /tmp/${name}`], { cwd, input: true });
      const id = await run.id();
      await run.waitFor(/^held$/m);
      const taken = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
      expect(taken.exitCode, taken.stderr).to.equal(0);
      expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' })).status).to.equal(204);
      await run.child;
      rmSync(localDir(h, 'node0', `tmp/${name}`), { force: true });
      expect(existsSync(localDir(h, 'node2', `tmp/${name}`)), "node2's /tmp does not have it before").to.equal(false);
      const info = await cli(h, 'mosrun', ['-I', `${name}.1`], { cwd });
      expect(info.exitCode, info.stderr).to.equal(0);
      expect(info.stdout, `mosrun -I names the node-local file the checkpoint stores: ${info.stdout}`).to.include(`/tmp/${name}, offset=`).and.include('node-local: stored with the checkpoint');

      const back = mosrun(h, ['-r', 'node2', '-R', `${name}.1`], { cwd, input: true });
      const rid = await back.id();
      expect((await processInfo(h, rid)).node).to.equal('node2');
      expect(readFileSync(localDir(h, 'node2', `tmp/${name}`), 'utf8'), "the file is back, in node2's /tmp").to.equal('as checkpointed\n');
      back.child.stdin!.write('go\n');
      expect((await back.child).exitCode, back.stderr()).to.equal(0);
      expect(back.stdout(), 'the recovered program reads it').to.match(/^as checkpointed$/m);
    } finally {
      for (const node of ['node0', 'node2']) rmSync(localDir(h, node, `tmp/${name}`), { force: true });
      rmSync(cwd, { recursive: true, force: true });
      rmSync(join(mine, `${name}.1`), { force: true });
    }
  });

  it('continues on node1 a program frozen on node0 with its file in /tmp: the file is there, whole, and gone from node0; a different file at its path on node2 refuses a continue there before anything changes', async function () {
    this.timeout(300_000);
    const name = `godwit-frozen-${process.pid}`;
    const run = mosrun(h, ['python3', '-c', SCRATCH, `/tmp/${name}`, `/tmp/${name}.sparse`], { input: true });
    const id = await run.id();
    const wrote = (await run.waitFor(/^wrote (\w+)$/m, 120_000))[1]!;
    const theirs = localDir(h, 'node2', `tmp/${name}`);
    try {
      const frz = await cli(h, 'mosmigrate', [String(id), 'freeze']);
      expect(frz.exitCode, `freeze: ${frz.stdout} ${frz.stderr}`).to.equal(0);
      writeFileSync(theirs, 'theirs\n');
      const migrationsBefore = (await migrations(h, id)).length;

      const refused = await cli(h, 'mosmigrate', [String(id), 'continue', 'node2']);
      expect(refused.exitCode, `continue on node2: ${refused.stdout} ${refused.stderr}`).not.to.equal(0);
      expect(refused.stderr, 'the refusal names the file').to.include(`/tmp/${name}`).and.to.match(/different file/).and.to.match(/stays frozen/);
      const still = await processInfo(h, id);
      expect([still.state, still.node, still.frz], 'it stays frozen on node0').to.deep.equal(['frozen', 'node0', 'M']);
      const after = await migrations(h, id);
      expect(after.length, 'no migration was started').to.equal(migrationsBefore);
      expect(after.at(-1), 'the frozen record is untouched').to.include({ state: 'frozen', to: 'node0' });
      const events = (await api<Event[]>(h, 'GET', `/v1/events?process=${id}`)).body;
      expect(events.filter((e) => e.kind === 'continuing' || e.kind === 'continue-failed').map((e) => e.message), 'no continue was begun: the images never left node0').to.deep.equal([]);
      expect(readFileSync(theirs, 'utf8'), "node2's file is untouched").to.equal('theirs\n');
      expect(existsSync(localDir(h, 'node2', `tmp/${name}.sparse`)), 'nothing was put on node2').to.equal(false);
      expect(existsSync(localDir(h, 'node0', `tmp/${name}`)), 'its file waits on node0').to.equal(true);

      const cont = await cli(h, 'mosmigrate', [String(id), 'continue', 'node1']);
      expect(cont.exitCode, `continue on node1: ${cont.stdout} ${cont.stderr}`).to.equal(0);
      const back = await processInfo(h, id);
      expect([back.state, back.node], 'it runs on node1').to.deep.equal(['running', 'node1']);
      expect(statSync(localDir(h, 'node1', `tmp/${name}`)).size, "its file in node1's /tmp").to.equal(50 * MiB);
      await eventually(
        async () => (!existsSync(localDir(h, 'node0', `tmp/${name}`)) && !existsSync(localDir(h, 'node0', `tmp/${name}.sparse`)) ? true : undefined),
        `its files to leave node0's /tmp (there: ${existsSync(localDir(h, 'node0', `tmp/${name}`))})`,
      );
      const read = await reread(run, 1);
      expect(read.sum, 'what it re-reads on node1 is what it wrote on node0').to.equal(wrote);
      expect(read.tail).to.equal('end of a sparse file');
      run.child.stdin!.end();
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
    } finally {
      for (const node of ['node0', 'node1', 'node2']) for (const f of [name, `${name}.sparse`]) rmSync(localDir(h, node, `tmp/${f}`), { force: true });
    }
  });

  it("moves on past the owner's file of the same bytes and mode at the path on the destination, leaving it there; one differing only in its bytes refuses the move, named, and the program runs on", async function () {
    this.timeout(300_000);
    const name = `godwit-alike-${process.pid}`;
    const run = mosrun(h, ['sh', '-c', `exec 3>/tmp/${name}; echo same >&3; echo held; read line; cat /tmp/${name}`], { input: true });
    const id = await run.id();
    await run.waitFor(/^held$/m);
    const ours = statSync(localDir(h, 'node0', `tmp/${name}`));
    const plant = (node: string, content: string) => {
      const at = localDir(h, node, `tmp/${name}`);
      writeFileSync(at, content);
      chownSync(at, ours.uid, ours.gid);
      chmodSync(at, ours.mode & 0o7777);
      return at;
    };
    const alike = plant('node1', 'same\n');
    const alikeIno = statSync(alike).ino;
    const differing = plant('node2', 'sane\n');
    try {
      const mig = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      expect(mig.exitCode, `mosmigrate to node1: ${mig.stdout} ${mig.stderr}`).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node1');
      expect(statSync(alike).ino, "node1's own file, the same, is left where it was").to.equal(alikeIno);
      await eventually(async () => (!existsSync(localDir(h, 'node0', `tmp/${name}`)) ? true : undefined), "the file to leave node0's /tmp");

      const refused = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), 'node2']);
      expect(refused.exitCode, `mosmigrate to node2: ${refused.stdout} ${refused.stderr}`).not.to.equal(0);
      expect(refused.stderr, 'the refusal names the file').to.include(`/tmp/${name}`).and.to.match(/different file/);
      const last = (await migrations(h, id)).at(-1)!;
      expect(last.code, `migration ${last.id}: ${last.reason}`).to.equal('GODWIT_ERR_CARRY_CONFLICT');
      const info = await processInfo(h, id);
      expect([info.node, info.state], 'it runs on at node1').to.deep.equal(['node1', 'running']);
      expect(readFileSync(differing, 'utf8'), "node2's file is untouched").to.equal('sane\n');
      expect(statSync(alike).ino, "its file on node1 stays").to.equal(alikeIno);
      run.child.stdin!.write('go\n');
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
      expect(run.stdout(), 'it reads its file on node1').to.match(/^same$/m);
    } finally {
      for (const node of ['node0', 'node1', 'node2']) rmSync(localDir(h, node, `tmp/${name}`), { force: true });
    }
  });

  it('carries a FIFO in /tmp the program holds open, with what waits in it: made on node1 as the owner, gone from node0', async function () {
    this.timeout(300_000);
    const name = `godwit-fifo-${process.pid}`;
    const run = mosrun(h, ['sh', '-c', `mkfifo -m 640 /tmp/${name} && exec 3<>/tmp/${name}; echo waiting >&3; echo held; read line; read got <&3; echo "got $got"`], { input: true });
    const id = await run.id();
    await run.waitFor(/^held$/m);
    const ours = lstatSync(localDir(h, 'node0', `tmp/${name}`));
    try {
      const mig = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      expect(mig.exitCode, `mosmigrate: ${mig.stdout} ${mig.stderr}`).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node1');
      const there = lstatSync(localDir(h, 'node1', `tmp/${name}`));
      expect([there.isFIFO(), there.uid, there.mode & 0o7777], "a FIFO in node1's /tmp, the owner's, its mode").to.deep.equal([true, ours.uid, 0o640]);
      await eventually(async () => (!existsSync(localDir(h, 'node0', `tmp/${name}`)) ? true : undefined), "the FIFO to leave node0's /tmp");
      run.child.stdin!.write('go\n');
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
      expect(run.stdout(), 'what waited in the FIFO is read on node1').to.match(/^got waiting$/m);
    } finally {
      for (const node of ['node0', 'node1']) rmSync(localDir(h, node, `tmp/${name}`), { force: true });
    }
  });

  it('refuses, before the program stops, a move of one listening on a unix socket bound in /tmp, saying why; godwit why said so beforehand', async function () {
    this.timeout(180_000);
    const name = `godwit-sock-${process.pid}`;
    const server = `import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen()\nprint('listening', flush=True)\nsys.stdin.readline()\n`;
    const run = mosrun(h, ['python3', '-c', server, `/tmp/${name}`], { input: true });
    const id = await run.id();
    await run.waitFor(/^listening$/m);
    try {
      const pidBefore = (await processInfo(h, id)).pid;
      const why = await cli(h, 'godwit', ['why', String(id)]);
      expect(why.stdout, `godwit why: ${why.stdout} ${why.stderr}`).to.include(`unix socket bound at /tmp/${name}`);
      const mig = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      expect(mig.exitCode, `mosmigrate: ${mig.stdout} ${mig.stderr}`).not.to.equal(0);
      expect(mig.stderr, 'the refusal names the socket and why').to.include(`unix socket bound at /tmp/${name}`).and.to.include('does not carry socket paths');
      const last = (await migrations(h, id)).at(-1);
      expect(last?.stoppedMs ?? null, `the program never stopped (${JSON.stringify(last)})`).to.equal(null);
      const info = await processInfo(h, id);
      expect([info.node, info.state, info.pid], 'it runs on where it was, the same process').to.deep.equal(['node0', 'running', pidBefore]);
      expect(lstatSync(localDir(h, 'node0', `tmp/${name}`)).isSocket(), 'its socket is where it was').to.equal(true);
      run.child.stdin!.write('done\n');
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
    } finally {
      rmSync(localDir(h, 'node0', `tmp/${name}`), { force: true });
    }
  });

  it("refuses a move when a different file is at the same path on the destination, before the program stops, naming it", async function () {
    this.timeout(180_000);
    const name = `godwit-clash-${process.pid}`;
    const run = mosrun(h, ['sh', '-c', `exec 3>/tmp/${name}; echo mine >&3; echo held; read line; cat /tmp/${name}`], { input: true });
    const id = await run.id();
    await run.waitFor(/^held$/m);
    const theirs = localDir(h, 'node1', `tmp/${name}`);
    writeFileSync(theirs, 'theirs\n');
    try {
      const pidBefore = (await processInfo(h, id)).pid;
      const mig = await cli(h, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      expect(mig.exitCode, `mosmigrate: ${mig.stdout} ${mig.stderr}`).not.to.equal(0);
      expect(mig.stderr, 'the refusal names the file').to.include(`/tmp/${name}`).and.to.match(/different file/);
      const last = (await migrations(h, id)).at(-1)!;
      expect(last.code, `migration ${last.id}: ${last.reason}`).to.equal('GODWIT_ERR_CARRY_CONFLICT');
      expect(last.stoppedMs ?? null, 'the program never stopped').to.equal(null);
      const info = await processInfo(h, id);
      expect([info.node, info.state, info.pid], 'it runs on where it was, the same process').to.deep.equal(['node0', 'running', pidBefore]);
      expect(readFileSync(theirs, 'utf8'), "node1's file is untouched").to.equal('theirs\n');
      run.child.stdin!.write('go\n');
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
      expect(run.stdout(), 'its own file is intact').to.match(/^mine$/m);
    } finally {
      rmSync(theirs, { force: true });
      rmSync(localDir(h, 'node0', `tmp/${name}`), { force: true });
    }
  });

  it("refuses to carry a guest's file onto a symbolic link another user planted on the destination, leaving the link's target untouched", async function () {
    this.timeout(180_000);
    const guest = asGuest(h);
    const name = `godwit-planted-${process.pid}`;
    const targetDir = guestDir(h, 'carry-target-');
    const target = join(targetDir, 'precious');
    writeFileSync(target, 'precious\n');
    const run = mosrun(guest, ['sh', '-c', `exec 3>/tmp/${name}; echo guest data >&3; echo held; read line`], { input: true });
    const id = await run.id();
    await run.waitFor(/^held$/m);
    const planted = localDir(h, 'node1', `tmp/${name}`);
    symlinkSync(target, planted);
    try {
      const mig = await cli(guest, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      expect(mig.exitCode, `mosmigrate: ${mig.stdout} ${mig.stderr}`).not.to.equal(0);
      expect(mig.stderr, 'the refusal names the path').to.include(`/tmp/${name}`);
      expect(readFileSync(target, 'utf8'), "the link's target is untouched").to.equal('precious\n');
      expect(lstatSync(planted).isSymbolicLink(), 'the link is left as it was').to.equal(true);
      expect((await processInfo(guest, id)).node, 'the program runs on at node0').to.equal('node0');
      run.child.stdin!.write('go\n');
      expect((await run.child).exitCode, run.stderr()).to.equal(0);
    } finally {
      rmSync(planted, { force: true });
      rmSync(localDir(h, 'node0', `tmp/${name}`), { force: true });
      rmSync(targetDir, { recursive: true, force: true });
    }
  });

  it('lets no other user, nor the owner, read or plant anything in the stage where a move sends files ahead', async function () {
    this.timeout(600_000);
    const guest = asGuest(h);
    const name = `godwit-staged-${process.pid}`;
    const stageRoot = join(h.home, 'nodes', 'node1', 'data', 'carry-staging');
    const st = statSync(stageRoot);
    expect([st.uid, st.mode & 0o7777], `${stageRoot}: root's alone`).to.deep.equal([0, 0o700]);
    const goDir = guestDir(h, 'carry-go-');
    const run = mosrun(guest, ['python3', '-c', REWRITER, `/tmp/${name}`, join(goDir, 'go')], { input: true });
    const id = await run.id();
    await run.waitFor(/^ready$/m);
    // each of them tries, for 40 s (the move's span), to look into, read, and plant in the stage
    const prober = `
S=${stageRoot}; tries=0; got=0; end=$(( $(date +%s) + 40 ))
while [ $(date +%s) -lt $end ]; do
  ls "$S" >/dev/null 2>&1 && got=$((got+1))
  cat "$S"/*/files/* >/dev/null 2>&1 && got=$((got+1))
  touch "$S/planted" 2>/dev/null && got=$((got+1))
  mkdir -p "$S/9999/files" 2>/dev/null && got=$((got+1))
  ln -s /etc/passwd "$S/1/files/carried-0" 2>/dev/null && got=$((got+1))
  tries=$((tries+1))
done
echo "tries $tries got $got"`;
    const as = (uid: number, gid: number) => execa('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', 'sh', '-c', prober], { reject: false, timeout: 120_000, cwd: '/' });
    const probes = [as(65534, 65534), as(h.info.guestAccount.uid, h.info.guestAccount.gid)];
    let stageSeen: { uid: number; mode: number } | undefined;
    try {
      const mig = cli(guest, 'mosmigrate', ['--strategy', 'full', String(id), 'node1']);
      let ended = false;
      void mig.finally(() => (ended = true));
      // while the file is staged, root sees the stage: the owner's, 0700, inside root's
      const watching = (async () => {
        while (!ended && !stageSeen) {
          for (const mid of existsSync(stageRoot) ? readdirSync(stageRoot) : []) {
            const files = join(stageRoot, mid, 'files');
            if (existsSync(files)) stageSeen = { uid: statSync(files).uid, mode: statSync(files).mode & 0o7777 };
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const moved = await mig;
      await watching;
      expect(moved.exitCode, `mosmigrate: ${moved.stdout} ${moved.stderr}`).to.equal(0);
      const last = (await migrations(guest, id)).at(-1)!;
      expect(carriedAhead(h, last.id)?.bytes, `migration ${last.id} sent the file ahead`).to.be.at.least(64 * MiB);
    } finally {
      await Promise.all(probes);
    }
    for (const [who, p] of [['nobody', probes[0]!], ['the owner', probes[1]!]] as const) {
      const r = await p;
      const m = /tries (\d+) got (\d+)/.exec(String(r.stdout));
      expect(m, `${who}'s prober said: ${r.stdout} ${r.stderr}`).not.to.equal(null);
      expect(Number(m![1]), `${who} tried`).to.be.above(0);
      expect(Number(m![2]), `${who} reached nothing in the stage (${m![1]} tries)`).to.equal(0);
    }
    if (stageSeen) expect([stageSeen.uid, stageSeen.mode], "the move's stage: its owner's, 0700").to.deep.equal([h.info.guestAccount.uid, 0o700]);
    expect(readdirSync(stageRoot), 'nothing planted, nothing left').to.deep.equal([]);
    writeFileSync(join(goDir, 'go'), '');
    run.child.stdin!.write('stop\n');
    expect((await run.child).exitCode, run.stderr()).to.equal(0);
    rmSync(localDir(h, 'node1', `tmp/${name}`), { force: true });
    rmSync(goDir, { recursive: true, force: true });
  });
});

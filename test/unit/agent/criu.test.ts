/**
 * The agent's CRIU steps without root: criu.ts runs test/fixtures/fake-criu, chosen as the
 * agent's criuPath, which records the command lines it gets and writes images and logs as CRIU
 * does. The command lines are pinned as godwit runs them, so a change to one is seen here.
 */
import { expect } from 'chai';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GodwitError } from '@godwit/schemas';
import { cpuinfoCheckArgs, dumpArgs, lazyDumpArgs, lazyPagesArgs, pageServerArgs, restoreArgs } from '../../../agent/src/criu-args.js';
import { CriuError } from '../../../agent/src/criu-error.js';
import { createCriu, requireGodwitCriu } from '../../../agent/src/criu.js';
import { PATCH_DIR, criuUnfit, parseCriuVersion, patchesGitId, versionAtLeast } from '../../../agent/src/criu-version.js';

const FAKE = fileURLToPath(new URL('../../fixtures/fake-criu', import.meta.url));
const AGENT_MAIN = fileURLToPath(new URL('../../../agent/src/main.ts', import.meta.url));
const at = { host: '10.74.0.2', port: 7790 };
const inodes = { in: 11, out: 12, err: 13 };

/** the GodwitError `p` rejects with, and the CriuError it carries */
async function failure(p: Promise<unknown>): Promise<{ err: GodwitError; criu: CriuError }> {
  const err = await p.then(
    () => expect.fail('resolved where CRIU failed'),
    (e: unknown) => e,
  );
  expect(err, String(err)).to.be.instanceOf(GodwitError);
  const cause = (err as GodwitError).cause;
  expect(cause, `cause of ${String(err)}`).to.be.instanceOf(CriuError);
  return { err: err as GodwitError, criu: cause as CriuError };
}

describe("the agent's CRIU command lines", () => {
  it('dumps with the options every image needs, to a page server left stopped, the control mount external', () => {
    expect(dumpArgs(42, '/d', 'dump.log', { lockNetwork: false, controlMounts: ['/run/godwit'], pageServer: at })).to.deep.equal([
      'dump', '-t', '42', '-D', '/d', '-o', 'dump.log', '--file-locks', '--tcp-established', '--link-remap', '--cpu-cap=fpu,ins', '--network-lock', 'skip',
      '--external', 'mnt[/run/godwit]:godwit-control', '--page-server', '--address', '10.74.0.2', '--port', '7790', '--leave-stopped',
    ]);
    expect(dumpArgs(42, '/d', 'dump.log', { lockNetwork: true, controlMounts: [] })).to.deep.equal([
      'dump', '-t', '42', '-D', '/d', '-o', 'dump.log', '--file-locks', '--tcp-established', '--link-remap', '--cpu-cap=fpu,ins', '--network-lock', 'nftables',
    ]);
  });

  it("sizes CRIU's ghost limit for the files the tree holds deleted, lazy dumps too", () => {
    expect(dumpArgs(42, '/d', 'dump.log', { lockNetwork: false, controlMounts: [], ghostLimit: 8 << 20 }).join(' ')).to.include('--ghost-limit 8388608');
    expect(lazyDumpArgs(42, '/d', { at, lockNetwork: false, controlMounts: [], ghostLimit: 1 << 20 }).join(' ')).to.include('--ghost-limit 1048576');
  });

  it('serves a lazy dump and fills it with or without the fault log; a page server writes into the images', () => {
    const lazy = lazyDumpArgs(42, '/d', { at, lockNetwork: false, controlMounts: [], leaveStopped: true });
    expect(lazy.slice(0, 7)).to.deep.equal(['dump', '-t', '42', '-D', '/d', '-o', 'dump.log']);
    expect(lazy.slice(-6)).to.deep.equal(['--leave-stopped', '--lazy-pages', '--address', '10.74.0.2', '--port', '7790']);
    expect(lazyDumpArgs(42, '/d', { at, lockNetwork: false, controlMounts: [] })).not.to.include('--leave-stopped');
    expect(lazyPagesArgs('/d', at, { logFaults: true })).to.deep.equal(['lazy-pages', '-D', '/d', '-o', 'lazy-pages.log', '--page-server', '--address', '10.74.0.2', '--port', '7790', '-v4']);
    expect(lazyPagesArgs('/d', at, { logFaults: false })).not.to.include('-v4');
    expect(pageServerArgs('/d', at)).to.deep.equal(['page-server', '-D', '/d', '-o', 'page-server.log', '--address', '10.74.0.2', '--port', '7790']);
    expect(pageServerArgs('/d', at, { daemon: true }).at(-1)).to.equal('-d');
  });

  it("every page server and its client talk TLS with the cluster's files, a full copy's and a lazy move's", () => {
    const tls = { caFile: '/t/ca.crt', certFile: '/t/node0.crt', keyFile: '/t/node0.key' };
    const files = ['--tls', '--tls-cacert', '/t/ca.crt', '--tls-cert', '/t/node0.crt', '--tls-key', '/t/node0.key'];
    const dump = dumpArgs(42, '/d', 'dump.log', { lockNetwork: false, controlMounts: [], pageServer: at, tls });
    expect(dump.slice(dump.indexOf('--page-server'))).to.deep.equal(['--page-server', '--address', '10.74.0.2', '--port', '7790', ...files, '--leave-stopped']);
    // the page server checks the CA alone: CRIU would ask the source's certificate to name the destination's address
    expect(pageServerArgs('/d', at, { tls })).to.deep.equal(['page-server', '-D', '/d', '-o', 'page-server.log', '--address', '10.74.0.2', '--port', '7790', ...files, '--tls-no-cn-verify']);
    expect(dumpArgs(42, '/d', 'dump.log', { lockNetwork: false, controlMounts: [], tls }), 'no page server, no TLS').not.to.include('--tls');
    // the lazy dump serves the pages: like the page server, it checks the CA alone
    const lazy = lazyDumpArgs(42, '/d', { at, lockNetwork: false, controlMounts: [], tls });
    expect(lazy.slice(lazy.indexOf('--lazy-pages'))).to.deep.equal(['--lazy-pages', '--address', '10.74.0.2', '--port', '7790', ...files, '--tls-no-cn-verify']);
    // the lazy-pages daemon is the client: CRIU checks that the source's certificate names the address it connects to
    expect(lazyPagesArgs('/d', at, { logFaults: false, tls })).to.deep.equal(['lazy-pages', '-D', '/d', '-o', 'lazy-pages.log', '--page-server', '--address', '10.74.0.2', '--port', '7790', ...files]);
  });

  it('restores onto the pipes and files the keeper holds at fds 3 and on, the control directory external', () => {
    const files = [{ path: '/home/u/data.txt', open: '/home/u/data.txt', flags: 0, offset: 0 }];
    expect(restoreArgs({ imagesDir: '/d', logName: 'restore.log', pidfile: '/d/pid', inodes, files, control: '/run/c', lazy: true })).to.deep.equal([
      'restore', '-d', '-D', '/d', '-o', 'restore.log', '--pidfile', '/d/pid', '--root', '/', '--manage-cgroups=ignore',
      '--file-locks', '--tcp-established', '--link-remap',
      '--inherit-fd', 'fd[3]:pipe:[11]', '--inherit-fd', 'fd[4]:pipe:[12]', '--inherit-fd', 'fd[5]:pipe:[13]', '--inherit-fd', 'fd[6]:home/u/data.txt',
      '--external', 'mnt[godwit-control]:/run/c', '--lazy-pages',
    ]);
  });

  it("names a node's own mounts external under their path's key at a dump, and binds the destination's directory for each at a restore", () => {
    expect(dumpArgs(42, '/d', 'dump.log', { lockNetwork: false, controlMounts: [], localMounts: ['/tmp', '/var/tmp'] }).join(' ')).to.include(
      '--external mnt[/tmp]:godwit-local/tmp --external mnt[/var/tmp]:godwit-local/var/tmp',
    );
    const restore = restoreArgs({ imagesDir: '/d', logName: 'r.log', pidfile: '/d/pid', inodes, localDirs: [{ point: '/tmp', dir: '/n1/local/tmp' }] });
    expect(restore.slice(-2)).to.deep.equal(['--external', 'mnt[godwit-local/tmp]:/n1/local/tmp']);
  });

  it("compares CPUs with CRIU's default --cpu-cap spelt out, joined by `=` (its argument is optional): the dump records the CPU, the restore checks it only where the images hold the record", () => {
    expect(cpuinfoCheckArgs('/d')).to.deep.equal(['cpuinfo', 'check', '-D', '/d', '--cpu-cap=fpu,ins']);
    expect(lazyDumpArgs(42, '/d', { at, lockNetwork: false, controlMounts: [] })).to.include('--cpu-cap=fpu,ins');
    const restore = (cpuChecked?: boolean) => restoreArgs({ imagesDir: '/d', logName: 'r.log', pidfile: '/d/pid', inodes, ...(cpuChecked === undefined ? {} : { cpuChecked }) });
    expect(restore(true).at(-1)).to.equal('--cpu-cap=fpu,ins');
    expect(restore(false).join(' ')).not.to.include('--cpu-cap');
    expect(restore().join(' ')).not.to.include('--cpu-cap');
  });
});

describe("the agent's CRIU steps, on a fake CRIU", () => {
  let dir: string;
  let record: string;
  const env = ['FAKE_CRIU_RECORD', 'FAKE_CRIU_FAIL', 'FAKE_CRIU_HANG', 'FAKE_CRIU_VERSION', 'FAKE_CRIU_GITID', 'FAKE_CRIU_MISSING'];
  const criu = createCriu(FAKE);
  /** each command line the fake CRIU got, program left out */
  const runs = () => (existsSync(record) ? readFileSync(record, 'utf8') : '').split('--\n').filter(Boolean).map((r) => r.trimEnd().split('\n'));
  const daemons: number[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-criu-'));
    record = join(dir, 'argv');
    process.env.FAKE_CRIU_RECORD = record;
  });
  afterEach(() => {
    for (const pid of daemons.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    for (const name of env) delete process.env[name];
    rmSync(dir, { recursive: true, force: true });
  });

  it('dumps into the images directory with the argv dumpArgs builds, telling the caller its pid first', async () => {
    const images = join(dir, 'images');
    let spawned: number | undefined;
    await criu.dump({ pid: 42, imagesDir: images, what: 'process 7', lockNetwork: false, controlMounts: [], spawned: (pid) => (spawned = pid) });
    expect(spawned, 'spawned called').to.be.a('number');
    expect(runs()).to.deep.equal([dumpArgs(42, images, 'dump.log', { lockNetwork: false, controlMounts: [] })]);
    expect(readdirSync(images).sort()).to.include.members(['core-42.img', 'dump.log', 'inventory.img', 'pages-1.img', 'pstree.img']);
  });

  it("answers a failed dump with CANNOT_DUMP, the log's reason and excerpt, and the run as a CriuError", async () => {
    process.env.FAKE_CRIU_FAIL = 'dump';
    const images = join(dir, 'images');
    const { err, criu: run } = await failure(criu.dump({ pid: 42, imagesDir: images, what: 'process 7 on node1', lockNetwork: true, controlMounts: [] }));
    expect(err.code).to.equal('GODWIT_ERR_CANNOT_DUMP');
    expect(err.message).to.equal("CRIU could not dump process 7 on node1: inet: Can't dump a socket in a state fake-criu refuses");
    expect(err.details).to.include({ phase: 'dump', imagesDir: images, exitCode: 1 });
    const excerpt = err.details!.criuLog as string[];
    expect(excerpt.join('\n'), 'the lines before the error come with it').to.match(/a line before the error[\s\S]*Can't dump a socket/);
    expect(run.argv).to.deep.equal([FAKE, ...dumpArgs(42, images, 'dump.log', { lockNetwork: true, controlMounts: [] })]);
    expect(run).to.include({ phase: 'dump', exitCode: 1, canceled: false, timedOut: false });
    expect(run.durationMs, 'duration').to.be.a('number');
  });

  it('ends a dump whose signal fires, and does not start one whose signal fired already', async () => {
    process.env.FAKE_CRIU_HANG = 'dump';
    const abort = new AbortController();
    const dump = criu.dump({ pid: 42, imagesDir: dir, what: 'process 7', lockNetwork: false, controlMounts: [], signal: abort.signal, spawned: () => setTimeout(() => abort.abort(), 50) });
    const { err, criu: run } = await failure(dump);
    expect(run.canceled, `canceled; ${run.message}`).to.equal(true);
    expect(err.code).to.equal('GODWIT_ERR_CANNOT_DUMP');
    const before = runs().length;
    const fired = criu.dump({ pid: 42, imagesDir: dir, what: 'process 7', lockNetwork: false, controlMounts: [], signal: abort.signal });
    await fired.then(() => expect.fail('dumped after the signal fired'), (e: unknown) => expect((e as Error).name).to.equal('AbortError'));
    expect(runs().length, 'no CRIU started').to.equal(before);
  });

  it('leaves a lazy dump serving on its own once ready, and reports how it ends', async () => {
    process.env.FAKE_CRIU_HANG = 'dump';
    const daemon = await criu.lazyDump({ pid: 42, imagesDir: dir, what: 'process 7', at, lockNetwork: false, controlMounts: [] });
    daemons.push(daemon.pid);
    expect(runs()).to.deep.equal([[...lazyDumpArgs(42, dir, { at, lockNetwork: false, controlMounts: [], leaveStopped: true }), '--status-fd', '3']]);
    process.kill(daemon.pid, 'SIGTERM');
    expect(await daemon.exited, 'its exit status: null, as it was killed').to.equal(null);
  });

  it('answers a lazy-pages daemon that exits before it is ready with CANNOT_RESTORE and its reason', async () => {
    process.env.FAKE_CRIU_FAIL = 'lazy-pages';
    const { err, criu: run } = await failure(criu.lazyPages({ imagesDir: dir, from: at }));
    expect(err.code).to.equal('GODWIT_ERR_CANNOT_RESTORE');
    expect(err.message).to.equal("CRIU's lazy-pages daemon could not start: fake-criu: Unable to connect to the page server");
    expect(run.argv.slice(1)).to.deep.equal([...lazyPagesArgs(dir, at, { logFaults: true }), '--status-fd', '3']);
  });

  it('runs a page server until it has the dump, and stops one on demand without calling that a failure', async () => {
    const server = await criu.pageServer({ imagesDir: dir, at });
    await server.done;
    expect(runs()).to.deep.equal([[...pageServerArgs(dir, at), '--status-fd', '3']]);
    process.env.FAKE_CRIU_HANG = 'page-server';
    const held = await criu.pageServer({ imagesDir: dir, at });
    held.stop();
    await held.done;
  });

  it('answers a page server that fails with TRANSFER_FAILED, naming where it listened', async () => {
    process.env.FAKE_CRIU_FAIL = 'page-server';
    const { err } = await failure(criu.pageServer({ imagesDir: dir, at }));
    expect(err.code).to.equal('GODWIT_ERR_TRANSFER_FAILED');
    expect(err.message).to.equal("CRIU's page server on 10.74.0.2:7790 failed: fake-criu: Unable to connect to the page server");
  });

  it("reads a failed restore's log, as the keeper ran it, into CANNOT_RESTORE", async () => {
    process.env.FAKE_CRIU_FAIL = 'restore';
    const argv = criu.restoreArgv({ imagesDir: dir, logName: 'restore.log', pidfile: join(dir, 'pid'), inodes });
    const ran = await execa(argv[0]!, argv.slice(1), { reject: false });
    expect(ran.exitCode).to.equal(1);
    const err = await criu.restoreError({ imagesDir: dir, logName: 'restore.log', what: 'process 7 on node2', exitCode: ran.exitCode! });
    expect(err.code).to.equal('GODWIT_ERR_CANNOT_RESTORE');
    expect(err.message).to.equal('CRIU could not restore process 7 on node2: File home/user/data.txt has bad size 10 (expect 20)');
    expect(err.details).to.include({ phase: 'restore', exitCode: 1 });
  });

  it("runs `criu cpuinfo check` on a record's directory: no reasons when it passes, CRIU's error text when it refuses", async () => {
    expect(await criu.cpuinfoCheck(dir)).to.deep.equal([]);
    expect(runs().at(-1)).to.deep.equal(['cpuinfo', 'check', '-D', dir, '--cpu-cap=fpu,ins']);
    process.env.FAKE_CRIU_FAIL = 'cpuinfo-check';
    expect(await criu.cpuinfoCheck(dir)).to.deep.equal(['cpu: CPU instruction capabilities do not match run time']);
  });

  it("reports the version and the kernel's features CRIU finds", async () => {
    process.env.FAKE_CRIU_MISSING = 'uffd-noncoop';
    expect(await criu.features()).to.deep.equal({ criuVersion: '4.2.1', lazyPages: false, dirtyTracking: true });
  });

  it("lets the agent start only on a CRIU new enough and built with godwit's patches, saying what to run if not", async () => {
    const want = patchesGitId();
    process.env.FAKE_CRIU_GITID = want;
    await requireGodwitCriu(FAKE);
    const refused = async () => (await requireGodwitCriu(FAKE).then(() => expect.fail('accepted'), (e: unknown) => e as Error)).message;
    process.env.FAKE_CRIU_GITID = 'v4.2.1';
    expect(await refused()).to.match(/lacks godwit's patches \(its GitID is v4\.2\.1, godwit's patches make godwit-[0-9a-f]{12}\).*deploy\/host\/prepare\.sh/);
    process.env.FAKE_CRIU_GITID = want;
    process.env.FAKE_CRIU_VERSION = '4.1';
    expect(await refused()).to.match(/is 4\.1: godwit needs 4\.2 or newer/);
  });
});

describe("the check of CRIU's version", () => {
  it("keeps the agent from starting on a CRIU without godwit's patches, before it mounts or listens", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'godwit-criu-start-'));
    try {
      const config = join(dir, 'agent.json');
      writeFileSync(config, JSON.stringify({
        node: 'node9', listen: { host: '127.0.0.1', port: 1 }, url: 'http://127.0.0.1:1', token: 'x'.repeat(16), tls: false,
        clusterKeyFile: join(dir, 'key'), orchestrator: { url: 'http://127.0.0.1:1' }, dataDir: join(dir, 'data'), runDir: join(dir, 'run'),
        criuPath: FAKE, keeperPath: '/nonexistent', tiniPath: '/nonexistent', cgroups: [], checkpointDir: join(dir, 'checkpoints'),
      }));
      const agent = await execa(process.execPath, ['--import', 'tsx', AGENT_MAIN, '--config', config], {
        reject: false, timeout: 60_000, env: { FAKE_CRIU_GITID: 'v4.2.1' },
      });
      expect(agent.exitCode, `exit status; stderr: ${agent.stderr}`).to.equal(1);
      expect(agent.stderr).to.match(new RegExp(`^godwit-agent: CRIU 4\\.2\\.1 at ${FAKE} lacks godwit's patches .*prepare\\.sh`, 'm'));
      expect(existsSync(join(dir, 'run')), 'no run directory made').to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });


  it("computes the GitID prepare.sh gives the CRIU it builds", async () => {
    const { stdout } = await execa('sh', ['-c', 'cat "$1"/*.patch | sha256sum | cut -c1-12', 'sh', PATCH_DIR]);
    expect(patchesGitId()).to.equal(`godwit-${stdout.trim()}`);
  });

  it('reads what `criu --version` prints and compares versions by their numbers', () => {
    expect(parseCriuVersion('Version: 4.2.1\nGitID: godwit-c22782007a31\n')).to.deep.equal({ version: '4.2.1', gitId: 'godwit-c22782007a31' });
    expect(parseCriuVersion('Version: 4.2\n')).to.deep.equal({ version: '4.2', gitId: undefined });
    expect([versionAtLeast('4.2.1', '4.2'), versionAtLeast('4.2', '4.2'), versionAtLeast('4.10', '4.2'), versionAtLeast('3.19', '4.2')]).to.deep.equal([true, true, true, false]);
    expect(criuUnfit('/x/criu', { version: undefined, gitId: undefined }, 'godwit-0')).to.match(/^\/x\/criu printed no version/);
  });
});

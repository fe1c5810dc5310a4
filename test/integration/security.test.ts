/**
 * Issue 18's attacks, each tried for real by the local cluster's guest, whose programs run as
 * the unprivileged account godwit-guest: each must fail with a clear error while the cluster
 * keeps working. The suite ends with a table: attack, expected, result.
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Migration, Process } from '@godwit/schemas';
import { api, cli, cluster, eventually, guestEnv, type Harness, mosrun, processInfo, program, scratchDir } from './harness.js';

interface Row {
  attack: string;
  expected: string;
  result: string;
}
const rows: Row[] = [];

/** what a status line of /proc/PID/status says */
function statusField(status: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '?';
}

describe('security: the guest tries to get past its account', function () {
  let h: Harness;
  let guest: { name: string; uid: number; gid: number };
  let dir: string;
  const asGuest = (args: string[], cwd = dir) => mosrun(h, args, { cwd, env: guestEnv(h) });
  const record = (attack: string, expected: string, result: string) => rows.push({ attack, expected, result });

  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    guest = h.info.guestAccount;
    dir = scratchDir('godwit-security-');
    chownSync(dir, guest.uid, guest.gid);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    if (!rows.length) return;
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`;
    process.stdout.write(
      ['', line(['attack', 'expected', 'result']), line(['---', '---', '---']), ...rows.map((r) => line([r.attack, r.expected, r.result])), ''].join('\n') + '\n',
    );
  });

  it("runs the guest's program as godwit-guest, without capabilities or new privileges", async function () {
    this.timeout(120_000);
    const run = asGuest(['sh', '-c', 'cat /proc/self/status; echo cwd=$(pwd) user=$USER']);
    const res = await run.child;
    const out = run.stdout();
    expect(res.exitCode, run.stderr()).to.equal(0);
    const uid = statusField(out, 'Uid');
    const caps = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map((c) => `${c} ${statusField(out, c)}`);
    const nnp = statusField(out, 'NoNewPrivs');
    record('the guest starts a program', `runs as uid ${guest.uid}, every capability set empty, no new privileges`, `Uid ${uid}; ${caps.join(', ')}; NoNewPrivs ${nnp}`);
    expect(uid.split(/\s+/), 'real, effective, saved and filesystem uid').to.deep.equal(Array(4).fill(String(guest.uid)));
    expect(statusField(out, 'Gid').split(/\s+/)).to.deep.equal(Array(4).fill(String(guest.gid)));
    for (const c of caps) expect(c, out).to.match(/ 0{16}$/);
    expect(nnp).to.equal('1');
    expect(out).to.contain(`cwd=${dir} user=${guest.name}`);
  });

  for (const attack of [
    { what: "read the administrator's token", cmd: (h: Harness) => `cat ${h.info.adminConfigPath}` },
    { what: 'read /etc/shadow', cmd: () => 'cat /etc/shadow' },
    { what: 'write under /etc', cmd: () => 'echo pwned > /etc/godwit-security-test' },
  ]) {
    it(`refuses the guest's program to ${attack.what}`, async function () {
      this.timeout(120_000);
      const run = asGuest(['sh', '-c', attack.cmd(h)]);
      const res = await run.child;
      const said = (run.stdout() + run.stderr()).trim().split('\n').slice(-1)[0] ?? '';
      record(`a program of the guest's tries to ${attack.what}`, 'Permission denied, non-zero exit', `exit ${res.exitCode}: ${said}`);
      expect(res.exitCode, run.stdout() + run.stderr()).to.not.equal(0);
      expect(run.stdout() + run.stderr()).to.match(/Permission denied/);
      expect(run.stdout(), 'nothing of the token shows').to.not.contain(h.info.admin.token);
    });
  }
  after(() => rmSync('/etc/godwit-security-test', { force: true }));

  it('a setuid-root program gives the guest no root', async function () {
    this.timeout(120_000);
    const tools = scratchDir('godwit-suid-');
    try {
      chmodSync(tools, 0o755);
      const id = join(tools, 'id');
      copyFileSync('/usr/bin/id', id);
      chmodSync(id, 0o4755);
      const run = asGuest([id]);
      const res = await run.child;
      record('the guest runs a setuid-root copy of id', 'it runs as the guest (no euid=0)', run.stdout().trim());
      expect(res.exitCode, run.stderr()).to.equal(0);
      expect(run.stdout()).to.contain(`uid=${guest.uid}(${guest.name})`);
      expect(run.stdout()).to.not.contain('euid=0');
    } finally {
      rmSync(tools, { recursive: true, force: true });
    }
  });

  it('refuses LD_PRELOAD and GODWIT_* through the API, by name, starting nothing', async function () {
    const res = await api<{ code: string; message: string }>(
      h, 'POST', '/v1/processes', { argv: ['true'], cwd: dir, env: { LD_PRELOAD: '/tmp/evil.so', GODWIT_CONTROL: '/etc' } }, h.info.guest.token,
    );
    record('LD_PRELOAD and GODWIT_CONTROL in the API\'s env', '400, naming both', `${res.status}: ${res.body.message}`);
    expect(res.status).to.equal(400);
    expect(res.body.message).to.contain('LD_PRELOAD').and.to.contain('GODWIT_CONTROL');
  });

  it('refuses a working directory the guest may not use, as the guest', async function () {
    this.timeout(60_000);
    const secret = scratchDir('godwit-rootonly-');
    try {
      chmodSync(secret, 0o700);
      const res = await cli(h, 'mosrun', ['true'], { env: guestEnv(h), cwd: secret });
      record('the guest starts a program in a root-only directory', 'refused: permission denied, nothing runs', `exit ${res.exitCode}: ${res.stderr.trim().split('\n')[0]}`);
      expect(res.exitCode).to.not.equal(0);
      expect(res.stderr).to.match(new RegExp(`working directory ${secret} cannot be used by ${guest.name} on node0: permission denied`));
    } finally {
      rmSync(secret, { recursive: true, force: true });
    }
  });

  describe("another user's program", function () {
    let victim: ReturnType<typeof mosrun>;
    let victimId: number;
    before(async function () {
      this.timeout(120_000);
      victim = mosrun(h, [program('counter'), '600']);
      victimId = await victim.id();
      await victim.waitFor(/^3$/m);
    });
    after(async function () {
      this.timeout(60_000);
      await cli(h, 'mosmigrate', [String(victimId), 'exit']).catch(() => undefined);
      victim.child.kill('SIGKILL');
      await victim.child;
    });

    it('cannot be signalled or traced by a process of the guest on its node', async function () {
      this.timeout(60_000);
      const pid = (await processInfo(h, victimId)).pid!;
      const as = ['setpriv', `--reuid=${guest.uid}`, `--regid=${guest.gid}`, '--clear-groups', '--'];
      const kill = await execa(as[0]!, [...as.slice(1), 'kill', '-TERM', String(pid)], { reject: false });
      const trace = await execa(as[0]!, [...as.slice(1), '/usr/bin/python3', '-c', `import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); r=l.ptrace(0x4206,${pid},0,0); print(r, ctypes.get_errno()); sys.exit(r!=0)`], { reject: false });
      record("the guest's process signals root's program (kill -TERM)", 'Operation not permitted; it runs on', `exit ${kill.exitCode}: ${kill.stderr.trim()}`);
      record("the guest's process attaches to root's program (PTRACE_SEIZE)", 'EPERM', `exit ${trace.exitCode}: ${trace.stdout.trim()} (-1 1 is EPERM)`);
      expect(kill.exitCode).to.not.equal(0);
      expect(kill.stderr).to.match(/Operation not permitted/);
      expect(trace.stdout.trim()).to.equal('-1 1');
      const before = victim.stdout().length;
      await eventually(async () => (victim.stdout().length > before ? true : undefined), 'the victim to go on printing');
    });

    it('cannot be seen, moved, signalled, read or checkpointed through the API', async function () {
      this.timeout(60_000);
      const tries: [string, string, unknown?][] = [
        ['GET', `/v1/processes/${victimId}`],
        ['POST', `/v1/processes/${victimId}/migrate`, { to: 'node1' }],
        ['POST', `/v1/processes/${victimId}/signal`, { signal: 'SIGKILL' }],
        ['GET', `/v1/processes/${victimId}/output?offset=0`],
        ['POST', `/v1/processes/${victimId}/checkpoint`, { then: 'exit' }],
      ];
      for (const [method, path, body] of tries) {
        const res = await api<{ code: string }>(h, method, path, body, h.info.guest.token);
        record(`the guest: ${method} ${path}`, '404 GODWIT_ERR_PROCESS_NOT_FOUND', `${res.status} ${res.body.code}`);
        expect(res.status, `${method} ${path}`).to.equal(404);
        expect(res.body.code).to.equal('GODWIT_ERR_PROCESS_NOT_FOUND');
      }
      expect((await processInfo(h, victimId)).state, 'the victim is untouched').to.equal('running');
    });

    it("cannot have its checkpoint recovered or described by the guest", async function () {
      this.timeout(120_000);
      const taken = await api(h, 'POST', `/v1/processes/${victimId}/checkpoint`, { then: 'run' });
      expect(taken.status, JSON.stringify(taken.body)).to.be.oneOf([200, 201]);
      const [ckpt] = (await api<{ path: string }[]>(h, 'GET', `/v1/processes/${victimId}/checkpoints`)).body;
      expect(ckpt, 'the owner has a checkpoint').to.have.property('path');
      const rel = `../${h.info.client.user}/${ckpt!.path.split('/').pop()}`;
      for (const file of [ckpt!.path, rel]) {
        const res = await api<{ code: string; message: string }>(h, 'POST', '/v1/checkpoints/recover', { file }, h.info.guest.token);
        record(`the guest recovers root's checkpoint, named ${file === rel ? 'relatively' : 'by its path'}`, 'refused: not in the guest\'s checkpoint directory', `${res.status} ${res.body.code}: ${res.body.message}`);
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.message).to.match(/checkpoint files of guest are kept in/);
      }
      const info = await cli(h, 'mosrun', ['-I', ckpt!.path], { env: guestEnv(h) });
      expect(info.exitCode, info.stdout).to.not.equal(0);
      expect(info.stdout).to.not.contain('File-Descriptor');
      expect((await processInfo(h, victimId)).state, 'the victim runs on').to.equal('running');
    });
  });

  it('refuses a token that differs in its last byte', async function () {
    const t = h.info.guest.token;
    const wrong = t.slice(0, -1) + (t.endsWith('a') ? 'b' : 'a');
    const res = await api<{ code: string }>(h, 'GET', '/v1/processes', undefined, wrong);
    record("the guest's token with its last byte changed", '401 GODWIT_ERR_UNAUTHORIZED', `${res.status} ${res.body.code}`);
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect((await api(h, 'GET', '/v1/processes', undefined, t)).status, 'the right one still works').to.equal(200);
  });

  it("takes the guest for the guest on a node's socket, whatever account it names", async function () {
    this.timeout(60_000);
    const socket = h.info.nodes[0]!.socket;
    const ask = `require('node:http').get({ socketPath: ${JSON.stringify(socket)}, path: '/v1/local/whoami', headers: { 'x-godwit-account': 'root', authorization: 'Bearer forged-by-the-guest' } }, (r) => r.pipe(process.stdout))`;
    const res = await execa('setpriv', [`--reuid=${guest.uid}`, `--regid=${guest.gid}`, '--clear-groups', '--', process.execPath, '-e', ask], { reject: false, env: { PATH: process.env.PATH }, extendEnv: false });
    record("the guest, on node0's socket, names root in x-godwit-account", `taken for user guest (${guest.name}), no administrator`, `exit ${res.exitCode}: ${res.stdout || res.stderr}`);
    expect(res.exitCode, res.stderr).to.equal(0);
    expect(JSON.parse(res.stdout)).to.deep.equal({ user: 'guest', admin: false, account: guest.name, node: 'node0' });
  });

  it("moves the guest's program and it stays the guest's", async function () {
    this.timeout(180_000);
    const run = asGuest([program('counter'), '100']);
    const id = await run.id();
    await run.waitFor(/^3$/m);
    const moved = await cli(h, 'mosmigrate', [String(id), 'node1'], { env: guestEnv(h) });
    expect(moved.exitCode, moved.stderr).to.equal(0);
    const p = (await api<{ pid: number; node: string }>(h, 'GET', `/v1/processes/${id}`, undefined, h.info.guest.token)).body;
    expect(p.node).to.equal('node1');
    const status = await execa('cat', [`/proc/${p.pid}/status`], { reject: false });
    const uid = statusField(status.stdout, 'Uid');
    record("the guest's program after a move to node1", `still uid ${guest.uid}, no capabilities`, `Uid ${uid}, CapEff ${statusField(status.stdout, 'CapEff')}`);
    expect(uid.split(/\s+/)).to.deep.equal(Array(4).fill(String(guest.uid)));
    expect(statusField(status.stdout, 'CapEff')).to.equal('0000000000000000');
    run.child.kill('SIGINT');
    await run.child;
  });

  it("keeps the guest's control directory the guest's after a move, and refuses it to others", async function () {
    this.timeout(180_000);
    const script = [
      'f="$GODWIT_CONTROL/lock"', 'read go',
      'echo 1 > "$f"', 'until grep -qx "ok 1" "$f"; do sleep 0.05; done',
      'echo "at $(cat "$GODWIT_CONTROL/whereami") as $(id -u): $(stat -c %a:%u "$GODWIT_CONTROL" "$f" | tr "\\n" " ")"',
    ].join('\n');
    const run = mosrun(h, ['sh', '-c', script], { cwd: dir, env: guestEnv(h), input: true });
    const id = await run.id();
    const moved = await cli(h, 'mosmigrate', [String(id), 'node2'], { env: guestEnv(h) });
    expect(moved.exitCode, moved.stderr).to.equal(0);
    const { pid } = (await api<{ pid: number }>(h, 'GET', `/v1/processes/${id}`, undefined, h.info.guest.token)).body;
    const lock = `/proc/${pid}/root${h.info.controlDir}/${id}/lock`;
    const other = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', 'echo 0 > "$1"', 'sh', lock], { reject: false });
    run.child.stdin!.write('go\n');
    const [, line] = await run.waitFor(/^(at .*)$/m);
    record("the guest's program uses its control files after a move; nobody tries to write them", `it works, as uid ${guest.uid}, 700/600 its own; nobody: Permission denied`, `${line}; nobody: ${other.stderr.trim()}`);
    expect(line).to.equal(`at node2 as ${guest.uid}: 700:${guest.uid} 600:${guest.uid} `);
    expect(other.exitCode).to.not.equal(0);
    expect(other.stderr).to.match(/Permission denied/);
    run.child.stdin!.end();
    expect((await run.child).exitCode, run.stderr()).to.equal(0);
  });

  describe("a checkpoint of the guest's program whose files are swapped for root's", function () {
    /** holds its log open for appending, and a file in each of two directories open for reading */
    const PROGRAM = `
import time
log = open('progress.log', 'a', buffering=1)
log.write("the program's line\\n")
inputs = [open('linked/data'), open('hidden/data')]
print('ready', flush=True)
for i in range(1, 600):
    print(i, flush=True)
    time.sleep(0.1)
`;
    let work: string;
    let rootOnly: string;
    before(() => {
      work = mkdtempSync(join(dir, 'ckpt-'));
      chownSync(work, guest.uid, guest.gid);
      for (const sub of ['linked', 'hidden']) {
        mkdirSync(join(work, sub));
        writeFileSync(join(work, sub, 'data'), `${sub}\n`);
        chownSync(join(work, sub), guest.uid, guest.gid);
      }
      rootOnly = scratchDir('godwit-root-only-');
      chmodSync(rootOnly, 0o700);
      writeFileSync(join(rootOnly, 'secret'), 'root only secret\n', { mode: 0o600 });
      writeFileSync(join(rootOnly, 'data'), 'x'.repeat(1234), { mode: 0o600 });
    });
    after(() => {
      rmSync(work, { recursive: true, force: true });
      rmSync(rootOnly, { recursive: true, force: true });
    });

    it("saves the program's own log, tells no size of root's files, and recovers", async function () {
      this.timeout(300_000);
      const name = `swap-${process.pid}`;
      const log = join(work, 'progress.log');
      const moved = join(work, 'progress.old');
      const run = mosrun(h, ['-C', name, 'python3', '-c', PROGRAM], { cwd: work, env: guestEnv(h) });
      const id = await run.id();
      await run.waitFor(/^ready$/m);

      // after the program opened its log, its path becomes a symbolic link to a file only root may
      // read (the kernel names the descriptor by its new name then: a swap between the agent's
      // look at /proc and its copy, which no test can time, is open-files.test.ts's)
      renameSync(log, moved);
      symlinkSync(join(rootOnly, 'secret'), log);
      const taken = await cli(h, 'mosmigrate', [String(id), 'checkpoint'], { env: guestEnv(h) });
      expect(taken.exitCode, taken.stderr).to.equal(0);
      expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }, h.info.guest.token)).status).to.equal(204);
      await run.child;
      const file = `${name}.1`;

      // the files it read now lie behind a symbolic link to root's directory, and in a directory only root may enter
      renameSync(join(work, 'linked'), join(work, 'linked.old'));
      symlinkSync(rootOnly, join(work, 'linked'));
      chownSync(join(work, 'hidden'), 0, 0);
      chmodSync(join(work, 'hidden'), 0o700);
      const info = await cli(h, 'mosrun', ['-I', file], { env: guestEnv(h) });
      expect(info.exitCode, info.stderr).to.equal(0);
      const lineOf = (path: string) => info.stdout.split('\n').find((l) => l.includes(`: ${path}, `)) ?? `no line for ${path} in ${info.stdout}`;
      const infoLines = ['linked', 'hidden'].map((sub) => lineOf(join(work, sub, 'data')));
      record("mosrun -I on the guest's checkpoint, its files now behind a symbolic link to root's directory and in a root-only one", 'neither size told', infoLines.map((l) => l.replace(/^.*bytes then, /, '')).join('; '));
      for (const l of infoLines) expect(l).to.match(/bytes then, gone now, out of its owner's reach, or a symbolic link \(changed/);
      expect(info.stdout).to.not.contain('1234');

      const refused = await cli(h, 'mosrun', ['-R', file, '--rollback-files'], { env: guestEnv(h), cwd: work });
      record('the guest recovers that checkpoint as it is', "refused, naming both files, no size of root's", refused.stderr.split('\n').find((l) => l.startsWith('godwit: ') && !l.includes(' rolls back ')) ?? refused.stderr);
      expect(refused.exitCode).to.not.equal(0);
      expect(refused.stderr).to.match(new RegExp(`${join(work, 'linked', 'data')} \\(fd \\d+\\): 7 bytes at the checkpoint, ${guest.name} cannot look at it now: it is, or lies under, a symbolic link`));
      expect(refused.stderr).to.match(new RegExp(`${join(work, 'hidden', 'data')} \\(fd \\d+\\): 7 bytes at the checkpoint, ${guest.name} cannot look at it now: permission denied \\(EACCES\\)`));
      expect(refused.stderr).to.not.contain('1234');

      // with its files back, the recovery writes back the log the program had open, not root's file
      rmSync(join(work, 'linked'));
      renameSync(join(work, 'linked.old'), join(work, 'linked'));
      chownSync(join(work, 'hidden'), guest.uid, guest.gid);
      rmSync(moved);
      const back = mosrun(h, ['-R', file, '--rollback-files'], { cwd: work, env: guestEnv(h) });
      const rid = await back.id();
      const content = readFileSync(moved, 'utf8');
      record("the guest checkpoints its program after swapping its open log's path for a symbolic link to a root-only file", "the checkpoint holds the program's log; recovery writes that back", `written back: ${JSON.stringify(content)}`);
      expect(content).to.equal("the program's line\n");
      expect(readFileSync(join(rootOnly, 'secret'), 'utf8'), 'the link was left alone').to.equal('root only secret\n');
      expect((await api(h, 'POST', `/v1/processes/${rid}/signal`, { signal: 'SIGKILL' }, h.info.guest.token)).status).to.equal(204);
      await back.child;
    });
  });

  it('leaves nothing behind: the files the attacks aimed at are as they were', () => {
    expect(existsSync('/etc/godwit-security-test')).to.equal(false);
  });
});

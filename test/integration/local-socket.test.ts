/**
 * On a node, a user needs no token: the CLI talks to the node's agent on its local socket, the
 * agent learns the caller's uid from the kernel and passes the call on as that account's user.
 * Root is an administrator; the guest, an unprivileged account, is the guest and no one else.
 */
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Process } from '@godwit/schemas';
import { cli, cluster, guestEnv, type Harness, localEnv, mosrun, program, type Run, type RunAs, scratchDir } from './harness.js';

describe('local socket: on a node, no token', function () {
  let h: Harness;
  let guest: RunAs & { name: string };
  let dir: string;
  /** a program of root's, started on the socket, and one of the guest's, started with its token */
  let rootRun: Run;
  let rootId: number;
  let guestRun: Run;
  let guestId: number;

  /** `mosps --json` on node0's socket as `as` (root when none) */
  const psOnSocket = async (args: string[], as?: RunAs): Promise<Process[]> => {
    const res = await cli(h, 'mosps', ['--json', ...args], { env: localEnv(h), cwd: dir, ...(as ? { as } : {}) });
    expect(res.exitCode, res.stderr).to.equal(0);
    return JSON.parse(res.stdout) as Process[];
  };

  before(async function () {
    this.timeout(240_000);
    h = await cluster();
    guest = h.info.guestAccount;
    dir = scratchDir('godwit-local-socket-');
    chownSync(dir, guest.uid, guest.gid);
    rootRun = mosrun(h, ['sh', '-c', 'id -u; exec sleep 600'], { env: localEnv(h), cwd: dir });
    rootId = await rootRun.id();
    await rootRun.waitFor(/^0$/m);
    guestRun = mosrun(h, [program('counter'), '1000'], { env: guestEnv(h), cwd: dir });
    guestId = await guestRun.id();
  });
  after(async () => {
    for (const run of [rootRun, guestRun]) run?.child.kill('SIGINT');
    await Promise.allSettled([rootRun?.child, guestRun?.child]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs root's program as root and shows root its own processes, with no GODWIT_CONFIG", async function () {
    this.timeout(60_000);
    const mine = await psOnSocket([]);
    expect(mine.map((p) => p.id), JSON.stringify(mine)).to.include(rootId).and.not.include(guestId);
    expect(mine.find((p) => p.id === rootId)).to.include({ owner: h.info.client.user, homeNode: 'node0' });
  });

  it("makes root an administrator: mosps -a shows the guest's processes too", async function () {
    this.timeout(60_000);
    const all = await psOnSocket(['-a']);
    expect(all.map((p) => p.id)).to.include.members([rootId, guestId]);
  });

  it("runs the guest's program as the guest, and shows the guest only its own", async function () {
    this.timeout(120_000);
    const ok = await cli(h, 'mosrun', ['true'], { env: localEnv(h), cwd: dir, as: guest });
    expect(ok.exitCode, ok.stderr).to.equal(0);
    const who = await cli(h, 'mosrun', ['id', '-un'], { env: localEnv(h), cwd: dir, as: guest });
    expect(who.exitCode, who.stderr).to.equal(0);
    expect(who.stdout.trim()).to.equal(guest.name);
    const mine = await psOnSocket([], guest);
    expect(mine.map((p) => p.id), JSON.stringify(mine)).to.include(guestId).and.not.include(rootId);
    const all = await psOnSocket(['-a'], guest);
    expect(all.map((p) => p.id), 'not an administrator: -a is its own').to.not.include(rootId);
  });

  it("lets the guest move its own program, following the move's progress through the socket", async function () {
    this.timeout(120_000);
    const moved = await cli(h, 'mosmigrate', [String(guestId), 'node1'], { env: localEnv(h), cwd: dir, as: guest });
    expect(moved.exitCode, moved.stderr).to.equal(0);
    expect(moved.stderr, 'the progress lines of the websocket').to.match(new RegExp(`^migration \\d+ of process ${guestId}: `, 'm'));
    const mine = await psOnSocket([], guest);
    expect(mine.find((p) => p.id === guestId)?.node).to.equal('node1');
  });

  it('says which socket it could not reach', async function () {
    this.timeout(60_000);
    const res = await cli(h, 'mosps', [], { env: { ...localEnv(h), GODWIT_AGENT_SOCKET: join(dir, 'none.sock') }, cwd: dir });
    expect(res.exitCode).to.equal(1);
    expect(res.stderr).to.contain(`cannot reach the agent's socket ${join(dir, 'none.sock')} (ENOENT); is this node's agent running?`);
  });
});

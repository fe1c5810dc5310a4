/** A program's first run on this node: its keeper starts it as its owner, under tini. */
import { readFileSync } from 'node:fs';
import { GodwitError, type AgentProc, type LaunchRequest, refusedEnv } from '@godwit/schemas';
import { GONE, passOver } from './expected-errors.js';
import { keeperUser, resolveAccount } from './accounts.js';
import { startKeeper } from './keeper.js';
import { launchFailure } from './launch-failure.js';
import type { LifecycleContext } from './lifecycle-deps.js';
import type { ProcStore } from './procs.js';
import { keeperEnv } from './node-local.js';
import { makeProgramNetns, type ProgramNetns } from './net-namespace.js';
import { runCgroup } from './run-cgroup.js';
import { TimedOut, waitFor } from './wait.js';

const START_TIMEOUT_MS = 30_000;

/** tini's child appears a moment after tini itself (a restore, or a launch the keeper did not see) */
export async function settlePid(procs: ProcStore, rootPid: number): Promise<number | null> {
  // a program that ended at once (`true`) took tini with it: nothing more will appear
  const gone = () => {
    try {
      return /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${rootPid}/stat`, 'utf8'));
    } catch (err) {
      passOver(err, GONE);
      return true;
    }
  };
  try {
    return await waitFor(() => procs.programPid(rootPid) ?? (gone() ? null : undefined), { timeoutMs: 2000, intervalMs: 5, what: `the child of ${rootPid}` });
  } catch (err) {
    // tini's child never showed: its PID is not known
    if (err instanceof TimedOut) return null;
    throw err;
  }
}

export async function launch({ config, node, procs, control, spoolBytes }: LifecycleContext, req: LaunchRequest): Promise<AgentProc> {
  if (procs.current(req.id)) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${req.id} already exists on ${node}`);
  const refused = refusedEnv(req.env);
  if (refused.length) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `the environment may not set ${refused.join(', ')}`, { refused });
  const account = await resolveAccount(req.account, node);
  const controlDir = control ? await control.open(req.id, req.control) : undefined;
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: account.home,
    ...req.env,
    USER: account.name,
    LOGNAME: account.name,
    GODWIT_PROC_ID: String(req.id),
    ...(controlDir ? { GODWIT_CONTROL: controlDir } : {}),
  };
  const dir = procs.prepare({ id: req.id, argv: req.argv, cwd: req.cwd, account: req.account });
  let ev;
  let netns: ProgramNetns | undefined;
  try {
    if (req.net) netns = await makeProgramNetns(req.net, config.programLink ?? 'eth0', req.id);
    ev = await startKeeper(
      {
        keeperPath: config.keeperPath, dir, epoch: 0, user: keeperUser(account), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        ...(controlDir ? { control: controlDir } : {}), cgroups: config.cgroups, spoolBytes,
        localEnv: keeperEnv(config.nodeLocal, config.sharedPaths),
        runCgroup: runCgroup(config.cgroups, req.id, 0),
        mode: { launch: { cwd: req.cwd, argv: req.argv, env, init: config.tiniPath } },
        ...(netns ? { netns: netns.path } : {}),
      },
      START_TIMEOUT_MS,
    );
  } catch (err) {
    await netns?.unname();
    procs.removeEpoch(req.id, 0);
    control?.unfollow(req.id);
    throw new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `could not start process ${req.id} on ${node}: ${(err as Error).message}`);
  }
  // the program is in it, or never will be: the name goes either way
  await netns?.unname();
  if (ev.ev !== 'started') {
    procs.removeEpoch(req.id, 0);
    control?.unfollow(req.id);
    if (ev.ev === 'launch-failed') throw launchFailure(ev, { argv0: req.argv[0]!, cwd: req.cwd, account: account.name, node });
    throw new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `could not start process ${req.id} on ${node}`);
  }
  // the keeper saw the program's PID before it ran, even one that ends at once (`true`),
  // unless its owner could not run the keeper's file (then tini ran the program itself)
  const pid = ev.program || (await settlePid(procs, ev.pid));
  return { id: req.id, epoch: 0, state: 'running', rootPid: ev.pid, pid, inodes: { in: ev.in, out: ev.out, err: ev.err } };
}

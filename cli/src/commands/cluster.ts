/** `godwit cluster up|down|status`: a simulated cluster on this machine. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import {
  clusterDown,
  clusterStatus,
  clusterUp,
  envNumber,
  homeIsDefault,
  setHolder,
  usageText,
  type ClusterState,
} from '../cluster/index.js';
import { isAlive } from '../cluster/procs.js';
import { readState, homePaths } from '../cluster/state.js';
import { CliError } from '../errors.js';
import { godwitHome } from '../paths.js';
import { EXIT, renderJson, say, show } from '../output.js';
import { renderStatus } from '../views/cluster-status.js';

function integer(what: string) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError(`${what} must be a whole number`);
    return Number(v);
  };
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** --mask-cpu NODE=FEATURE[,FEATURE...], repeatable: what each simulated node's agent reports absent */
function cpuMask(v: string, prev: Record<string, string[]> = {}): Record<string, string[]> {
  const m = /^([a-z][a-z0-9-]{0,31})=([a-z0-9_]{1,64}(?:,[a-z0-9_]{1,64})*)$/.exec(v);
  if (!m) throw new InvalidArgumentError('give NODE=FEATURE[,FEATURE...], feature names as /proc/cpuinfo spells them, e.g. node2=avx2');
  return { ...prev, [m[1]!]: [...(prev[m[1]!] ?? []), ...m[2]!.split(',')] };
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function buildUp() {
  return new Command('up')
    .description('start a local cluster: a network namespace, control group and agent per node, and the orchestrator')
    .option('--nodes <n>', 'how many nodes (default: $GODWIT_NODES or 3)', integer('--nodes'))
    .option('--id <k>', 'cluster id 1..200: subnet 10.77.K.0/24, names gwK* (default: $GODWIT_CLUSTER_ID or 1)', integer('--id'))
    .option('--cpu <cpus>', 'CPUs per node (its cgroup quota)', positive, 1)
    .option('--mem <mib>', 'memory per node, MiB', integer('--mem'), 2048)
    .option('--detach', 'return once the cluster is ready, leaving it running (`godwit cluster down` removes it)')
    .option('--json', 'print the cluster (addresses, client configuration) as JSON once ready')
    .option('--no-tls', 'clear text: no CA, no certificates, http and ws (default: TLS everywhere, a CA made under $GODWIT_HOME/tls)')
    .option('--mask-cpu <node=features>', "simulation only: NODE's agent reports these CPU features absent (e.g. node2=avx2), so godwit's refusals of a lesser CPU can be tried; repeatable", cpuMask)
    .addHelpText(
      'after',
      `
Files go under $GODWIT_HOME (default ~/.godwit): cluster/state.json, orchestrator/, nodes/NAME/,
logs/, and the client configuration cluster.json that mosrun, mosps and mosmigrate read.
Without --detach it stays in the foreground; Ctrl-C (or SIGTERM) removes the cluster.`,
    )
    .action(async (opts) => {
      const home = godwitHome();
      const ac = new AbortController();
      let stop: (sig: string) => void = () => ac.abort();
      const onSignal = (sig: string) => stop(sig);
      for (const s of STOP_SIGNALS) process.on(s, onSignal);
      try {
        let info;
        try {
          info = await clusterUp({
            nodes: opts.nodes ?? envNumber('GODWIT_NODES') ?? 3,
            id: opts.id ?? envNumber('GODWIT_CLUSTER_ID') ?? 1,
            cpus: opts.cpu,
            memMiB: opts.mem,
            tls: opts.tls,
            ...(opts.maskCpu ? { cpuFeatureMask: opts.maskCpu } : {}),
            home,
            signal: ac.signal,
          });
        } catch (err) {
          if (ac.signal.aborted) {
            say('interrupted: the cluster was removed');
            return;
          }
          throw err;
        }
        if (opts.json) await show({ ...info, state: undefined }, true, renderJson);
        else process.stderr.write(usageText(info, { detached: !!opts.detach, defaultHome: homeIsDefault(home) }));
        if (opts.detach) return;

        setHolder(home, process.pid);
        const stopped = new Promise<string>((resolve) => (stop = resolve));
        const watching = watchComponents(info.state, stopped);
        const sig = await stopped;
        await watching;
        say(`${sig}: removing cluster ${info.id}`);
        const report = await clusterDown({ home, log: () => {} });
        say(`cluster ${info.id} removed`);
        for (const pr of report.problems) say(`problem: ${pr}`);
        process.exitCode = report.problems.length ? EXIT.ERROR.status : EXIT.OK.status;
      } finally {
        for (const s of STOP_SIGNALS) process.off(s, onSignal);
      }
    });
}

/** Says once when a component dies while the cluster is held in the foreground. */
async function watchComponents(state: ClusterState, stopped: Promise<string>): Promise<void> {
  const reported = new Set<number>();
  let done = false;
  void stopped.then(() => (done = true));
  while (!done) {
    for (const c of state.components) {
      if (!reported.has(c.pid) && !isAlive(c.pid, c.startTime)) {
        reported.add(c.pid);
        say(`${c.role === 'agent' ? `the agent of ${c.name}` : 'the orchestrator'} (pid ${c.pid}) exited; see ${c.log}`);
      }
    }
    await Promise.race([sleep(1000), stopped]);
  }
}

function buildDown() {
  return new Command('down')
    .description('remove the local cluster: stop its components and programs, delete its namespaces, links and control groups')
    .option('--id <k>', 'when no state file is left: sweep everything named after cluster K', integer('--id'))
    .option('--json', 'print what was removed as JSON')
    .action(async (opts) => {
      const home = godwitHome();
      const state = readState(homePaths(home).state);
      const id = state?.id ?? opts.id ?? envNumber('GODWIT_CLUSTER_ID');
      if (!state && id === undefined) say(`no cluster state in ${homePaths(home).state}; sweeping only leftovers (give --id K to sweep cluster K's names)`);
      const report = await clusterDown({ home, ...(id !== undefined ? { id } : {}), log: opts.json ? () => {} : (l) => say(l) });
      if (opts.json) await show(report, true, renderJson);
      else if (!report.removed.length && !report.problems.length) say('nothing to remove');
      else if (!report.problems.length) say(`cluster ${report.id ?? '(unknown id)'} removed`);
      if (report.problems.length) throw new CliError(`could not remove everything`, { details: { problems: report.problems } });
    });
}

function buildStatus() {
  return new Command('status')
    .description("show the local cluster: its components' PIDs, and each node online or offline")
    .option('--json', 'print it as JSON')
    .action(async (opts) => {
      const s = await clusterStatus({ home: godwitHome() });
      await show(s, opts.json, renderStatus);
      const healthy = s.up && !!s.orchestrator?.alive && s.nodes.every((n) => n.alive && n.state === 'online');
      process.exitCode = healthy ? EXIT.OK.status : EXIT.ERROR.status;
    });
}

export function buildClusterCommand() {
  return new Command('cluster')
    .description('a simulated cluster on this machine (root): up, down, status')
    .addCommand(buildUp())
    .addCommand(buildDown())
    .addCommand(buildStatus());
}

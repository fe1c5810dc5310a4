/**
 * Why a process does not move (openMosix's /proc/PID/cantmove): every reason that applies, in
 * words, from its record and from its node's look at it, without stopping it.
 */
import { type CarryPlan, type ProcInspection, type Strategy, type WhyQuery, type WhyResult, toGodwitError } from '@godwit/schemas';
import { classify } from './balance-decision.js';
import { readBalancerSettings } from './balancer.js';
import type { Ctx } from './context.js';
import { cpuEndOf, cpuMismatch, requireCpuRuns } from './cpu-compat.js';
import type { ProcessRow } from './db/index.js';
import type { Migrator } from './migration/migrator.js';
import { type Choice, chooseStrategy } from './strategy.js';

/**
 * With `to`, a dry run of `mosmigrate ID TO`: the destination's checks too, and the files the move
 * would carry against its limit (carryMaxBytes, else the node's own).
 */
export async function whyNotMovable(ctx: Ctx, migrator: Pick<Migrator, 'destination' | 'endsOf'>, p: ProcessRow, q: WhyQuery = {}): Promise<WhyResult> {
  const reasons: string[] = [];
  let carry: CarryPlan | null = null;
  let strategy: Choice | undefined;
  let to: string | undefined;
  if (p.state === 'frozen') reasons.push(`it is frozen (FRZ ${p.frz}): \`mosmigrate ${p.id} continue [NODE]\` brings it back first`);
  else if (p.state === 'migrating') reasons.push('it is migrating now; wait for that to end');
  else if (p.state !== 'running') reasons.push(`it is not running (it is ${p.state})`);
  else if (!ctx.nodes.isOnline(p.node)) reasons.push(`its node ${p.node} is offline: its agent is not connected`);
  else {
    if (q.to !== undefined) {
      try {
        to = migrator.destination(p, q.to);
        await requireCpuRuns(ctx, `process ${p.id} (running on ${p.node})`, p.node, to, 'a move would be refused before it stops');
      } catch (err) {
        reasons.push(toGodwitError(err).message);
      }
    }
    try {
      const seen = await ctx.agent(p.node).inspect(p.id, q.carryMaxBytes === undefined ? {} : { carryMaxBytes: q.carryMaxBytes });
      reasons.push(...seen.reasons);
      carry = seen.carry;
      if (carry.refusal) reasons.push(carry.refusal);
      if (to !== undefined) strategy = strategyFor(migrator, p, to, q.strategy ?? 'auto', seen, reasons);
    } catch (err) {
      reasons.push(`its node ${p.node} could not look at it: ${toGodwitError(err).message}`);
    }
  }
  const others = ctx.nodes.names.filter((n) => n !== p.node && ctx.nodes.isOnline(n));
  if (p.state === 'running' && others.length === 0) reasons.push('no other node is online');
  const ruledOut = cpuRuledOut(ctx, p, others);
  if (p.state === 'running' && others.length > 0 && ruledOut.length === others.length) reasons.push('no other online node\'s CPU has every feature its CPU has (see the nodes it cannot go to)');
  return {
    processId: p.id,
    movable: reasons.length === 0,
    reasons,
    notAutomatically: p.state === 'running' ? balancerReasons(ctx, p) : [],
    ruledOut,
    ...(to === undefined ? {} : { to }),
    carry,
    ...(strategy === undefined ? {} : { strategy }),
  };
}

/** how a move to `to` would take its memory; a strategy it could not use is one more reason */
function strategyFor(migrator: Pick<Migrator, 'endsOf'>, p: ProcessRow, to: string, asked: Strategy, seen: ProcInspection, reasons: string[]): Choice | undefined {
  try {
    return chooseStrategy(asked, migrator.endsOf(p.node, to), seen);
  } catch (err) {
    reasons.push(toGodwitError(err).message);
    return undefined;
  }
}

/** the nodes whose CPU lacks features of the CPU it runs on (or was frozen on), with the reason */
function cpuRuledOut(ctx: Ctx, p: ProcessRow, others: string[]): { node: string; reason: string }[] {
  const known = ctx.nodes.list();
  const from = cpuEndOf(known, p.node);
  return others.flatMap((node) => {
    const reason = cpuMismatch(`process ${p.id}`, from, cpuEndOf(known, node));
    return reason ? [{ node, reason }] : [];
  });
}

/** What keeps the balancer from moving it: its lock, and how it used its node of late. */
function balancerReasons(ctx: Ctx, p: ProcessRow): string[] {
  const out: string[] = [];
  if (p.locked === 1) out.push('it is locked (mosrun -L): the balancer never moves it');
  const node = ctx.nodes.list().find((n) => n.name === p.node);
  const load = node?.load?.procs?.find((l) => l.id === p.id && l.epoch === p.epoch);
  if (!load) return out;
  const kind = classify(load);
  if (kind === 'io') out.push(`it is I/O-bound (${Math.round(load.ioBytesPerS / 1024)} KiB/s of I/O): a faster node would not speed it up`);
  const { minCpuSeconds } = readBalancerSettings(ctx.db);
  if (load.cpuSeconds < minCpuSeconds) out.push(`it is young: ${load.cpuSeconds.toFixed(1)} s of CPU on ${p.node}, and the balancer moves processes after ${minCpuSeconds} s`);
  if (kind === 'idle') out.push(`it hardly uses the CPU (it wanted ${load.cpuDemand} CPUs of late, running or ready to run): it would gain nothing elsewhere`);
  return out;
}

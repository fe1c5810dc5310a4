/**
 * One fuzz run against one server: each generated request is sent, its answer judged, and the
 * server's state (where the test gives a way to see it) compared before and after every refused
 * request. Unhandled rejections anywhere in the process fail the run.
 */
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { judge, send, showRequest } from './answers.js';
import { Figures } from './figures.js';
import { type FuzzRequest, type RequestSpace, requestArb } from './requests.js';
import { FUZZ_SEED } from './settings.js';

export interface FuzzTarget {
  name: string;
  app: () => FastifyInstance;
  space: RequestSpace;
  runs: number;
  /** the server's state (or what changed it) in one string; a refused request must leave it as it was */
  state?: () => string;
  /** after an accepted request that may start work: bring the server back to rest */
  settle?: () => Promise<void>;
}

/** the one request most recently sent, for the failure message of an unhandled rejection */
let last: FuzzRequest | undefined;
const rejections: string[] = [];
const onRejection = (reason: unknown) => {
  rejections.push(`${String(reason instanceof Error ? reason.stack : reason)} (last request: ${last ? showRequest(last) : 'none'})`);
};

export function watchRejections(): { start(): void; stop(): void; check(): void } {
  return {
    start: () => void process.on('unhandledRejection', onRejection),
    stop: () => void process.off('unhandledRejection', onRejection),
    check: () => {
      if (rejections.length) throw new Error(`unhandled rejection: ${rejections.splice(0).join('\n')}`);
    },
  };
}

export async function fuzz(target: FuzzTarget, seed = FUZZ_SEED, runs = target.runs, requests?: fc.Arbitrary<FuzzRequest>): Promise<Figures> {
  const figures = new Figures();
  const watch = watchRejections();
  watch.start();
  try {
    await fc.assert(
      fc.asyncProperty(requests ?? requestArb(target.space), async (req) => {
        last = req;
        const before = target.state?.();
        const res = await send(target.app(), req);
        const { wrong, code } = judge(req, res);
        figures.count(res.statusCode, code);
        if (wrong) throw new Error(wrong);
        if (res.statusCode >= 400 && before !== undefined) {
          const after = target.state!();
          if (after !== before) {
            throw new Error(`refused with ${res.statusCode} ${code} but changed the database (rows written by table, before ${before}, after ${after}); request ${showRequest(req)}`);
          }
        } else if (req.method !== 'GET') {
          await target.settle?.();
        }
        watch.check();
      }),
      { seed, numRuns: runs, endOnFailure: true },
    );
    watch.check();
  } finally {
    watch.stop();
    console.log(`      ${figures.line(target.name, seed)}`);
  }
  return figures;
}

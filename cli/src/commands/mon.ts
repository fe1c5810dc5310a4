/** `mosmon` / `godwit mon`: a full-screen live monitor of the cluster (MOSIX mosmon). */
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { createElement } from 'react';
import { render } from 'ink';
import { connect } from '../client.js';
import { signalStatus, UsageError } from '../errors.js';
import { Monitor } from '../monitor/app.js';
import { VIEW_KEYS, type View } from '../monitor/views.js';

/** A read that takes longer than this counts as the orchestrator being unreachable. */
const READ_TIMEOUT_MS = 5_000;

// the terminal's alternate screen: what was on the terminal before comes back on quitting
const ENTER_ALT_SCREEN = '\x1b[?1049h\x1b[H';
const LEAVE_ALT_SCREEN = '\x1b[?1049l';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new InvalidArgumentError('it must be a number of seconds from 0.1 to 3600.');
  return n;
}

export function buildMonCommand(name: string) {
  return new Command(name)
    .description("watch the cluster's nodes live, full screen: keys l (load), f (frozen processes, free memory), m (memory), d (dead or drained nodes), h (help), q (quit)")
    .option('-t, --interval <seconds>', 'how often to read the cluster', seconds, 1)
    .addOption(new Option('--view <view>', 'the view to start with').choices(Object.values(VIEW_KEYS)).default('load'))
    .action(async (opts) => {
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        throw new UsageError('mosmon draws on a terminal (its input and output); for the same figures as text: `godwit nodes` (or --json) and `mosps`');
      }
      const client = await connect(process.env, { timeoutMs: READ_TIMEOUT_MS });
      process.stdout.write(ENTER_ALT_SCREEN);
      try {
        const app = render(createElement(Monitor, { client, where: client.where, intervalMs: opts.interval * 1000, view: opts.view as View }));
        // a signal ends mosmon as q does, so the terminal gets its own screen back
        for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
          process.once(signal, () => {
            process.exitCode = signalStatus(signal);
            app.unmount();
          });
        }
        await app.waitUntilExit();
      } finally {
        process.stdout.write(LEAVE_ALT_SCREEN);
      }
    });
}

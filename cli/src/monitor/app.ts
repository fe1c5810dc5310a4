/**
 * mosmon's screen as an Ink component: the keys switch views, the watcher's readings and the
 * terminal's size redraw it. What it draws comes from views.ts.
 */
import { createElement as h, useEffect, useState } from 'react';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { renderScreen, VIEW_KEYS, type Line, type MonitorState, type Size, type View } from './views.js';
import { watchCluster, type ClusterReader } from './watch.js';

export interface MonitorProps {
  client: ClusterReader;
  /** what the cluster is read from (GodwitClient.where) */
  where: string;
  intervalMs: number;
  view?: View;
}

function useTerminalSize(): Size {
  const { stdout } = useStdout();
  const read = (): Size => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

const STYLE: Record<Line['tone'], { bold?: boolean; inverse?: boolean; color?: string; dimColor?: boolean }> = {
  title: { inverse: true, bold: true },
  alert: { color: 'red', bold: true },
  dim: { dimColor: true },
  plain: {},
};

export function Monitor(props: MonitorProps) {
  const { exit } = useApp();
  const size = useTerminalSize();
  const [state, setState] = useState<MonitorState>({ view: props.view ?? 'load', snapshot: null, unreachable: null });

  useEffect(
    () =>
      watchCluster(props.client, props.intervalMs, (r) =>
        setState((s) => (r.ok ? { ...s, snapshot: r.snapshot, unreachable: null } : { ...s, unreachable: r.reason })),
      ),
    [props.client, props.intervalMs],
  );

  useInput((input) => {
    if (input === 'q') return exit();
    const view = VIEW_KEYS[input];
    if (view) setState((s) => ({ ...s, view }));
  });

  const lines = renderScreen(state, size, props.where);
  return h(
    Box,
    { flexDirection: 'column' },
    // an empty Text takes no row: a blank line is a space
    ...lines.map((l, i) => h(Text, { key: i, wrap: 'truncate', ...STYLE[l.tone] }, l.text || ' ')),
  );
}

/** The one wrapper of iproute2's `ip`: network namespaces, bridge, veth pairs, addresses, routes. */
import { execa } from 'execa';
import { CliError } from '../errors.js';

const TIMEOUT_MS = 15_000;

async function ip(args: string[], opts: { netns?: string } = {}): Promise<string> {
  const argv = [...(opts.netns ? ['-n', opts.netns] : []), ...args];
  const r = await execa('ip', argv, { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.failed) {
    const why = (r.stderr || r.stdout || r.shortMessage || `exit ${r.exitCode}`).trim();
    throw new CliError(`\`ip ${argv.join(' ')}\` failed: ${why}`);
  }
  return r.stdout;
}

/** Whether `ip` reports the device (exit 0); never throws for a missing one. */
export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const argv = [...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', name];
  const r = await execa('ip', argv, { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
  return r.exitCode === 0;
}

export async function listLinks(): Promise<string[]> {
  const out = await ip(['-j', 'link', 'show']);
  return (JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

export async function listNetns(): Promise<string[]> {
  const out = (await ip(['-j', 'netns', 'list'])).trim();
  return out ? (JSON.parse(out) as { name: string }[]).map((n) => n.name) : [];
}

export async function addNetns(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
}

export async function deleteNetns(name: string): Promise<void> {
  await ip(['netns', 'delete', name]);
}

export async function addBridge(name: string): Promise<void> {
  await ip(['link', 'add', 'name', name, 'type', 'bridge']);
}

export async function addVeth(name: string, peer: string): Promise<void> {
  await ip(['link', 'add', 'name', name, 'type', 'veth', 'peer', 'name', peer]);
}

export async function deleteLink(name: string): Promise<void> {
  await ip(['link', 'delete', 'dev', name]);
}

export async function moveLinkToNetns(name: string, netns: string): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'netns', netns]);
}

export async function renameLink(name: string, newName: string, netns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'name', newName], netns ? { netns } : {});
}

export async function setMaster(name: string, master: string): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'master', master]);
}

export async function setMtu(name: string, mtu: number, netns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'mtu', String(mtu)], netns ? { netns } : {});
}

export async function setUp(name: string, netns?: string): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'up'], netns ? { netns } : {});
}

/** Sets the address (idempotent: `addr replace`). */
export async function setAddress(cidr: string, dev: string, netns?: string): Promise<void> {
  await ip(['addr', 'replace', cidr, 'dev', dev], netns ? { netns } : {});
}

export async function setDefaultRoute(via: string, netns?: string): Promise<void> {
  await ip(['route', 'replace', 'default', 'via', via], netns ? { netns } : {});
}

/**
 * The names a local cluster's pieces carry, all derived from its id: two clusters of different
 * ids never share a bridge, namespace, address, control directory or socket, and `down` finds
 * what an `up` left behind by these names alone.
 */
import path from 'node:path';

export const ORCHESTRATOR_PORT = 7700;
export const AGENT_PORT = 7701;

export const names = {
  bridge: (id: number) => `gw${id}br`,
  netns: (id: number, i: number) => `gw${id}n${i}`,
  veth: (id: number, i: number) => `gw${id}v${i}`,
  peer: (id: number, i: number) => `gw${id}p${i}`,
  node: (i: number) => `node${i}`,
  subnet: (id: number) => `10.77.${id}.0/24`,
  gateway: (id: number) => `10.77.${id}.1`,
  address: (id: number, i: number) => `10.77.${id}.${10 + i}`,
  /** programs' own addresses (mosrun --ip), above the nodes' */
  programAddresses: (id: number) => ({ first: `10.77.${id}.200`, last: `10.77.${id}.249` }),
};

/** where the local clusters' control directories go, one folder each */
export const CONTROL_ROOT = '/run/godwit-control';
export const controlDirOf = (id: number) => path.join(CONTROL_ROOT, `cluster-${id}`);
/** where the local clusters' agents take their nodes' users' calls without a token, a folder each */
export const SOCKET_ROOT = '/run/godwit-sock';
export const socketDirOf = (id: number) => path.join(SOCKET_ROOT, `cluster-${id}`);
export const socketOf = (id: number, node: string) => path.join(socketDirOf(id), `${node}.sock`);

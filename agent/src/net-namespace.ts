/**
 * A program's own network namespace (mosrun --ip): a macvlan on the node's cluster-side link,
 * with the program's address and MAC of its own, loopback up, and a default route; its peers on
 * the cluster's segment reach it at its address whatever node it runs on. The namespace is named
 * under /run/netns only while the keeper enters it; after that it lives exactly as long as the
 * program (a namespace ends with its last process, and its macvlan with it), so nothing is left
 * to remove when the program ends, on any path.
 */
import type { ProgramNet } from '@godwit/schemas';
import { ip, ipIfThere } from './net-ip.js';

/** the link's name inside the program's namespace */
export const PROGRAM_LINK = 'eth0';

/** the namespace's name while it is named: the address, unique in the cluster (the orchestrator's pool) */
function netnsName(net: ProgramNet): string {
  return `godwit-ip-${net.address}`;
}

export interface ProgramNetns {
  /** what the keeper enters (setns) before it starts the program */
  path: string;
  /** drops the name: the namespace lives on with the program, or ends now if none entered it */
  unname(): Promise<void>;
}

/** Makes the program's namespace, ready before the program starts; on failure nothing is left. */
export async function makeProgramNetns(net: ProgramNet, nodeLink: string, id: number): Promise<ProgramNetns> {
  const name = netnsName(net);
  // one left by an agent that died between making it and launching: its address is this program's now
  await ipIfThere(['netns', 'delete', name]);
  await ip(['netns', 'add', name]);
  const unname = async () => void (await ipIfThere(['netns', 'delete', name]));
  // made in the node's namespace under a name of this process's (no two launches collide), then moved in
  const temp = `gwip${id}`.slice(0, 15);
  try {
    await ip(['link', 'add', 'link', nodeLink, 'name', temp, 'type', 'macvlan', 'mode', 'bridge']);
    try {
      await ip(['link', 'set', 'dev', temp, 'netns', name]);
    } catch (err) {
      await ipIfThere(['link', 'delete', 'dev', temp]);
      throw err;
    }
    await ip(['link', 'set', 'dev', temp, 'name', PROGRAM_LINK], name);
    await ip(['addr', 'add', `${net.address}/${net.prefixLength}`, 'dev', PROGRAM_LINK], name);
    await ip(['link', 'set', 'dev', 'lo', 'up'], name);
    await ip(['link', 'set', 'dev', PROGRAM_LINK, 'up'], name);
    if (net.gateway) await ip(['route', 'add', 'default', 'via', net.gateway], name);
  } catch (err) {
    await unname();
    throw new Error(`could not give the program its address ${net.address} on ${nodeLink}: ${(err as Error).message}`);
  }
  return { path: `/run/netns/${name}`, unname };
}

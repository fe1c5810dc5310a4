/**
 * Node 20 opens its inspector (a debugger on 127.0.0.1:9229 that runs any code sent to it, as
 * this user) when the process receives SIGUSR1, unless a listener has taken SIGUSR1 over; it has
 * no flag to turn that off (--disable-sigusr1 came with Node 22.14). Every godwit command imports
 * this module before anything else, so that the listener is in place as early as our code runs.
 * Alone, the listener gives SIGUSR1 its default action back: it ends the command as SIGUSR1 ends
 * a process (with the last listener gone the signal's disposition is the default again).
 * A listener of a command's own (mosrun passes SIGUSR1 on to its program) takes its place.
 */
function asDefault(): void {
  if (process.listenerCount('SIGUSR1') > 1) return;
  process.off('SIGUSR1', asDefault);
  process.kill(process.pid, 'SIGUSR1');
}

process.on('SIGUSR1', asDefault);

/** The process at the other end of a connected Unix socket, as the kernel recorded it at connect(). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * getsockopt(fd, SOL_SOCKET, SO_PEERCRED). Throws an Error whose message names the fd and the
 * reason (code EBADF, ENOTSOCK or ENOPROTOOPT: not a Unix socket) when the kernel gives none.
 */
export function peerCred(fd: number): PeerCred;

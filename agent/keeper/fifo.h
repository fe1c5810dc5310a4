/*
 * The FIFOs through which the agent talks to the keeper (DIR/stdin) and to the deputy (signals,
 * control): made if missing, and held open by the helper for reading and writing, so that the
 * agent may come and go.
 */
#ifndef GODWIT_FIFO_H
#define GODWIT_FIFO_H

/* the FIFO at path, made (0600) if missing, open O_RDWR | O_NONBLOCK | O_CLOEXEC: its fd, or -1 with errno (ENXIO: path is no FIFO) */
int open_held_fifo(const char *path);

#endif

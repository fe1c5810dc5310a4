/*
 * The program's stdin, fed from the FIFO DIR/stdin: frames 'd' + u32 length + data, or 'c' +
 * u32 0 (close), buffered while the program does not read.
 */
#ifndef GODWIT_KEEPER_STDIN_H
#define GODWIT_KEEPER_STDIN_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct stdin_relay {
	/* DIR/stdin, until a close frame; the keeper's write end of the program's stdin, -1 once closed */
	int fifo, fifo_open, to_program;
	/* a close frame came: close to_program once what is buffered is written */
	int close_after;
	/* what stdin_poll asked for: writing to the program, or reading the FIFO */
	int writing;
	/* a partial frame header, and how much of its data is still to come */
	char head[5];
	size_t head_len;
	uint32_t data_left;
	/* the buffered input not yet written: from off to len */
	size_t len, off;
};

void stdin_relay_init(struct stdin_relay *s, int fifo, int to_program);
/* adds what it waits for to p: its index, or -1 */
int stdin_poll(struct stdin_relay *s, struct pollfd *p, int *np);
/* acts on what poll said of it */
void stdin_ready(struct stdin_relay *s, short revents);
/* the input taken from the FIFO and not yet written to the program */
const char *stdin_pending(const struct stdin_relay *s, size_t *len);

#endif

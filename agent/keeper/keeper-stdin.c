#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "keeper-stdin.h"
#include "keeper.h"

#define STDIN_BUF (1 << 20)

static char inbuf[STDIN_BUF];

void stdin_relay_init(struct stdin_relay *s, int fifo, int to_program)
{
	memset(s, 0, sizeof(*s));
	s->fifo = fifo;
	s->fifo_open = 1;
	s->to_program = to_program;
	if (fcntl(to_program, F_SETFL, O_NONBLOCK) < 0)
		die("making the program's stdin non-blocking");
}

int stdin_poll(struct stdin_relay *s, struct pollfd *p, int *np)
{
	if (s->to_program >= 0 && s->len > s->off) {
		s->writing = 1;
		p[*np] = (struct pollfd){ s->to_program, POLLOUT, 0 };
		return (*np)++;
	}
	if (s->fifo_open && s->to_program >= 0) {
		s->writing = 0;
		p[*np] = (struct pollfd){ s->fifo, POLLIN, 0 };
		return (*np)++;
	}
	return -1;
}

static void close_program_stdin(struct stdin_relay *s)
{
	close(s->to_program);
	s->to_program = -1;
}

static void write_buffered(struct stdin_relay *s)
{
	ssize_t w = write(s->to_program, inbuf + s->off, s->len - s->off);
	if (w > 0)
		s->off += (size_t)w;
	else if (w < 0 && errno != EAGAIN && errno != EINTR)
		close_program_stdin(s); /* the program closed its stdin */
	if (s->off == s->len) {
		s->off = s->len = 0;
		if (s->close_after && s->to_program >= 0)
			close_program_stdin(s);
	}
}

static void read_frames(struct stdin_relay *s)
{
	for (;;) {
		if (s->head_len < 5) {
			ssize_t r = read(s->fifo, s->head + s->head_len, 5 - s->head_len);
			if (r <= 0)
				break;
			s->head_len += (size_t)r;
			if (s->head_len < 5)
				continue;
			memcpy(&s->data_left, s->head + 1, 4);
			if (s->head[0] == 'c') {
				event("{\"ev\":\"stdin-closed\"}");
				s->close_after = 1;
				s->head_len = 0;
				if (s->len == s->off)
					close_program_stdin(s);
				s->fifo_open = 0;
				break;
			}
		}
		size_t room = STDIN_BUF - s->len;
		if (room == 0)
			break;
		size_t want = s->data_left < room ? s->data_left : room;
		ssize_t r = want ? read(s->fifo, inbuf + s->len, want) : 0;
		if (r < 0)
			break;
		s->len += (size_t)r;
		s->data_left -= (uint32_t)r;
		if (s->data_left == 0)
			s->head_len = 0;
		if (r == 0 && want)
			break;
	}
}

void stdin_ready(struct stdin_relay *s, short revents)
{
	if (s->writing) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			write_buffered(s);
	} else if (revents & POLLIN) {
		read_frames(s);
	}
}

const char *stdin_pending(const struct stdin_relay *s, size_t *len)
{
	*len = s->len - s->off;
	return inbuf + s->off;
}

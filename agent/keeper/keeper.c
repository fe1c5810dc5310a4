/*
 * godwit-keeper: one per managed program per node it runs on (an "epoch").
 *
 * Node.js cannot make itself a child subreaper, cannot create plain pipes (its child stdio are
 * socketpairs, which CRIU cannot hand over), and dies or restarts independently of the programs
 * it manages. This helper does the few things that need a small, long-lived process:
 *   - owns the program's stdin/stdout/stderr as plain pipes, so CRIU dumps them as external
 *     pipes and a restore can take fresh ones with --inherit-fd;
 *   - writes everything the program prints to DIR/out.EPOCH as frames, so output survives an
 *     agent restart and keeps its stdout/stderr interleaving;
 *   - relays framed input from the FIFO DIR/stdin to the program;
 *   - launches the program as PID 1 of new PID, mount and IPC namespaces (so a restore never
 *     collides with a PID), or runs `criu restore -d` as a child subreaper and adopts the
 *     restored tree;
 *   - reaps it and records its real exit status.
 *
 * Usage:
 *   godwit-keeper DIR EPOCH launch CWD -- PROGRAM ARGS...
 *   godwit-keeper DIR EPOCH restore PIDFILE -- CRIU CRIU-ARGS...
 * The environment variable GODWIT_KEEPER_CGROUPS names control groups to join first.
 * GODWIT_KEEPER_USER ("UID GID G1,G2,...") is the program's owner: a launch runs the program as
 * that account, without capabilities and with PR_SET_NO_NEW_PRIVS, after it has checked, as the
 * owner, that CWD and PROGRAM are theirs to use; GODWIT_KEEPER_INIT (tini) is then exec'd as
 * `INIT -s -- KEEPER --exec-stopped PROGRAM ARGS...`, with exactly the environment in
 * DIR/env.EPOCH (NUL-separated KEY=VALUE): the keeper itself, root, never runs with what a user
 * asked for. Started so, tini's child stops itself and becomes the program once the keeper has
 * seen its PID, so that the PID of a program that ends at once (`true`) is known too.
 * GODWIT_KEEPER_CONTROL names the program's control directory (the one the agent answers): the
 * keeper serves the program's view of it (controlfs.c) at DIR/control.EPOCH, which a launch binds
 * at that same path in the program's mount namespace, and a restore hands to CRIU as the
 * external mount the images name.
 * In restore mode the new pipes' program ends are fds 3 (stdin), 4 (stdout), 5 (stderr) of CRIU,
 * and the files DIR/files.EPOCH names (NUL-separated "FLAGS OFFSET PATH": open(2) flags, where to
 * seek) are opened as the owner GODWIT_KEEPER_USER names, following no symbolic link, and placed
 * at fds 6, 7, ... for CRIU's --inherit-fd.
 *
 * DIR/stdin is a FIFO (made if missing) that the keeper holds open for reading and writing, so
 * the agent may come and go; it carries frames 'd' + u32 length + data, or 'c' + u32 0 (close).
 *
 * Input the program had not read when it ended (for instance dumped by CRIU) is saved to
 * DIR/unread.EPOCH before the exited event.
 *
 * Flow (the agent writes these files whole, by rename, and the keeper watches DIR for them):
 * DIR/taken.EPOCH holds the offset of DIR/out.EPOCH up to which the orchestrator has stored the
 * output for good. GODWIT_KEEPER_SPOOL (bytes) bounds what lies beyond it: at the bound the
 * keeper stops reading the program's output pipes, so the program's writes block as on a full
 * pipe, until more is taken; what was taken is punched out of the file (its offsets stay). After
 * the program's exit the pipes are drained whatever the bound (a pipe's worth at most).
 * DIR/closed.EPOCH names the output streams ("out", "err") whose reader is gone (mosrun's stdout
 * closed): the keeper closes its read end of that pipe, so the program's next write there gets
 * SIGPIPE (or EPIPE) from the kernel, as in a local pipeline. A restore's keeper finds the file
 * written before it starts, and closes the fresh pipe before the program runs again.
 *
 * Events are JSON lines in DIR/status.EPOCH: started {pid,in,out,err} (and program, the program's
 * host PID, on a launch), launch-failed {stage,errno}
 * (stage: account, cwd, program or exec), restore-failed {code,signal,stage,file,errno} (stage:
 * criu, or account, open or seek of file number FILE of DIR/files.EPOCH), stdin-closed,
 * exited {code,signal}. Output frames: one type byte ('o' stdout, 'e' stderr, 'x' exit JSON),
 * a 32-bit little-endian length, the payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups.h"
#include "controlfs.h"
#include "owner.h"
#include "proc-stat.h"

#define DRAIN_AFTER_EXIT_MS 3000
#define STDIN_BUF (1 << 20)

static int status_fd = -1, out_fd = -1;
/* bytes of frames in DIR/out.EPOCH: the keeper is its only writer */
static long long written;

/* the program's owner (GODWIT_KEEPER_USER): whose rights the program, and the files opened for it, get */
static struct owner owner;
static int have_owner;
static pid_t keeper_pid;
/* where the keeper serves the program's control directory, and the directory it shows */
static char control_at[4096];
static const char *control_dir;

/* the keeper's own end: its control mount goes with it (never from a child's exit) */
static void unmount_control(void)
{
	if (getpid() != keeper_pid || !control_at[0])
		return;
	controlfs_stop();
	rmdir(control_at);
	control_at[0] = 0;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "godwit-keeper: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(errno));
	va_end(ap);
	unmount_control();
	exit(125);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += n;
		len -= (size_t)n;
	}
}

static void event(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	write_all(status_fd, line, (size_t)n);
	fsync(status_fd);
}

static void frame(char type, const void *data, uint32_t len)
{
	char hdr[5];
	hdr[0] = type;
	memcpy(hdr + 1, &len, 4); /* x86-64 and arm64 are little-endian */
	struct iovec iov[2] = { { hdr, 5 }, { (void *)data, len } };
	ssize_t want = 5 + (ssize_t)len, n;
	do
		n = writev(out_fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n != want)
		die("writing output frame");
	written += n;
}

/* The first bytes of the small file DIR/NAME.EPOCH, NUL-terminated: "" without one. */
static void read_small(const char *dir, const char *name, const char *epoch, char *text, size_t size)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, epoch);
	text[0] = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, text, size - 1);
	close(fd);
	text[r > 0 ? r : 0] = 0;
}

/* How far DIR/taken.EPOCH says the output is stored: 0 without it. */
static long long read_taken(const char *dir, const char *epoch)
{
	char text[32];
	read_small(dir, "taken", epoch, text, sizeof(text));
	return atoll(text);
}

/* Which output streams DIR/closed.EPOCH names: bit 0 stdout ("out"), bit 1 stderr ("err"). */
static int read_closed(const char *dir, const char *epoch)
{
	char text[32];
	read_small(dir, "closed", epoch, text, sizeof(text));
	return (strstr(text, "out") ? 1 : 0) | (strstr(text, "err") ? 2 : 0);
}

/* Gives back the disk blocks of output stored for good: the file keeps its size and offsets. */
static void punch_taken(long long taken)
{
	static long long punched;
	long long upto = taken & ~4095LL;
	if (upto <= punched)
		return;
	/* a file system without holes keeps the bytes: only the disk use stays unbounded there */
	fallocate(out_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, punched, upto - punched);
	punched = upto;
}

static unsigned long ino_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	return (unsigned long)st.st_ino;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct launch_args {
	int in, out, err;
	const char *cwd;
	char **argv;
	/* the program's environment (DIR/env.EPOCH), tini, and this keeper's executable */
	char **envp;
	const char *init;
	const char *self;
	/* where the child says why it could not start the program: closed by a successful exec */
	int report;
};

static void reset_signals(void)
{
	int sigs[] = { SIGPIPE, SIGINT, SIGHUP, SIGTERM };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * GODWIT_KEEPER_CGROUPS (':'-separated directories) are the node's program control groups:
 * joined before any child exists, so the program, or the tree `criu restore` brings back, is
 * held to the node's capacity. Not passed on to the program.
 */
static void join_node_cgroups(void)
{
	const char *list = getenv("GODWIT_KEEPER_CGROUPS");
	char failed[4096];
	if (list && join_cgroups(list, failed, sizeof(failed)) < 0)
		die("joining control group %s", failed);
	unsetenv("GODWIT_KEEPER_CGROUPS");
}

/* GODWIT_KEEPER_USER: "UID GID G1,G2,..." (the groups may be empty); not passed on */
static void read_owner(void)
{
	const char *s = getenv("GODWIT_KEEPER_USER");
	if (s && *s) {
		if (parse_owner(s, &owner) < 0)
			die("GODWIT_KEEPER_USER '%s' is not \"UID GID G1,G2,...\"", s);
		have_owner = 1;
	}
	unsetenv("GODWIT_KEEPER_USER");
}

/* What the program left unread on its stdin, for the run that follows a dump: DIR/unread.EPOCH */
static void save_unread_input(const char *dir, const char *epoch, int in_r, const char *pending, size_t npending)
{
	char path[4096], buf[65536];
	fcntl(in_r, F_SETFL, O_NONBLOCK);
	ssize_t n = read(in_r, buf, sizeof(buf));
	if (n <= 0 && npending == 0)
		return;
	snprintf(path, sizeof(path), "%s/unread.%s", dir, epoch);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open %s", path);
	while (n > 0) {
		write_all(fd, buf, (size_t)n);
		n = read(in_r, buf, sizeof(buf));
	}
	/* then what the keeper had taken from the FIFO but not yet passed on */
	write_all(fd, pending, npending);
	close(fd);
}

#define MAX_FILES 64

/* the records of DIR/NAME.EPOCH, a root-only file of NUL-separated ones (below); NULL-terminated */
static char **read_records(const char *dir, const char *name, const char *epoch, int *count);

/* Ends the child that was to exec CRIU, telling the keeper why: stage, which file (or -1), errno */
static void __attribute__((noreturn)) restore_failed(int report, const char *stage, int file, int err)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %d %d", stage, file, err);
	ssize_t told = write(report, msg, (size_t)n);
	(void)told; /* the keeper reports a plain failure then */
	_exit(125);
}

/*
 * Opens the files DIR/files.EPOCH names (records "FLAGS OFFSET PATH": open(2) flags, where to
 * seek) each at fd 100 or above, as their owner and following no symbolic link: CRIU, root,
 * gets them already open, and so never opens or creates anything the owner could not. A file
 * that cannot be opened ends the child, reported as stage "open" with its index and errno.
 */
static int open_inherited_files(const char *dir, const char *epoch, int *fds, int report)
{
	int n;
	char **records = read_records(dir, "files", epoch, &n);
	if (n == 0)
		return 0;
	if (n > MAX_FILES || !have_owner) {
		errno = EINVAL;
		die("%d files to open for the program: at most %d, and only with GODWIT_KEEPER_USER", n, MAX_FILES);
	}
	if (fs_as_owner(&owner) < 0)
		restore_failed(report, "account", -1, errno);
	for (int i = 0; i < n; i++) {
		int flags, off = 0;
		long long offset;
		if (sscanf(records[i], "%d %lld %n", &flags, &offset, &off) != 2 || off == 0) {
			errno = EINVAL;
			die("%s/files.%s: bad entry '%s'", dir, epoch, records[i]);
		}
		int fd = open_no_symlinks(records[i] + off, flags, 0600);
		if (fd < 0)
			restore_failed(report, "open", i, errno);
		if (!(flags & O_APPEND) && offset > 0 && lseek(fd, offset, SEEK_SET) < 0)
			restore_failed(report, "seek", i, errno);
		fds[i] = fcntl(fd, F_DUPFD, 100);
		if (fds[i] < 0)
			die("dup");
		close(fd);
	}
	if (fs_back_to_root() < 0)
		restore_failed(report, "account", -1, errno);
	return n;
}

static char child_stack[256 * 1024] __attribute__((aligned(16)));

/*
 * Mounts the program must not have: namespace files bound into the host's tree (ip netns,
 * container runtimes), which CRIU cannot dump ("doesn't have a proper root mount"), and the
 * control mounts of every program on the host (CRIU refuses FUSE) but its own at `keep`, the
 * small tmpfs where godwit's CRIU caches its kernel probe (deploy/host/prepare.sh), and the
 * agents' tmpfs with the images of lazy moves under way (agent/src/run-dir.ts): none of the
 * program's business, and every dump would pack them and every restore unpack them.
 */
/* the source name deploy/host/prepare.sh mounts CRIU's kernel-probe cache with */
#define KDAT_MOUNT_SOURCE "godwit-criu"
/* the agents' runDir mounts: RUN_MOUNT_SOURCE in schemas/src/mountinfo.ts */
#define RUN_MOUNT_SOURCE "godwit-run"

static void detach_foreign_mounts(const char *keep)
{
	static char info[1 << 20];
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("reading /proc/self/mountinfo");
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(info) - 1 && (r = read(fd, info + len, sizeof(info) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	info[len] = 0;
	char mnt[4096], fstype[256], source[256];
	for (char *line = info, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s %255s", fstype, source) != 2 ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		int control = strcmp(fstype, "fuse." CONTROLFS_SUBTYPE) == 0;
		if (strcmp(fstype, "nsfs") == 0 || (control && !(keep && strcmp(mnt, keep) == 0)) ||
		    strcmp(source, KDAT_MOUNT_SOURCE) == 0 || strcmp(source, RUN_MOUNT_SOURCE) == 0)
			umount2(mnt, MNT_DETACH);
	}
}

/* what the child tells the keeper first when tini runs the program itself (see launch_child) */
#define DIRECT "direct\n"

/* Tells the keeper why the program could not start (stage, errno), and ends the child. */
static int launch_failed(int report, const char *stage, int err)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%s %d", stage, err);
	if (write(report, msg, (size_t)n) < 0)
		_exit(125);
	_exit(err == ENOENT ? 127 : 126);
}

/*
 * The program as a shell would find it, with the owner's rights (so "not found" and "permission
 * denied" are the owner's answers, not root's): a name with a slash as it is, else the first
 * executable file of that name on the environment's PATH. 0, or the errno that explains it.
 */
static int find_program(const char *name, char **envp, char *out, size_t size)
{
	struct stat st;
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		if (stat(out, &st) < 0)
			return errno;
		if (S_ISDIR(st.st_mode))
			return EISDIR;
		return access(out, X_OK) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EACCES;
	}
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int found = ENOENT;
	for (const char *d = path; *d;) {
		const char *colon = strchr(d, ':');
		size_t len = colon ? (size_t)(colon - d) : strlen(d);
		if (len > 0 && len + strlen(name) + 2 <= size) {
			memcpy(out, d, len);
			out[len] = '/';
			strcpy(out + len + 1, name);
			if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) {
				if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
					return 0;
				found = EACCES;
			}
		}
		d = colon ? colon + 1 : d + len;
	}
	return found;
}

/* PID 1 of the program's new namespaces. */
static int launch_child(void *p)
{
	struct launch_args *a = p;
	reset_signals();
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private");
	if (control_dir && mount(control_at, control_dir, NULL, MS_BIND, NULL) < 0)
		die("binding %s at %s", control_at, control_dir);
	detach_foreign_mounts(control_dir);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mounting /proc");
	if (setsid() < 0)
		die("setsid");
	if (dup2(a->in, 0) < 0 || dup2(a->out, 1) < 0 || dup2(a->err, 2) < 0)
		die("dup2");
	/* nothing of the keeper's may reach the program; the report pipe closes at the exec */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (become_owner(&owner) < 0)
		return launch_failed(a->report, "account", errno);
	if (chdir(a->cwd) < 0)
		return launch_failed(a->report, "cwd", errno);
	static char program[4096];
	int err = find_program(a->argv[0], a->envp, program, sizeof(program));
	if (err)
		return launch_failed(a->report, "program", err);
	/*
	 * Where the owner may not run this keeper's file (an installation only root can enter), tini
	 * runs the program itself: it works as well, but a program that ends at once does so unseen.
	 */
	int stop_first = access(a->self, X_OK) == 0;
	if (!stop_first && write(a->report, DIRECT, strlen(DIRECT)) < 0)
		_exit(125);
	int argc = 0;
	while (a->argv[argc])
		argc++;
	char **argv = calloc((size_t)argc + 6, sizeof(char *));
	if (!argv)
		return launch_failed(a->report, "exec", ENOMEM);
	int k = 0;
	argv[k++] = (char *)a->init;
	argv[k++] = "-s";
	argv[k++] = "--";
	if (stop_first) {
		argv[k++] = (char *)a->self;
		argv[k++] = "--exec-stopped";
	}
	argv[k++] = program;
	for (int i = 1; i < argc; i++)
		argv[k++] = a->argv[i];
	execve(a->init, argv, a->envp);
	return launch_failed(a->report, "exec", errno);
}

/*
 * DIR/NAME.EPOCH, written by the agent (agent/src/keeper.ts) for root alone: records separated
 * by NUL, so that no byte of a value (a newline in a path) can start another. A missing file
 * holds none.
 */
static char **read_records(const char *dir, const char *name, const char *epoch, int *count)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, epoch);
	char *text = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		die("open %s", path);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_size > (1 << 20))
			die("%s: too large", path);
		text = calloc((size_t)st.st_size + 1, 1);
		ssize_t r;
		while (text && got < (size_t)st.st_size && (r = read(fd, text + got, (size_t)st.st_size - got)) > 0)
			got += (size_t)r;
		close(fd);
	}
	int n = 0;
	for (size_t i = 0; i < got; i++)
		n += text[i] == 0;
	char **records = calloc((size_t)n + 2, sizeof(char *));
	if ((fd >= 0 && !text) || !records)
		die("reading %s", path);
	int k = 0;
	for (size_t i = 0; i < got; i += strlen(text + i) + 1)
		if (text[i])
			records[k++] = text + i;
	*count = k;
	return records;
}

/* the state letter of /proc/PID/stat (R, S, T, Z...), or 0 when there is no such process */
static char state_of(pid_t pid)
{
	char buf[512];
	const char *fields = proc_stat_fields(pid, buf, sizeof(buf));
	return fields ? fields[0] : 0;
}

/*
 * The host PID of tini's child, once it has stopped itself (--exec-stopped): it becomes the
 * program only when the keeper sends SIGCONT. 0 when tini ends first (the helper could not be
 * run) or nothing stops within two seconds; the program then runs on with its PID unknown.
 */
static pid_t stopped_program(pid_t root)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", root, root);
	for (long long until = now_ms() + 2000; now_ms() < until;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		pid_t kid = (pid_t)atoi(buf);
		if (kid > 0 && state_of(kid) == 'T')
			return kid;
		if (state_of(root) == 'Z')
			return 0;
		struct timespec pause = { 0, 200 * 1000 };
		nanosleep(&pause, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* tini's child (see launch_child): stopped until the keeper has seen its PID */
	if (argc >= 3 && strcmp(argv[1], "--exec-stopped") == 0) {
		raise(SIGSTOP);
		execv(argv[2], argv + 2);
		return errno == ENOENT ? 127 : 126;
	}
	if (argc < 7 || strcmp(argv[5], "--") != 0)
		goto usage;
	const char *dir = argv[1], *epoch = argv[2], *mode = argv[3], *arg = argv[4];
	char **rest = argv + 6;
	int restoring;
	if (strcmp(mode, "launch") == 0)
		restoring = 0;
	else if (strcmp(mode, "restore") == 0)
		restoring = 1;
	else
		goto usage;

	keeper_pid = getpid();
	join_node_cgroups();
	read_owner();
	const char *init = getenv("GODWIT_KEEPER_INIT");
	if (!restoring && (!have_owner || !init || *init != '/')) {
		errno = EINVAL;
		die("a launch needs GODWIT_KEEPER_USER and GODWIT_KEEPER_INIT");
	}
	init = init ? strdup(init) : NULL;
	unsetenv("GODWIT_KEEPER_INIT");
	control_dir = getenv("GODWIT_KEEPER_CONTROL");
	if (control_dir && !*control_dir)
		control_dir = NULL;
	if (control_dir) {
		control_dir = strdup(control_dir);
		snprintf(control_at, sizeof(control_at), "%s/control.%s", dir, epoch);
		if (mkdir(control_at, 0755) < 0 && errno != EEXIST)
			die("mkdir %s", control_at);
		if (controlfs_mount(control_dir, control_at, have_owner ? owner.uid : 0, have_owner ? owner.gid : 0) < 0)
			die("mounting the control directory at %s", control_at);
	}
	unsetenv("GODWIT_KEEPER_CONTROL");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die("PR_SET_CHILD_SUBREAPER");

	char path[4096];
	snprintf(path, sizeof(path), "%s/status.%s", dir, epoch);
	status_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (status_fd < 0)
		die("open %s", path);
	snprintf(path, sizeof(path), "%s/out.%s", dir, epoch);
	out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (out_fd < 0)
		die("open %s", path);
	struct stat out_st;
	if (fstat(out_fd, &out_st) < 0)
		die("fstat %s", path);
	written = out_st.st_size;
	const char *spool_env = getenv("GODWIT_KEEPER_SPOOL");
	long long spool_limit = spool_env ? atoll(spool_env) : 0;
	unsetenv("GODWIT_KEEPER_SPOOL");
	/* watched before anything is read from it, so that no rename between goes unseen */
	int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watch < 0 || inotify_add_watch(watch, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
		die("watching %s", dir);
	char taken_name[64], closed_name[64];
	snprintf(taken_name, sizeof(taken_name), "taken.%s", epoch);
	snprintf(closed_name, sizeof(closed_name), "closed.%s", epoch);
	long long taken = read_taken(dir, epoch);
	snprintf(path, sizeof(path), "%s/stdin", dir);
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		die("mkfifo %s", path);
	int fifo = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fifo < 0)
		die("open %s", path);

	int pin[2], pout[2], perr[2];
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
		die("pipe");
	unsigned long ino_in = ino_of(pin[0]), ino_out = ino_of(pout[0]), ino_err = ino_of(perr[0]);

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");

	pid_t root = -1, criu = -1;
	/* restore: where the child that execs CRIU says why it could not (restore_failed) */
	int restore_report = -1;
	if (!restoring) {
		int report[2];
		if (pipe2(report, O_CLOEXEC) < 0)
			die("pipe");
		int nenv;
		static char self[4096];
		ssize_t selflen = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (selflen <= 0 || selflen >= (ssize_t)sizeof(self) - 1)
			die("reading /proc/self/exe");
		struct launch_args a = { pin[0], pout[1], perr[1], arg, rest, read_records(dir, "env", epoch, &nenv), init, self, report[1] };
		root = clone(launch_child, child_stack + sizeof(child_stack),
			     CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD, &a);
		if (root < 0)
			die("clone");
		close(report[1]);
		/* only now: the clone above must copy a keeper without threads */
		if (control_dir) {
			controlfs_set_program(root);
			if (controlfs_serve() < 0)
				die("serving the control directory");
		}
		char why[64] = { 0 };
		size_t got = 0;
		for (ssize_t r; got < sizeof(why) - 1;) {
			r = read(report[0], why + got, sizeof(why) - 1 - got);
			if (r > 0)
				got += (size_t)r;
			else if (r == 0 || errno != EINTR)
				break;
		}
		close(report[0]);
		int direct = strncmp(why, DIRECT, strlen(DIRECT)) == 0;
		char stage[16];
		int err;
		if (sscanf(why + (direct ? strlen(DIRECT) : 0), "%15s %d", stage, &err) == 2) {
			waitpid(root, NULL, 0);
			unmount_control();
			event("{\"ev\":\"launch-failed\",\"stage\":\"%s\",\"errno\":%d}", stage, err);
			return 1;
		}
		pid_t program = direct ? 0 : stopped_program(root);
		event("{\"ev\":\"started\",\"pid\":%d,\"program\":%d,\"in\":%lu,\"out\":%lu,\"err\":%lu}", root,
		      program, ino_in, ino_out, ino_err);
		if (program > 0)
			kill(program, SIGCONT);
	} else {
		if (control_dir && controlfs_serve() < 0)
			die("serving the control directory");
		int report[2];
		if (pipe2(report, O_CLOEXEC) < 0)
			die("pipe");
		criu = fork();
		if (criu < 0)
			die("fork");
		if (criu == 0) {
			reset_signals();
			int devnull = open("/dev/null", O_RDWR);
			if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
			    dup2(devnull, 2) < 0)
				die("redirecting criu's stdio");
			/* fds 3..5 may be taken by our own descriptors: move the pipe ends clear first */
			int a = fcntl(pin[0], F_DUPFD, 100), b = fcntl(pout[1], F_DUPFD, 100),
			    c = fcntl(perr[1], F_DUPFD, 100), why = fcntl(report[1], F_DUPFD_CLOEXEC, 100);
			if (a < 0 || b < 0 || c < 0 || why < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0 || dup2(c, 5) < 0)
				die("placing pipes for criu");
			int files[MAX_FILES], nfiles = open_inherited_files(dir, epoch, files, why);
			for (int i = 0; i < nfiles; i++)
				if (dup2(files[i], 6 + i) < 0)
					die("placing files for criu");
			syscall(SYS_close_range, 6 + nfiles, ~0U, 0);
			execv(rest[0], rest);
			die("exec %s", rest[0]);
		}
		close(report[1]);
		restore_report = report[0];
		fcntl(restore_report, F_SETFL, O_NONBLOCK);
	}
	/*
	 * Keep a read end of the program's stdin: input it had not read when CRIU dumped it would
	 * otherwise vanish with the pipe (a restore gets fresh pipes). Read only after it is gone.
	 */
	int in_r = pin[0];
	close(pout[1]);
	close(perr[1]);
	int in_w = pin[1];
	fcntl(in_w, F_SETFL, O_NONBLOCK);
	int out_open = 1, err_open = 1;
	int closed = read_closed(dir, epoch);

	/* reaped before we knew which PID the restored root had */
	pid_t early_pid[64];
	int early_status[64], nearly = 0;

	int have_exit = 0, exit_status = 0, fifo_open = 1;
	long long exited_at = 0;
	static char buf[65536];
	static char inbuf[STDIN_BUF];
	size_t inlen = 0, inoff = 0;
	/* partial input frame from the FIFO */
	static char fhdr[5];
	size_t fhdr_len = 0;
	uint32_t fdata_left = 0;
	int close_stdin_after = 0;

	for (;;) {
		if ((closed & 1) && out_open) {
			close(pout[0]);
			out_open = 0;
		}
		if ((closed & 2) && err_open) {
			close(perr[0]);
			err_open = 0;
		}
		if (have_exit && ((!out_open && !err_open) || now_ms() - exited_at > DRAIN_AFTER_EXIT_MS))
			break;
		/* the spool is full: the program's writes wait, as on a full pipe, until more is taken */
		int room = have_exit || spool_limit <= 0 || written - taken < spool_limit;
		struct pollfd p[6];
		int np = 0, i_sfd, i_watch, i_out = -1, i_err = -1, i_fifo = -1, i_inw = -1;
		p[np] = (struct pollfd){ sfd, POLLIN, 0 };
		i_sfd = np++;
		p[np] = (struct pollfd){ watch, POLLIN, 0 };
		i_watch = np++;
		if (out_open && room) {
			p[np] = (struct pollfd){ pout[0], POLLIN, 0 };
			i_out = np++;
		}
		if (err_open && room) {
			p[np] = (struct pollfd){ perr[0], POLLIN, 0 };
			i_err = np++;
		}
		if (in_w >= 0 && inlen > inoff) {
			p[np] = (struct pollfd){ in_w, POLLOUT, 0 };
			i_inw = np++;
		} else if (fifo_open && in_w >= 0) {
			p[np] = (struct pollfd){ fifo, POLLIN, 0 };
			i_fifo = np++;
		}
		int n = poll(p, (nfds_t)np, have_exit ? 200 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[i_watch].revents & POLLIN) {
			/* names end the events; a buffer of whole events, aligned as they are */
			static char evbuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t len;
			while ((len = read(watch, evbuf, sizeof(evbuf))) > 0) {
				for (char *at = evbuf; at < evbuf + len;) {
					struct inotify_event *ie = (struct inotify_event *)at;
					if (ie->len && strcmp(ie->name, taken_name) == 0) {
						taken = read_taken(dir, epoch);
						punch_taken(taken);
					} else if (ie->len && strcmp(ie->name, closed_name) == 0) {
						closed = read_closed(dir, epoch);
					}
					at += sizeof(struct inotify_event) + ie->len;
				}
			}
		}
		if (p[i_sfd].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			int st;
			pid_t w;
			while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
				if (w == criu) {
					criu = -1;
					if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
						char why[64] = { 0 }, stage[16] = "criu";
						int file = -1, err = 0;
						if (read(restore_report, why, sizeof(why) - 1) > 0 &&
						    sscanf(why, "%15s %d %d", stage, &file, &err) != 3) {
							strcpy(stage, "criu");
							file = -1;
							err = 0;
						}
						event("{\"ev\":\"restore-failed\",\"code\":%d,\"signal\":%d,\"stage\":\"%s\",\"file\":%d,\"errno\":%d}",
						      WIFEXITED(st) ? WEXITSTATUS(st) : -1,
						      WIFSIGNALED(st) ? WTERMSIG(st) : 0, stage, file, err);
						unmount_control();
						return 1;
					}
					FILE *f = fopen(arg, "r");
					if (!f || fscanf(f, "%d", &root) != 1)
						die("reading pidfile %s", arg);
					fclose(f);
					if (control_dir)
						controlfs_set_program(root);
					event("{\"ev\":\"started\",\"pid\":%d,\"in\":%lu,\"out\":%lu,\"err\":%lu}",
					      root, ino_in, ino_out, ino_err);
					for (int i = 0; i < nearly; i++)
						if (early_pid[i] == root) {
							have_exit = 1;
							exit_status = early_status[i];
							exited_at = now_ms();
						}
				} else if (w == root) {
					have_exit = 1;
					exit_status = st;
					exited_at = now_ms();
				} else if (root < 0 && nearly < 64) {
					early_pid[nearly] = w;
					early_status[nearly++] = st;
				}
			}
		}
		int fds[2] = { i_out, i_err }, rfd[2] = { pout[0], perr[0] };
		char types[2] = { 'o', 'e' };
		for (int k = 0; k < 2; k++) {
			if (fds[k] < 0 || !(p[fds[k]].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(rfd[k], buf, sizeof(buf));
			if (r > 0)
				frame(types[k], buf, (uint32_t)r);
			else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				if (k == 0)
					out_open = 0;
				else
					err_open = 0;
			}
		}
		if (i_inw >= 0 && (p[i_inw].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in_w, inbuf + inoff, inlen - inoff);
			if (w > 0)
				inoff += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				close(in_w); /* the program closed its stdin */
				in_w = -1;
			}
			if (inoff == inlen) {
				inoff = inlen = 0;
				if (close_stdin_after && in_w >= 0) {
					close(in_w);
					in_w = -1;
				}
			}
		}
		if (i_fifo >= 0 && (p[i_fifo].revents & POLLIN)) {
			/* frames: 'd' + u32 length + data, or 'c' + u32 0 to close the program's stdin */
			for (;;) {
				if (fhdr_len < 5) {
					ssize_t r = read(fifo, fhdr + fhdr_len, 5 - fhdr_len);
					if (r <= 0)
						break;
					fhdr_len += (size_t)r;
					if (fhdr_len < 5)
						continue;
					memcpy(&fdata_left, fhdr + 1, 4);
					if (fhdr[0] == 'c') {
						event("{\"ev\":\"stdin-closed\"}");
						close_stdin_after = 1;
						fhdr_len = 0;
						if (inlen == inoff) {
							close(in_w);
							in_w = -1;
						}
						fifo_open = 0;
						break;
					}
				}
				size_t room = STDIN_BUF - inlen;
				if (room == 0)
					break;
				size_t want = fdata_left < room ? fdata_left : room;
				ssize_t r = want ? read(fifo, inbuf + inlen, want) : 0;
				if (r < 0)
					break;
				inlen += (size_t)r;
				fdata_left -= (uint32_t)r;
				if (fdata_left == 0)
					fhdr_len = 0;
				if (r == 0 && want)
					break;
			}
		}
	}

	save_unread_input(dir, epoch, in_r, inbuf + inoff, inlen - inoff);
	char js[128];
	int code = WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : -1;
	int sig = WIFSIGNALED(exit_status) ? WTERMSIG(exit_status) : 0;
	int len = snprintf(js, sizeof(js), "{\"code\":%d,\"signal\":%d}", code, sig);
	frame('x', js, (uint32_t)len);
	fsync(out_fd);
	unmount_control();
	event("{\"ev\":\"exited\",\"code\":%d,\"signal\":%d}", code, sig);
	return 0;

usage:
	fprintf(stderr, "usage: godwit-keeper DIR EPOCH launch CWD -- PROGRAM ARGS...\n"
			"       godwit-keeper DIR EPOCH restore PIDFILE -- CRIU CRIU-ARGS...\n");
	return 2;
}

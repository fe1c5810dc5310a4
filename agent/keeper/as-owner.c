/*
 * godwit-as-owner: writes files, and looks at them, on a user's behalf with that user's rights,
 * for the agent (agent/src/as-owner.ts), which runs as root. A recovery writes back the files a
 * program had saved with its checkpoint (agent/src/checkpoints.ts): as root, it would follow a
 * symbolic link the user planted to any file of the system, and make setuid files of theirs
 * root's. The sizes of a checkpoint's files now (mosrun -I, and a recovery's check for changed
 * files) are told to that user: as root, they would tell the size of any file of the system.
 *
 * Usage:
 *   godwit-as-owner "UID GID G1,G2,..." copy SRC DST MODE [SRC DST MODE]...
 *   godwit-as-owner "UID GID G1,G2,..." stat PATH...
 * Each SRC (in a directory only root may read) is opened first, as root; then this process
 * becomes the owner for good (owner.c become_owner: groups, gid, uid, no capabilities, no new
 * privileges). Each DST is then created or truncated as the owner, following no symbolic link in
 * any component, must be a regular file, gets MODE & 0777 (never setuid, setgid or sticky), the
 * content of SRC, and is synced. One line per file on stdout, in order: "I ok", or "I STAGE ERRNO"
 * (stage: source, open, type, chmod, copy or sync); a failed file does not stop the others.
 * Exit status: 0 all written, 1 some not, 2 usage, the owner could not be taken on (stderr) or
 * stdout failed.
 *
 * stat becomes the owner first, then opens each PATH (O_PATH: as stat(2), it needs only the
 * search right on the directories on the way), following no symbolic link in any component. One
 * line per path on stdout, in order: "I size SIZE", or "I ERRNO" (ELOOP: a symbolic link is on
 * the way or at the end). Exit status: 0, or 2 as for copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owner.h"

#define MAX_FILES 4096

static int copy_fd(int from, int to)
{
	static char buf[1 << 16];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(to, buf + done, (size_t)(n - done));
			if (w < 0 && errno != EINTR)
				return -1;
			if (w > 0)
				done += w;
		}
	}
}

/* "" when written, else the stage that failed (errno says why) */
static const char *write_one(int src, const char *dst, mode_t mode)
{
	/* O_NONBLOCK: a FIFO planted in its place must not hold the recovery (it is refused below) */
	int fd = open_no_symlinks(dst, O_WRONLY | O_CREAT | O_NONBLOCK, 0600);
	if (fd < 0)
		return "open";
	const char *failed = "";
	struct stat st;
	if (fstat(fd, &st) < 0)
		failed = "type";
	else if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		failed = "type";
	} else if (fchmod(fd, mode & 0777) < 0)
		failed = "chmod";
	else if (ftruncate(fd, 0) < 0 || fcntl(fd, F_SETFL, 0) < 0 || copy_fd(src, fd) < 0)
		failed = "copy";
	else if (fsync(fd) < 0)
		failed = "sync";
	int err = errno;
	close(fd);
	errno = err;
	return failed;
}

static int become(const struct owner *owner)
{
	if (become_owner(owner) < 0) {
		fprintf(stderr, "godwit-as-owner: cannot become uid %u: %s\n", (unsigned)owner->uid, strerror(errno));
		return -1;
	}
	return 0;
}

static int stat_all(const struct owner *owner, int n, char **paths)
{
	if (become(owner) < 0)
		return 2;
	for (int i = 0; i < n; i++) {
		struct stat st;
		int fd = open_no_symlinks(paths[i], O_PATH, 0);
		if (fd < 0 || fstat(fd, &st) < 0)
			printf("%d %d\n", i, errno);
		else
			printf("%d size %lld\n", i, (long long)st.st_size);
		if (fd >= 0)
			close(fd);
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

static int copy_all(const struct owner *owner, int n, char **args)
{
	static int src[MAX_FILES], src_errno[MAX_FILES];
	for (int i = 0; i < n; i++) {
		src[i] = open_no_symlinks(args[3 * i], O_RDONLY, 0);
		src_errno[i] = src[i] < 0 ? errno : 0;
	}
	if (become(owner) < 0)
		return 2;
	int status = 0, unreported = 0;
	for (int i = 0; i < n; i++) {
		const char *dst = args[1 + 3 * i], *mode_s = args[2 + 3 * i];
		char *end;
		unsigned long mode = strtoul(mode_s, &end, 8);
		const char *failed;
		if (src[i] < 0) {
			errno = src_errno[i];
			failed = "source";
		} else if (end == mode_s || *end) {
			errno = EINVAL;
			failed = "chmod";
		} else {
			failed = write_one(src[i], dst, (mode_t)mode);
		}
		if (*failed) {
			printf("%d %s %d\n", i, failed, errno);
			status = 1;
		} else
			printf("%d ok\n", i);
		/* a line not written leaves the agent without that file's outcome: the run fails as a whole */
		if (fflush(stdout) != 0)
			unreported = 1;
	}
	return unreported ? 2 : status;
}

int main(int argc, char **argv)
{
	struct owner owner;
	int copy = argc >= 3 && strcmp(argv[2], "copy") == 0, look = argc >= 3 && strcmp(argv[2], "stat") == 0;
	int n = copy ? (argc - 3) / 3 : argc - 3;
	if ((!(copy && argc >= 6 && (argc - 3) % 3 == 0) && !(look && argc >= 4)) || n > MAX_FILES) {
		fprintf(stderr, "usage: godwit-as-owner \"UID GID G1,G2,...\" copy SRC DST MODE [SRC DST MODE]...\n"
				"       godwit-as-owner \"UID GID G1,G2,...\" stat PATH...\n");
		return 2;
	}
	if (parse_owner(argv[1], &owner) < 0) {
		fprintf(stderr, "godwit-as-owner: '%s' is not \"UID GID G1,G2,...\"\n", argv[1]);
		return 2;
	}
	return copy ? copy_all(&owner, n, argv + 3) : stat_all(&owner, n, argv + 3);
}

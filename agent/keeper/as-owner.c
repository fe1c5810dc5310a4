/*
 * godwit-as-owner: writes files on a user's behalf with that user's rights, for the agent
 * (agent/src/as-owner.ts), which runs as root. A recovery writes back the files a program had
 * saved with its checkpoint (agent/src/checkpoints.ts): as root, it would follow a symbolic link
 * the user planted to any file of the system, and make setuid files of theirs root's.
 *
 * Usage:
 *   godwit-as-owner "UID GID G1,G2,..." copy SRC DST MODE [SRC DST MODE]...
 * Each SRC (in a directory only root may read) is opened first, as root; then this process
 * becomes the owner for good (owner.c become_owner: groups, gid, uid, no capabilities, no new
 * privileges). Each DST is then created or truncated as the owner, following no symbolic link in
 * any component, must be a regular file, gets MODE & 0777 (never setuid, setgid or sticky), the
 * content of SRC, and is synced. One line per file on stdout, in order: "I ok", or "I STAGE ERRNO"
 * (stage: source, open, type, chmod, copy or sync); a failed file does not stop the others.
 * Exit status: 0 all written, 1 some not, 2 usage or the owner could not be taken on (stderr).
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

int main(int argc, char **argv)
{
	struct owner owner;
	if (argc < 6 || (argc - 3) % 3 != 0 || (argc - 3) / 3 > MAX_FILES || strcmp(argv[2], "copy") != 0) {
		fprintf(stderr, "usage: godwit-as-owner \"UID GID G1,G2,...\" copy SRC DST MODE [SRC DST MODE]...\n");
		return 2;
	}
	if (parse_owner(argv[1], &owner) < 0) {
		fprintf(stderr, "godwit-as-owner: '%s' is not \"UID GID G1,G2,...\"\n", argv[1]);
		return 2;
	}
	int n = (argc - 3) / 3;
	static int src[MAX_FILES], src_errno[MAX_FILES];
	for (int i = 0; i < n; i++) {
		src[i] = open_no_symlinks(argv[3 + 3 * i], O_RDONLY, 0);
		src_errno[i] = src[i] < 0 ? errno : 0;
	}
	if (become_owner(&owner) < 0) {
		fprintf(stderr, "godwit-as-owner: cannot become uid %u: %s\n", (unsigned)owner.uid, strerror(errno));
		return 2;
	}
	int status = 0;
	for (int i = 0; i < n; i++) {
		const char *dst = argv[4 + 3 * i], *mode_s = argv[5 + 3 * i];
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
		fflush(stdout);
	}
	return status;
}

/*
 * The backing directory behind the control view (controlfs.c): the directory the agent reads and
 * answers. Its control files by name and by the view's inode numbers, their text, and requests
 * written the way the agent writes its answers.
 */
#ifndef GODWIT_CONTROLFS_BACKING_H
#define GODWIT_CONTROLFS_BACKING_H

#include <dirent.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/types.h>

#define NAME_MAX_LEN 64
#define TEXT_MAX 4096

void backing_init(const char *dir);
/* the view's inode number of a name (1 is the directory): 0 when the table is full */
fuse_ino_t control_ino(const char *name);
/* the name of an inode number, into out (NAME_MAX_LEN): 0 when there is none */
int control_name(fuse_ino_t ino, char *out);
/* a control file is a visible regular file of the backing directory: its lstat in st */
int is_control_file(const char *name, struct stat *st);
/* lstat of the backing directory itself */
int backing_stat(struct stat *st);
DIR *backing_opendir(void);
/* the backing file's text and inode; -1 if it is not there */
ssize_t read_backing(const char *name, char *buf, size_t size, ino_t *ino);
/* a new file renamed over the old, its inode in ino: 0, or -errno */
int write_backing(const char *name, const char *text, size_t len, ino_t *ino);
/* the agent's answer to a request: `ok N` or `error: ...` */
int is_answer(const char *text, size_t len);
/* whether a write to the file waits for the agent's answer (checkpoint) */
int waits(const char *name);

#endif

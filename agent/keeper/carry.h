/*
 * What godwit-carry's commands share (carry.c: pack, place, remove; carry-stream.c: send and
 * stage, a pre-copy's files as one stream).
 */
#ifndef GODWIT_CARRY_H
#define GODWIT_CARRY_H

#include <sys/stat.h>
#include <time.h>

#include "owner.h"

/* openat2 beneath dirfd, following no symbolic link: the owner may have planted one */
int open_beneath(int dirfd, const char *rel, int flags, mode_t mode);
long long ns_of(struct timespec t);
struct timespec ts_of(long long ns);
/* closes fd, errno as it was; returns failed */
const char *close_keeping_errno(int fd, const char *failed);
/* gives the written fd its size, mode and times, synced (or its writing back begun), and closes it: "" or the stage that failed */
const char *finish_file(int fd, long long size, mode_t mode, const struct timespec times[2], int sync, struct stat *st);

/* godwit-carry send N: see carry-stream.c */
int carry_send(int n);
/* godwit-carry stage OWNER STAGE: see carry-stream.c; stage opened as root */
int carry_stage(const struct owner *owner, int stage);

#endif

/*
 * Joining the node's program control groups: shared by the keeper (keeper.c) and the home PID's
 * stand-in (deputy.c), so that both are held, and ended, with the node's programs.
 */
#ifndef GODWIT_CGROUPS_H
#define GODWIT_CGROUPS_H

#include <stddef.h>

/*
 * Moves this process into each of the ':'-separated control group directories of list (none
 * when empty): 0, or -1 with errno and the directory that refused it in failed.
 */
int join_cgroups(const char *list, char *failed, size_t size);

#endif

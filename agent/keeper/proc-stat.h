/* /proc/PID/stat, read past the command name (which may hold anything, ')' included). */
#ifndef GODWIT_PROC_STAT_H
#define GODWIT_PROC_STAT_H

#include <stddef.h>
#include <sys/types.h>

/* the fields after "PID (COMM) ", starting with the state letter, read into buf; NULL when there is no such process */
const char *proc_stat_fields(pid_t pid, char *buf, size_t size);

/* when the process started (field 22: clock ticks since boot), which tells it from a later one at its PID; 0 when there is none */
unsigned long long proc_start_time(pid_t pid);

#endif

/*
 * The run's own memory control group (cgroup v1): a leaf under the node's, made by the keeper for one epoch
 * of one program (GODWIT_KEEPER_RUN_CGROUP), which the program (or the tree CRIU restores) joins
 * before it runs. The node's limit still holds it (the leaf has none of its own), but the kernel
 * counts an OOM kill in the victim's group: the leaf's count says whether the node's memory limit
 * killed this program, whoever else ran on the node. Removed at the epoch's end.
 */
#ifndef GODWIT_RUN_CGROUP_H
#define GODWIT_RUN_CGROUP_H

/* the leaf's directory, or NULL when there is none (not asked for, or it could not be made) */
extern const char *run_cgroup;

/* makes the leaf GODWIT_KEEPER_RUN_CGROUP names (logged, and none used, when it cannot be) */
void run_cgroup_make(void);
/* moves the calling process into the leaf, before it runs the program or CRIU: 0, or -1 (logged) */
int run_cgroup_join(void);
/* OOM kills counted in the leaf (cgroup v1's memory.oom_control), or -1 when unknown */
long long run_cgroup_oom_kills(void);
/* removes the leaf, now that nothing is left in it */
void run_cgroup_remove(void);

#endif

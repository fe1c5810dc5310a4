/* The monotonic clock in milliseconds: the keeper's deadlines and the control view's waits. */
#ifndef GODWIT_CLOCK_MS_H
#define GODWIT_CLOCK_MS_H

long long now_ms(void);

#endif

/* perf.h -- naming compiled code for Linux perf (cpython-glue/perf.c). */
#ifndef EMBER_PERF_H
#define EMBER_PERF_H
#include <stdint.h>

/* EMBER_PERF: what is written for perf per compiled function. */
enum { EMBER_PERF_OFF = 0, EMBER_PERF_MAP = 1, EMBER_PERF_JITDUMP = 2 };

/* Records compiled code at `code` (`size` bytes) named `name` for perf, as `mode` says: a line
 * in /tmp/perf-<pid>.map, or a JIT_CODE_LOAD record (with a copy of the code) in
 * /tmp/jit-<pid>.dump for `perf inject --jit`. Call with the GIL held. Failures are silent
 * (perf then shows the address). */
void ember_perf_record(int mode, const void *code, uint64_t size, const char *name);

#endif

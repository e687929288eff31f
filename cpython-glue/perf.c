/* perf.c -- naming compiled code for Linux perf.
 *
 * Two forms (EMBER_PERF, docs/user-guide.md):
 * - map: /tmp/perf-<pid>.map, one "start size name" line per function (perf report reads it);
 * - jitdump: /tmp/jit-<pid>.dump in perf's jitdump format (tools/perf/util/jitdump.h in the
 *   kernel tree: a file header, then one JIT_CODE_LOAD record per function holding a copy of
 *   its code). The file is mapped executable once, so that `perf record -k 1` logs the mapping
 *   and `perf inject --jit` finds the file, writes an ELF image per function and points the
 *   samples at them (symbols and `perf annotate` for JIT code). Timestamps are
 *   CLOCK_MONOTONIC, the clock of `perf record -k 1`.
 * A forked child writes its own files (the pid is checked at every record). */
#define _GNU_SOURCE
#include "perf.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define JITDUMP_MAGIC 0x4A695444u   /* "JiTD" */
#define JITDUMP_VERSION 1u
#define JIT_CODE_LOAD 0u

struct jitdump_header {
    uint32_t magic, version, total_size, elf_mach, pad1, pid;
    uint64_t timestamp, flags;
};

struct jitdump_code_load {
    uint32_t id, total_size;
    uint64_t timestamp;
    uint32_t pid, tid;
    uint64_t vma, code_addr, code_size, code_index;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static FILE *dump_file;
static pid_t dump_pid;
static uint64_t dump_index;

/* The jitdump file of this process, opened (header written, mapping made) at first use. */
static FILE *jitdump(void)
{
    pid_t pid = getpid();
    if (dump_file && dump_pid == pid) return dump_file;
    dump_file = NULL;   /* a forked child: the parent's stream is not ours to close */
    dump_pid = pid;
    dump_index = 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/jit-%d.dump", (int)pid);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd < 0) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    /* The marker perf looks for: an executable mapping of the file (never unmapped). */
    if (mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return NULL;
    }
#if defined(__x86_64__)
    uint32_t mach = EM_X86_64;
#elif defined(__aarch64__)
    uint32_t mach = EM_AARCH64;
#else
    uint32_t mach = EM_NONE;
#endif
    struct jitdump_header h = {JITDUMP_MAGIC, JITDUMP_VERSION, sizeof h, mach, 0, (uint32_t)pid, now_ns(), 0};
    fwrite(&h, sizeof h, 1, f);
    fflush(f);
    dump_file = f;
    return f;
}

void ember_perf_record(int mode, const void *code, uint64_t size, const char *name)
{
    if (mode == EMBER_PERF_MAP) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
        FILE *pm = fopen(path, "a");
        if (pm) {
            fprintf(pm, "%lx %lx ember:%s\n", (unsigned long)(uintptr_t)code, (unsigned long)size, name);
            fclose(pm);
        }
        return;
    }
    if (mode != EMBER_PERF_JITDUMP) return;
    FILE *f = jitdump();
    if (!f) return;
    char sym[512];
    int n = snprintf(sym, sizeof sym, "ember:%s", name);
    size_t namelen = (size_t)(n < 0 ? 0 : n >= (int)sizeof sym ? (int)sizeof sym - 1 : n) + 1;
    struct jitdump_code_load r = {
        JIT_CODE_LOAD, (uint32_t)(sizeof r + namelen + size), now_ns(), (uint32_t)getpid(),
        (uint32_t)syscall(SYS_gettid), (uint64_t)(uintptr_t)code, (uint64_t)(uintptr_t)code, size, dump_index++,
    };
    fwrite(&r, sizeof r, 1, f);
    fwrite(sym, namelen, 1, f);
    fwrite(code, (size_t)size, 1, f);
    fflush(f);
}

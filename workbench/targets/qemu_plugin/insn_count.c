/*
 * SPDX-License-Identifier: MIT
 *
 * insn_count.c - QEMU TCG plugin: exact count of guest instructions executed between two
 * marker functions, wb_count_begin() and wb_count_end().
 *
 * Arguments (QEMU passes each "-plugin file=...,key=value" pair as one argv string):
 *   begin=ADDR       first instruction of wb_count_begin (ELF symbol value; Thumb bit 0 may be set)
 *   begin_size=N     size of wb_count_begin in bytes (ELF symbol size)
 *   end=ADDR         first instruction of wb_count_end
 *   end_size=N       size of wb_count_end in bytes
 *   out=PATH         file to write, truncated at start; one decimal line per begin/end pair
 *   per_vcpu=1       optional: count each vCPU apart (multi-core machines); see below
 *
 * What a line counts: the guest instructions executed after wb_count_begin() returns and before the
 * one branch instruction that enters wb_count_end(). So `wb_count_begin(); wb_count_end();` reads 0 and
 * the call sequence itself (the two calls, the marker bodies, their returns) is never in a count.
 * Precisely: instructions inside either marker function are never counted, and the last counted
 * instruction before wb_count_end's entry is the branch into it, which is subtracted.
 *
 * An instruction whose condition fails (inside an IT block) counts: it was fetched and issued.
 *
 * How: every other instruction gets an inline "add 1" on a 64-bit counter (generated code, no call),
 * and only the two marker entries get an exec callback that snapshots the counter. An inline op runs
 * before its instruction, so an instruction that faults and is re-executed after the exception counts
 * twice; exception handlers that run inside the window are counted. Neither happens in the
 * measurement windows workbench uses (interrupts masked, no faults).
 *
 * Per vCPU (per_vcpu=1): each vCPU has its own begin/end pairing and its own count, and every line
 * is "VCPU COUNT" (the vCPU index, then the count). The counter stays one plain inline add (QEMU 7.2
 * has no per-vCPU inline counters); instead one exec callback per translation block attributes the
 * counter's advance to the vCPU that ran it whenever another vCPU's block starts. That is exact
 * because under -icount QEMU runs all vCPUs in one thread, round robin, switching only between
 * blocks. Without per_vcpu the counter is not atomic: single-threaded TCG only (one vCPU, or -icount).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Minimal QEMU plugin API declarations.
 *
 * Debian's qemu-system-arm (7.2) loads TCG plugins but ships no qemu-plugin.h, and no QEMU source
 * may live in this repository. The plugin API is a C ABI that QEMU resolves from its own executable
 * when it dlopen()s a plugin, so we declare here, in our own code, only what this file uses. The
 * prototypes, enum values and API version follow QEMU 7.2's documentation (docs/devel/tcg-plugins),
 * were checked against QEMU's public plugin header for API version 1, and against the QEMU 7.2
 * binary itself: it exports every function below and refuses a plugin that claims version 2.
 */

/** Opaque handle QEMU gives each loaded plugin. */
typedef uint64_t qemu_plugin_id_t;

/** Passed to qemu_plugin_install(); we never read it, so it stays opaque. */
typedef struct qemu_info_t qemu_info_t;

/** Translation block and instruction handles, valid only during the translation callback. */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

/** QEMU 7.2 accepts plugin API versions 0..1; we are built against version 1. */
#define WB_QEMU_PLUGIN_API_VERSION 1

/** Callback flags: our callbacks never touch guest registers. */
enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS = 0,
};

/** Inline operations: the only one QEMU 7.2 has is a 64-bit add of an immediate. */
enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64 = 0,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);

/* Built with -fvisibility=hidden: these two are the only symbols QEMU looks up in a plugin. */
#define WB_PLUGIN_EXPORT __attribute__((visibility("default")))

WB_PLUGIN_EXPORT int qemu_plugin_version = WB_QEMU_PLUGIN_API_VERSION;

WB_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                         char **argv);

/* ---------------------------------------------------------------------------------------------- */

/** Address range [lo, hi) of one marker function; lo is its entry. */
struct marker {
    uint64_t lo;
    uint64_t hi;
};

static struct marker begin_fn;
static struct marker end_fn;

/** Incremented by generated code before every instruction outside the marker functions. */
static uint64_t insn_counter;

/** Per vCPU (index < MAX_VCPUS): its count when wb_count_begin was last entered, valid while armed.
 * Without per_vcpu only index 0 is used and the count is the counter itself. */
#define MAX_VCPUS 8
static uint64_t begin_snapshot[MAX_VCPUS];
static bool armed[MAX_VCPUS];

static FILE *out_file;

/* per_vcpu: instructions attributed to each vCPU up to `attributed` (a counter value); the counter's
 * advance since then belongs to `running`, the vCPU whose blocks execute now. */
static bool per_vcpu;
static uint64_t vcpu_insns[MAX_VCPUS];
static uint64_t attributed;
static unsigned int running;

/** Instructions vCPU `v` has executed (outside the marker functions). */
static uint64_t vcpu_count(unsigned int v)
{
    if (!per_vcpu) {
        return insn_counter;
    }
    return vcpu_insns[v] + (v == running ? insn_counter - attributed : 0U);
}

static void on_tb_exec(unsigned int vcpu_index, void *userdata)
{
    (void)userdata;
    if (vcpu_index != running && vcpu_index < MAX_VCPUS) {
        vcpu_insns[running] += insn_counter - attributed;
        attributed = insn_counter;
        running = vcpu_index;
    }
}

static bool in_marker(const struct marker *m, uint64_t vaddr)
{
    return vaddr >= m->lo && vaddr < m->hi;
}

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)userdata;
    unsigned int v = per_vcpu ? vcpu_index : 0U;
    if (v < MAX_VCPUS) {
        begin_snapshot[v] = vcpu_count(v);
        armed[v] = true;
    }
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    (void)userdata;
    unsigned int v = per_vcpu ? vcpu_index : 0U;
    if (v >= MAX_VCPUS || !armed[v]) {
        return; /* an end without a begin measures nothing */
    }
    armed[v] = false;

    /* The last counted instruction is the branch into wb_count_end: call overhead, not work. */
    uint64_t delta = vcpu_count(v) - begin_snapshot[v];
    uint64_t count = (delta > 0U) ? (delta - 1U) : 0U;

    if (per_vcpu) {
        fprintf(out_file, "%u %" PRIu64 "\n", v, count);
    } else {
        fprintf(out_file, "%" PRIu64 "\n", count);
    }
    fflush(out_file); /* a killed QEMU must still leave every finished count behind */
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);

    if (per_vcpu) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }

    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);

        /*
         * Marker bodies are left uncounted, so whether QEMU runs an instruction's callback before
         * or after its inline op cannot change a snapshot.
         */
        if (in_marker(&begin_fn, vaddr)) {
            if (vaddr == begin_fn.lo) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
            }
        } else if (in_marker(&end_fn, vaddr)) {
            if (vaddr == end_fn.lo) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
            }
        } else {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &insn_counter, 1U);
        }
    }
}

static void on_atexit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    if (out_file != NULL) {
        fclose(out_file);
        out_file = NULL;
    }
}

/** Parse an unsigned number (decimal or 0x-hex); false unless the whole string is one. */
static bool parse_u64(const char *text, uint64_t *value)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        return false;
    }
    *value = v;
    return true;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    uint64_t begin = 0, begin_size = 0, end = 0, end_size = 0;
    bool have_begin = false, have_begin_size = false, have_end = false, have_end_size = false;
    const char *out_path = NULL;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        bool ok = false;

        if (strncmp(arg, "begin=", 6) == 0) {
            ok = have_begin = parse_u64(arg + 6, &begin);
        } else if (strncmp(arg, "begin_size=", 11) == 0) {
            ok = have_begin_size = parse_u64(arg + 11, &begin_size);
        } else if (strncmp(arg, "end=", 4) == 0) {
            ok = have_end = parse_u64(arg + 4, &end);
        } else if (strncmp(arg, "end_size=", 9) == 0) {
            ok = have_end_size = parse_u64(arg + 9, &end_size);
        } else if (strcmp(arg, "per_vcpu=1") == 0 || strcmp(arg, "per_vcpu=0") == 0) {
            per_vcpu = (arg[9] == '1');
            ok = true;
        } else if (strncmp(arg, "out=", 4) == 0) {
            out_path = arg + 4;
            ok = (out_path[0] != '\0');
        }
        if (!ok) {
            fprintf(stderr, "insn_count: bad argument '%s'\n", arg);
            return -1;
        }
    }
    if (!have_begin || !have_begin_size || !have_end || !have_end_size || out_path == NULL) {
        fprintf(stderr, "insn_count: needs begin=, begin_size=, end=, end_size= and out=\n");
        return -1;
    }

    /* Thumb: the ELF symbol value has bit 0 set, QEMU reports the halfword-aligned address. */
    begin &= ~(uint64_t)1U;
    end &= ~(uint64_t)1U;
    begin_fn = (struct marker){ begin, begin + (begin_size > 0U ? begin_size : 1U) };
    end_fn = (struct marker){ end, end + (end_size > 0U ? end_size : 1U) };
    if (begin_fn.lo < end_fn.hi && end_fn.lo < begin_fn.hi) {
        fprintf(stderr, "insn_count: begin and end markers overlap\n");
        return -1;
    }

    out_file = fopen(out_path, "w");
    if (out_file == NULL) {
        fprintf(stderr, "insn_count: cannot open '%s': %s\n", out_path, strerror(errno));
        return -1;
    }

    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}

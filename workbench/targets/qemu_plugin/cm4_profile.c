/*
 * SPDX-License-Identifier: MIT
 *
 * cm4_profile.c - QEMU TCG plugin: where the instructions of each measured window go (stages) and a
 * Cortex-M4 cycle estimate of them, between the same markers as insn_count.c (wb_count_begin/end).
 *
 * Arguments: map=PATH (the program map workbench writes from the ELF), out=PATH (truncated at start).
 *
 * The program map (workbench/targets/cm4_profile.py writes it) gives, per instruction address: its
 * size, its local stage context, its cycles when reached from the instruction before it in memory
 * (seq) and when reached by a branch (jump), the refill a taken conditional branch adds, whether it is
 * a call, and flags (divide, load). All timing rules live in workbench/targets/cm4_timing.py; this
 * file only adds up, per executed translation block (TB):
 *   - instructions and cycles per stage (a stage index; the map's context folded into the context the
 *     current call inherited, over a shadow call stack: a BL/BLX pushes the return address, reaching
 *     it pops);
 *   - the refill of a conditional branch that was taken (the next TB does not start where it falls
 *     through);
 *   - wait states of the board's flash: instruction lines fetched (a line buffer, an optional
 *     sequential prefetch and an LRU instruction cache) and loads from flash (an LRU data cache of at
 *     least one line), when the map has a "flash" line.
 * With a "mmio" line in the map (firmware that reads a device register inside the window: the stage
 * checkpoints of a --breakdown build read SysTick), every memory access is watched: under -icount
 * QEMU cuts a TB at an I/O access that is not its last instruction and runs the rest as a new TB,
 * so the instructions after the access would count twice; they are taken back off the cut TB.
 * One line per begin/end pair:
 *   insns cycles taken_branches divides flash_stall_cycles unknown_insns
 *   then for each stage (lower upper head io other) and part (mac act): insns cycles
 * The instructions are exactly those insn_count.c counts (a TB executes whole in the windows measured:
 * no MMIO, no faults; workbench checks the two totals are equal on every window).
 *
 * Single vCPU: the counters are plain globals.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CM4_TRACE_MAIN
/* ---- the QEMU 7.2 plugin API this file uses (API version 1; see insn_count.c for why it is declared
 * here and how it was checked) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_RW = 3 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
struct qemu_plugin_hwaddr;
struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info, uint64_t vaddr);
bool qemu_plugin_hwaddr_is_io(const struct qemu_plugin_hwaddr *haddr);

#define WB_PLUGIN_EXPORT __attribute__((visibility("default")))
WB_PLUGIN_EXPORT int qemu_plugin_version = 1;
WB_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
#endif

/* ---------------------------------------------------------------------------------------------- */

enum { N_STAGES = 5, STAGE_IO = 3, N_LEVELS = 3, CTX_LIB = 7, MAC_BIT = 8, N_CTX = 16 };
enum { KIND_NONE = 0, KIND_BRANCH = 1, KIND_COND = 2, KIND_CALL = 3 };
enum { FLAG_DIVIDE = 1, FLAG_LOAD = 2 };
enum { STACK_MAX = 256, CACHE_MAX = 256 };

/** One instruction of the program map. */
struct insn_rec {
    uint32_t addr;
    uint8_t size, ctx, kind, flags;
    uint16_t jump, seq, taken;
};

static struct insn_rec *map;
static size_t map_len;
static struct { uint64_t lo, hi; } begin_fn, end_fn;

/** The board's flash as the wait-state model sees it (enabled when ws > 0). */
static struct {
    uint64_t lo, hi;
    uint32_t ws, line, prefetch, icache_lines, dcache_lines;
} flash;

/** What one translation block adds when it runs, precomputed at translation. */
struct tb_info {
    uint64_t start, end;            /* [start, end): end is where it falls through */
    bool is_begin, is_end;
    uint32_t n_insns, unknown, divides;
    uint8_t first_ctx, last_ctx, last_kind;
    uint16_t first_jump, first_seq, last_taken, last_seq;
    uint8_t n_ctx;                  /* contexts of instructions 1..n-1 */
    uint8_t ctx[N_CTX];
    uint32_t ctx_insns[N_CTX];
    uint32_t ctx_cycles[N_CTX];
    const struct insn_rec **insns;  /* every counted instruction, for taking back a cut TB's tail (mmio) */
};

/* The window being measured. */
static bool armed;
static uint64_t w_insns, w_cycles, w_taken, w_divides, w_stall, w_unknown;
static uint64_t s_insns[N_STAGES][2], s_cycles[N_STAGES][2];
static const struct tb_info *prev;
static unsigned last_stage, last_part;      /* where the last instruction's cycles went */
static uint32_t last_cycles;

static struct { uint64_t ret; uint8_t inherited; } stack[STACK_MAX];
static unsigned depth;

static uint64_t icache[CACHE_MAX];
static unsigned icache_n;
static uint64_t last_iline = UINT64_MAX;

static FILE *out_file;

/* mmio: watch every access; the end address of the last I/O access's instruction (0: none pending). */
static bool watch_mmio;
static uint64_t io_resume;

static unsigned resolve(unsigned inherited, unsigned ctx)
{
    ctx &= ~(unsigned)MAC_BIT;
    if (inherited < N_LEVELS) {
        return inherited;               /* a level owns everything it calls */
    }
    return ctx == CTX_LIB ? inherited : ctx;
}

static unsigned part_of(unsigned ctx) { return (ctx & MAC_BIT) ? 0U : 1U; }

static unsigned inherited_now(void) { return depth ? stack[depth - 1].inherited : STAGE_IO; }

static void charge(unsigned ctx, uint64_t insns, uint64_t cycles)
{
    unsigned stage = resolve(inherited_now(), ctx), part = part_of(ctx);
    s_insns[stage][part] += insns;
    s_cycles[stage][part] += cycles;
    w_insns += insns;
    w_cycles += cycles;
}

static void charge_stall(unsigned ctx, uint32_t cycles)
{
    unsigned stage = resolve(inherited_now(), ctx);
    s_cycles[stage][part_of(ctx)] += cycles;
    w_cycles += cycles;
    w_stall += cycles;
}

/** LRU lookup of `line` in a fully associative cache of `size` lines (size 0: never hits). */
static bool cache_access(uint64_t *c, unsigned *n, unsigned size, uint64_t line)
{
    for (unsigned i = 0; i < *n; i++) {
        if (c[i] == line) {
            memmove(c + 1, c, i * sizeof *c);
            c[0] = line;
            return true;
        }
    }
    if (size == 0) {
        return false;
    }
    if (*n < size) {
        (*n)++;
    }
    memmove(c + 1, c, (*n - 1) * sizeof *c);
    c[0] = line;
    return false;
}

static bool in_flash(uint64_t addr) { return flash.ws > 0 && addr >= flash.lo && addr < flash.hi; }

static void fetch_lines(const struct tb_info *tb)
{
    if (!in_flash(tb->start)) {
        last_iline = UINT64_MAX;
        return;
    }
    uint64_t first = tb->start / flash.line, last = (tb->end - 1) / flash.line;
    for (uint64_t l = first; l <= last; l++) {
        bool sequential = (last_iline != UINT64_MAX && l == last_iline + 1);
        if (l == last_iline) {
            continue;                    /* still in the line buffer */
        }
        bool hit = cache_access(icache, &icache_n, flash.icache_lines, l);
        if (!hit && !(sequential && flash.prefetch)) {
            charge_stall(tb->first_ctx, flash.ws);
        }
        last_iline = l;
    }
}

#ifndef CM4_TRACE_MAIN
static uint64_t dcache[CACHE_MAX];
static unsigned dcache_n;

static void on_load(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata)
{
    (void)vcpu_index;
    if (!armed || qemu_plugin_mem_is_store(info) || !in_flash(vaddr)) {
        return;
    }
    unsigned size = flash.dcache_lines > 0 ? flash.dcache_lines : 1U;   /* at least a line buffer */
    if (!cache_access(dcache, &dcache_n, size, vaddr / flash.line)) {
        charge_stall((unsigned)(uintptr_t)userdata, flash.ws);
    }
}

/** An I/O access: under -icount the TB is cut after this instruction (see the file's comment). */
static void on_access(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata)
{
    (void)vcpu_index;
    const struct insn_rec *r = userdata;
    if (armed && qemu_plugin_hwaddr_is_io(qemu_plugin_get_hwaddr(info, vaddr))) {
        io_resume = (uint64_t)r->addr + r->size;
    }
    on_load(vcpu_index, info, vaddr, (void *)(uintptr_t)r->ctx);
}
#endif

/** `tb` starts inside `prev` right after an I/O access: take back what `prev` charged from there on. */
static bool take_back_cut(const struct tb_info *tb)
{
    if (io_resume == 0 || prev == NULL || prev->insns == NULL || tb->start != io_resume || tb->start <= prev->start ||
        tb->start >= prev->end) {
        return false;
    }
    io_resume = 0;
    for (uint32_t i = 1; i < prev->n_insns; i++) {
        const struct insn_rec *r = prev->insns[i];
        if (r->addr >= tb->start) {
            unsigned stage = resolve(inherited_now(), r->ctx), part = part_of(r->ctx);
            s_insns[stage][part]--;
            s_cycles[stage][part] -= r->seq;
            w_insns--;
            w_cycles -= r->seq;
            if (r->flags & FLAG_DIVIDE) {
                w_divides--;
            }
        }
    }
    if (prev->last_kind == KIND_BRANCH || prev->last_kind == KIND_CALL) {
        w_taken--;                        /* the cut tail's branch runs (and counts) in this TB */
    }
    return true;
}

static void start_window(void)
{
    armed = true;
    w_insns = w_cycles = w_taken = w_divides = w_stall = w_unknown = 0;
    memset(s_insns, 0, sizeof s_insns);
    memset(s_cycles, 0, sizeof s_cycles);
    prev = NULL;
    depth = 0;
    last_iline = UINT64_MAX;
}

static void end_window(void)
{
    armed = false;
    /* The last instruction before wb_count_end is the BL into it: call overhead, never counted. */
    if (w_insns > 0) {
        w_insns--;
        w_cycles -= last_cycles;
        w_taken--;
        s_insns[last_stage][last_part]--;
        s_cycles[last_stage][last_part] -= last_cycles;
    }
    fprintf(out_file, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, w_insns, w_cycles,
            w_taken, w_divides, w_stall, w_unknown);
    for (unsigned s = 0; s < N_STAGES; s++) {
        for (unsigned p = 0; p < 2; p++) {
            fprintf(out_file, " %" PRIu64 " %" PRIu64, s_insns[s][p], s_cycles[s][p]);
        }
    }
    fputc('\n', out_file);
    fflush(out_file);    /* a killed QEMU must still leave every finished window behind */
}

static void on_tb_exec(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    const struct tb_info *tb = userdata;

    if (tb->is_begin) {
        start_window();
        return;
    }
    if (!armed) {
        return;
    }
    if (tb->is_end) {
        end_window();
        return;
    }
    bool cut = watch_mmio && take_back_cut(tb);
    bool fell_through = cut || (prev != NULL && tb->start == prev->end);
    if (prev != NULL && !fell_through) {
        if (prev->last_kind == KIND_COND) {      /* taken: the refill goes where the branch was */
            charge(prev->last_ctx, 0, prev->last_taken);
            w_taken++;
        } else if (prev->last_kind == KIND_CALL && depth < STACK_MAX) {
            stack[depth].ret = prev->end;
            stack[depth].inherited = (uint8_t)resolve(inherited_now(), prev->last_ctx);
            depth++;
        }
    }
    if (depth > 0 && stack[depth - 1].ret == tb->start) {
        depth--;                          /* returned from the call on top */
    }

    uint16_t first = fell_through ? tb->first_seq : tb->first_jump;
    charge(tb->first_ctx, 1, first);
    for (unsigned i = 0; i < tb->n_ctx; i++) {
        unsigned c = tb->ctx[i];
        charge(c, tb->ctx_insns[c], tb->ctx_cycles[c]);
    }
    unsigned last_ctx = tb->n_insns > 1 ? tb->last_ctx : tb->first_ctx;
    last_stage = resolve(inherited_now(), last_ctx);
    last_part = part_of(last_ctx);
    last_cycles = tb->n_insns > 1 ? tb->last_seq : first;
    if (tb->last_kind == KIND_BRANCH || tb->last_kind == KIND_CALL) {
        w_taken++;
    }
    w_divides += tb->divides;
    w_unknown += tb->unknown;
    if (flash.ws > 0) {
        fetch_lines(tb);
    }
    prev = tb;
}

static const struct insn_rec *lookup(uint64_t addr)
{
    size_t lo = 0, hi = map_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map[mid].addr < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (lo < map_len && map[lo].addr == addr) ? &map[lo] : NULL;
}

static bool in_range(uint64_t a, uint64_t lo, uint64_t hi) { return a >= lo && a < hi; }

static const struct insn_rec unknown_insn = { 0, 2, CTX_LIB, KIND_NONE, 0, 1, 1, 0 };

/** Open the description of a TB (or, for a trace, a block) starting at `start`. */
static void begin_tb(struct tb_info *info, uint64_t start)
{
    info->start = start;
    info->end = start;
    info->is_begin = (start == begin_fn.lo);
    info->is_end = (start == end_fn.lo);
}

/** Add one instruction to `info`; its map record, or NULL for a marker body's (never counted). */
static const struct insn_rec *add_insn(struct tb_info *info, uint64_t vaddr, uint64_t size)
{
    info->end = vaddr + size;
    if (in_range(vaddr, begin_fn.lo, begin_fn.hi) || in_range(vaddr, end_fn.lo, end_fn.hi)) {
        return NULL;                      /* marker bodies are never counted (as in insn_count.c) */
    }
    const struct insn_rec *r = lookup(vaddr);
    if (r == NULL) {
        r = &unknown_insn;
        info->unknown++;
    }
    if (info->insns != NULL) {
        info->insns[info->n_insns] = r;
    }
    if (info->n_insns == 0) {
        info->first_ctx = r->ctx;
        info->first_jump = r->jump;
        info->first_seq = r->seq;
    } else {
        if (info->ctx_insns[r->ctx] == 0) {
            info->ctx[info->n_ctx++] = r->ctx;
        }
        info->ctx_insns[r->ctx]++;
        info->ctx_cycles[r->ctx] += r->seq;
    }
    info->n_insns++;
    info->last_ctx = r->ctx;
    info->last_kind = r->kind;
    info->last_taken = r->taken;
    info->last_seq = r->seq;
    if (r->flags & FLAG_DIVIDE) {
        info->divides++;
    }
    return r;
}

#ifndef CM4_TRACE_MAIN
static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct tb_info *info = calloc(1, sizeof *info);
    if (info == NULL || n == 0) {
        free(info);
        return;
    }
    begin_tb(info, qemu_plugin_tb_vaddr(tb));
    if (watch_mmio && (info->insns = calloc(n, sizeof *info->insns)) == NULL) {
        free(info);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const struct insn_rec *r = add_insn(info, qemu_plugin_insn_vaddr(insn), qemu_plugin_insn_size(insn));
        if (r == NULL) {
            continue;
        }
        if (watch_mmio && r != &unknown_insn) {
            qemu_plugin_register_vcpu_mem_cb(insn, on_access, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW,
                                             (void *)r);
        } else if ((r->flags & FLAG_LOAD) && flash.ws > 0) {
            /* Registered for reads and writes, stores filtered out in on_load: Debian's QEMU 7.2 calls a
             * callback registered for reads (QEMU_PLUGIN_MEM_R) on stores only (checked here). */
            qemu_plugin_register_vcpu_mem_cb(insn, on_load, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW,
                                             (void *)(uintptr_t)r->ctx);
        }
    }
    /* A TB with no counted instruction (a marker body) still runs the callback: it opens or closes
     * the window. */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
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

#endif /* CM4_TRACE_MAIN */

static int compare_rec(const void *a, const void *b)
{
    const struct insn_rec *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

/** Read the program map; false (with a message) on anything it cannot parse. */
static bool read_map(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cm4_profile: cannot open map '%s': %s\n", path, strerror(errno));
        return false;
    }
    char line[256];
    size_t cap = 0, lineno = 0;
    bool have_begin = false, have_end = false;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        unsigned long long a, b, c, d, e, g, h;
        unsigned size, ctx, jump, seq, taken, kind, flags;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        } else if (sscanf(line, "begin %llx %llu", &a, &b) == 2) {
            begin_fn.lo = a & ~1ULL;
            begin_fn.hi = begin_fn.lo + (b ? b : 1);
            have_begin = true;
        } else if (sscanf(line, "end %llx %llu", &a, &b) == 2) {
            end_fn.lo = a & ~1ULL;
            end_fn.hi = end_fn.lo + (b ? b : 1);
            have_end = true;
        } else if (sscanf(line, "flash %llx %llx %llu %llu %llu %llu %llu", &a, &b, &c, &d, &e, &g, &h) == 7) {
            if (d == 0 || g > CACHE_MAX || h > CACHE_MAX) {
                fprintf(stderr, "cm4_profile: %s:%zu: bad flash line\n", path, lineno);
                fclose(f);
                return false;
            }
            flash.lo = a;
            flash.hi = b;
            flash.ws = (uint32_t)c;
            flash.line = (uint32_t)d;
            flash.prefetch = (uint32_t)e;
            flash.icache_lines = (uint32_t)g;
            flash.dcache_lines = (uint32_t)h;
        } else if (strncmp(line, "mmio", 4) == 0) {
            watch_mmio = true;
        } else if (sscanf(line, "insn %llx %u %u %u %u %u %u %u", &a, &size, &ctx, &jump, &seq, &taken, &kind,
                          &flags) == 8) {
            if (ctx >= N_CTX || kind > KIND_CALL || jump > 0xffff || seq > 0xffff || taken > 0xffff) {
                fprintf(stderr, "cm4_profile: %s:%zu: bad instruction line\n", path, lineno);
                fclose(f);
                return false;
            }
            if (map_len == cap) {
                cap = cap ? 2 * cap : 4096;
                struct insn_rec *grown = realloc(map, cap * sizeof *map);
                if (grown == NULL) {
                    fclose(f);
                    return false;
                }
                map = grown;
            }
            map[map_len++] = (struct insn_rec){ (uint32_t)a, (uint8_t)size, (uint8_t)ctx, (uint8_t)kind,
                                                (uint8_t)flags, (uint16_t)jump, (uint16_t)seq, (uint16_t)taken };
        } else {
            fprintf(stderr, "cm4_profile: %s:%zu: cannot parse '%.40s'\n", path, lineno, line);
            fclose(f);
            return false;
        }
    }
    fclose(f);
    if (!have_begin || !have_end) {
        fprintf(stderr, "cm4_profile: the map names no begin/end markers\n");
        return false;
    }
    qsort(map, map_len, sizeof *map, compare_rec);
    return true;
}

#ifndef CM4_TRACE_MAIN
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    const char *map_path = NULL, *out_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "map=", 4) == 0 && argv[i][4] != '\0') {
            map_path = argv[i] + 4;
        } else if (strncmp(argv[i], "out=", 4) == 0 && argv[i][4] != '\0') {
            out_path = argv[i] + 4;
        } else {
            fprintf(stderr, "cm4_profile: bad argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (map_path == NULL || out_path == NULL) {
        fprintf(stderr, "cm4_profile: needs map= and out=\n");
        return -1;
    }
    if (!read_map(map_path)) {
        return -1;
    }
    out_file = fopen(out_path, "w");
    if (out_file == NULL) {
        fprintf(stderr, "cm4_profile: cannot open '%s': %s\n", out_path, strerror(errno));
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
#else /* CM4_TRACE_MAIN */

/*
 * The same accounting over a Renode execution trace (CreateExecutionTracing, PC format, binary:
 * "ReTrace", version 4, PC width, no opcodes; then per instruction its PC, little-endian, and a 0 byte):
 *
 *     cm4_trace MAP TRACE OUT        (TRACE "-": standard input)
 *
 * Blocks are formed from the PC stream as QEMU forms TBs: a block ends after any branch or call and
 * where the next PC is not the next instruction. There are no memory callbacks here: flash data wait
 * states and the -icount cut are QEMU matters; instruction-fetch wait states still apply.
 */
static struct tb_info blocks[2];

static void run_block(struct tb_info *b)
{
    if (b->end != b->start) {
        on_tb_exec(0, b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cm4_trace MAP TRACE OUT\n");
        return 2;
    }
    if (!read_map(argv[1])) {
        return 2;
    }
    watch_mmio = false;
    FILE *t = strcmp(argv[2], "-") == 0 ? stdin : fopen(argv[2], "rb");
    if (t == NULL) {
        fprintf(stderr, "cm4_trace: cannot open '%s': %s\n", argv[2], strerror(errno));
        return 2;
    }
    unsigned char head[10];
    if (fread(head, 1, sizeof head, t) != sizeof head || memcmp(head, "ReTrace", 7) != 0 || head[7] != 4 ||
        head[8] < 1 || head[8] > 8 || head[9] != 0) {
        fprintf(stderr, "cm4_trace: %s is not a Renode binary PC trace (version 4, no opcodes)\n", argv[2]);
        return 2;
    }
    unsigned width = head[8];
    out_file = fopen(argv[3], "w");
    if (out_file == NULL) {
        fprintf(stderr, "cm4_trace: cannot open '%s': %s\n", argv[3], strerror(errno));
        return 2;
    }
    unsigned cur = 0;
    struct tb_info *b = &blocks[cur];
    bool open_block = false;
    unsigned char rec[9];
    while (fread(rec, 1, width + 1, t) == width + 1) {
        if (rec[width] != 0) {
            fprintf(stderr, "cm4_trace: the trace carries additional data: trace PCs only\n");
            return 2;
        }
        uint64_t pc = 0;
        for (unsigned i = 0; i < width; i++) {
            pc |= (uint64_t)rec[i] << (8 * i);
        }
        pc &= ~(uint64_t)1;
        if (open_block && (pc != b->end || pc == begin_fn.lo || pc == end_fn.lo)) {
            run_block(b);
            cur ^= 1U;
            b = &blocks[cur];
            open_block = false;
        }
        if (!open_block) {
            memset(b, 0, sizeof *b);
            begin_tb(b, pc);
            open_block = true;
        }
        const struct insn_rec *r = lookup(pc);
        add_insn(b, pc, r != NULL ? r->size : 2U);
        if (r != NULL && r->kind != KIND_NONE) {
            run_block(b);
            cur ^= 1U;
            b = &blocks[cur];
            open_block = false;
        }
    }
    if (open_block) {
        run_block(b);
    }
    fclose(t);
    fclose(out_file);
    return 0;
}
#endif /* CM4_TRACE_MAIN */

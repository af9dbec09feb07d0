/* A QEMU TCG plugin that counts the guest instructions a process executes, for
 * benchmarks/arm_emulated.py: a noise-free proxy of on-device cost (not a time).
 *
 *   gcc -shared -fPIC -O2 -o count_insns.so count_insns.c
 *   qemu-aarch64 -plugin ./count_insns.so,out=COUNT_FILE -cpu cortex-a72 PROGRAM...
 *
 * Every translated block adds its instruction count to a per-thread-safe total each time it
 * runs (an atomic add per block execution). At exit the total is written to COUNT_FILE.
 * Debian packages no qemu-plugin.h, so the few declarations of QEMU's stable plugin API
 * (version 1, QEMU 7.x) this file uses are written here. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, qemu_plugin_vcpu_udata_cb_t cb,
                                                 enum qemu_plugin_cb_flags flags, void* userdata);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static _Atomic uint64_t executed;
static char out_path[4096];

static void on_block(unsigned int vcpu_index, void* userdata) {
  (void)vcpu_index;
  atomic_fetch_add_explicit(&executed, (uint64_t)(uintptr_t)userdata, memory_order_relaxed);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
                                       (void*)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void write_count(qemu_plugin_id_t id, void* userdata) {
  (void)id;
  (void)userdata;
  FILE* file = fopen(out_path, "w");
  if (file) {
    fprintf(file, "%llu\n", (unsigned long long)atomic_load(&executed));
    fclose(file);
  }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t* info,
                                                               int argc, char** argv) {
  (void)info;
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  if (!out_path[0]) {
    fprintf(stderr, "count_insns: give out=FILE\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, write_count, NULL);
  return 0;
}

// Provoke real, harmless mm_page_alloc failures on this machine. Inside a (v1) memory cgroup whose
// limit is tightened to the current usage + 64 KiB, create BPF array maps with 16 KiB values:
// bpf_map_area_alloc() asks kmalloc for ~16 KiB with __GFP_NORETRY|__GFP_ACCOUNT, i.e. an order-2/3
// page allocation that the memcg refuses to charge without invoking the OOM killer; the page
// allocator then traces mm_page_alloc with page=NULL (pfn=0x0 in text). vmalloc's fallback pages
// (__GFP_RETRY_MAYFAIL|__GFP_ACCOUNT) fail the same way at order 0.
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
static void put(const char* path, const char* value) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) { perror(path); exit(1); }
  close(fd);
}
int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: allocfail CGROUP_DIR [MAPS]\n"); return 2; }
  const char* cg = argv[1];
  int nmaps = argc > 2 ? atoi(argv[2]) : 16;
  char path[512], value[64];
  int fds[256];
  if (nmaps > 256) nmaps = 256;
  if (mlockall(MCL_CURRENT | MCL_FUTURE)) perror("mlockall");
  snprintf(path, sizeof path, "%s/memory.usage_in_bytes", cg);
  FILE* f = fopen(path, "r");
  long long usage = 0;
  if (!f || fscanf(f, "%lld", &usage) != 1) { perror(path); return 1; }
  fclose(f);
  snprintf(path, sizeof path, "%s/memory.limit_in_bytes", cg);
  snprintf(value, sizeof value, "%lld", usage + (64 << 10));
  put(path, value);
  int ok = 0, failed = 0;
  for (int i = 0; i < nmaps; i++) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 16384;
    attr.max_entries = 1;
    fds[i] = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (fds[i] < 0) failed++; else ok++;
  }
  put(path, "-1");
  for (int i = 0; i < nmaps; i++) if (fds[i] >= 0) close(fds[i]);
  printf("maps created %d, refused %d\n", ok, failed);
  return 0;
}

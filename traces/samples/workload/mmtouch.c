// Anonymous-memory churn for the sample captures: map MiB, touch every page (one order-0
// GFP_HIGHUSER_MOVABLE allocation each, unless THP serves the range), unmap; repeat ROUNDS times.
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: mmtouch MIB ROUNDS\n"); return 2; }
  size_t bytes = (size_t)atol(argv[1]) << 20;
  int rounds = atoi(argv[2]);
  long page = sysconf(_SC_PAGESIZE);
  for (int r = 0; r < rounds; r++) {
    char* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    madvise(p, bytes, MADV_NOHUGEPAGE);
    for (size_t off = 0; off < bytes; off += (size_t)page) p[off] = (char)r;
    munmap(p, bytes);
  }
  return 0;
}

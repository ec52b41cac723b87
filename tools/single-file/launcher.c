/*
 * The front of dist/virt-p2v, the single-file build: a static program that
 * carries, compressed behind itself, the Deno runtime, the dynamic loader and
 * libraries Deno needs, OpenSSL's libcrypto and the bundled program. It
 * unpacks each into an anonymous memory file (memfd) and hands over to the
 * loader with exec, so the process that runs is the program itself: same
 * arguments, same exit status, same signals, nothing written to any file
 * system and nothing left behind. It runs where no glibc is installed (a
 * busybox-only rescue system) because it brings its own.
 *
 * Layout of the file (numbers little-endian):
 *   launcher ELF | zstd frames ... | index | trailer
 *   trailer (last 24 bytes): "VP2VSFX1", u64 index offset, u64 index size
 *   index: u32 entry count, then per entry
 *     u8 role, u8 name length, name, u64 size, u32 frame count,
 *     per frame: u64 offset in this file, u64 compressed size, u64 size
 * Roles: 'L' the dynamic loader, 'S' a shared library (preloaded), 'R' the
 * runtime (deno), 'P' the program (JavaScript), 'I' a line saying what the
 * file was built from (one frame, stored uncompressed; exported as
 * VIRT_P2V_BUILD for --version).
 *
 * Frames are independent, so they are unpacked on every CPU at once: start-up
 * time is what users wait for on each boot. Each frame is LZ4 (fast to
 * unpack, the default) or zstd (smaller), told apart by its magic number;
 * both formats carry a checksum of their content, so a damaged file is
 * refused rather than run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lz4frame.h>
#include <zstd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3+: executable even under vm.memfd_noexec=1 */
#endif

#define MAGIC "VP2VSFX1"
#define TRAILER_SIZE 24
#define MAX_ENTRIES 64
#define MAX_FRAMES 4096
#define MAX_ENTRY_SIZE (1ULL << 31)
#define MAX_INDEX_SIZE (1U << 20)
#define MAX_THREADS 8

struct frame {
  uint64_t offset, csize, size, at; /* `at`: where it goes inside its entry */
};

struct entry {
  char role;
  char name[256];
  uint64_t size;
  uint32_t nframes;
  struct frame *frames;
  int fd;
};

struct job {
  const unsigned char *src;
  const struct frame *frame;
  const struct entry *entry;
};

struct pool {
  struct job *jobs;
  size_t njobs;
  size_t next; /* taken with __atomic_fetch_add */
  char error[512];
  pthread_mutex_t error_lock;
};

static const char *program_name = "virt-p2v";

static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", program_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A bounds-checked reader over the index. */
struct cursor {
  const unsigned char *p, *end;
};

static const unsigned char *take(struct cursor *c, size_t n) {
  if ((size_t)(c->end - c->p) < n) die("this file's index is cut short: the file is damaged; copy it again");
  const unsigned char *at = c->p;
  c->p += n;
  return at;
}

static size_t parse_index(const unsigned char *file, uint64_t file_size, struct entry *entries) {
  if (file_size < TRAILER_SIZE) die("this file is too short to hold the program; copy it again");
  const unsigned char *trailer = file + file_size - TRAILER_SIZE;
  if (memcmp(trailer, MAGIC, 8) != 0)
    die("no program found at the end of this file: it is truncated or damaged; copy it again");
  uint64_t index_offset = get_u64(trailer + 8), index_size = get_u64(trailer + 16);
  if (index_size > MAX_INDEX_SIZE || index_offset > file_size - TRAILER_SIZE ||
      index_size > file_size - TRAILER_SIZE - index_offset)
    die("this file's index is out of bounds: the file is damaged; copy it again");
  struct cursor c = {file + index_offset, file + index_offset + index_size};
  uint32_t count = get_u32(take(&c, 4));
  if (count == 0 || count > MAX_ENTRIES) die("this file's index lists %u parts: the file is damaged", count);
  for (uint32_t i = 0; i < count; i++) {
    struct entry *e = &entries[i];
    e->role = (char)*take(&c, 1);
    size_t name_len = *take(&c, 1);
    memcpy(e->name, take(&c, name_len), name_len);
    e->name[name_len] = '\0';
    e->size = get_u64(take(&c, 8));
    e->nframes = get_u32(take(&c, 4));
    if (e->size > MAX_ENTRY_SIZE || e->nframes > MAX_FRAMES)
      die("part %s of this file is too large: the file is damaged", e->name);
    e->frames = calloc(e->nframes ? e->nframes : 1, sizeof *e->frames);
    if (!e->frames) die("out of memory");
    uint64_t at = 0;
    for (uint32_t f = 0; f < e->nframes; f++) {
      struct frame *fr = &e->frames[f];
      fr->offset = get_u64(take(&c, 8));
      fr->csize = get_u64(take(&c, 8));
      fr->size = get_u64(take(&c, 8));
      fr->at = at;
      if (fr->offset > index_offset || fr->csize > index_offset - fr->offset || fr->size > e->size - at)
        die("part %s of this file is out of bounds: the file is damaged; copy it again", e->name);
      at += fr->size;
    }
    if (at != e->size) die("part %s of this file does not add up: the file is damaged", e->name);
    e->fd = -1;
  }
  if (c.p != c.end) die("this file's index has trailing bytes: the file is damaged");
  return count;
}

static const uint32_t ZSTD_MAGIC = 0xFD2FB528U, LZ4_MAGIC = 0x184D2204U;

/* Output goes through a small buffer that stays in the CPU cache and then into
   the memfd with pwrite: the kernel fills fresh pages once, where a mapping
   would have them zeroed first and then written again. */
#define STEP (256 * 1024)

struct sink {
  int fd;
  uint64_t at, left;
  unsigned char *buffer;
};

static const char *flush(struct sink *sink, size_t n) {
  if (n > sink->left) return "frame larger than its part";
  for (size_t done = 0; done < n;) {
    ssize_t w = pwrite(sink->fd, sink->buffer + done, n - done, (off_t)(sink->at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? strerror(errno) : "short write";
    done += (size_t)w;
  }
  sink->at += n, sink->left -= n;
  return NULL;
}

/* Unpacks one frame into `sink` (exactly its `left` bytes); NULL or why not. */
static const char *unpack_frame(ZSTD_DCtx *zstd, LZ4F_dctx *lz4, struct sink *sink,
                                const unsigned char *src, size_t csize) {
  uint32_t magic = csize >= 4 ? get_u32(src) : 0;
  const char *why = NULL;
  if (magic == ZSTD_MAGIC) {
    ZSTD_DCtx_reset(zstd, ZSTD_reset_session_only);
    ZSTD_inBuffer in = {src, csize, 0};
    size_t hint = 1;
    while (hint != 0) {
      ZSTD_outBuffer out = {sink->buffer, STEP, 0};
      hint = ZSTD_decompressStream(zstd, &out, &in);
      if (ZSTD_isError(hint)) return ZSTD_getErrorName(hint);
      if ((why = flush(sink, out.pos))) return why;
      if (hint != 0 && in.pos == in.size && out.pos < STEP) return "frame cut short";
    }
    return in.pos == in.size && sink->left == 0 ? NULL : "frame of the wrong size";
  }
  if (magic == LZ4_MAGIC) {
    LZ4F_resetDecompressionContext(lz4);
    size_t hint = 1;
    while (hint != 0) {
      size_t out_n = STEP, in_n = csize;
      hint = LZ4F_decompress(lz4, sink->buffer, &out_n, src, &in_n, NULL);
      if (LZ4F_isError(hint)) return LZ4F_getErrorName(hint);
      if ((why = flush(sink, out_n))) return why;
      src += in_n, csize -= in_n;
      if (hint != 0 && in_n == 0 && out_n == 0) return "frame cut short";
    }
    return csize == 0 && sink->left == 0 ? NULL : "frame of the wrong size";
  }
  return "unknown compression";
}

static void *unpack_worker(void *arg) {
  struct pool *pool = arg;
  ZSTD_DCtx *zstd = ZSTD_createDCtx();
  LZ4F_dctx *lz4 = NULL;
  unsigned char *buffer = malloc(STEP);
  if (!zstd || !buffer || LZ4F_isError(LZ4F_createDecompressionContext(&lz4, LZ4F_VERSION))) {
    snprintf(pool->error, sizeof pool->error, "out of memory");
    return NULL;
  }
  /* Frames may use a long window (zstd --long): allow what the packer may write. */
  ZSTD_DCtx_setParameter(zstd, ZSTD_d_windowLogMax, 31);
  for (;;) {
    size_t i = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
    if (i >= pool->njobs) break;
    struct job *job = &pool->jobs[i];
    struct sink sink = {job->entry->fd, job->frame->at, job->frame->size, buffer};
    const char *why = unpack_frame(zstd, lz4, &sink, job->src, job->frame->csize);
    if (why) {
      pthread_mutex_lock(&pool->error_lock);
      snprintf(pool->error, sizeof pool->error, "unpacking %s failed (%s): the file is damaged; copy it again",
               job->entry->name, why);
      pthread_mutex_unlock(&pool->error_lock);
      break;
    }
  }
  ZSTD_freeDCtx(zstd);
  LZ4F_freeDecompressionContext(lz4);
  free(buffer);
  return NULL;
}

static int make_memfd(const struct entry *e, int keep_across_exec) {
  unsigned flags = MFD_ALLOW_SEALING | (keep_across_exec ? 0 : MFD_CLOEXEC);
  int fd = memfd_create(e->name, flags | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(e->name, flags); /* kernels before 6.3 */
  if (fd < 0)
    die("cannot create an in-memory file for %s: %s (needs Linux 3.17 or newer)", e->name, strerror(errno));
  if (ftruncate(fd, (off_t)e->size) != 0)
    die("cannot size the in-memory file for %s: %s (is memory short?)", e->name, strerror(errno));
  return fd;
}

int main(int argc, char **argv) {
  if (argc > 0 && argv[0] && *argv[0]) {
    const char *slash = strrchr(argv[0], '/');
    program_name = slash ? slash + 1 : argv[0];
  }
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    die("cannot read /proc/self/exe (%s): mount /proc first (mount -t proc proc /proc)", strerror(errno));
  struct stat st;
  if (fstat(self, &st) != 0) die("cannot stat /proc/self/exe: %s", strerror(errno));
  const unsigned char *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, self, 0);
  if (file == MAP_FAILED) die("cannot map this file: %s", strerror(errno));
  close(self);

  static struct entry entries[MAX_ENTRIES];
  size_t count = parse_index(file, (uint64_t)st.st_size, entries);

  struct entry *loader = NULL, *runtime = NULL, *program = NULL;
  const char *build = NULL;
  size_t njobs = 0, nlibs = 0;
  for (size_t i = 0; i < count; i++) {
    struct entry *e = &entries[i];
    switch (e->role) {
    case 'L': loader = e; break;
    case 'R': runtime = e; break;
    case 'P': program = e; break;
    case 'S': nlibs++; break;
    case 'I': continue; /* not unpacked into a file */
    default: die("this file holds a part of unknown kind '%c': it was built by a newer build.sh", e->role);
    }
    njobs += e->nframes;
  }
  if (!loader || !runtime || !program) die("this file lacks the loader, the runtime or the program: rebuild it");

  struct job *jobs = calloc(njobs ? njobs : 1, sizeof *jobs);
  if (!jobs) die("out of memory");
  size_t j = 0;
  for (size_t i = 0; i < count; i++) {
    struct entry *e = &entries[i];
    if (e->role == 'I') continue;
    /* The loader is only exec'd; everything else is opened by path
       (/proc/self/fd/N) after the exec, so it must stay open across it. */
    e->fd = make_memfd(e, e->role != 'L');
    for (uint32_t f = 0; f < e->nframes; f++)
      jobs[j++] = (struct job){file + e->frames[f].offset, &e->frames[f], e};
  }

  struct pool pool = {.jobs = jobs, .njobs = j};
  pthread_mutex_init(&pool.error_lock, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t nthreads = cpus < 1 ? 1 : (size_t)cpus;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  if (nthreads > j) nthreads = j ? j : 1;
  pthread_t threads[MAX_THREADS];
  size_t started = 0;
  for (size_t t = 1; t < nthreads; t++) {
    if (pthread_create(&threads[started], NULL, unpack_worker, &pool) != 0) break;
    started++;
  }
  unpack_worker(&pool);
  for (size_t t = 0; t < started; t++) pthread_join(threads[t], NULL);
  if (pool.error[0]) die("%s", pool.error);

  for (size_t i = 0; i < count; i++) {
    struct entry *e = &entries[i];
    if (e->role == 'I') {
      if (e->nframes == 0) continue;
      /* Stored as it is: a line of text. */
      const struct frame *fr = &e->frames[0];
      if (e->nframes != 1 || fr->csize != fr->size) die("part %s of this file is damaged", e->name);
      char *text = malloc(fr->size + 1);
      if (!text) die("out of memory");
      memcpy(text, file + fr->offset, fr->size);
      text[fr->size] = '\0';
      build = text;
      continue;
    }
    /* Sealed: nothing can change the runtime or the program once unpacked. */
    fcntl(e->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  }
  munmap((void *)file, (size_t)st.st_size);

  char preload[MAX_ENTRIES * 24] = "";
  for (size_t i = 0; i < count; i++) {
    if (entries[i].role != 'S') continue;
    char one[32];
    snprintf(one, sizeof one, "%s/proc/self/fd/%d", preload[0] ? ":" : "", entries[i].fd);
    strcat(preload, one);
  }
  char loader_path[32], runtime_path[32], program_path[32];
  snprintf(loader_path, sizeof loader_path, "/proc/self/fd/%d", loader->fd);
  snprintf(runtime_path, sizeof runtime_path, "/proc/self/fd/%d", runtime->fd);
  snprintf(program_path, sizeof program_path, "/proc/self/fd/%d", program->fd);

  /* What `deno task start` runs, with the bundle in place of main.ts:
     no deno.json of the current directory applies, and the small young
     generation keeps the peak memory of a disk copy ~55 MB lower. */
  const char *fixed[] = {
      loader_path, "--argv0", argc > 0 ? argv[0] : "virt-p2v", "--preload", preload, runtime_path, "run",
      "--allow-all", "--no-config", "--quiet", "--ext=js", "--v8-flags=--max-semi-space-size=1",
      program_path,
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0];
  if (nlibs == 0) {
    /* No "--preload" without a list. */
    memmove(&fixed[3], &fixed[5], (nfixed - 5) * sizeof fixed[0]);
    nfixed -= 2;
  }
  char **args = calloc(nfixed + (size_t)argc + 1, sizeof *args);
  if (!args) die("out of memory");
  size_t n = 0;
  for (size_t i = 0; i < nfixed; i++) args[n++] = (char *)fixed[i];
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;

  setenv("DENO_NO_UPDATE_CHECK", "1", 0);
  setenv("DENO_NO_PROMPT", "1", 0);
  if (build) setenv("VIRT_P2V_BUILD", build, 1);
  /* Where this file is, so that the program can copy itself to the
     conversion server and run its server side from there. */
  char self_path[4096];
  ssize_t self_len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (self_len > 0) {
    self_path[self_len] = '\0';
    setenv("VIRT_P2V_SELF", self_path, 1);
  }
  /* Open across the exec only so the loader and deno can open them by path;
     the program closes them once running (src/system/launcher_files.ts), so
     the processes it starts do not inherit them. */
  char fds[MAX_ENTRIES * 12] = "";
  for (size_t i = 0; i < count; i++) {
    if (entries[i].role == 'I' || entries[i].role == 'L') continue;
    char one[16];
    snprintf(one, sizeof one, "%s%d", fds[0] ? "," : "", entries[i].fd);
    strcat(fds, one);
  }
  setenv("VIRT_P2V_LAUNCHER_FDS", fds, 1);
  execv(loader_path, args);
  die("cannot start the unpacked runtime: %s", strerror(errno));
}

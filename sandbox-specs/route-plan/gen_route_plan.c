/* gen_route_plan.c - road graph and queries of the route-plan scenario.
 *
 *   sbx-gen-route-plan --seed N --setup graph.bin --dataset FILE
 *                      [--queries 1000]
 *
 * Writes a city's road network as a directed graph with travel times in
 * whole seconds (the scenario's setup file, binary layout in README.md)
 * and a JSONL dataset of shortest-path queries "SRC DST", each expecting
 * the exact shortest travel time, computed here with Dijkstra.
 *
 * The city is a 110 x 90 street grid with irregular block sizes: local
 * streets (some one-way, a few closed), faster arterials every eighth
 * street, three diagonal avenues, a river crossed by a bridge every
 * eleventh street, and an urban motorway (a ring and two cross routes)
 * whose exits are every sixth intersection. Node ids are shuffled, so they
 * say nothing about position; the coordinates in the file do.
 *
 * Everything is a pure function of the seed, byte for byte on any machine
 * and with any compiler: xoshiro256** seeded by splitmix64, one stream per
 * purpose, integer arithmetic only (distances by integer square root),
 * bytes stored by shifts, and never two draws in one expression.
 *
 * Exit status: 0 done, 2 usage error, 3 I/O error (message on stderr).
 */
#include "rng.h"
#include "units.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_IO 3

#define PROG "sbx-gen-route-plan"
#define DEFAULT_QUERIES 1000
#define MAX_QUERIES 1000000

#define GRID_W 110 /* intersections west to east */
#define GRID_H 90  /* south to north */
#define NODES (GRID_W * GRID_H)
#define RIVER_COL 60     /* the river runs between columns 60 and 61 */
#define BRIDGE_EVERY 11  /* rows with a bridge: j % 11 == 5 */
#define ARTERIAL_EVERY 8 /* rows/columns with i % 8 == 3 */
#define EXIT_EVERY 6     /* motorway exits */
#define LOCAL_SPAN 12    /* "local" queries stay within this many blocks */

#define GRAPH_MAGIC "SBXGRAF1"
#define GRAPH_HEADER 16

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum {
  STREAM_LAYOUT = 1,
  STREAM_STREETS = 2,
  STREAM_ARCS = 3,
  STREAM_IDS = 4,
  STREAM_QUERIES = 5
};

/* ---------------------------------------------------------------- PRNG */

/* Draws come from the project's generator (daemon/rng.h). */

static int64_t rng_range(struct sbx_rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)sbx_rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* ---------------------------------------------------------------- city */

struct arc {
  uint32_t from, to, secs;
};

struct city {
  int32_t x[NODES], y[NODES]; /* metres, by grid index i + j * GRID_W */
  struct arc *arcs;
  size_t n_arcs, cap_arcs;
  uint32_t *id;    /* grid index -> published node id */
  uint32_t *first; /* CSR by published id, NODES + 1 */
  uint32_t *head;  /* published ids */
  uint32_t *cost;
};

static int grid(int i, int j) {
  return i + j * GRID_W;
}

static uint64_t isqrt64(uint64_t v) {
  uint64_t r = 0, bit = (uint64_t)1 << 62;
  while (bit > v)
    bit >>= 2;
  while (bit != 0) {
    if (v >= r + bit) {
      v -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return r;
}

/* Straight-line distance between grid nodes a and b, in millimetres. */
static uint64_t dist_mm(const struct city *c, int a, int b) {
  int64_t dx = (int64_t)(c->x[a] - c->x[b]) * 1000;
  int64_t dy = (int64_t)(c->y[a] - c->y[b]) * 1000;
  return isqrt64((uint64_t)(dx * dx + dy * dy));
}

static int add_arc(struct city *c, int a, int b, uint32_t secs) {
  if (c->n_arcs == c->cap_arcs) {
    size_t cap = c->cap_arcs ? c->cap_arcs * 2 : 65536;
    struct arc *p = realloc(c->arcs, cap * sizeof(*p));
    if (p == NULL)
      return -1;
    c->arcs = p;
    c->cap_arcs = cap;
  }
  c->arcs[c->n_arcs].from = (uint32_t)a;
  c->arcs[c->n_arcs].to = (uint32_t)b;
  c->arcs[c->n_arcs].secs = secs;
  c->n_arcs++;
  return 0;
}

/* Travel time of a street segment: its length at the street's speed,
 * slowed by 0-40% of congestion, plus the wait at the intersection it
 * leads to. Never zero. */
static uint32_t travel_secs(struct sbx_rng *r, uint64_t mm, uint32_t speed_mm_s,
                            uint32_t wait_lo, uint32_t wait_hi) {
  uint64_t slow = (uint64_t)rng_range(r, 100, 140);
  uint64_t wait = (uint64_t)rng_range(r, wait_lo, wait_hi);
  uint64_t t = (mm * slow / 100 + speed_mm_s - 1) / speed_mm_s + wait;
  return t > 0 ? (uint32_t)t : 1;
}

/* One street direction for a row (horizontal) or column (vertical):
 * arterials are two-way and fast; a fifth of the local streets are
 * one-way. */
struct street {
  uint32_t speed_mm_s;
  uint32_t wait_lo, wait_hi;
  int oneway; /* 0 two-way, +1 towards higher index, -1 towards lower */
};

static void make_street(struct sbx_rng *r, int index, struct street *s) {
  if (index % ARTERIAL_EVERY == 3) {
    s->speed_mm_s = (uint32_t)rng_range(r, 13000, 16000);
    s->wait_lo = 2;
    s->wait_hi = 6;
    s->oneway = 0;
    return;
  }
  s->speed_mm_s = (uint32_t)rng_range(r, 8000, 11000);
  s->wait_lo = 4;
  s->wait_hi = 12;
  s->oneway = 0;
  if (sbx_rng_below(r, 5) == 0)
    s->oneway = sbx_rng_below(r, 2) == 0 ? 1 : -1;
}

/* Adds the segment a -> b and/or b -> a along a street, a before b in the
 * street's direction of increasing index. 4% of segments are closed. */
static int add_segment(struct city *c, struct sbx_rng *r, const struct street *s,
                       int a, int b) {
  if (sbx_rng_below(r, 100) < 4)
    return 0;
  uint64_t mm = dist_mm(c, a, b);
  if (s->oneway >= 0 &&
      add_arc(c, a, b,
              travel_secs(r, mm, s->speed_mm_s, s->wait_lo, s->wait_hi)) != 0)
    return -1;
  if (s->oneway <= 0 &&
      add_arc(c, b, a,
              travel_secs(r, mm, s->speed_mm_s, s->wait_lo, s->wait_hi)) != 0)
    return -1;
  return 0;
}

static int crosses_river(int i0, int i1, int j) {
  int lo = i0 < i1 ? i0 : i1, hi = i0 < i1 ? i1 : i0;
  return lo <= RIVER_COL && hi > RIVER_COL && j % BRIDGE_EVERY != 5;
}

static int build_city(struct city *c, uint64_t seed) {
  struct sbx_rng r, rs, ra;
  int32_t colx[GRID_W], rowy[GRID_H];

  /* Irregular blocks: column and row spacing of 90-140 m, and each
   * intersection a little off the straight line. */
  sbx_rng_seed(&r, seed, STREAM_LAYOUT);
  colx[0] = 0;
  for (int i = 1; i < GRID_W; i++)
    colx[i] = colx[i - 1] + (int32_t)rng_range(&r, 90, 140);
  rowy[0] = 0;
  for (int j = 1; j < GRID_H; j++)
    rowy[j] = rowy[j - 1] + (int32_t)rng_range(&r, 90, 140);
  for (int j = 0; j < GRID_H; j++)
    for (int i = 0; i < GRID_W; i++) {
      int32_t jx = (int32_t)rng_range(&r, -12, 12);
      int32_t jy = (int32_t)rng_range(&r, -12, 12);
      c->x[grid(i, j)] = colx[i] + jx;
      c->y[grid(i, j)] = rowy[j] + jy;
    }

  sbx_rng_seed(&rs, seed, STREAM_STREETS);
  sbx_rng_seed(&ra, seed, STREAM_ARCS);
  /* East-west streets. */
  for (int j = 0; j < GRID_H; j++) {
    struct street s;
    make_street(&rs, j, &s);
    for (int i = 0; i + 1 < GRID_W; i++) {
      if (crosses_river(i, i + 1, j))
        continue;
      if (add_segment(c, &ra, &s, grid(i, j), grid(i + 1, j)) != 0)
        return -1;
    }
  }
  /* North-south streets. */
  for (int i = 0; i < GRID_W; i++) {
    struct street s;
    make_street(&rs, i, &s);
    for (int j = 0; j + 1 < GRID_H; j++)
      if (add_segment(c, &ra, &s, grid(i, j), grid(i, j + 1)) != 0)
        return -1;
  }
  /* Diagonal avenues, two-way, cutting across the grid. */
  static const struct {
    int i0, j0, di;
  } diag[] = {{5, 0, 1}, {95, 0, -1}, {30, 20, 1}};
  for (size_t d = 0; d < NELEM(diag); d++) {
    struct street s = {12000, 3, 8, 0};
    int i = diag[d].i0, j = diag[d].j0;
    while (i + diag[d].di >= 0 && i + diag[d].di < GRID_W && j + 1 < GRID_H) {
      int ni = i + diag[d].di, nj = j + 1;
      if (!crosses_river(i, ni, j) &&
          add_segment(c, &ra, &s, grid(i, j), grid(ni, nj)) != 0)
        return -1;
      i = ni;
      j = nj;
    }
  }
  /* The motorway: a ring (rows 10 and 80, columns 10 and 100) and two
   * cross routes (row 45, column 55), exits every sixth intersection;
   * 24-30 m/s with a short merge. Motorway bridges cross the river. */
  static const struct {
    int horizontal, fixed, from, to;
  } mw[] = {{1, 10, 10, 100}, {1, 80, 10, 100}, {0, 10, 10, 80},
            {0, 100, 10, 80}, {1, 45, 10, 100}, {0, 55, 10, 80}};
  for (size_t m = 0; m < NELEM(mw); m++) {
    for (int k = mw[m].from; k < mw[m].to; k += EXIT_EVERY) {
      int k2 = k + EXIT_EVERY < mw[m].to ? k + EXIT_EVERY : mw[m].to;
      int a = mw[m].horizontal ? grid(k, mw[m].fixed) : grid(mw[m].fixed, k);
      int b = mw[m].horizontal ? grid(k2, mw[m].fixed) : grid(mw[m].fixed, k2);
      uint64_t mm = dist_mm(c, a, b);
      uint32_t v = (uint32_t)rng_range(&ra, 24000, 30000);
      uint32_t t1 = travel_secs(&ra, mm, v, 1, 3);
      uint32_t t2 = travel_secs(&ra, mm, v, 1, 3);
      if (add_arc(c, a, b, t1) != 0 || add_arc(c, b, a, t2) != 0)
        return -1;
    }
  }
  return 0;
}

/* Shuffles node ids and lays the arcs out by tail (CSR), keeping the
 * order in which they were made within a node. */
static int publish(struct city *c, uint64_t seed) {
  struct sbx_rng r;
  c->id = malloc(NODES * sizeof(*c->id));
  c->first = calloc(NODES + 1, sizeof(*c->first));
  c->head = malloc(c->n_arcs * sizeof(*c->head));
  c->cost = malloc(c->n_arcs * sizeof(*c->cost));
  uint32_t *fill = calloc(NODES, sizeof(*fill));
  if (!c->id || !c->first || !c->head || !c->cost || !fill) {
    free(fill);
    return -1;
  }
  for (uint32_t v = 0; v < NODES; v++)
    c->id[v] = v;
  sbx_rng_seed(&r, seed, STREAM_IDS);
  for (uint32_t v = NODES - 1; v > 0; v--) {
    uint32_t k = (uint32_t)sbx_rng_below(&r, (uint64_t)v + 1);
    uint32_t t = c->id[v];
    c->id[v] = c->id[k];
    c->id[k] = t;
  }
  for (size_t e = 0; e < c->n_arcs; e++)
    c->first[c->id[c->arcs[e].from] + 1]++;
  for (uint32_t v = 0; v < NODES; v++)
    c->first[v + 1] += c->first[v];
  for (size_t e = 0; e < c->n_arcs; e++) {
    uint32_t u = c->id[c->arcs[e].from];
    uint32_t slot = c->first[u] + fill[u]++;
    c->head[slot] = c->id[c->arcs[e].to];
    c->cost[slot] = c->arcs[e].secs;
  }
  free(fill);
  return 0;
}

/* ------------------------------------------------------------ dijkstra */

struct heap_item {
  uint64_t d;
  uint32_t v;
};

struct heap {
  struct heap_item *a;
  size_t n, cap;
};

static int heap_push(struct heap *h, uint64_t d, uint32_t v) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 1024;
    struct heap_item *p = realloc(h->a, cap * sizeof(*p));
    if (p == NULL)
      return -1;
    h->a = p;
    h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->a[parent].d <= d)
      break;
    h->a[i] = h->a[parent];
    i = parent;
  }
  h->a[i].d = d;
  h->a[i].v = v;
  return 0;
}

static struct heap_item heap_pop(struct heap *h) {
  struct heap_item top = h->a[0], last = h->a[--h->n];
  size_t i = 0;
  for (;;) {
    size_t k = 2 * i + 1;
    if (k >= h->n)
      break;
    if (k + 1 < h->n && h->a[k + 1].d < h->a[k].d)
      k++;
    if (h->a[k].d >= last.d)
      break;
    h->a[i] = h->a[k];
    i = k;
  }
  if (h->n > 0)
    h->a[i] = last;
  return top;
}

/* Shortest times from src (published id) to every node; UINT64_MAX where
 * unreachable. Returns 0 or -1 (out of memory). */
static int dijkstra(const struct city *c, uint32_t src, uint64_t *dist,
                    struct heap *h) {
  for (uint32_t v = 0; v < NODES; v++)
    dist[v] = UINT64_MAX;
  h->n = 0;
  dist[src] = 0;
  if (heap_push(h, 0, src) != 0)
    return -1;
  while (h->n > 0) {
    struct heap_item it = heap_pop(h);
    if (it.d != dist[it.v])
      continue;
    for (uint32_t e = c->first[it.v]; e < c->first[it.v + 1]; e++) {
      uint64_t nd = it.d + c->cost[e];
      if (nd < dist[c->head[e]]) {
        dist[c->head[e]] = nd;
        if (heap_push(h, nd, c->head[e]) != 0)
          return -1;
      }
    }
  }
  return 0;
}

/* -------------------------------------------------------------- output */

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t i32_bits(int32_t v) {
  return v < 0 ? (uint32_t)((int64_t)v + ((int64_t)1 << 32)) : (uint32_t)v;
}

/* Opens path's temporary sibling for writing. Returns the stream, or NULL
 * with a message printed and tmp[0] == '\0' when nothing was created. */
static FILE *open_tmp(const char *path, char *tmp, size_t tmpsz) {
  int len = snprintf(tmp, tmpsz, "%s.tmp-XXXXXX", path);
  if (len < 0 || (size_t)len >= tmpsz) {
    fprintf(stderr, PROG ": %s: path too long\n", path);
    tmp[0] = '\0';
    return NULL;
  }
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, PROG ": cannot create %s.tmp-*: %s\n", path,
            strerror(errno));
    tmp[0] = '\0';
    return NULL;
  }
  FILE *f = NULL;
  if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
    fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
    close(fd);
    return NULL;
  }
  return f;
}

/* Flushes, closes and renames tmp to path. Always closes f. */
static int finish_tmp(FILE *f, char *tmp, const char *path) {
  if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
    fprintf(stderr, PROG ": write %s: %s\n", tmp, strerror(errno));
    fclose(f);
    return -1;
  }
  if (fclose(f) != 0) {
    fprintf(stderr, PROG ": close %s: %s\n", tmp, strerror(errno));
    return -1;
  }
  if (rename(tmp, path) != 0) {
    fprintf(stderr, PROG ": rename %s -> %s: %s\n", tmp, path, strerror(errno));
    return -1;
  }
  tmp[0] = '\0';
  return 0;
}

static int write_graph(const struct city *c, const char *path) {
  char tmp[PATH_MAX];
  uint8_t b[8];
  int rc = -1;
  FILE *f = open_tmp(path, tmp, sizeof(tmp));
  if (f == NULL)
    goto out;
  memcpy(b, GRAPH_MAGIC, 8);
  fwrite(b, 1, 8, f);
  put_le32(b, NODES);
  put_le32(b + 4, (uint32_t)c->n_arcs);
  fwrite(b, 1, 8, f);
  /* Coordinates by published id. */
  int32_t *px = malloc(NODES * sizeof(*px)), *py = malloc(NODES * sizeof(*py));
  if (px == NULL || py == NULL) {
    free(px);
    free(py);
    fprintf(stderr, PROG ": out of memory\n");
    fclose(f);
    goto out;
  }
  for (uint32_t v = 0; v < NODES; v++) {
    px[c->id[v]] = c->x[v];
    py[c->id[v]] = c->y[v];
  }
  for (uint32_t v = 0; v < NODES; v++) {
    put_le32(b, i32_bits(px[v]));
    put_le32(b + 4, i32_bits(py[v]));
    fwrite(b, 1, 8, f);
  }
  free(px);
  free(py);
  for (uint32_t v = 0; v <= NODES; v++) {
    put_le32(b, c->first[v]);
    fwrite(b, 1, 4, f);
  }
  for (size_t e = 0; e < c->n_arcs; e++) {
    put_le32(b, c->head[e]);
    put_le32(b + 4, c->cost[e]);
    fwrite(b, 1, 8, f);
  }
  rc = finish_tmp(f, tmp, path);
out:
  if (rc != 0 && tmp[0] != '\0')
    unlink(tmp);
  return rc;
}

static int write_queries(const struct city *c, const char *path, uint64_t seed,
                         uint64_t nq) {
  char tmp[PATH_MAX];
  struct heap h = {NULL, 0, 0};
  struct sbx_rng r;
  int rc = -1;
  uint64_t *dist = malloc(NODES * sizeof(*dist));
  uint32_t *where = malloc(NODES * sizeof(*where)); /* published -> grid */
  FILE *f = NULL;

  tmp[0] = '\0';
  if (dist == NULL || where == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    goto out;
  }
  for (uint32_t v = 0; v < NODES; v++)
    where[c->id[v]] = v;
  f = open_tmp(path, tmp, sizeof(tmp));
  if (f == NULL)
    goto out;
  sbx_rng_seed(&r, seed, STREAM_QUERIES);
  for (uint64_t q = 1; q <= nq; q++) {
    /* 60% across town, 40% within a dozen blocks. A source whose
     * Dijkstra tree misses the chosen target draws again. */
    int local = sbx_rng_below(&r, 100) < 40;
    uint32_t src, dst;
    for (;;) {
      src = (uint32_t)sbx_rng_below(&r, NODES);
      if (local) {
        int si = (int)(where[src] % GRID_W), sj = (int)(where[src] / GRID_W);
        int ti = si + (int)rng_range(&r, -LOCAL_SPAN, LOCAL_SPAN);
        int tj = sj + (int)rng_range(&r, -LOCAL_SPAN, LOCAL_SPAN);
        if (ti < 0 || ti >= GRID_W || tj < 0 || tj >= GRID_H)
          continue;
        dst = c->id[grid(ti, tj)];
      } else {
        dst = (uint32_t)sbx_rng_below(&r, NODES);
      }
      if (dst == src)
        continue;
      if (dijkstra(c, src, dist, &h) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
      }
      if (dist[dst] != UINT64_MAX)
        break;
    }
    fprintf(f,
            "{\"id\":\"q%05" PRIu64 "\",\"input\":\"%" PRIu32 " %" PRIu32
            "\",\"expect\":{\"number\":%" PRIu64 "}}\n",
            q, src, dst, dist[dst]);
  }
  rc = finish_tmp(f, tmp, path);
  f = NULL;
out:
  if (f != NULL)
    fclose(f);
  if (rc != 0 && tmp[0] != '\0')
    unlink(tmp);
  free(dist);
  free(where);
  free(h.a);
  return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to) {
  fprintf(to,
          "usage: " PROG " --seed N --setup FILE --dataset FILE [--queries N]\n"
          "\n"
          "Writes the route-plan scenario's road graph (binary, see\n"
          "README.md) to --setup and its shortest-path queries (JSON lines)\n"
          "to --dataset; both depend only on N (and --queries).\n"
          "\n"
          "  --seed N       unsigned 64-bit seed (the bundled data uses 42)\n"
          "  --setup FILE   graph output, replaced atomically\n"
          "  --dataset FILE dataset output, replaced atomically\n"
          "  --queries N    number of queries, 1..%d (default %d)\n"
          "  --help         this text\n"
          "\n"
          "Exit status: 0 done, 2 usage error, 3 I/O error.\n",
          MAX_QUERIES, DEFAULT_QUERIES);
}

static int usage_error(void) {
  fprintf(stderr, "run " PROG " --help for usage\n");
  return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  uint64_t v;
  if (sbx_parse_uint64(s, hi, &v) != 0 || v < lo)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  static const char *const opts[] = {"--seed", "--setup", "--dataset",
                                     "--queries"};
  const char *setup = NULL, *dataset = NULL;
  uint64_t seed = 0, nq = DEFAULT_QUERIES;
  int have_seed = 0, status = EXIT_IO;
  struct city *c = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    const char *val = NULL;
    size_t which = NELEM(opts);
    for (size_t k = 0; k < NELEM(opts); k++) {
      size_t ol = strlen(opts[k]);
      if (strcmp(a, opts[k]) == 0) {
        if (i + 1 >= argc) {
          fprintf(stderr, PROG ": %s needs a value\n", a);
          return usage_error();
        }
        val = argv[++i];
        which = k;
        break;
      }
      if (strncmp(a, opts[k], ol) == 0 && a[ol] == '=') {
        val = a + ol + 1;
        which = k;
        break;
      }
    }
    int bad = 0;
    switch (which) {
    case 0:
      bad = parse_u64(val, 0, UINT64_MAX, &seed) != 0;
      have_seed = !bad;
      break;
    case 1:
      setup = val;
      bad = *val == '\0';
      break;
    case 2:
      dataset = val;
      bad = *val == '\0';
      break;
    case 3:
      bad = parse_u64(val, 1, MAX_QUERIES, &nq) != 0;
      break;
    default:
      fprintf(stderr, PROG ": unknown argument \"%s\"\n", a);
      return usage_error();
    }
    if (bad) {
      fprintf(stderr, PROG ": %s: invalid value \"%s\"\n", opts[which], val);
      return usage_error();
    }
  }
  if (!have_seed || setup == NULL || dataset == NULL) {
    fprintf(stderr, PROG ": --seed, --setup and --dataset are required\n");
    return usage_error();
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL || build_city(c, seed) != 0 || publish(c, seed) != 0) {
    fprintf(stderr, PROG ": out of memory\n");
    goto out;
  }
  if (write_graph(c, setup) != 0 || write_queries(c, dataset, seed, nq) != 0)
    goto out;
  status = 0;
out:
  if (c != NULL) {
    free(c->arcs);
    free(c->id);
    free(c->first);
    free(c->head);
    free(c->cost);
    free(c);
  }
  return status;
}

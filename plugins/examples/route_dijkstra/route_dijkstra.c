/* route_dijkstra.c - reference plugin for route-plan: exact shortest
 * travel times by bidirectional Dijkstra.
 *
 * create() validates the road graph (the scenario's setup file, layout in
 * sandbox-specs/route-plan/README.md), copies it and builds the reverse
 * graph. handle() reads "SRC DST" and grows one search forward from SRC and
 * one backward from DST, always extending the one with the nearer frontier,
 * until the two frontiers together are no shorter than the best meeting
 * found: that meeting is then a shortest path. Both use binary heaps with
 * lazy deletion; per-node state is reset by a generation stamp instead of
 * clearing arrays, so a query costs what it explores, not the graph's size.
 *
 * Answer: the time in seconds as decimal text, "-1" if DST cannot be
 * reached. Bad input gets SBX_PLUGIN_E_INVALID; a malformed graph makes
 * create() fail with SBX_PLUGIN_E_CONFIG.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbx_plugin.h>

#define GRAPH_MAGIC "SBXGRAF1"
#define GRAPH_HEADER 16
#define MAX_NODES (1u << 26)
#define MAX_ARCS (1u << 28)
#define MAX_ARC_SECS 10000000u
#define MAX_QUERY_BYTES 64

struct graph {
  uint32_t n, m;
  uint32_t *first, *head, *cost;    /* CSR, forward */
  uint32_t *rfirst, *rhead, *rcost; /* CSR, reversed */
};

struct heap_item {
  uint64_t d;
  uint32_t v;
};

struct heap {
  struct heap_item *a;
  size_t n, cap;
};

struct side {
  uint64_t *dist;
  uint32_t *seen; /* generation in which dist is valid */
  struct heap h;
};

struct instance {
  struct graph g;
  struct side fw, bw;
  uint32_t gen;
};

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static int heap_push(struct heap *h, uint64_t d, uint32_t v) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 1024;
    struct heap_item *p = realloc(h->a, cap * sizeof(*p));
    if (p == NULL)
      return SBX_PLUGIN_E_NOMEM;
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

static void graph_free(struct graph *g) {
  free(g->first);
  free(g->head);
  free(g->cost);
  free(g->rfirst);
  free(g->rhead);
  free(g->rcost);
}

/* Validates and copies the SBXGRAF1 graph in buf, and builds its reverse.
 * Returns 0, SBX_PLUGIN_E_CONFIG (malformed) or SBX_PLUGIN_E_NOMEM; on
 * failure g holds nothing to free. */
static int graph_load(struct graph *g, const uint8_t *buf, size_t len) {
  memset(g, 0, sizeof(*g));
  if (buf == NULL || len < GRAPH_HEADER || memcmp(buf, GRAPH_MAGIC, 8) != 0) {
    fprintf(stderr, "route_dijkstra: setup is not an SBXGRAF1 road graph\n");
    return SBX_PLUGIN_E_CONFIG;
  }
  uint32_t n = le32(buf + 8), m = le32(buf + 12);
  if (n == 0 || n > MAX_NODES || m > MAX_ARCS) {
    fprintf(stderr,
            "route_dijkstra: graph size out of range (%" PRIu32
            " nodes, %" PRIu32 " arcs)\n",
            n, m);
    return SBX_PLUGIN_E_CONFIG;
  }
  uint64_t want =
      GRAPH_HEADER + (uint64_t)n * 8 + ((uint64_t)n + 1) * 4 + (uint64_t)m * 8;
  if (want != len) {
    fprintf(stderr,
            "route_dijkstra: graph is %zu bytes, its header says %" PRIu64 "\n",
            len, want);
    return SBX_PLUGIN_E_CONFIG;
  }
  const uint8_t *pf = buf + GRAPH_HEADER + (size_t)n * 8;
  const uint8_t *pa = pf + ((size_t)n + 1) * 4;
  g->n = n;
  g->m = m;
  g->first = malloc(((size_t)n + 1) * sizeof(uint32_t));
  g->rfirst = calloc((size_t)n + 2, sizeof(uint32_t));
  g->head = malloc((m ? m : 1) * sizeof(uint32_t));
  g->cost = malloc((m ? m : 1) * sizeof(uint32_t));
  g->rhead = malloc((m ? m : 1) * sizeof(uint32_t));
  g->rcost = malloc((m ? m : 1) * sizeof(uint32_t));
  if (!g->first || !g->rfirst || !g->head || !g->cost || !g->rhead ||
      !g->rcost) {
    graph_free(g);
    return SBX_PLUGIN_E_NOMEM;
  }
  for (uint32_t v = 0; v <= n; v++) {
    g->first[v] = le32(pf + (size_t)v * 4);
    if ((v == 0 && g->first[0] != 0) ||
        (v > 0 && g->first[v] < g->first[v - 1]) || g->first[v] > m) {
      fprintf(stderr,
              "route_dijkstra: arc offsets of node %" PRIu32
              " are out of order\n",
              v);
      graph_free(g);
      return SBX_PLUGIN_E_CONFIG;
    }
  }
  if (g->first[n] != m) {
    fprintf(stderr,
            "route_dijkstra: arc offsets end at %" PRIu32
            ", not at the %" PRIu32 " arcs\n",
            g->first[n], m);
    graph_free(g);
    return SBX_PLUGIN_E_CONFIG;
  }
  for (uint32_t e = 0; e < m; e++) {
    g->head[e] = le32(pa + (size_t)e * 8);
    g->cost[e] = le32(pa + (size_t)e * 8 + 4);
    if (g->head[e] >= n || g->cost[e] > MAX_ARC_SECS) {
      fprintf(stderr, "route_dijkstra: arc %" PRIu32 " is malformed\n", e);
      graph_free(g);
      return SBX_PLUGIN_E_CONFIG;
    }
    g->rfirst[g->head[e] + 2]++;
  }
  /* Counting sort of the arcs by head: rfirst[v + 1] is where v's
   * incoming arcs go while filling, rfirst[v] where they start after. */
  for (uint32_t v = 0; v < n; v++)
    g->rfirst[v + 2] += g->rfirst[v + 1];
  for (uint32_t u = 0; u < n; u++)
    for (uint32_t e = g->first[u]; e < g->first[u + 1]; e++) {
      uint32_t slot = g->rfirst[g->head[e] + 1]++;
      g->rhead[slot] = u;
      g->rcost[slot] = g->cost[e];
    }
  return 0;
}

/* Parses "SRC DST" (decimal, optional surrounding white space). */
static int parse_query(const uint8_t *in, size_t len, uint32_t n, uint32_t *src,
                       uint32_t *dst) {
  uint64_t v[2];
  size_t i = 0;
  if (in == NULL || len == 0 || len > MAX_QUERY_BYTES)
    return SBX_PLUGIN_E_INVALID;
  for (int k = 0; k < 2; k++) {
    while (i < len &&
           (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n'))
      i++;
    if (i == len || in[i] < '0' || in[i] > '9')
      return SBX_PLUGIN_E_INVALID;
    v[k] = 0;
    while (i < len && in[i] >= '0' && in[i] <= '9') {
      v[k] = v[k] * 10 + (uint64_t)(in[i] - '0');
      if (v[k] >= n)
        return SBX_PLUGIN_E_INVALID;
      i++;
    }
  }
  while (i < len &&
         (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n'))
    i++;
  if (i != len)
    return SBX_PLUGIN_E_INVALID;
  *src = (uint32_t)v[0];
  *dst = (uint32_t)v[1];
  return 0;
}

static uint64_t side_dist(const struct instance *st, const struct side *s,
                          uint32_t v) {
  return s->seen[v] == st->gen ? s->dist[v] : UINT64_MAX;
}

/* Settles the nearest node of side s and relaxes its arcs (first/head/cost:
 * that side's CSR); meetings with the other side o lower *best. */
static int step(struct instance *st, struct side *s, const struct side *o,
                const uint32_t *first, const uint32_t *head,
                const uint32_t *cost, uint64_t *best) {
  struct heap_item it = heap_pop(&s->h);
  if (it.d != s->dist[it.v])
    return 0; /* stale entry */
  for (uint32_t e = first[it.v]; e < first[it.v + 1]; e++) {
    uint32_t w = head[e];
    uint64_t nd = it.d + cost[e];
    if (nd < side_dist(st, s, w)) {
      s->dist[w] = nd;
      s->seen[w] = st->gen;
      int rc = heap_push(&s->h, nd, w);
      if (rc != 0)
        return rc;
    }
    uint64_t od = side_dist(st, o, w);
    if (od != UINT64_MAX && nd + od < *best)
      *best = nd + od;
  }
  return 0;
}

static int shortest(struct instance *st, uint32_t src, uint32_t dst,
                    uint64_t *out) {
  struct graph *g = &st->g;
  uint64_t best = UINT64_MAX;
  int rc;

  if (src == dst) {
    *out = 0;
    return 0;
  }
  if (++st->gen == 0) { /* wrapped: old stamps could look current */
    memset(st->fw.seen, 0, g->n * sizeof(uint32_t));
    memset(st->bw.seen, 0, g->n * sizeof(uint32_t));
    st->gen = 1;
  }
  st->fw.h.n = st->bw.h.n = 0;
  st->fw.dist[src] = 0;
  st->fw.seen[src] = st->gen;
  st->bw.dist[dst] = 0;
  st->bw.seen[dst] = st->gen;
  if ((rc = heap_push(&st->fw.h, 0, src)) != 0 ||
      (rc = heap_push(&st->bw.h, 0, dst)) != 0)
    return rc;
  while (st->fw.h.n > 0 && st->bw.h.n > 0) {
    uint64_t tf = st->fw.h.a[0].d, tb = st->bw.h.a[0].d;
    if (best != UINT64_MAX && tf + tb >= best)
      break;
    if (tf <= tb)
      rc = step(st, &st->fw, &st->bw, g->first, g->head, g->cost, &best);
    else
      rc = step(st, &st->bw, &st->fw, g->rfirst, g->rhead, g->rcost, &best);
    if (rc != 0)
      return rc;
  }
  *out = best;
  return 0;
}

static void instance_free(struct instance *st) {
  if (st == NULL)
    return;
  graph_free(&st->g);
  free(st->fw.dist);
  free(st->fw.seen);
  free(st->fw.h.a);
  free(st->bw.dist);
  free(st->bw.seen);
  free(st->bw.h.a);
  free(st);
}

static int rd_create(const uint8_t *config, size_t config_len,
                     const uint8_t *setup, size_t setup_len, void **instance) {
  (void)config;
  (void)config_len;
  struct instance *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return SBX_PLUGIN_E_NOMEM;
  int rc = graph_load(&st->g, setup, setup_len);
  if (rc != 0) {
    free(st);
    return rc;
  }
  size_t n = st->g.n;
  st->fw.dist = malloc(n * sizeof(uint64_t));
  st->bw.dist = malloc(n * sizeof(uint64_t));
  st->fw.seen = calloc(n, sizeof(uint32_t));
  st->bw.seen = calloc(n, sizeof(uint32_t));
  if (!st->fw.dist || !st->bw.dist || !st->fw.seen || !st->bw.seen ||
      heap_push(&st->fw.h, 0, 0) != 0 || heap_push(&st->bw.h, 0, 0) != 0) {
    instance_free(st);
    return SBX_PLUGIN_E_NOMEM;
  }
  *instance = st;
  return SBX_PLUGIN_OK;
}

static int rd_handle(void *instance, const uint8_t *in, size_t in_len,
                     sbx_plugin_output *out) {
  struct instance *st = instance;
  uint32_t src, dst;
  uint64_t d;
  char buf[32];
  int rc, len;

  if ((rc = parse_query(in, in_len, st->g.n, &src, &dst)) != 0)
    return rc;
  if ((rc = shortest(st, src, dst, &d)) != 0)
    return rc;
  if (d == UINT64_MAX)
    len = snprintf(buf, sizeof(buf), "-1");
  else
    len = snprintf(buf, sizeof(buf), "%" PRIu64, d);
  return out->write(out, buf, (size_t)len);
}

static void rd_destroy(void *instance) {
  instance_free(instance);
}

static const sbx_plugin_descriptor rd_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "route_dijkstra",
    .version = "1.0.0",
    .vendor = "sandboxd examples",
    .create = rd_create,
    .handle = rd_handle,
    .destroy = rd_destroy,
};

SBX_PLUGIN_DEFINE(rd_descriptor)

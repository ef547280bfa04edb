/* route_greedy.c - reference plugin for route-plan: fast, approximate
 * travel times by weighted A*.
 *
 * create() validates and copies the road graph (the scenario's setup file,
 * layout in sandbox-specs/route-plan/README.md) with its coordinates, and
 * finds the fastest speed any arc allows. handle() reads "SRC DST" and runs
 * A* towards DST with the heuristic
 *
 *   h(v) = WEIGHT * straight_line(v, DST) / fastest_speed
 *
 * With WEIGHT = 1 this never overestimates and A* would be exact. Inflated
 * to WEIGHT = 2.5 the search dives towards the target and settles far fewer
 * nodes, but it may commit to a street that looks direct when a detour
 * over the motorway or another bridge is faster, and it never reopens a
 * settled node: the first path to reach DST wins. That is the trade a lot
 * of navigation code makes on weak hardware, and what the scenario's
 * accuracy criterion is there to catch.
 *
 * Answer: the time in seconds of the path found, as decimal text, "-1" if
 * DST cannot be reached. Bad input gets SBX_PLUGIN_E_INVALID; a malformed
 * graph makes create() fail with SBX_PLUGIN_E_CONFIG.
 */
#include <inttypes.h>
#include <math.h>
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
#define WEIGHT 4.0

struct graph {
  uint32_t n, m;
  double *x, *y;                 /* metres */
  uint32_t *first, *head, *cost; /* CSR */
  double inv_speed;              /* seconds per metre at the fastest arc */
};

struct heap_item {
  double key; /* g + h */
  uint32_t v;
};

struct heap {
  struct heap_item *a;
  size_t n, cap;
};

struct instance {
  struct graph g;
  uint64_t *dist; /* g, valid when seen[v] == gen */
  uint32_t *seen;
  uint32_t *closed; /* settled in generation gen */
  struct heap h;
  uint32_t gen;
};

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static int32_t le32s(const uint8_t *p) {
  uint32_t u = le32(p);
  return u >= 0x80000000u ? (int32_t)(u - 0x80000000u) - INT32_MAX - 1
                          : (int32_t)u;
}

static int heap_push(struct heap *h, double key, uint32_t v) {
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
    if (h->a[parent].key <= key)
      break;
    h->a[i] = h->a[parent];
    i = parent;
  }
  h->a[i].key = key;
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
    if (k + 1 < h->n && h->a[k + 1].key < h->a[k].key)
      k++;
    if (h->a[k].key >= last.key)
      break;
    h->a[i] = h->a[k];
    i = k;
  }
  if (h->n > 0)
    h->a[i] = last;
  return top;
}

static void graph_free(struct graph *g) {
  free(g->x);
  free(g->y);
  free(g->first);
  free(g->head);
  free(g->cost);
}

/* Validates and copies the SBXGRAF1 graph in buf. Returns 0,
 * SBX_PLUGIN_E_CONFIG (malformed) or SBX_PLUGIN_E_NOMEM; on failure g holds
 * nothing to free. */
static int graph_load(struct graph *g, const uint8_t *buf, size_t len) {
  memset(g, 0, sizeof(*g));
  if (buf == NULL || len < GRAPH_HEADER || memcmp(buf, GRAPH_MAGIC, 8) != 0) {
    fprintf(stderr, "route_greedy: setup is not an SBXGRAF1 road graph\n");
    return SBX_PLUGIN_E_CONFIG;
  }
  uint32_t n = le32(buf + 8), m = le32(buf + 12);
  if (n == 0 || n > MAX_NODES || m > MAX_ARCS) {
    fprintf(stderr,
            "route_greedy: graph size out of range (%" PRIu32 " nodes, %" PRIu32
            " arcs)\n",
            n, m);
    return SBX_PLUGIN_E_CONFIG;
  }
  uint64_t want =
      GRAPH_HEADER + (uint64_t)n * 8 + ((uint64_t)n + 1) * 4 + (uint64_t)m * 8;
  if (want != len) {
    fprintf(stderr,
            "route_greedy: graph is %zu bytes, its header says %" PRIu64 "\n",
            len, want);
    return SBX_PLUGIN_E_CONFIG;
  }
  const uint8_t *pc = buf + GRAPH_HEADER;
  const uint8_t *pf = pc + (size_t)n * 8;
  const uint8_t *pa = pf + ((size_t)n + 1) * 4;
  g->n = n;
  g->m = m;
  g->x = malloc((size_t)n * sizeof(double));
  g->y = malloc((size_t)n * sizeof(double));
  g->first = malloc(((size_t)n + 1) * sizeof(uint32_t));
  g->head = malloc((m ? m : 1) * sizeof(uint32_t));
  g->cost = malloc((m ? m : 1) * sizeof(uint32_t));
  if (!g->x || !g->y || !g->first || !g->head || !g->cost) {
    graph_free(g);
    return SBX_PLUGIN_E_NOMEM;
  }
  for (uint32_t v = 0; v < n; v++) {
    g->x[v] = le32s(pc + (size_t)v * 8);
    g->y[v] = le32s(pc + (size_t)v * 8 + 4);
  }
  for (uint32_t v = 0; v <= n; v++) {
    g->first[v] = le32(pf + (size_t)v * 4);
    if ((v == 0 && g->first[0] != 0) ||
        (v > 0 && g->first[v] < g->first[v - 1]) || g->first[v] > m) {
      fprintf(stderr,
              "route_greedy: arc offsets of node %" PRIu32
              " are out of order\n",
              v);
      graph_free(g);
      return SBX_PLUGIN_E_CONFIG;
    }
  }
  if (g->first[n] != m) {
    fprintf(stderr,
            "route_greedy: arc offsets end at %" PRIu32 ", not at the %" PRIu32
            " arcs\n",
            g->first[n], m);
    graph_free(g);
    return SBX_PLUGIN_E_CONFIG;
  }
  double vmax = 0;
  for (uint32_t u = 0; u < n; u++)
    for (uint32_t e = g->first[u]; e < g->first[u + 1]; e++) {
      g->head[e] = le32(pa + (size_t)e * 8);
      g->cost[e] = le32(pa + (size_t)e * 8 + 4);
      if (g->head[e] >= n || g->cost[e] > MAX_ARC_SECS) {
        fprintf(stderr, "route_greedy: arc %" PRIu32 " is malformed\n", e);
        graph_free(g);
        return SBX_PLUGIN_E_CONFIG;
      }
      uint32_t w = g->head[e];
      double len_m = hypot(g->x[w] - g->x[u], g->y[w] - g->y[u]);
      if (g->cost[e] > 0 && len_m / g->cost[e] > vmax)
        vmax = len_m / g->cost[e];
    }
  /* No usable speed (a graph of zero-time or zero-length arcs): the
   * heuristic is then 0 and the search plain Dijkstra. */
  g->inv_speed = vmax > 0 ? 1.0 / vmax : 0;
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

static double heuristic(const struct graph *g, uint32_t v, uint32_t t) {
  return WEIGHT * hypot(g->x[t] - g->x[v], g->y[t] - g->y[v]) * g->inv_speed;
}

static int search(struct instance *st, uint32_t src, uint32_t dst,
                  uint64_t *out) {
  const struct graph *g = &st->g;
  int rc;

  *out = UINT64_MAX;
  if (src == dst) {
    *out = 0;
    return 0;
  }
  if (++st->gen == 0) { /* wrapped: old stamps could look current */
    memset(st->seen, 0, g->n * sizeof(uint32_t));
    memset(st->closed, 0, g->n * sizeof(uint32_t));
    st->gen = 1;
  }
  st->h.n = 0;
  st->dist[src] = 0;
  st->seen[src] = st->gen;
  if ((rc = heap_push(&st->h, heuristic(g, src, dst), src)) != 0)
    return rc;
  while (st->h.n > 0) {
    struct heap_item it = heap_pop(&st->h);
    uint32_t u = it.v;
    if (st->closed[u] == st->gen)
      continue;
    st->closed[u] = st->gen;
    if (u == dst) {
      *out = st->dist[u];
      return 0;
    }
    for (uint32_t e = g->first[u]; e < g->first[u + 1]; e++) {
      uint32_t w = g->head[e];
      uint64_t nd = st->dist[u] + g->cost[e];
      if (st->closed[w] == st->gen)
        continue; /* never reopened: this is where exactness is lost */
      if (st->seen[w] == st->gen && st->dist[w] <= nd)
        continue;
      st->dist[w] = nd;
      st->seen[w] = st->gen;
      if ((rc = heap_push(&st->h, (double)nd + heuristic(g, w, dst), w)) != 0)
        return rc;
    }
  }
  return 0;
}

static void instance_free(struct instance *st) {
  if (st == NULL)
    return;
  graph_free(&st->g);
  free(st->dist);
  free(st->seen);
  free(st->closed);
  free(st->h.a);
  free(st);
}

static int rg_create(const uint8_t *config, size_t config_len,
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
  st->dist = malloc(n * sizeof(uint64_t));
  st->seen = calloc(n, sizeof(uint32_t));
  st->closed = calloc(n, sizeof(uint32_t));
  if (!st->dist || !st->seen || !st->closed || heap_push(&st->h, 0, 0) != 0) {
    instance_free(st);
    return SBX_PLUGIN_E_NOMEM;
  }
  *instance = st;
  return SBX_PLUGIN_OK;
}

static int rg_handle(void *instance, const uint8_t *in, size_t in_len,
                     sbx_plugin_output *out) {
  struct instance *st = instance;
  uint32_t src, dst;
  uint64_t d;
  char buf[32];
  int rc, len;

  if ((rc = parse_query(in, in_len, st->g.n, &src, &dst)) != 0)
    return rc;
  if ((rc = search(st, src, dst, &d)) != 0)
    return rc;
  if (d == UINT64_MAX)
    len = snprintf(buf, sizeof(buf), "-1");
  else
    len = snprintf(buf, sizeof(buf), "%" PRIu64, d);
  return out->write(out, buf, (size_t)len);
}

static void rg_destroy(void *instance) {
  instance_free(instance);
}

static const sbx_plugin_descriptor rg_descriptor = {
    .abi_version = SBX_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(sbx_plugin_descriptor),
    .signature = SBX_PLUGIN_SIGNATURE,
    .name = "route_greedy",
    .version = "1.0.0",
    .vendor = "sandboxd examples",
    .create = rg_create,
    .handle = rg_handle,
    .destroy = rg_destroy,
};

SBX_PLUGIN_DEFINE(rg_descriptor)

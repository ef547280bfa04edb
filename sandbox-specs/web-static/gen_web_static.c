/* gen_web_static.c - content tree and dataset of the web-static scenario.
 *
 *   sbx-gen-web-static --seed N --content DIR --dataset FILE
 *                      [--objects 600] [--requests 4000]
 *
 * Writes a static site of --objects files under DIR (pages, stylesheets,
 * scripts, images, fonts, a few large downloads, with the size mix an edge
 * cache sees) and a JSONL dataset of --requests GETs over it with Zipf(1)
 * popularity, about 1% of them for paths that do not exist (404).
 *
 * Everything is a pure function of the seed, byte for byte on any machine:
 * one xoshiro256** generator per purpose (catalog, rank shuffle, requests,
 * and one per object's bytes), integer arithmetic only, bytes taken from the
 * 64-bit outputs by shifts rather than memcpy so endianness cannot leak in,
 * no locale-dependent calls, and never two draws in one expression (the
 * order in which C evaluates function arguments is unspecified; gcc and
 * clang differ). Content is generated streaming through a 64 KiB buffer
 * and hashed on the way out, so memory stays small whatever the sizes.
 * Every file is written to a temporary name and renamed.
 *
 * Exit status: 0 done, 2 usage error, 3 I/O error (message on stderr).
 */
#include "rng.h"
#include "units.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define EXIT_USAGE 2
#define EXIT_IO 3

#define DEFAULT_OBJECTS 600
#define DEFAULT_REQUESTS 4000
#define MIN_OBJECTS 32
#define MAX_OBJECTS 20000
#define MAX_REQUESTS 10000000

#define REL_MAX 112 /* longest relative path we generate, with its NUL */
#define ZIPF_SCALE ((uint64_t)1 << 40)
#define MISS_PERCENT 1

/* PRNG streams: each purpose draws from its own generator so that, e.g.,
 * changing --requests never changes the content bytes. */
enum {
  STREAM_CATALOG = 1,
  STREAM_RANKS = 2,
  STREAM_REQUESTS = 3,
  STREAM_OBJECT_BASE = 0x10000
};

/* ---------------------------------------------------------------- PRNG */

/* Draws come from the project's generator (daemon/rng.h). */

/* Uniform in [lo, hi]. */
static uint64_t rng_range(struct sbx_rng *r, uint64_t lo, uint64_t hi) {
  return lo + sbx_rng_below(r, hi - lo + 1);
}

/* ------------------------------------------------------------- catalog */

enum kind {
  K_HTML,
  K_CSS,
  K_JS,
  K_TXT,
  K_ICO,
  K_JPG,
  K_PNG,
  K_WEBP,
  K_WOFF2,
  K_PDF,
  K_ZIP
};

struct object {
  char rel[REL_MAX]; /* path under the content dir, no leading slash */
  enum kind kind;
  uint64_t size;
  unsigned char sha[crypto_hash_sha256_BYTES];
};

/* Open-addressing set of object paths, to keep names unique and to make
 * sure a 404 path really is missing. */
struct pathset {
  uint32_t *slot; /* object index + 1; 0 is empty */
  size_t mask;
};

struct catalog {
  struct object *obj;
  size_t n, cap;
  struct pathset set;
  /* Indices by role, for the links that pages carry. */
  size_t *css, *js, *img, *page;
  size_t ncss, njs, nimg, npage;
};

struct bucket {
  unsigned weight;
  uint32_t lo, hi;
};

/* Size mixes: a few buckets per kind, uniform inside a bucket, which gives
 * the long right tail of real sites without any floating point. */
static const struct bucket html_sizes[] = {
    {30, 512, 4096}, {45, 4096, 12288}, {20, 12288, 24576}, {5, 24576, 30720}};
static const struct bucket css_sizes[] = {
    {35, 1024, 8192}, {45, 8192, 20480}, {20, 20480, 30720}};
static const struct bucket js_sizes[] = {
    {30, 512, 4096}, {40, 4096, 16384}, {30, 16384, 30720}};
static const struct bucket photo_sizes[] = {{25, 5120, 20480},
                                            {35, 20480, 61440},
                                            {25, 61440, 153600},
                                            {15, 153600, 307200}};
static const struct bucket icon_sizes[] = {{100, 5120, 12288}};
static const struct bucket font_sizes[] = {{100, 20480, 102400}};
static const struct bucket download_sizes[] = {{100, 524288, 2097152}};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t pick_size(struct sbx_rng *r, const struct bucket *b, size_t nb) {
  unsigned total = 0;
  for (size_t i = 0; i < nb; i++)
    total += b[i].weight;
  uint64_t w = sbx_rng_below(r, total);
  size_t i = 0;
  while (w >= b[i].weight) {
    w -= b[i].weight;
    i++;
  }
  return rng_range(r, b[i].lo, b[i].hi);
}

static const char *const text_words[] = {
    "the",     "of",       "and",      "to",         "in",      "a",
    "is",      "that",     "for",      "it",         "as",      "with",
    "on",      "by",       "this",     "be",         "are",     "from",
    "at",      "or",       "an",       "we",         "can",     "our",
    "your",    "more",     "about",    "new",        "how",     "all",
    "will",    "each",     "when",     "which",      "their",   "data",
    "cache",   "edge",     "content",  "server",     "request", "latency",
    "network", "traffic",  "users",    "release",    "update",  "team",
    "guide",   "service",  "storage",  "image",      "page",    "build",
    "deploy",  "region",   "origin",   "static",     "files",   "config",
    "secure",  "simple",   "fast",     "reliable",   "support", "feature",
    "product", "customer", "platform", "design",     "version", "system",
    "time",    "first",    "best",     "better",     "without", "every",
    "across",  "between",  "through",  "after",      "before",  "during",
    "while",   "using",    "make",     "keep",       "serve",   "scale",
    "measure", "improve",  "reduce",   "open",       "small",   "large",
    "global",  "local",    "daily",    "performance"};

static const char *const slug_words[] = {
    "edge",       "cache",       "cdn",          "latency",  "tuning",
    "release",    "notes",       "security",     "tls",      "http2",
    "http3",      "compression", "images",       "fonts",    "deploy",
    "rollout",    "metrics",     "logging",      "storage",  "routing",
    "origin",     "purge",       "headers",      "cookies",  "redirects",
    "mobile",     "search",      "pricing",      "roadmap",  "outage",
    "postmortem", "migration",   "benchmark",    "kernel",   "linux",
    "workers",    "queues",      "backups",      "dns",      "certificates",
    "monitoring", "alerts",      "design",       "frontend", "checkout",
    "analytics",  "privacy",     "teams",        "hiring",   "culture",
    "events",     "webinar",     "customers",    "partners", "sdk",
    "api",        "cli",         "accessibility"};

static const char *const doc_sections[] = {
    "getting-started", "guides", "reference", "api", "operations", "faq"};
static const char *const css_names[] = {
    "site", "theme", "layout", "vendor", "print", "components", "pages"};
static const char *const js_names[] = {"app",    "vendor",    "analytics",
                                       "search", "menu",      "carousel",
                                       "forms",  "polyfills", "player"};
static const char *const img_dirs[] = {"blog", "products", "team",
                                       "hero", "gallery",  "icons"};
static const char *const font_families[] = {
    "inter", "roboto", "source-sans", "merriweather", "fira-code", "lato"};
static const char *const font_weights[] = {"regular", "bold",   "italic",
                                           "light",   "medium", "semibold"};
static const char *const download_names[] = {
    "whitepaper", "datasheet", "annual-report", "sdk",   "cli",
    "brochure",   "manual",    "case-study",    "assets"};

static const char robots_txt[] = "User-agent: *\n"
                                 "Disallow: /downloads/drafts/\n"
                                 "Disallow: /search\n"
                                 "Allow: /\n"
                                 "\n"
                                 "User-agent: ExampleBot\n"
                                 "Crawl-delay: 10\n"
                                 "\n"
                                 "User-agent: ArchiveBot\n"
                                 "Disallow: /downloads/\n"
                                 "\n"
                                 "Sitemap: https://www.example.com/sitemap.xml"
                                 "\n";

static uint64_t fnv1a(const char *s) {
  uint64_t h = UINT64_C(0xCBF29CE484222325);
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(0x100000001B3);
  }
  return h;
}

static int pathset_init(struct pathset *ps, size_t nmax) {
  size_t cap = 16;
  while (cap < nmax * 2)
    cap <<= 1;
  ps->slot = calloc(cap, sizeof(*ps->slot));
  ps->mask = cap - 1;
  return ps->slot ? 0 : -1;
}

/* Returns the object index holding rel, or -1. */
static long catalog_find(const struct catalog *c, const char *rel) {
  size_t i = (size_t)fnv1a(rel) & c->set.mask;
  while (c->set.slot[i] != 0) {
    size_t idx = c->set.slot[i] - 1;
    if (strcmp(c->obj[idx].rel, rel) == 0)
      return (long)idx;
    i = (i + 1) & c->set.mask;
  }
  return -1;
}

static void pathset_insert(struct catalog *c, size_t idx) {
  size_t i = (size_t)fnv1a(c->obj[idx].rel) & c->set.mask;
  while (c->set.slot[i] != 0)
    i = (i + 1) & c->set.mask;
  c->set.slot[i] = (uint32_t)(idx + 1);
}

/* Paths go into JSON and URLs unescaped, so they are held to a strict
 * alphabet; a violation here is a bug in this program. */
static int path_ok(const char *p) {
  if (*p == '\0' || strstr(p, "..") != NULL || strstr(p, "//") != NULL)
    return 0;
  for (; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
          ch == '.' || ch == '_' || ch == '-'))
      return 0;
  }
  return 1;
}

/* Builds "stem.ext", or "stem-2.ext", "stem-3.ext"... until the name is not
 * yet in the catalog. Returns 0, or -1 if the name does not fit. */
static int unique_name(const struct catalog *c, char *out, size_t outsz,
                       const char *stem, const char *ext) {
  for (unsigned n = 1;; n++) {
    int len = n == 1 ? snprintf(out, outsz, "%s.%s", stem, ext)
                     : snprintf(out, outsz, "%s-%u.%s", stem, n, ext);
    if (len < 0 || (size_t)len >= outsz)
      return -1;
    if (catalog_find(c, out) < 0)
      return 0;
  }
}

static int catalog_add(struct catalog *c, const char *stem, const char *ext,
                       enum kind kind, uint64_t size) {
  if (c->n == c->cap)
    return -1;
  struct object *o = &c->obj[c->n];
  if (unique_name(c, o->rel, sizeof(o->rel), stem, ext) != 0 ||
      !path_ok(o->rel)) {
    fprintf(stderr, "sbx-gen-web-static: internal error: bad path \"%s.%s\"\n",
            stem, ext);
    return -1;
  }
  o->kind = kind;
  o->size = size;
  pathset_insert(c, c->n);
  c->n++;
  return 0;
}

/* Joins 1..maxw slug words with '-' into out. */
static void make_slug(struct sbx_rng *r, char *out, size_t outsz, unsigned minw,
                      unsigned maxw) {
  unsigned nw = (unsigned)rng_range(r, minw, maxw);
  size_t len = 0;
  out[0] = '\0';
  for (unsigned i = 0; i < nw; i++) {
    const char *w = slug_words[sbx_rng_below(r, NELEM(slug_words))];
    int k = snprintf(out + len, outsz - len, "%s%s", i ? "-" : "", w);
    if (k < 0 || (size_t)k >= outsz - len)
      break;
    len += (size_t)k;
  }
}

static void catalog_free(struct catalog *c) {
  free(c->obj);
  free(c->set.slot);
  free(c->css);
  free(c->js);
  free(c->img);
  free(c->page);
  memset(c, 0, sizeof(*c));
}

static int catalog_build(struct catalog *c, uint64_t seed, size_t nobj) {
  struct sbx_rng r;
  char stem[REL_MAX];
  int rc = -1;

  memset(c, 0, sizeof(*c));
  c->obj = calloc(nobj, sizeof(*c->obj));
  c->cap = nobj;
  c->css = calloc(nobj, sizeof(size_t));
  c->js = calloc(nobj, sizeof(size_t));
  c->img = calloc(nobj, sizeof(size_t));
  c->page = calloc(nobj, sizeof(size_t));
  if (!c->obj || !c->css || !c->js || !c->img || !c->page ||
      pathset_init(&c->set, nobj) != 0) {
    fprintf(stderr, "sbx-gen-web-static: out of memory for %zu objects\n",
            nobj);
    goto out;
  }
  sbx_rng_seed(&r, seed, STREAM_CATALOG);

  /* The pages every site has. */
  static const char *const fixed_pages[] = {
      "index",   "about/index", "about/team", "about/careers",  "about/press",
      "contact", "blog/index",  "docs/index", "products/index", "pricing"};
  for (size_t i = 0; i < NELEM(fixed_pages); i++)
    if (catalog_add(c, fixed_pages[i], "html", K_HTML,
                    pick_size(&r, html_sizes, NELEM(html_sizes))) != 0)
      goto out;
  if (catalog_add(c, "robots", "txt", K_TXT, sizeof(robots_txt) - 1) != 0 ||
      catalog_add(c, "favicon", "ico", K_ICO, 4286) != 0)
    goto out;

  size_t rest = nobj - c->n;
  size_t ndl = rest / 100 ? rest / 100 : 1;
  size_t nfont = rest / 50 ? rest / 50 : 1;
  size_t ncss = rest * 4 / 100 ? rest * 4 / 100 : 1;
  size_t njs = rest * 7 / 100 ? rest * 7 / 100 : 1;
  size_t nimg = rest * 38 / 100;
  size_t npage = rest - ndl - nfont - ncss - njs - nimg;

  for (size_t i = 0; i < ncss; i++) {
    const char *base = css_names[sbx_rng_below(&r, NELEM(css_names))];
    snprintf(stem, sizeof(stem), "assets/css/%s-%u", base,
             (unsigned)rng_range(&r, 1, 9));
    if (catalog_add(c, stem, "css", K_CSS,
                    pick_size(&r, css_sizes, NELEM(css_sizes))) != 0)
      goto out;
  }
  for (size_t i = 0; i < njs; i++) {
    /* A third are content-hashed bundler chunks. */
    if (sbx_rng_below(&r, 3) == 0)
      snprintf(stem, sizeof(stem), "assets/js/chunk-%08" PRIx64,
               sbx_rng_next(&r) >> 32);
    else {
      const char *base = js_names[sbx_rng_below(&r, NELEM(js_names))];
      unsigned num = (unsigned)rng_range(&r, 1, 9);
      snprintf(stem, sizeof(stem), "assets/js/%s-%u", base, num);
    }
    if (catalog_add(c, stem, "js", K_JS,
                    pick_size(&r, js_sizes, NELEM(js_sizes))) != 0)
      goto out;
  }
  for (size_t i = 0; i < nimg; i++) {
    const char *dir = img_dirs[sbx_rng_below(&r, NELEM(img_dirs))];
    char slug[64];
    make_slug(&r, slug, sizeof(slug), 1, 3);
    snprintf(stem, sizeof(stem), "img/%s/%s", dir, slug);
    if (strcmp(dir, "icons") == 0) {
      if (catalog_add(c, stem, "png", K_PNG,
                      pick_size(&r, icon_sizes, NELEM(icon_sizes))) != 0)
        goto out;
      continue;
    }
    uint64_t f = sbx_rng_below(&r, 4);
    enum kind k = f < 2 ? K_JPG : f == 2 ? K_WEBP : K_PNG;
    const char *ext = k == K_JPG ? "jpg" : k == K_WEBP ? "webp" : "png";
    if (catalog_add(c, stem, ext, k,
                    pick_size(&r, photo_sizes, NELEM(photo_sizes))) != 0)
      goto out;
  }
  for (size_t i = 0; i < nfont; i++) {
    const char *family = font_families[sbx_rng_below(&r, NELEM(font_families))];
    const char *weight = font_weights[sbx_rng_below(&r, NELEM(font_weights))];
    snprintf(stem, sizeof(stem), "fonts/%s-%s", family, weight);
    if (catalog_add(c, stem, "woff2", K_WOFF2,
                    pick_size(&r, font_sizes, NELEM(font_sizes))) != 0)
      goto out;
  }
  for (size_t i = 0; i < ndl; i++) {
    const char *base = download_names[sbx_rng_below(&r, NELEM(download_names))];
    int zip = sbx_rng_below(&r, 3) == 0;
    unsigned major = (unsigned)rng_range(&r, 1, 5);
    unsigned minor = (unsigned)rng_range(&r, 0, 12);
    snprintf(stem, sizeof(stem), "downloads/%s-%u.%u", base, major, minor);
    if (catalog_add(c, stem, zip ? "zip" : "pdf", zip ? K_ZIP : K_PDF,
                    pick_size(&r, download_sizes, NELEM(download_sizes))) != 0)
      goto out;
  }
  for (size_t i = 0; i < npage; i++) {
    char slug[80];
    uint64_t where = sbx_rng_below(&r, 100);
    make_slug(&r, slug, sizeof(slug), 2, 4);
    if (where < 50)
      snprintf(stem, sizeof(stem), "blog/%u/%s",
               (unsigned)rng_range(&r, 2016, 2024), slug);
    else if (where < 85)
      snprintf(stem, sizeof(stem), "docs/%s/%s",
               doc_sections[sbx_rng_below(&r, NELEM(doc_sections))], slug);
    else
      snprintf(stem, sizeof(stem), "products/%s", slug);
    if (catalog_add(c, stem, "html", K_HTML,
                    pick_size(&r, html_sizes, NELEM(html_sizes))) != 0)
      goto out;
  }

  for (size_t i = 0; i < c->n; i++) {
    switch (c->obj[i].kind) {
    case K_CSS:
      c->css[c->ncss++] = i;
      break;
    case K_JS:
      c->js[c->njs++] = i;
      break;
    case K_JPG:
    case K_PNG:
    case K_WEBP:
      c->img[c->nimg++] = i;
      break;
    case K_HTML:
      c->page[c->npage++] = i;
      break;
    default:
      break;
    }
  }
  rc = 0;
out:
  return rc;
}

/* The URL a client asks for: directory indexes are requested as "dir/",
 * the way browsers and crawlers ask for them. */
static void object_url(const struct object *o, char *out, size_t outsz) {
  size_t len = strlen(o->rel);
  static const char idx[] = "index.html";
  if (len >= sizeof(idx) - 1 &&
      strcmp(o->rel + len - (sizeof(idx) - 1), idx) == 0 &&
      (len == sizeof(idx) - 1 || o->rel[len - sizeof(idx)] == '/'))
    snprintf(out, outsz, "/%.*s", (int)(len - (sizeof(idx) - 1)), o->rel);
  else
    snprintf(out, outsz, "/%s", o->rel);
}

/* ---------------------------------------------------------- file output */

/* A buffered writer that holds an object to its exact size: puts beyond
 * the limit are dropped, and out_close pads a short object. Every byte is
 * hashed as it is flushed. */
struct out {
  int fd;
  crypto_hash_sha256_state sha;
  uint64_t limit, written;
  size_t len;
  int err; /* errno of the first failure, 0 if none */
  unsigned char buf[65536];
};

static void out_flush(struct out *o) {
  size_t off = 0;
  crypto_hash_sha256_update(&o->sha, o->buf, o->len);
  while (off < o->len && o->err == 0) {
    ssize_t n = write(o->fd, o->buf + off, o->len - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      o->err = errno;
      break;
    }
    off += (size_t)n;
  }
  o->len = 0;
}

static uint64_t out_room(const struct out *o) {
  return o->limit - o->written;
}

static void out_put(struct out *o, const void *p, size_t n) {
  const unsigned char *s = p;
  if (n > out_room(o))
    n = (size_t)out_room(o);
  o->written += n;
  while (n > 0) {
    size_t k = sizeof(o->buf) - o->len;
    if (k > n)
      k = n;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    n -= k;
    if (o->len == sizeof(o->buf))
      out_flush(o);
  }
}

static void out_str(struct out *o, const char *s) {
  out_put(o, s, strlen(s));
}

static void out_byte(struct out *o, unsigned char b) {
  out_put(o, &b, 1);
}

static void out_fill(struct out *o, unsigned char b, uint64_t n) {
  while (n-- > 0)
    out_byte(o, b);
}

/* n random bytes; crc, if not NULL, is updated with them. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n);

static void out_random(struct out *o, struct sbx_rng *r, uint64_t n,
                       uint32_t *crc) {
  unsigned char chunk[4096];
  while (n > 0) {
    size_t k = n < sizeof(chunk) ? (size_t)n : sizeof(chunk);
    for (size_t i = 0; i < k; i += 8) {
      uint64_t v = sbx_rng_next(r);
      for (size_t j = 0; j < 8 && i + j < k; j++)
        chunk[i + j] = (unsigned char)(v >> (8 * j));
    }
    if (crc)
      *crc = crc32_update(*crc, chunk, k);
    out_put(o, chunk, k);
    n -= k;
  }
}

/* A small growable-free text buffer for one element at a time. */
struct sbuf {
  size_t n;
  int overflow;
  char b[8192];
};

static void sb_fmt(struct sbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_fmt(struct sbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(sb->b + sb->n, sizeof(sb->b) - sb->n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof(sb->b) - sb->n) {
    sb->overflow = 1;
    sb->n = sizeof(sb->b) - 1;
    sb->b[sb->n] = '\0';
    return;
  }
  sb->n += (size_t)k;
}

static const char *word(struct sbx_rng *r) {
  return text_words[sbx_rng_below(r, NELEM(text_words))];
}

static void sb_words(struct sbuf *sb, struct sbx_rng *r, unsigned n, int cap) {
  for (unsigned i = 0; i < n; i++) {
    const char *w = word(r);
    if (i == 0 && cap)
      sb_fmt(sb, "%c%s", w[0] - 'a' + 'A', w + 1);
    else
      sb_fmt(sb, "%s%s", i ? " " : "", w);
  }
}

/* Emits the element in sb if it fits in the room left before the reserved
 * tail; otherwise closes the body with a filler of exactly the room left,
 * words between open and close, so the object ends on a well-formed note.
 * Returns 1 when the object is full. */
static int emit_or_fill(struct out *o, struct sbx_rng *r, const struct sbuf *sb,
                        uint64_t reserve, const char *open, const char *close) {
  uint64_t room = out_room(o) > reserve ? out_room(o) - reserve : 0;
  if (!sb->overflow && sb->n <= room) {
    out_put(o, sb->b, sb->n);
    return 0;
  }
  size_t ol = strlen(open), cl = strlen(close);
  if (room < ol + cl) {
    out_fill(o, '\n', room);
    return 1;
  }
  out_str(o, open);
  room -= ol + cl;
  while (room > 0) {
    const char *w = word(r);
    size_t wl = strlen(w);
    if (wl + 1 > room)
      break;
    out_str(o, w);
    out_byte(o, ' ');
    room -= wl + 1;
  }
  out_fill(o, ' ', room);
  out_str(o, close);
  return 1;
}

static void gen_html(struct out *o, struct sbx_rng *r, const struct catalog *c) {
  static const char tail[] = "</main>\n</body>\n</html>\n";
  const uint64_t reserve = sizeof(tail) - 1;
  char url[REL_MAX + 1];
  struct sbuf sb = {0};

  sb_fmt(&sb, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
              "<meta charset=\"utf-8\">\n<title>");
  sb_words(&sb, r, (unsigned)rng_range(r, 2, 6), 1);
  object_url(&c->obj[c->css[sbx_rng_below(r, c->ncss)]], url, sizeof(url));
  sb_fmt(&sb, "</title>\n<link rel=\"stylesheet\" href=\"%s\">\n", url);
  object_url(&c->obj[c->js[sbx_rng_below(r, c->njs)]], url, sizeof(url));
  sb_fmt(&sb, "<script src=\"%s\" defer></script>\n</head>\n<body>\n<main>\n",
         url);
  if (emit_or_fill(o, r, &sb, reserve, "<p>", "</p>\n"))
    goto tail;

  for (;;) {
    uint64_t what = sbx_rng_below(r, 10);
    sb.n = 0;
    sb.overflow = 0;
    if (what < 5) {
      sb_fmt(&sb, "<p>");
      sb_words(&sb, r, (unsigned)rng_range(r, 20, 80), 1);
      if (sbx_rng_below(r, 3) == 0) {
        object_url(&c->obj[c->page[sbx_rng_below(r, c->npage)]], url, sizeof(url));
        sb_fmt(&sb, " <a href=\"%s\">", url);
        sb_words(&sb, r, (unsigned)rng_range(r, 1, 4), 0);
        sb_fmt(&sb, "</a>");
      }
      sb_fmt(&sb, ".</p>\n");
    } else if (what < 7) {
      sb_fmt(&sb, "<h2>");
      sb_words(&sb, r, (unsigned)rng_range(r, 2, 6), 1);
      sb_fmt(&sb, "</h2>\n");
    } else if (what < 9 && c->nimg > 0) {
      object_url(&c->obj[c->img[sbx_rng_below(r, c->nimg)]], url, sizeof(url));
      sb_fmt(&sb, "<figure><img src=\"%s\" alt=\"", url);
      sb_words(&sb, r, (unsigned)rng_range(r, 2, 5), 0);
      sb_fmt(&sb, "\" loading=\"lazy\"></figure>\n");
    } else {
      unsigned items = (unsigned)rng_range(r, 2, 6);
      sb_fmt(&sb, "<ul>\n");
      for (unsigned i = 0; i < items; i++) {
        sb_fmt(&sb, "<li>");
        sb_words(&sb, r, (unsigned)rng_range(r, 3, 10), 1);
        sb_fmt(&sb, "</li>\n");
      }
      sb_fmt(&sb, "</ul>\n");
    }
    if (emit_or_fill(o, r, &sb, reserve, "<p>", "</p>\n"))
      break;
  }
tail:
  out_str(o, tail);
}

static void gen_css(struct out *o, struct sbx_rng *r) {
  static const char *const props[] = {
      "margin", "padding", "border-radius", "font-size", "line-height",
      "gap",    "width",   "max-width",     "top",       "letter-spacing"};
  static const char *const tags[] = {"header",  "nav",   "main",   "footer",
                                     "article", "aside", "section"};
  struct sbuf sb = {0};

  unsigned brand = (unsigned)(sbx_rng_next(r) >> 40);
  unsigned ink = (unsigned)(sbx_rng_next(r) >> 40);
  sb_fmt(&sb,
         "/* generated stylesheet */\n:root {\n  --brand: #%06x;\n"
         "  --ink: #%06x;\n}\n",
         brand, ink);
  if (emit_or_fill(o, r, &sb, 0, "/*", "*/\n"))
    return;
  for (;;) {
    sb.n = 0;
    sb.overflow = 0;
    if (sbx_rng_below(r, 4) == 0)
      sb_fmt(&sb, "%s ", tags[sbx_rng_below(r, NELEM(tags))]);
    const char *w1 = word(r);
    const char *w2 = word(r);
    unsigned num = (unsigned)sbx_rng_below(r, 100);
    sb_fmt(&sb, ".%s-%s-%u {\n", w1, w2, num);
    unsigned np = (unsigned)rng_range(r, 2, 6);
    for (unsigned i = 0; i < np; i++) {
      const char *prop = props[sbx_rng_below(r, NELEM(props))];
      unsigned px = (unsigned)sbx_rng_below(r, 65);
      sb_fmt(&sb, "  %s: %upx;\n", prop, px);
    }
    if (sbx_rng_below(r, 2) == 0)
      sb_fmt(&sb, "  color: #%06x;\n", (unsigned)(sbx_rng_next(r) >> 40));
    sb_fmt(&sb, "}\n");
    if (emit_or_fill(o, r, &sb, 0, "/*", "*/\n"))
      return;
  }
}

static void gen_js(struct out *o, struct sbx_rng *r) {
  static const char tail[] = "})();\n";
  const uint64_t reserve = sizeof(tail) - 1;
  struct sbuf sb = {0};

  sb_fmt(&sb, "(function () {\n'use strict';\n");
  if (emit_or_fill(o, r, &sb, reserve, "//", "\n"))
    goto tail;
  for (;;) {
    sb.n = 0;
    sb.overflow = 0;
    const char *a = word(r), *b = word(r);
    unsigned k = (unsigned)rng_range(r, 2, 97);
    switch (sbx_rng_below(r, 3)) {
    case 0:
      sb_fmt(&sb,
             "function %s%c%s%u(a, b) {\n  var x = a * %u + b;\n"
             "  return x %% %u;\n}\n",
             a, b[0] - 'a' + 'A', b + 1, k, k + 1, k + 3);
      break;
    case 1:
      sb_fmt(&sb,
             "document.querySelectorAll('.%s-%s').forEach(function (el) {\n"
             "  el.setAttribute('data-%s', '%u');\n});\n",
             a, b, word(r), k);
      break;
    default:
      sb_fmt(&sb, "var %s_%s_%u = [", a, b, k);
      for (unsigned i = 0; i < k % 12 + 1; i++)
        sb_fmt(&sb, "%s%u", i ? ", " : "", (unsigned)sbx_rng_below(r, 10000));
      sb_fmt(&sb, "];\n");
      break;
    }
    if (emit_or_fill(o, r, &sb, reserve, "//", "\n"))
      break;
  }
tail:
  out_str(o, tail);
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (UINT32_C(0xEDB88320) & (0 - (crc & 1)));
  }
  return ~crc;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* Binary objects: the real format's magic and header, then incompressible
 * bytes standing in for the coded data, then the format's trailer. */
static void gen_binary(struct out *o, struct sbx_rng *r, enum kind kind) {
  unsigned char h[64];
  uint64_t size = o->limit;
  uint32_t crc;

  switch (kind) {
  case K_PNG: {
    static const unsigned char sig[8] = {0x89, 'P',  'N',  'G',
                                         '\r', '\n', 0x1A, '\n'};
    static const unsigned char iend[12] = {0,   0,   0,    0,    'I',  'E',
                                           'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    uint64_t idat = size - 8 - 25 - 12 - 12;
    memcpy(h, sig, 8);
    put_be32(h + 8, 13);
    memcpy(h + 12, "IHDR", 4);
    put_be32(h + 16, (uint32_t)rng_range(r, 64, 2048));
    put_be32(h + 20, (uint32_t)rng_range(r, 64, 2048));
    memcpy(h + 24, "\x08\x02\x00\x00\x00", 5);
    put_be32(h + 29, crc32_update(0, h + 12, 17));
    put_be32(h + 33, (uint32_t)idat);
    memcpy(h + 37, "IDAT", 4);
    out_put(o, h, 41);
    crc = crc32_update(0, (const unsigned char *)"IDAT", 4);
    out_random(o, r, idat, &crc);
    put_be32(h, crc);
    out_put(o, h, 4);
    out_put(o, iend, sizeof(iend));
    return;
  }
  case K_JPG: {
    static const unsigned char soi[20] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J',
                                          'F',  'I',  'F',  0,    1, 1,    0,
                                          0,    1,    0,    1,    0, 0};
    out_put(o, soi, sizeof(soi));
    out_random(o, r, size - sizeof(soi) - 2, NULL);
    out_put(o, "\xFF\xD9", 2);
    return;
  }
  case K_WEBP:
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, (uint32_t)(size - 8));
    memcpy(h + 8, "WEBPVP8 ", 8);
    put_le32(h + 16, (uint32_t)(size - 20));
    out_put(o, h, 20);
    out_random(o, r, size - 20, NULL);
    return;
  case K_ICO:
    memcpy(h, "\x00\x00\x01\x00\x01\x00\x20\x20\x00\x00\x01\x00\x20\x00", 14);
    put_le32(h + 14, (uint32_t)(size - 22));
    put_le32(h + 18, 22);
    out_put(o, h, 22);
    out_random(o, r, size - 22, NULL);
    return;
  case K_WOFF2:
    memcpy(h, "wOF2\x00\x01\x00\x00", 8);
    put_be32(h + 8, (uint32_t)size);
    out_put(o, h, 12);
    out_random(o, r, size - 12, NULL);
    return;
  case K_PDF: {
    static const char head[] = "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"
                               "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\n"
                               "endobj\n3 0 obj\n<< /Filter /FlateDecode >>\n"
                               "stream\n";
    static const char tail[] = "\nendstream\nendobj\ntrailer\n"
                               "<< /Root 1 0 R >>\n%%EOF\n";
    out_str(o, head);
    out_random(o, r, size - (sizeof(head) - 1) - (sizeof(tail) - 1), NULL);
    out_str(o, tail);
    return;
  }
  case K_ZIP:
    memcpy(h, "PK\x03\x04\x14\x00\x00\x00\x08\x00", 10);
    out_put(o, h, 10);
    out_random(o, r, size - 10 - 22, NULL);
    memset(h, 0, 22);
    memcpy(h, "PK\x05\x06", 4);
    out_put(o, h, 22);
    return;
  default:
    return;
  }
}

static void gen_object(struct out *o, struct sbx_rng *r, const struct catalog *c,
                       const struct object *obj) {
  switch (obj->kind) {
  case K_HTML:
    gen_html(o, r, c);
    break;
  case K_CSS:
    gen_css(o, r);
    break;
  case K_JS:
    gen_js(o, r);
    break;
  case K_TXT:
    out_str(o, robots_txt);
    break;
  default:
    gen_binary(o, r, obj->kind);
    break;
  }
  /* Every generator is meant to land exactly on the size; pad just in
   * case, so the catalog's size is the truth either way. */
  out_fill(o, '\n', out_room(o));
}

/* Creates every missing directory along path (like mkdir -p). */
static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return -1;
    buf[i] = saved;
  }
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* Opens a temporary file next to final, readable by everyone (a web
 * server's workers often run as another user). Returns the fd or -1. */
static int open_tmp(const char *final, char *tmp, size_t tmpsz) {
  int len = snprintf(tmp, tmpsz, "%s.tmp-XXXXXX", final);
  if (len < 0 || (size_t)len >= tmpsz) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = mkstemp(tmp);
  if (fd < 0)
    return -1;
  if (fchmod(fd, 0644) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    errno = e;
    return -1;
  }
  return fd;
}

static int write_object(const char *root, const struct catalog *c, size_t idx,
                        uint64_t seed) {
  struct object *obj = &c->obj[idx];
  char final[PATH_MAX], tmp[PATH_MAX];
  struct out *o = NULL;
  struct sbx_rng r;
  int fd = -1, rc = -1;

  tmp[0] = '\0';
  int len = snprintf(final, sizeof(final), "%s/%s", root, obj->rel);
  if (len < 0 || (size_t)len >= sizeof(final)) {
    fprintf(stderr, "sbx-gen-web-static: %s/%s: path too long\n", root,
            obj->rel);
    goto out;
  }
  char *slash = strrchr(final, '/');
  *slash = '\0';
  if (mkdir_p(final) != 0) {
    fprintf(stderr, "sbx-gen-web-static: cannot create directory %s: %s\n",
            final, strerror(errno));
    goto out;
  }
  *slash = '/';
  fd = open_tmp(final, tmp, sizeof(tmp));
  if (fd < 0) {
    fprintf(stderr, "sbx-gen-web-static: cannot create %s.tmp-*: %s\n", final,
            strerror(errno));
    tmp[0] = '\0';
    goto out;
  }
  o = malloc(sizeof(*o));
  if (!o) {
    fprintf(stderr, "sbx-gen-web-static: out of memory\n");
    goto out;
  }
  o->fd = fd;
  o->limit = obj->size;
  o->written = 0;
  o->len = 0;
  o->err = 0;
  crypto_hash_sha256_init(&o->sha);
  sbx_rng_seed(&r, seed, STREAM_OBJECT_BASE + (uint64_t)idx);
  gen_object(o, &r, c, obj);
  out_flush(o);
  crypto_hash_sha256_final(&o->sha, obj->sha);
  if (o->err != 0) {
    fprintf(stderr, "sbx-gen-web-static: write %s: %s\n", tmp,
            strerror(o->err));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    fprintf(stderr, "sbx-gen-web-static: close %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  if (rename(tmp, final) != 0) {
    fprintf(stderr, "sbx-gen-web-static: rename %s -> %s: %s\n", tmp, final,
            strerror(errno));
    goto out;
  }
  tmp[0] = '\0';
  rc = 0;
out:
  if (fd >= 0)
    close(fd);
  if (rc != 0 && tmp[0] != '\0')
    unlink(tmp);
  free(o);
  return rc;
}

/* ------------------------------------------------------------- dataset */

/* Paths that real edge logs are full of and that this site never has. */
static const char *const miss_fixed[] = {"/apple-touch-icon.png",
                                         "/apple-touch-icon-precomposed.png",
                                         "/favicon.png",
                                         "/sitemap.xml",
                                         "/ads.txt",
                                         "/humans.txt",
                                         "/manifest.json",
                                         "/browserconfig.xml",
                                         "/.well-known/security.txt",
                                         "/wp-login.php",
                                         "/xmlrpc.php",
                                         "/.env",
                                         "/.git/config",
                                         "/wp-admin/setup-config.php",
                                         "/phpmyadmin/index.php",
                                         "/server-status.html"};

/* Writes a path that is not in the catalog into out ("/..."). */
static void miss_path(struct sbx_rng *r, const struct catalog *c, char *out,
                      size_t outsz) {
  char rel[REL_MAX + 32];
  for (;;) {
    uint64_t how = sbx_rng_below(r, 4);
    if (how == 0) {
      snprintf(out, outsz, "%s", miss_fixed[sbx_rng_below(r, NELEM(miss_fixed))]);
    } else if (how == 1) {
      /* A renamed or removed version of a real object. */
      const struct object *o = &c->obj[sbx_rng_below(r, c->n)];
      const char *dot = strrchr(o->rel, '.');
      static const char *const tags[] = {"old", "v2", "bak", "min", "orig"};
      snprintf(out, outsz, "/%.*s.%s%s", (int)(dot - o->rel), o->rel,
               tags[sbx_rng_below(r, NELEM(tags))], dot);
    } else if (how == 2) {
      char slug[80];
      make_slug(r, slug, sizeof(slug), 2, 4);
      snprintf(out, outsz, "/blog/%u/%s.html",
               (unsigned)rng_range(r, 2012, 2024), slug);
    } else {
      /* A bundle chunk from an earlier deploy. */
      snprintf(out, outsz, "/assets/js/chunk-%08" PRIx64 ".js",
               sbx_rng_next(r) >> 32);
    }
    /* Generated misses must end in a file name with an extension: a bare
     * name could be a directory of the site and answer 301, not 404. */
    const char *last = strrchr(out, '/');
    if (how != 0 && (last == NULL || strchr(last, '.') == NULL))
      continue;
    snprintf(rel, sizeof(rel), "%s", out + 1);
    if (path_ok(rel) && catalog_find(c, rel) < 0)
      return;
  }
}

/* Writes the requests to fd, the temporary file tmp that is renamed to
 * path when complete. Takes ownership of fd; removes tmp on failure. */
static int write_dataset(int fd, char *tmp, const char *path,
                         const struct catalog *c, uint64_t seed,
                         uint64_t nreq) {
  char url[REL_MAX + 32];
  uint64_t *cdf = NULL;
  size_t *rank = NULL;
  FILE *f = NULL;
  struct sbx_rng r;
  int rc = -1;
  size_t n = c->n;

  cdf = calloc(n, sizeof(*cdf));
  rank = calloc(n, sizeof(*rank));
  if (!cdf || !rank) {
    fprintf(stderr, "sbx-gen-web-static: out of memory\n");
    goto out;
  }
  /* Shuffled rank assignment, so popularity is not tied to catalog order;
   * then Zipf(1) weights floor(2^40 / rank) as a cumulative table. */
  for (size_t i = 0; i < n; i++)
    rank[i] = i;
  sbx_rng_seed(&r, seed, STREAM_RANKS);
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)sbx_rng_below(&r, (uint64_t)i + 1);
    size_t t = rank[i];
    rank[i] = rank[j];
    rank[j] = t;
  }
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    total += ZIPF_SCALE / (uint64_t)(i + 1);
    cdf[i] = total;
  }

  f = fdopen(fd, "w");
  if (!f) {
    fprintf(stderr, "sbx-gen-web-static: %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  fd = -1;

  sbx_rng_seed(&r, seed, STREAM_REQUESTS);
  for (uint64_t q = 1; q <= nreq; q++) {
    int miss = sbx_rng_below(&r, 100) < MISS_PERCENT;
    if (miss) {
      miss_path(&r, c, url, sizeof(url));
      fprintf(f,
              "{\"id\":\"r%05" PRIu64 "\",\"path\":\"%s\","
              "\"expect\":{\"status\":404}}\n",
              q, url);
      continue;
    }
    uint64_t u = sbx_rng_below(&r, total);
    size_t lo = 0, hi = n - 1;
    while (lo < hi) { /* first rank whose cumulative weight exceeds u */
      size_t mid = lo + (hi - lo) / 2;
      if (cdf[mid] > u)
        hi = mid;
      else
        lo = mid + 1;
    }
    const struct object *o = &c->obj[rank[lo]];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof(hex), o->sha, sizeof(o->sha));
    object_url(o, url, sizeof(url));
    fprintf(f,
            "{\"id\":\"r%05" PRIu64 "\",\"path\":\"%s\","
            "\"expect\":{\"status\":200,\"sha256\":\"%s\"}}\n",
            q, url, hex);
  }
  if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
    fprintf(stderr, "sbx-gen-web-static: write %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  int cerr = fclose(f);
  f = NULL;
  if (cerr != 0) {
    fprintf(stderr, "sbx-gen-web-static: close %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    fprintf(stderr, "sbx-gen-web-static: rename %s -> %s: %s\n", tmp, path,
            strerror(errno));
    goto out;
  }
  tmp[0] = '\0';
  rc = 0;
out:
  if (f)
    fclose(f);
  if (fd >= 0)
    close(fd);
  if (rc != 0 && tmp[0] != '\0')
    unlink(tmp);
  free(cdf);
  free(rank);
  return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to) {
  fprintf(to,
          "usage: sbx-gen-web-static --seed N --content DIR --dataset FILE\n"
          "                          [--objects N] [--requests N]\n"
          "\n"
          "Writes the web-static scenario's content tree under DIR and its\n"
          "request dataset (JSON lines) to FILE; both depend only on N.\n"
          "\n"
          "  --seed N       unsigned 64-bit seed (the bundled data uses 42)\n"
          "  --content DIR  content root, created if missing; use an empty\n"
          "                 directory, other files in it are left alone\n"
          "  --dataset FILE dataset output, replaced atomically\n"
          "  --objects N    number of files, %d..%d (default %d)\n"
          "  --requests N   number of requests, 1..%d (default %d)\n"
          "  --help         this text\n"
          "\n"
          "Exit status: 0 done, 2 usage error, 3 I/O error.\n",
          MIN_OBJECTS, MAX_OBJECTS, DEFAULT_OBJECTS, MAX_REQUESTS,
          DEFAULT_REQUESTS);
}

static int usage_error(void) {
  fprintf(stderr, "run sbx-gen-web-static --help for usage\n");
  return EXIT_USAGE;
}

/* Parses a decimal unsigned integer in [lo, hi]. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  uint64_t v;
  if (sbx_parse_uint64(s, hi, &v) != 0 || v < lo)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *content = NULL, *dataset = NULL;
  uint64_t seed = 0, nobj = DEFAULT_OBJECTS, nreq = DEFAULT_REQUESTS;
  int have_seed = 0;
  struct catalog cat;
  char dtmp[PATH_MAX];
  int dfd = -1;
  int status = EXIT_IO;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    static const char *const opts[] = {"--seed", "--content", "--dataset",
                                       "--objects", "--requests"};
    const char *val = NULL;
    size_t which = NELEM(opts);
    for (size_t k = 0; k < NELEM(opts); k++) {
      size_t ol = strlen(opts[k]);
      if (strcmp(a, opts[k]) == 0) {
        if (i + 1 >= argc) {
          fprintf(stderr, "sbx-gen-web-static: %s needs a value\n", a);
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
      content = val;
      bad = *val == '\0';
      break;
    case 2:
      dataset = val;
      bad = *val == '\0';
      break;
    case 3:
      bad = parse_u64(val, MIN_OBJECTS, MAX_OBJECTS, &nobj) != 0;
      break;
    case 4:
      bad = parse_u64(val, 1, MAX_REQUESTS, &nreq) != 0;
      break;
    default:
      fprintf(stderr, "sbx-gen-web-static: unknown argument \"%s\"\n", a);
      return usage_error();
    }
    if (bad) {
      fprintf(stderr, "sbx-gen-web-static: %s: invalid value \"%s\"\n",
              opts[which], val);
      return usage_error();
    }
  }
  if (!have_seed || !content || !dataset) {
    fprintf(stderr, "sbx-gen-web-static: --seed, --content and --dataset are "
                    "required\n");
    return usage_error();
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "sbx-gen-web-static: libsodium failed to initialise\n");
    return EXIT_IO;
  }
  if (catalog_build(&cat, seed, (size_t)nobj) != 0)
    goto out;
  /* Open the dataset first: a bad --dataset should fail before minutes of
   * content writing, not after. */
  dfd = open_tmp(dataset, dtmp, sizeof(dtmp));
  if (dfd < 0) {
    fprintf(stderr, "sbx-gen-web-static: cannot create %s.tmp-*: %s\n", dataset,
            strerror(errno));
    goto out;
  }
  if (mkdir_p(content) != 0) {
    fprintf(stderr,
            "sbx-gen-web-static: cannot create content directory %s: %s\n",
            content, strerror(errno));
    goto out;
  }
  for (size_t i = 0; i < cat.n; i++)
    if (write_object(content, &cat, i, seed) != 0)
      goto out;
  status =
      write_dataset(dfd, dtmp, dataset, &cat, seed, nreq) == 0 ? 0 : EXIT_IO;
  dfd = -1;
out:
  if (dfd >= 0) {
    close(dfd);
    unlink(dtmp);
  }
  catalog_free(&cat);
  return status;
}

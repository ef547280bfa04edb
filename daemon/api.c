/* api.c - the calls of sbx.v1.Sandbox. See api.h. */
#include "api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "daemon.h"
#include "leaderboard.h"
#include "registry.h"
#include "runner.h"
#include "sbx/v1/api.pb-c.h"
#include "scheduler.h"
#include "sign.h"
#include "store.h"
#include "webhook.h"

#define R_ADMIN (1u << SBX__V1__ROLE__ROLE_ADMIN)
#define R_PUBLISHER (1u << SBX__V1__ROLE__ROLE_PUBLISHER)
#define R_EVALUATOR (1u << SBX__V1__ROLE__ROLE_EVALUATOR)
#define R_VIEWER (1u << SBX__V1__ROLE__ROLE_VIEWER)
#define R_VENDOR (1u << SBX__V1__ROLE__ROLE_VENDOR)
#define R_ALL (R_ADMIN | R_PUBLISHER | R_EVALUATOR | R_VIEWER | R_VENDOR)
#define R_NONE 0u /* no token needed */

#define LIST_DEFAULT 100
#define LIST_MAX 10000
#define MAX_ROUNDS 20
#define MAX_MATCH_PRODUCTS 16

/* One WatchRun stream. */
struct sbx_api_watch {
  struct sbx_api_watch *next;
  struct sbx_daemon *d;
  struct sbx_connect_call *call;
  uint64_t run_id;
  Sbx__V1__RunState state;
};

/* The caller of a call, authenticated. */
struct caller {
  Sbx__V1__Token *tok; /* NULL for calls that need no token */
};

static int is_role(const struct caller *who, Sbx__V1__Role r) {
  return who->tok != NULL && who->tok->role == r;
}

static const char *vendor_of(const struct caller *who) {
  return who->tok != NULL ? who->tok->vendor : "";
}

/* Authenticates c and checks roles; on failure answers c and returns -1. */
static int admit(struct sbx_daemon *d, struct sbx_connect_call *c,
                 unsigned roles, struct caller *who) {
  struct sbx_diag diag = {""};
  int rc;

  who->tok = NULL;
  if (roles == R_NONE)
    return 0;
  rc = sbx_auth_lookup(d->store, sbx_connect_header(c, "authorization"),
                       &who->tok, &diag);
  if (rc == SBX_EAUTH) {
    sbx_connect_fail(c, SBX_CONNECT_UNAUTHENTICATED, "%s", diag.msg);
    return -1;
  }
  if (rc != 0) {
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL, "could not check the token: %s",
                     sbx_strerror(rc));
    return -1;
  }
  if ((roles & (1u << who->tok->role)) == 0) {
    sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                     "%s: the %s role may not call it; ask an admin for a "
                     "token with one that may",
                     sbx_connect_method_name(c), sbx_role_name(who->tok->role));
    sbx__v1__token__free_unpacked(who->tok, NULL);
    who->tok = NULL;
    return -1;
  }
  return 0;
}

static void release(struct caller *who) {
  if (who->tok != NULL)
    sbx__v1__token__free_unpacked(who->tok, NULL);
  who->tok = NULL;
}

static void fail_err(struct sbx_connect_call *c, int rc,
                     const struct sbx_diag *diag) {
  sbx_connect_fail(c, sbx_connect_code_from_err(rc), "%s",
                   diag != NULL && diag->msg[0] != '\0' ? diag->msg
                                                        : sbx_strerror(rc));
}

/* What a caller may read of a run: its own vendor's, published ones, and
 * everything for the roles that oversee the sandbox. */
static int can_read_run(const struct caller *who, const Sbx__V1__Run *run) {
  if (is_role(who, SBX__V1__ROLE__ROLE_VENDOR))
    return run->published || strcmp(run->vendor, vendor_of(who)) == 0;
  if (is_role(who, SBX__V1__ROLE__ROLE_VIEWER))
    return run->published;
  return 1;
}

/* A vendor reads only its own products. */
static int can_read_product(const struct caller *who, const char *vendor) {
  return !is_role(who, SBX__V1__ROLE__ROLE_VENDOR) ||
         strcmp(vendor, vendor_of(who)) == 0;
}

/* A deep copy of m through the wire format (the records are small), so
 * that it can be freed with protobuf_c_message_free_unpacked. */
static ProtobufCMessage *copy_msg(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  ProtobufCMessage *cp;
  if (buf == NULL)
    return NULL;
  protobuf_c_message_pack(m, buf);
  cp = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  free(buf);
  return cp;
}

/* A growing array of message copies, the shape of every listing. */
struct msg_list {
  void **v;
  size_t n, cap;
  int oom;
};

/* Appends a copy of m; returns it, or NULL (and sets oom) when out of
 * memory. */
static void *push_copy(struct msg_list *l, const ProtobufCMessage *m) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    void **nv = realloc(l->v, cap * sizeof(*nv));
    if (nv == NULL) {
      l->oom = 1;
      return NULL;
    }
    l->v = nv;
    l->cap = cap;
  }
  if ((l->v[l->n] = copy_msg(m)) == NULL) {
    l->oom = 1;
    return NULL;
  }
  return l->v[l->n++];
}

static void free_list(struct msg_list *l) {
  size_t i;
  for (i = 0; i < l->n; i++)
    protobuf_c_message_free_unpacked(l->v[i], NULL);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* ---- scenarios ---- */

static void redact_info(const struct caller *who, Sbx__V1__ScenarioInfo *si) {
  if (is_role(who, SBX__V1__ROLE__ROLE_VENDOR) ||
      is_role(who, SBX__V1__ROLE__ROLE_VIEWER))
    si->private_cases = 0;
}

static void h_publish(struct sbx_connect_call *c, const ProtobufCMessage *m,
                      void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__PublishScenarioRequest *rq = (const void *)m;
  Sbx__V1__PublishScenarioResponse resp =
      SBX__V1__PUBLISH_SCENARIO_RESPONSE__INIT;
  struct sbx_diag diag = {""};
  struct caller who;
  int rc;

  if (admit(d, c, R_ADMIN | R_PUBLISHER, &who) != 0)
    return;
  rc = sbx_registry_publish(d->store, rq, "api", &resp.scenario, &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
  } else {
    sbx_log("info", "scenario_published", "scenario=%s@%s by=%s",
            resp.scenario->name, resp.scenario->version, who.tok->id);
    sbx_connect_reply(c, &resp.base);
    sbx__v1__scenario_info__free_unpacked(resp.scenario, NULL);
  }
  release(&who);
}

struct info_list {
  struct msg_list l;
  const struct caller *who;
};

static int add_info(const Sbx__V1__ScenarioInfo *si, void *arg) {
  struct info_list *il = arg;
  Sbx__V1__ScenarioInfo *cp = push_copy(&il->l, &si->base);
  if (cp == NULL)
    return 1;
  redact_info(il->who, cp);
  return 0;
}

static void h_list_scenarios(struct sbx_connect_call *c,
                             const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__ListScenariosRequest *rq = (const void *)m;
  Sbx__V1__ListScenariosResponse resp = SBX__V1__LIST_SCENARIOS_RESPONSE__INIT;
  struct info_list il;
  struct caller who;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  memset(&il, 0, sizeof(il));
  il.who = &who;
  rc = sbx_registry_list_scenarios(d->store, rq->name, add_info, &il);
  if (il.l.oom || rc != 0) {
    fail_err(c, il.l.oom ? SBX_ENOMEM : rc, NULL);
  } else {
    resp.scenarios = (Sbx__V1__ScenarioInfo **)il.l.v;
    resp.n_scenarios = il.l.n;
    sbx_connect_reply(c, &resp.base);
  }
  free_list(&il.l);
  release(&who);
}

static void h_get_scenario(struct sbx_connect_call *c,
                           const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetScenarioRequest *rq = (const void *)m;
  Sbx__V1__GetScenarioResponse resp = SBX__V1__GET_SCENARIO_RESPONSE__INIT;
  struct sbx_diag diag = {""};
  struct caller who;
  char id[300], *spec = NULL, *data = NULL;
  size_t slen = 0, dlen = 0;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  rc = sbx_registry_find_scenario(d->store, rq->scenario, &resp.scenario,
                                  &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  redact_info(&who, resp.scenario);
  if (rq->include_spec) {
    /* The public dataset only: the private one never leaves the store. */
    snprintf(id, sizeof(id), "%s@%s", resp.scenario->name,
             resp.scenario->version);
    if (sbx_registry_bytes(d->store, id, "spec", &spec, &slen) == 0) {
      resp.spec.data = (uint8_t *)spec;
      resp.spec.len = slen;
    }
    if (sbx_registry_bytes(d->store, id, "public", &data, &dlen) == 0) {
      resp.dataset.data = (uint8_t *)data;
      resp.dataset.len = dlen;
    }
  }
  sbx_connect_reply(c, &resp.base);
out:
  if (resp.scenario != NULL)
    sbx__v1__scenario_info__free_unpacked(resp.scenario, NULL);
  free(spec);
  free(data);
  release(&who);
}

/* ---- products ---- */

/* Removes what no answer may carry: endpoint secrets always, a plugin's
 * configuration for anyone but its vendor and admins. */
static void redact_product(const struct caller *who, Sbx__V1__Product *p) {
  if (p->endpoint != NULL && p->endpoint->secret != NULL &&
      p->endpoint->secret != protobuf_c_empty_string) {
    free(p->endpoint->secret);
    p->endpoint->secret = (char *)protobuf_c_empty_string;
  }
  if (p->plugin != NULL && !is_role(who, SBX__V1__ROLE__ROLE_ADMIN) &&
      !(is_role(who, SBX__V1__ROLE__ROLE_VENDOR) &&
        strcmp(p->vendor, vendor_of(who)) == 0)) {
    free(p->plugin->config.data);
    p->plugin->config.data = NULL;
    p->plugin->config.len = 0;
  }
}

/* A callback URL from a request: well formed, and not an address this
 * daemon refuses to send callbacks to (a host name is checked when the
 * callback goes out, on the address it resolves to). */
static int check_callback(struct sbx_daemon *d, struct sbx_connect_call *c,
                          const char *field, const char *url) {
  struct sbx_diag diag = {""};
  if (url == NULL || url[0] == '\0')
    return 0;
  if (sbx_webhook_validate_url(url, &diag) != 0 ||
      (!d->cfg.callback_private &&
       sbx_webhook_check_literal_host(url, &diag) != 0)) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT, "%s: %s", field,
                     diag.msg);
    return -1;
  }
  return 0;
}

static void h_register(struct sbx_connect_call *c, const ProtobufCMessage *m,
                       void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__RegisterProductRequest *rq = (const void *)m;
  Sbx__V1__RegisterProductResponse resp =
      SBX__V1__REGISTER_PRODUCT_RESPONSE__INIT;
  struct sbx_diag diag = {""};
  struct caller who;
  char id[256];
  int rc;

  if (admit(d, c, R_ADMIN | R_VENDOR, &who) != 0)
    return;
  if (rq->product != NULL && is_role(&who, SBX__V1__ROLE__ROLE_VENDOR) &&
      strcmp(rq->product->vendor, vendor_of(&who)) != 0) {
    sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                     "product.vendor: this token acts for vendor \"%s\" and "
                     "may register only that vendor's products",
                     vendor_of(&who));
    goto out;
  }
  if (rq->product != NULL &&
      check_callback(d, c, "product.callbackUrl", rq->product->callback_url) !=
          0)
    goto out;
  rc = sbx_registry_register(d->store, d->cfg.data_dir, rq, &resp.product,
                             &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  sbx_registry_product_id(resp.product, id, sizeof(id));
  sbx_log("info", "product_registered", "product=%s kind=%s by=%s", id,
          resp.product->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN
              ? "plugin"
              : "endpoint",
          who.tok->id);
  redact_product(&who, resp.product);
  sbx_connect_reply(c, &resp.base);
  sbx__v1__product__free_unpacked(resp.product, NULL);
out:
  release(&who);
}

struct prod_list {
  struct msg_list l;
  const struct caller *who;
};

static int add_product(const Sbx__V1__Product *p, void *arg) {
  struct prod_list *pl = arg;
  Sbx__V1__Product *cp;
  if (!can_read_product(pl->who, p->vendor))
    return 0;
  if ((cp = push_copy(&pl->l, &p->base)) == NULL)
    return 1;
  redact_product(pl->who, cp);
  return 0;
}

static void h_list_products(struct sbx_connect_call *c,
                            const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__ListProductsRequest *rq = (const void *)m;
  Sbx__V1__ListProductsResponse resp = SBX__V1__LIST_PRODUCTS_RESPONSE__INIT;
  struct prod_list pl;
  struct caller who;
  int rc;

  if (admit(d, c, R_ADMIN | R_PUBLISHER | R_EVALUATOR | R_VIEWER | R_VENDOR,
            &who) != 0)
    return;
  if (is_role(&who, SBX__V1__ROLE__ROLE_VENDOR) && rq->vendor[0] != '\0' &&
      strcmp(rq->vendor, vendor_of(&who)) != 0) {
    sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                     "vendor: this token may list only vendor \"%s\"'s "
                     "products",
                     vendor_of(&who));
    goto out;
  }
  memset(&pl, 0, sizeof(pl));
  pl.who = &who;
  rc = sbx_registry_list_products(d->store, rq->vendor, add_product, &pl);
  if (pl.l.oom || rc != 0) {
    fail_err(c, pl.l.oom ? SBX_ENOMEM : rc, NULL);
  } else {
    resp.products = (Sbx__V1__Product **)pl.l.v;
    resp.n_products = pl.l.n;
    sbx_connect_reply(c, &resp.base);
  }
  free_list(&pl.l);
out:
  release(&who);
}

/* Reads product id for who: not_found and permission_denied answered. */
static Sbx__V1__Product *product_for(struct sbx_daemon *d,
                                     struct sbx_connect_call *c,
                                     const struct caller *who, const char *id) {
  Sbx__V1__Product *p = NULL;
  struct sbx_diag diag = {""};
  char vendor[80];
  int rc;

  if ((rc = sbx_registry_parse_product_id(id, vendor, sizeof(vendor),
                                          &diag)) != 0) {
    fail_err(c, rc, &diag);
    return NULL;
  }
  if (!can_read_product(who, vendor)) {
    sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                     "product %s belongs to another vendor; this token acts "
                     "for \"%s\"",
                     id, vendor_of(who));
    return NULL;
  }
  rc = sbx_registry_product(d->store, id, &p);
  if (rc == SBX_ENOENT)
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND,
                     "product %s is not registered; register it with "
                     "`sbx product register %s ...`",
                     id, id);
  else if (rc != 0)
    fail_err(c, rc, NULL);
  return p;
}

static void h_get_product(struct sbx_connect_call *c,
                          const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetProductRequest *rq = (const void *)m;
  Sbx__V1__GetProductResponse resp = SBX__V1__GET_PRODUCT_RESPONSE__INIT;
  struct caller who;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  resp.product = product_for(d, c, &who, rq->product);
  if (resp.product != NULL) {
    redact_product(&who, resp.product);
    sbx_connect_reply(c, &resp.base);
    sbx__v1__product__free_unpacked(resp.product, NULL);
  }
  release(&who);
}

/* ---- runs ---- */

static int kind_matches(const Sbx__V1__ScenarioInfo *si,
                        const Sbx__V1__Product *p) {
  return (si->interface == SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN) ==
         (p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN);
}

static Sbx__V1__LoadOverrides *copy_overrides(const Sbx__V1__LoadOverrides *o) {
  Sbx__V1__LoadOverrides *cp = malloc(sizeof(*cp));
  if (cp == NULL)
    return NULL;
  if (o != NULL)
    *cp = *o;
  else
    sbx__v1__load_overrides__init(cp);
  return cp;
}

/* Creates and stores a QUEUED run. Returns 0 or an SBX error (diag). */
static int new_run(struct sbx_daemon *d, const struct caller *who,
                   const Sbx__V1__ScenarioInfo *si, const Sbx__V1__Product *p,
                   const Sbx__V1__LoadOverrides *o, int private_,
                   const char *callback, Sbx__V1__HttpClient client,
                   const char *match_id, uint32_t round, Sbx__V1__Run **out,
                   struct sbx_diag *diag) {
  Sbx__V1__Run *run = malloc(sizeof(*run));
  char pid[256], sid[300];
  int rc = SBX_ENOMEM;

  *out = NULL;
  if (run == NULL)
    return SBX_ENOMEM;
  sbx__v1__run__init(run);
  sbx_registry_product_id(p, pid, sizeof(pid));
  snprintf(sid, sizeof(sid), "%s@%s", si->name, si->version);
  run->scenario = strdup(sid);
  run->product = strdup(pid);
  run->vendor = strdup(p->vendor);
  run->dataset = strdup(private_ ? "private" : "public");
  run->callback_url = strdup(callback != NULL ? callback : "");
  run->match_id = strdup(match_id != NULL ? match_id : "");
  run->requested_by = strdup(who->tok != NULL ? who->tok->id : "");
  run->requested = copy_overrides(o);
  run->scenario_digest.data = malloc(si->digest.len ? si->digest.len : 1);
  if (run->scenario == NULL || run->product == NULL || run->vendor == NULL ||
      run->dataset == NULL || run->callback_url == NULL ||
      run->match_id == NULL || run->requested_by == NULL ||
      run->requested == NULL || run->scenario_digest.data == NULL)
    goto out;
  memcpy(run->scenario_digest.data, si->digest.data, si->digest.len);
  run->scenario_digest.len = si->digest.len;
  run->state = SBX__V1__RUN_STATE__RUN_STATE_QUEUED;
  run->published = !is_role(who, SBX__V1__ROLE__ROLE_VENDOR);
  run->round = round;
  run->http_client = client;
  run->created_unix_ms = sbx_unix_ms();
  rc = sbx_store_new_run(d->store, run);
  if (rc != 0) {
    sbx_diag_set(diag, "could not queue the run: %s", sbx_strerror(rc));
    goto out;
  }
  *out = run;
  run = NULL;
out:
  if (run != NULL)
    sbx__v1__run__free_unpacked(run, NULL);
  return rc;
}

/* Decides the dataset of a run; answers c and returns -1 if refused. */
static int pick_dataset(struct sbx_connect_call *c, const struct caller *who,
                        const Sbx__V1__ScenarioInfo *si,
                        Sbx__V1__DatasetChoice choice) {
  int vendor = is_role(who, SBX__V1__ROLE__ROLE_VENDOR);
  if (choice == SBX__V1__DATASET_CHOICE__DATASET_PRIVATE) {
    if (vendor) {
      sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                       "dataset: vendors run the public dataset only; the "
                       "private one is for official runs");
      return -1;
    }
    if (!si->has_private_dataset) {
      sbx_connect_fail(c, SBX_CONNECT_FAILED_PRECONDITION,
                       "dataset: %s@%s has no private dataset; use the "
                       "public one",
                       si->name, si->version);
      return -1;
    }
    return 1;
  }
  if (choice == SBX__V1__DATASET_CHOICE__DATASET_PUBLIC)
    return 0;
  return !vendor && si->has_private_dataset;
}

static void h_start_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                        void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__StartRunRequest *rq = (const void *)m;
  Sbx__V1__StartRunResponse resp = SBX__V1__START_RUN_RESPONSE__INIT;
  Sbx__V1__ScenarioInfo *si = NULL;
  Sbx__V1__Product *p = NULL;
  struct sbx_diag diag = {""};
  struct caller who;
  int rc, priv;

  if (admit(d, c, R_ADMIN | R_EVALUATOR | R_VENDOR, &who) != 0)
    return;
  if ((p = product_for(d, c, &who, rq->product)) == NULL)
    goto out;
  rc = sbx_registry_find_scenario(d->store, rq->scenario, &si, &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  if (!kind_matches(si, p)) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                     "%s@%s tests %s, but %s is %s", si->name, si->version,
                     si->interface ==
                             SBX__V1__INTERFACE_KIND__INTERFACE_KIND_PLUGIN
                         ? "plugins"
                         : "HTTP endpoints",
                     rq->product,
                     p->kind == SBX__V1__PRODUCT_KIND__PRODUCT_KIND_PLUGIN
                         ? "a plugin"
                         : "an endpoint");
    goto out;
  }
  if ((priv = pick_dataset(c, &who, si, rq->dataset)) < 0)
    goto out;
  if (check_callback(d, c, "callbackUrl", rq->callback_url) != 0)
    goto out;
  rc = new_run(d, &who, si, p, rq->overrides, priv,
               rq->callback_url[0] ? rq->callback_url : p->callback_url,
               rq->http_client, NULL, 0, &resp.run, &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  sbx_log("info", "run_queued", "run=%" PRIu64 " scenario=%s product=%s by=%s",
          resp.run->id, resp.run->scenario, resp.run->product, who.tok->id);
  sbx_sched_enqueue(d->sched, resp.run->id);
  resp.run->queue_position = sbx_sched_position(d->sched, resp.run->id);
  sbx_connect_reply(c, &resp.base);
  sbx__v1__run__free_unpacked(resp.run, NULL);
out:
  if (si != NULL)
    sbx__v1__scenario_info__free_unpacked(si, NULL);
  if (p != NULL)
    sbx__v1__product__free_unpacked(p, NULL);
  release(&who);
}

/* Reads run id for who; answers not_found (also for runs it may not see,
 * so their existence does not leak) and returns NULL. */
static Sbx__V1__Run *run_for(struct sbx_daemon *d, struct sbx_connect_call *c,
                             const struct caller *who, uint64_t id) {
  Sbx__V1__Run *run = NULL;
  int rc = sbx_store_get_run(d->store, id, &run);
  if (rc == 0 && !can_read_run(who, run)) {
    sbx__v1__run__free_unpacked(run, NULL);
    run = NULL;
    rc = SBX_ENOENT;
  }
  if (rc == SBX_ENOENT)
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND,
                     "run %" PRIu64 " does not exist (or is not yours to see)",
                     id);
  else if (rc != 0)
    fail_err(c, rc, NULL);
  if (run != NULL)
    run->queue_position = sbx_sched_position(d->sched, id);
  return run;
}

static void h_get_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                      void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetRunRequest *rq = (const void *)m;
  Sbx__V1__GetRunResponse resp = SBX__V1__GET_RUN_RESPONSE__INIT;
  struct caller who;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  if ((resp.run = run_for(d, c, &who, rq->run_id)) != NULL) {
    sbx_connect_reply(c, &resp.base);
    sbx__v1__run__free_unpacked(resp.run, NULL);
  }
  release(&who);
}

struct run_list {
  struct msg_list l;
  const struct caller *who;
  const char *scenario, *product, *match_id;
  Sbx__V1__RunState state;
};

#define RUNS(rl) ((Sbx__V1__Run **)(rl)->l.v)

/* Matches "name" against "name@version" or the whole id. */
static int scenario_matches(const char *want, const char *have) {
  size_t n = strlen(want);
  if (want[0] == '\0')
    return 1;
  if (strcmp(want, have) == 0)
    return 1;
  return strchr(want, '@') == NULL && strncmp(want, have, n) == 0 &&
         have[n] == '@';
}

static int add_run(const Sbx__V1__Run *r, void *arg) {
  struct run_list *l = arg;
  if (!can_read_run(l->who, r) || !scenario_matches(l->scenario, r->scenario) ||
      (l->product[0] != '\0' && strcmp(l->product, r->product) != 0) ||
      (l->match_id[0] != '\0' && strcmp(l->match_id, r->match_id) != 0) ||
      (l->state != 0 && l->state != r->state))
    return 0;
  return push_copy(&l->l, &r->base) == NULL;
}

static void free_runs(struct run_list *l) { free_list(&l->l); }

/* Collects the runs who may see, oldest first. */
static int collect_runs(struct sbx_daemon *d, struct run_list *l) {
  int rc = sbx_store_list_runs(d->store, add_run, l);
  return l->l.oom ? SBX_ENOMEM : rc;
}

static uint32_t list_limit(uint32_t limit) {
  return limit == 0 ? LIST_DEFAULT : limit > LIST_MAX ? LIST_MAX : limit;
}

static void h_list_runs(struct sbx_connect_call *c, const ProtobufCMessage *m,
                        void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__ListRunsRequest *rq = (const void *)m;
  Sbx__V1__ListRunsResponse resp = SBX__V1__LIST_RUNS_RESPONSE__INIT;
  struct run_list l;
  struct caller who;
  uint32_t limit = list_limit(rq->limit);
  size_t i;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  memset(&l, 0, sizeof(l));
  l.who = &who;
  l.scenario = rq->scenario;
  l.product = rq->product;
  l.match_id = "";
  l.state = rq->state;
  rc = collect_runs(d, &l);
  if (rc != 0) {
    fail_err(c, rc, NULL);
  } else {
    Sbx__V1__Run **v = RUNS(&l);
    size_t n = l.l.n;
    /* Newest first. */
    for (i = 0; i < n / 2; i++) {
      Sbx__V1__Run *t = v[i];
      v[i] = v[n - 1 - i];
      v[n - 1 - i] = t;
    }
    for (i = 0; i < n; i++)
      v[i]->queue_position = sbx_sched_position(d->sched, v[i]->id);
    resp.runs = v;
    resp.n_runs = n < limit ? n : limit;
    sbx_connect_reply(c, &resp.base);
  }
  free_runs(&l);
  release(&who);
}

static void h_cancel_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                         void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__CancelRunRequest *rq = (const void *)m;
  Sbx__V1__CancelRunResponse resp = SBX__V1__CANCEL_RUN_RESPONSE__INIT;
  Sbx__V1__Run *run;
  struct caller who;
  int rc;

  if (admit(d, c, R_ADMIN | R_EVALUATOR | R_VENDOR, &who) != 0)
    return;
  if ((run = run_for(d, c, &who, rq->run_id)) == NULL)
    goto out;
  if (is_role(&who, SBX__V1__ROLE__ROLE_VENDOR) &&
      (run->published || strcmp(run->vendor, vendor_of(&who)) != 0)) {
    sbx_connect_fail(c, SBX_CONNECT_PERMISSION_DENIED,
                     "run %" PRIu64 " is an official run; only an evaluator "
                     "or an admin may cancel it",
                     rq->run_id);
    goto out;
  }
  rc = sbx_sched_cancel(d->sched, rq->run_id);
  if (rc == SBX_ESTATE) {
    sbx_connect_fail(c, SBX_CONNECT_FAILED_PRECONDITION,
                     "run %" PRIu64 " has already ended (%s)", rq->run_id,
                     protobuf_c_enum_descriptor_get_value(
                         &sbx__v1__run_state__descriptor, run->state)
                         ->name);
    goto out;
  }
  if (rc != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  sbx_log("info", "run_cancel", "run=%" PRIu64 " by=%s", rq->run_id,
          who.tok->id);
  sbx__v1__run__free_unpacked(run, NULL);
  run = NULL;
  if (sbx_store_get_run(d->store, rq->run_id, &resp.run) == 0) {
    sbx_connect_reply(c, &resp.base);
    sbx__v1__run__free_unpacked(resp.run, NULL);
  } else {
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL, "run vanished after cancel");
  }
out:
  if (run != NULL)
    sbx__v1__run__free_unpacked(run, NULL);
  release(&who);
}

/* ---- WatchRun ---- */

static void unlink_watch(struct sbx_daemon *d, struct sbx_api_watch *w) {
  struct sbx_api_watch **pp;
  for (pp = &d->watchers; *pp != NULL; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      return;
    }
}

static void on_watch_cancel(struct sbx_connect_call *c, void *arg) {
  struct sbx_api_watch *w = arg;
  (void)c;
  unlink_watch(w->d, w);
  free(w);
}

static void end_watch(struct sbx_api_watch *w, int code, const char *msg) {
  unlink_watch(w->d, w);
  if (code == 0)
    sbx_connect_stream_end(w->call, 0, " ");
  else
    sbx_connect_stream_end(w->call, code, "%s", msg);
  free(w);
}

/* Sends the stored signed result of run as a result event. Returns 0 if
 * one was sent. */
static int send_stored_result(struct sbx_daemon *d, struct sbx_connect_call *c,
                              uint64_t run_id) {
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  int rc;
  if (sbx_store_get_signed(d->store, run_id, &ev.result) != 0)
    return -1;
  ev.run_id = run_id;
  ev.at_unix_ms = sbx_unix_ms();
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_RESULT;
  rc = sbx_connect_stream_send(c, &ev.base);
  sbx__v1__signed_result__free_unpacked(ev.result, NULL);
  return rc;
}

static void h_watch_run(struct sbx_connect_call *c, const ProtobufCMessage *m,
                        void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__WatchRunRequest *rq = (const void *)m;
  Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
  Sbx__V1__Progress pr;
  struct sbx_api_watch *w;
  Sbx__V1__Run *run;
  struct caller who;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  run = run_for(d, c, &who, rq->run_id);
  release(&who);
  if (run == NULL)
    return;
  ev.run_id = run->id;
  ev.at_unix_ms = sbx_unix_ms();
  ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
  ev.state = run->state;
  if (sbx_connect_stream_send(c, &ev.base) != 0) {
    sbx__v1__run__free_unpacked(run, NULL);
    sbx_connect_stream_end(c, SBX_CONNECT_CANCELED, "client gone");
    return;
  }
  if (sbx_run_state_terminal(run->state)) {
    send_stored_result(d, c, run->id);
    sbx__v1__run__free_unpacked(run, NULL);
    sbx_connect_stream_end(c, 0, " ");
    return;
  }
  if (sbx_sched_progress(d->sched, run->id, &pr) == 0) {
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_PROGRESS;
    ev.progress = &pr;
    sbx_connect_stream_send(c, &ev.base);
  }
  w = calloc(1, sizeof(*w));
  if (w == NULL) {
    sbx__v1__run__free_unpacked(run, NULL);
    sbx_connect_stream_end(c, SBX_CONNECT_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  w->d = d;
  w->call = c;
  w->run_id = run->id;
  w->state = run->state;
  sbx__v1__run__free_unpacked(run, NULL);
  w->next = d->watchers;
  d->watchers = w;
  sbx_connect_on_cancel(c, on_watch_cancel, w);
}

void sbx_api_on_event(struct sbx_daemon *d, const Sbx__V1__RunEvent *ev) {
  struct sbx_api_watch *w = d->watchers, *next;
  for (; w != NULL; w = next) {
    int rc;
    next = w->next;
    if (w->run_id != ev->run_id)
      continue;
    if (ev->event_case == SBX__V1__RUN_EVENT__EVENT_STATE)
      w->state = ev->state;
    rc = sbx_connect_stream_send(w->call, &ev->base);
    if (rc == SBX_ECANCELED)
      continue; /* the cancel callback frees w */
    if (rc != 0) {
      end_watch(w, SBX_CONNECT_RESOURCE_EXHAUSTED,
                "the client does not read its stream");
      continue;
    }
    /* The result is the last event; a run that ended without one ends its
     * streams with its terminal state. */
    if (ev->event_case == SBX__V1__RUN_EVENT__EVENT_RESULT ||
        (ev->event_case == SBX__V1__RUN_EVENT__EVENT_STATE &&
         sbx_run_state_terminal(ev->state) &&
         ev->state != SBX__V1__RUN_STATE__RUN_STATE_DONE &&
         ev->state != SBX__V1__RUN_STATE__RUN_STATE_ERROR))
      end_watch(w, 0, NULL);
  }
}

void sbx_api_heartbeat(struct sbx_daemon *d) {
  struct sbx_api_watch *w = d->watchers, *next;
  for (; w != NULL; w = next) {
    Sbx__V1__RunEvent ev = SBX__V1__RUN_EVENT__INIT;
    next = w->next;
    ev.run_id = w->run_id;
    ev.at_unix_ms = sbx_unix_ms();
    ev.event_case = SBX__V1__RUN_EVENT__EVENT_STATE;
    ev.state = w->state;
    if (sbx_connect_stream_send(w->call, &ev.base) == SBX_EBUSY)
      end_watch(w, SBX_CONNECT_RESOURCE_EXHAUSTED,
                "the client does not read its stream");
  }
}

void sbx_api_end_watchers(struct sbx_daemon *d) {
  while (d->watchers != NULL)
    end_watch(d->watchers, SBX_CONNECT_UNAVAILABLE,
              "sandboxd is stopping; watch the run again once it is back");
}

/* ---- matches ---- */

static int put_match(struct sbx_daemon *d, const Sbx__V1__Match *mt) {
  char key[64];
  size_t n = sbx__v1__match__get_packed_size(mt);
  uint8_t *buf = malloc(n ? n : 1);
  int rc;
  if (buf == NULL)
    return SBX_ENOMEM;
  sbx__v1__match__pack(mt, buf);
  snprintf(key, sizeof(key), "match/%s", mt->id);
  rc = sbx_store_kv_put(d->store, SBX_STORE_EVENTS, key, strlen(key), buf, n);
  free(buf);
  return rc;
}

static void h_start_match(struct sbx_connect_call *c,
                          const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__StartMatchRequest *rq = (const void *)m;
  Sbx__V1__StartMatchResponse resp = SBX__V1__START_MATCH_RESPONSE__INIT;
  Sbx__V1__Match mt = SBX__V1__MATCH__INIT;
  Sbx__V1__LoadOverrides ov = SBX__V1__LOAD_OVERRIDES__INIT;
  Sbx__V1__Product *prods[MAX_MATCH_PRODUCTS] = {NULL};
  Sbx__V1__ScenarioInfo *si = NULL;
  struct sbx_diag diag = {""};
  struct caller who;
  uint64_t *ids = NULL;
  uint8_t rnd[8];
  char mid[17], sid[300];
  uint32_t rounds, r;
  size_t i, j, n = rq->n_products;
  int rc, priv;

  if (admit(d, c, R_ADMIN | R_EVALUATOR, &who) != 0)
    return;
  if (n < 2 || n > MAX_MATCH_PRODUCTS) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                     "products: a match needs 2 to %d products, got %zu",
                     MAX_MATCH_PRODUCTS, n);
    goto out;
  }
  for (i = 0; i < n; i++)
    for (j = 0; j < i; j++)
      if (strcmp(rq->products[i], rq->products[j]) == 0) {
        sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                         "products[%zu]: %s is listed twice", i,
                         rq->products[i]);
        goto out;
      }
  rounds = rq->rounds == 0 ? 1 : rq->rounds;
  if (rounds > MAX_ROUNDS) {
    sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                     "rounds: at most %d, got %u", MAX_ROUNDS, rounds);
    goto out;
  }
  rc = sbx_registry_find_scenario(d->store, rq->scenario, &si, &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  for (i = 0; i < n; i++) {
    if ((prods[i] = product_for(d, c, &who, rq->products[i])) == NULL)
      goto out;
    if (!kind_matches(si, prods[i])) {
      sbx_connect_fail(c, SBX_CONNECT_INVALID_ARGUMENT,
                       "products[%zu]: %s is not the kind of product %s@%s "
                       "tests",
                       i, rq->products[i], si->name, si->version);
      goto out;
    }
  }
  if ((priv = pick_dataset(c, &who, si, rq->dataset)) < 0)
    goto out;
  if (check_callback(d, c, "callbackUrl", rq->callback_url) != 0)
    goto out;
  /* Same seed and case order for every product: the match's own. */
  if (rq->overrides != NULL)
    ov = *rq->overrides;
  if (ov.seed == 0) {
    randombytes_buf(rnd, sizeof(rnd));
    for (i = 0; i < 8; i++)
      ov.seed = ov.seed << 8 | rnd[i];
    if (ov.seed == 0)
      ov.seed = 1;
  }
  randombytes_buf(rnd, sizeof(rnd));
  for (i = 0; i < 8; i++)
    snprintf(mid + 2 * i, 3, "%02x", rnd[i]);
  ids = calloc((size_t)rounds * n, sizeof(*ids));
  if (ids == NULL) {
    sbx_connect_fail(c, SBX_CONNECT_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  snprintf(sid, sizeof(sid), "%s@%s", si->name, si->version);
  mt.id = mid;
  mt.scenario = sid;
  mt.products = rq->products;
  mt.n_products = n;
  mt.seed = ov.seed;
  mt.rounds = rounds;
  mt.dataset = priv ? "private" : "public";
  mt.created_unix_ms = sbx_unix_ms();
  mt.requested_by = who.tok->id;
  /* Interleaved rounds: A B C A B C ...; the queue runs them in id order. */
  for (r = 0; r < rounds; r++)
    for (i = 0; i < n; i++) {
      Sbx__V1__Run *run = NULL;
      rc = new_run(d, &who, si, prods[i], &ov, priv,
                   rq->callback_url[0] ? rq->callback_url
                                       : prods[i]->callback_url,
                   SBX__V1__HTTP_CLIENT__HTTP_CLIENT_AUTO, mid, r + 1, &run,
                   &diag);
      if (rc != 0) {
        fail_err(c, rc, &diag);
        goto out;
      }
      ids[mt.n_run_ids++] = run->id;
      sbx__v1__run__free_unpacked(run, NULL);
    }
  mt.run_ids = ids;
  if ((rc = put_match(d, &mt)) != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  for (i = 0; i < mt.n_run_ids; i++)
    sbx_sched_enqueue(d->sched, ids[i]);
  sbx_log("info", "match_queued",
          "match=%s scenario=%s products=%zu rounds=%u seed=%" PRIu64 " by=%s",
          mid, sid, n, rounds, ov.seed, who.tok->id);
  resp.match = &mt;
  sbx_connect_reply(c, &resp.base);
out:
  free(ids);
  for (i = 0; i < MAX_MATCH_PRODUCTS; i++)
    if (prods[i] != NULL)
      sbx__v1__product__free_unpacked(prods[i], NULL);
  if (si != NULL)
    sbx__v1__scenario_info__free_unpacked(si, NULL);
  release(&who);
}

static void h_get_match(struct sbx_connect_call *c, const ProtobufCMessage *m,
                        void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetMatchRequest *rq = (const void *)m;
  Sbx__V1__GetMatchResponse resp = SBX__V1__GET_MATCH_RESPONSE__INIT;
  struct run_list l;
  struct caller who;
  char key[300];
  void *v = NULL;
  size_t n = 0;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  memset(&l, 0, sizeof(l));
  snprintf(key, sizeof(key), "match/%.200s", rq->match_id);
  rc = sbx_store_kv_get(d->store, SBX_STORE_EVENTS, key, strlen(key), &v, &n);
  if (rc == 0 && (resp.match = sbx__v1__match__unpack(NULL, n, v)) == NULL)
    rc = SBX_ESTORE;
  free(v);
  if (rc == SBX_ENOENT || rq->match_id[0] == '\0') {
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND, "match \"%.200s\" does not exist",
                     rq->match_id);
    goto out;
  }
  if (rc != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  l.who = &who;
  l.scenario = l.product = "";
  l.match_id = resp.match->id;
  if ((rc = collect_runs(d, &l)) != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  resp.runs = RUNS(&l);
  resp.n_runs = l.l.n;
  sbx_connect_reply(c, &resp.base);
out:
  free_runs(&l);
  if (resp.match != NULL)
    sbx__v1__match__free_unpacked(resp.match, NULL);
  release(&who);
}

/* ---- results ---- */

/* Encoded GetResult answers. A result never changes once signed, and
 * encoding one (JSON above all) is the most expensive read of the API, so
 * the bytes are kept for the most recently read results, per codec. The
 * caller's right to read the run is checked before every lookup. */
#define RESULT_CACHE_SLOTS 64

struct result_cache_entry {
  uint64_t run_id; /* 0: empty */
  int json;
  uint64_t last_used;
  void *body;
  size_t len;
};

struct sbx_api_cache {
  struct result_cache_entry e[RESULT_CACHE_SLOTS];
  uint64_t clock;
  uint64_t hits, misses;
};

static struct result_cache_entry *cache_find(struct sbx_daemon *d,
                                             uint64_t run_id, int json) {
  size_t i;
  if (d->api_cache == NULL)
    return NULL;
  for (i = 0; i < RESULT_CACHE_SLOTS; i++) {
    struct result_cache_entry *e = &d->api_cache->e[i];
    if (e->run_id == run_id && e->json == json) {
      e->last_used = ++d->api_cache->clock;
      d->api_cache->hits++;
      return e;
    }
  }
  d->api_cache->misses++;
  return NULL;
}

/* Keeps body (taking ownership) in the least recently used slot. */
static void cache_put(struct sbx_daemon *d, uint64_t run_id, int json,
                      void *body, size_t len) {
  struct result_cache_entry *victim;
  size_t i;
  if (d->api_cache == NULL &&
      (d->api_cache = calloc(1, sizeof(*d->api_cache))) == NULL) {
    free(body);
    return;
  }
  victim = &d->api_cache->e[0];
  for (i = 1; i < RESULT_CACHE_SLOTS; i++)
    if (d->api_cache->e[i].last_used < victim->last_used)
      victim = &d->api_cache->e[i];
  free(victim->body);
  victim->run_id = run_id;
  victim->json = json;
  victim->body = body;
  victim->len = len;
  victim->last_used = ++d->api_cache->clock;
}

void sbx_api_free(struct sbx_daemon *d) {
  size_t i;
  if (d->api_cache == NULL)
    return;
  for (i = 0; i < RESULT_CACHE_SLOTS; i++)
    free(d->api_cache->e[i].body);
  free(d->api_cache);
  d->api_cache = NULL;
}

static void h_get_result(struct sbx_connect_call *c, const ProtobufCMessage *m,
                         void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetResultRequest *rq = (const void *)m;
  Sbx__V1__GetResultResponse resp = SBX__V1__GET_RESULT_RESPONSE__INIT;
  struct result_cache_entry *hit;
  Sbx__V1__Run *run;
  struct caller who;
  void *body;
  size_t len = 0;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  if ((run = run_for(d, c, &who, rq->run_id)) == NULL)
    goto out;
  if ((hit = cache_find(d, rq->run_id, sbx_connect_is_json(c))) != NULL) {
    sbx_connect_reply_encoded(c, hit->body, hit->len);
    sbx__v1__run__free_unpacked(run, NULL);
    goto out;
  }
  rc = sbx_store_get_signed(d->store, rq->run_id, &resp.signed_);
  if (rc == 0)
    rc = sbx_store_get_result(d->store, rq->run_id, &resp.result);
  if (rc == SBX_ENOENT)
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND,
                     "run %" PRIu64 " has no result yet (state %s); watch it "
                     "with `sbx run watch %" PRIu64 "`",
                     rq->run_id,
                     protobuf_c_enum_descriptor_get_value(
                         &sbx__v1__run_state__descriptor, run->state)
                         ->name,
                     rq->run_id);
  else if (rc != 0)
    fail_err(c, rc, NULL);
  else if ((body = sbx_connect_encode(c, &resp.base, &len)) == NULL)
    sbx_connect_fail(c, SBX_CONNECT_INTERNAL, "cannot encode the result");
  else {
    /* Replying ends the call: c and rq are gone afterwards. */
    uint64_t id = rq->run_id;
    int json = sbx_connect_is_json(c);
    sbx_connect_reply_encoded(c, body, len);
    cache_put(d, id, json, body, len);
  }
  if (resp.signed_ != NULL)
    sbx__v1__signed_result__free_unpacked(resp.signed_, NULL);
  if (resp.result != NULL)
    sbx__v1__result__free_unpacked(resp.result, NULL);
  sbx__v1__run__free_unpacked(run, NULL);
out:
  release(&who);
}

/* A summary of run's result, or NULL if it has none. */
static Sbx__V1__ResultSummary *summarize(struct sbx_daemon *d,
                                         const Sbx__V1__Run *run) {
  Sbx__V1__ResultSummary *s;
  Sbx__V1__Result *res = NULL;
  if (sbx_store_get_result(d->store, run->id, &res) != 0)
    return NULL;
  s = malloc(sizeof(*s));
  if (s == NULL) {
    sbx__v1__result__free_unpacked(res, NULL);
    return NULL;
  }
  sbx__v1__result_summary__init(s);
  s->run_id = run->id;
  s->scenario = strdup(run->scenario);
  s->product = strdup(run->product);
  s->match_id = strdup(run->match_id);
  s->dataset = strdup(run->dataset);
  s->verdict = res->verdict;
  s->score = isfinite(res->score) ? res->score : 0;
  s->ended_unix_ms = res->ended_unix_ms;
  s->published = run->published;
  if (res->metrics != NULL) {
    s->throughput = res->metrics->throughput;
    s->error_rate = res->metrics->error_rate;
    s->accuracy = res->metrics->accuracy;
    if (res->metrics->latency != NULL)
      s->p99_us = res->metrics->latency->p99_us;
  }
  sbx__v1__result__free_unpacked(res, NULL);
  if (s->scenario == NULL || s->product == NULL || s->match_id == NULL ||
      s->dataset == NULL) {
    sbx__v1__result_summary__free_unpacked(s, NULL);
    return NULL;
  }
  return s;
}

struct sum_list {
  Sbx__V1__ResultSummary **v;
  size_t n;
};

static void free_sums(struct sum_list *sl) {
  size_t i;
  for (i = 0; i < sl->n; i++)
    sbx__v1__result_summary__free_unpacked(sl->v[i], NULL);
  free(sl->v);
}

/* Summaries of the runs in l that have a result, newest first, filtered. */
static int summaries(struct sbx_daemon *d, struct run_list *l,
                     const char *vendor, Sbx__V1__Verdict verdict,
                     int published_only, uint32_t limit, struct sum_list *out) {
  size_t i;
  out->v = calloc(l->l.n ? l->l.n : 1, sizeof(*out->v));
  out->n = 0;
  if (out->v == NULL)
    return SBX_ENOMEM;
  for (i = l->l.n; i-- > 0 && out->n < limit;) {
    const Sbx__V1__Run *run = RUNS(l)[i];
    Sbx__V1__ResultSummary *s;
    if (run->state != SBX__V1__RUN_STATE__RUN_STATE_DONE &&
        run->state != SBX__V1__RUN_STATE__RUN_STATE_ERROR)
      continue;
    if ((vendor[0] != '\0' && strcmp(run->vendor, vendor) != 0) ||
        (published_only && !run->published))
      continue;
    if ((s = summarize(d, run)) == NULL)
      continue;
    if (verdict != 0 && s->verdict != verdict) {
      sbx__v1__result_summary__free_unpacked(s, NULL);
      continue;
    }
    out->v[out->n++] = s;
  }
  return 0;
}

static void h_list_results(struct sbx_connect_call *c,
                           const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__ListResultsRequest *rq = (const void *)m;
  Sbx__V1__ListResultsResponse resp = SBX__V1__LIST_RESULTS_RESPONSE__INIT;
  struct sum_list sl = {NULL, 0};
  struct run_list l;
  struct caller who;
  int rc;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  memset(&l, 0, sizeof(l));
  l.who = &who;
  l.scenario = rq->scenario;
  l.product = rq->product;
  l.match_id = rq->match_id;
  rc = collect_runs(d, &l);
  if (rc == 0)
    rc = summaries(d, &l, rq->vendor, rq->verdict, 0, list_limit(rq->limit),
                   &sl);
  if (rc != 0) {
    fail_err(c, rc, NULL);
  } else {
    resp.results = sl.v;
    resp.n_results = sl.n;
    sbx_connect_reply(c, &resp.base);
  }
  free_sums(&sl);
  free_runs(&l);
  release(&who);
}

/* Lower is better for latencies, error and cost metrics. */
static int higher_is_better(const char *metric) {
  static const char *const lower[] = {"latency", "error_rate", "mae", "rmse",
                                      "cpu_us_per_request", "peak_rss_bytes",
                                      "dropped", "errors"};
  size_t i;
  if (metric == NULL || metric[0] == '\0')
    return 1; /* throughput */
  for (i = 0; i < sizeof(lower) / sizeof(lower[0]); i++)
    if (strncmp(metric, lower[i], strlen(lower[i])) == 0)
      return 0;
  return 1;
}

static void h_leaderboard(struct sbx_connect_call *c, const ProtobufCMessage *m,
                          void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__GetLeaderboardRequest *rq = (const void *)m;
  Sbx__V1__GetLeaderboardResponse resp =
      SBX__V1__GET_LEADERBOARD_RESPONSE__INIT;
  Sbx__V1__ScenarioInfo *si = NULL;
  struct sum_list sl = {NULL, 0};
  struct sbx_diag diag = {""};
  struct run_list l;
  struct caller who;
  char sid[300];
  int rc, hib;
  size_t i;

  if (admit(d, c, R_ALL, &who) != 0)
    return;
  memset(&l, 0, sizeof(l));
  rc = sbx_registry_find_scenario(d->store, rq->scenario, &si, &diag);
  if (rc != 0) {
    fail_err(c, rc, &diag);
    goto out;
  }
  snprintf(sid, sizeof(sid), "%s@%s", si->name, si->version);
  l.who = &who;
  l.scenario = sid;
  l.product = l.match_id = "";
  /* Only published (official) results rank, whoever asks. */
  if ((rc = collect_runs(d, &l)) != 0 ||
      (rc = summaries(d, &l, "", 0, 1, UINT32_MAX, &sl)) != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  hib = higher_is_better(si->score_metric);
  if ((rc = sbx_leaderboard_build(sl.v, sl.n, hib, &resp)) != 0) {
    fail_err(c, rc, NULL);
    goto out;
  }
  resp.scenario = sid;
  resp.score_metric = si->score_metric[0] ? si->score_metric : "throughput";
  resp.higher_is_better = hib;
  sbx_connect_reply(c, &resp.base);
  for (i = 0; i < resp.n_entries; i++)
    sbx__v1__leaderboard_entry__free_unpacked(resp.entries[i], NULL);
  free(resp.entries);
out:
  free_sums(&sl);
  free_runs(&l);
  if (si != NULL)
    sbx__v1__scenario_info__free_unpacked(si, NULL);
  release(&who);
}

/* ---- keys and tokens ---- */

static void h_keys(struct sbx_connect_call *c, const ProtobufCMessage *m,
                   void *arg) {
  struct sbx_daemon *d = arg;
  Sbx__V1__GetSigningKeysResponse resp =
      SBX__V1__GET_SIGNING_KEYS_RESPONSE__INIT;
  Sbx__V1__SigningKey key = SBX__V1__SIGNING_KEY__INIT;
  Sbx__V1__SigningKey *keys[1] = {&key};
  (void)m;
  key.keyid = (char *)sbx_signer_keyid(d->signer);
  key.public_key.data = (uint8_t *)sbx_signer_public_key(d->signer);
  key.public_key.len = SBX_SIGN_PUBLIC_KEY_BYTES;
  key.algorithm = "ed25519";
  key.created_unix_ms = sbx_signer_created_ms(d->signer);
  resp.keys = keys;
  resp.n_keys = 1;
  sbx_connect_reply(c, &resp.base);
}

static void h_create_token(struct sbx_connect_call *c,
                           const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__CreateTokenRequest *rq = (const void *)m;
  Sbx__V1__CreateTokenResponse resp = SBX__V1__CREATE_TOKEN_RESPONSE__INIT;
  struct sbx_diag diag = {""};
  struct caller who;
  char *secret = NULL;
  int rc;

  if (admit(d, c, R_ADMIN, &who) != 0)
    return;
  rc = sbx_auth_check(rq->role, rq->vendor, rq->name, &diag);
  if (rc == 0)
    rc = sbx_auth_create(d->store, rq->role, rq->vendor, rq->name, &secret,
                         &resp.token);
  if (rc != 0) {
    fail_err(c, rc, &diag);
  } else {
    sbx_log("info", "token_created", "token=%s role=%s vendor=%s by=%s",
            resp.token->id, sbx_role_name(resp.token->role),
            resp.token->vendor, who.tok->id);
    resp.secret = secret;
    sbx_connect_reply(c, &resp.base);
    sodium_memzero(secret, strlen(secret));
    free(secret);
    sbx__v1__token__free_unpacked(resp.token, NULL);
  }
  release(&who);
}

static void h_revoke_token(struct sbx_connect_call *c,
                           const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  const Sbx__V1__RevokeTokenRequest *rq = (const void *)m;
  Sbx__V1__RevokeTokenResponse resp = SBX__V1__REVOKE_TOKEN_RESPONSE__INIT;
  struct caller who;
  int rc;

  if (admit(d, c, R_ADMIN, &who) != 0)
    return;
  rc = sbx_auth_revoke(d->store, rq->token_id, &resp.token);
  if (rc == SBX_ENOENT) {
    sbx_connect_fail(c, SBX_CONNECT_NOT_FOUND,
                     "token \"%.40s\" does not exist; `sbx token list` shows "
                     "the ids",
                     rq->token_id);
  } else if (rc != 0) {
    fail_err(c, rc, NULL);
  } else {
    sbx_log("info", "token_revoked", "token=%s by=%s", resp.token->id,
            who.tok->id);
    sbx_connect_reply(c, &resp.base);
    sbx__v1__token__free_unpacked(resp.token, NULL);
  }
  release(&who);
}

static int add_token(const Sbx__V1__Token *t, void *arg) {
  return push_copy(arg, &t->base) == NULL;
}

static void h_list_tokens(struct sbx_connect_call *c,
                          const ProtobufCMessage *m, void *arg) {
  struct sbx_daemon *d = arg;
  Sbx__V1__ListTokensResponse resp = SBX__V1__LIST_TOKENS_RESPONSE__INIT;
  struct msg_list l;
  struct caller who;
  int rc;
  (void)m;

  if (admit(d, c, R_ADMIN, &who) != 0)
    return;
  memset(&l, 0, sizeof(l));
  rc = sbx_auth_list(d->store, add_token, &l);
  if (l.oom || rc != 0) {
    fail_err(c, l.oom ? SBX_ENOMEM : rc, NULL);
  } else {
    resp.tokens = (Sbx__V1__Token **)l.v;
    resp.n_tokens = l.n;
    sbx_connect_reply(c, &resp.base);
  }
  free_list(&l);
  release(&who);
}

static void h_whoami(struct sbx_connect_call *c, const ProtobufCMessage *m,
                     void *arg) {
  struct sbx_daemon *d = arg;
  Sbx__V1__WhoAmIResponse resp = SBX__V1__WHO_AM_IRESPONSE__INIT;
  struct caller who;
  (void)m;
  if (admit(d, c, R_ALL, &who) != 0)
    return;
  resp.token = who.tok;
  sbx_connect_reply(c, &resp.base);
  release(&who);
}

/* ---- the service ---- */

#define M(name, in, out, flags, fn)                                           \
  {name, &sbx__v1__##in##__descriptor, &sbx__v1__##out##__descriptor, flags,  \
   fn}

static const struct sbx_connect_method methods[] = {
    M("PublishScenario", publish_scenario_request, publish_scenario_response,
      0, h_publish),
    M("ListScenarios", list_scenarios_request, list_scenarios_response,
      SBX_CONNECT_READ, h_list_scenarios),
    M("GetScenario", get_scenario_request, get_scenario_response,
      SBX_CONNECT_READ, h_get_scenario),
    M("RegisterProduct", register_product_request, register_product_response,
      0, h_register),
    M("ListProducts", list_products_request, list_products_response,
      SBX_CONNECT_READ, h_list_products),
    M("GetProduct", get_product_request, get_product_response,
      SBX_CONNECT_READ, h_get_product),
    M("StartRun", start_run_request, start_run_response, 0, h_start_run),
    M("GetRun", get_run_request, get_run_response, SBX_CONNECT_READ,
      h_get_run),
    M("ListRuns", list_runs_request, list_runs_response, SBX_CONNECT_READ,
      h_list_runs),
    M("CancelRun", cancel_run_request, cancel_run_response, 0, h_cancel_run),
    M("WatchRun", watch_run_request, run_event, SBX_CONNECT_STREAM,
      h_watch_run),
    M("StartMatch", start_match_request, start_match_response, 0,
      h_start_match),
    M("GetMatch", get_match_request, get_match_response, SBX_CONNECT_READ,
      h_get_match),
    M("GetResult", get_result_request, get_result_response, SBX_CONNECT_READ,
      h_get_result),
    M("ListResults", list_results_request, list_results_response,
      SBX_CONNECT_READ, h_list_results),
    M("GetLeaderboard", get_leaderboard_request, get_leaderboard_response,
      SBX_CONNECT_READ, h_leaderboard),
    M("GetSigningKeys", get_signing_keys_request, get_signing_keys_response,
      SBX_CONNECT_READ, h_keys),
    M("CreateToken", create_token_request, create_token_response, 0,
      h_create_token),
    M("RevokeToken", revoke_token_request, revoke_token_response, 0,
      h_revoke_token),
    M("ListTokens", list_tokens_request, list_tokens_response,
      SBX_CONNECT_READ, h_list_tokens),
    M("WhoAmI", who_am_irequest, who_am_iresponse, SBX_CONNECT_READ,
      h_whoami),
};

void sbx_api_service(struct sbx_daemon *d, struct sbx_connect_service *svc) {
  memset(svc, 0, sizeof(*svc));
  svc->name = "sbx.v1.Sandbox";
  svc->methods = methods;
  svc->n_methods = sizeof(methods) / sizeof(methods[0]);
  svc->arg = d;
  svc->max_request_bytes = d->cfg.max_body_bytes;
}

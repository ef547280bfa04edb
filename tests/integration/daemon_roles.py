#!/usr/bin/env python3
"""Who may do what: every API call under every role, against a live sandboxd.

Driven by daemon_roles.sh, which starts nginx (the web-static site) and
sandboxd with the bundled scenarios. Environment: SBX_URL (the daemon),
SBX_ADMIN_TOKEN, SBX_NGINX_URL, SBX_SPEC_DIR (sandbox-specs/web-static),
SBX_SECRETS_OUT (a file that gets every secret, one a line, so that the
shell can look for them in the daemon's log).

Sets up tokens for every role and two vendors (acme, globex), a product per
vendor (an endpoint with a secret), a scenario with a private dataset, and
finished runs (each vendor's own, an evaluator's official one); then walks
the matrix of calls x roles, asserts allowed/denied, prints the table, and
searches every response body (raw, and inside every base64 string) for the
endpoint secrets, the token secrets and the private dataset. Uses only the
standard library. Exit status 0 when everything holds, 1 otherwise.
"""
import base64
import binascii
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request

URL = os.environ["SBX_URL"]
ADMIN = os.environ["SBX_ADMIN_TOKEN"]
NGINX = os.environ["SBX_NGINX_URL"]
SPEC_DIR = os.environ["SBX_SPEC_DIR"]
SECRETS_OUT = os.environ.get("SBX_SECRETS_OUT")

SHORT = {"minDurationUs": "500000", "zeroWarmup": True, "minCases": "50"}
# Probe runs must still be running when CancelRun is tried on them.
LONG = {"minDurationUs": "30000000", "maxDurationUs": "60000000",
        "zeroWarmup": True, "minCases": "50"}
TERMINAL = {"RUN_STATE_DONE", "RUN_STATE_ERROR", "RUN_STATE_CANCELED",
            "RUN_STATE_INTERRUPTED"}
PRIV_MARK = "PRIVMARK"

problems = []


def problem(msg):
    problems.append(msg)
    print("PROBLEM: " + msg, flush=True)


def die(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# ---- what must never come back ----

class Forbidden:
    """Byte strings that no response may carry, each with a name."""

    def __init__(self):
        self.items = []  # (name, bytes)

    def add(self, name, value):
        if isinstance(value, str):
            value = value.encode()
        self.items.append((name, value))

    def scan(self, where, body):
        """Reports every forbidden string found in body, raw or inside a
        base64 string value of its JSON (or of JSON envelopes)."""
        blobs = [body]
        for doc in json_docs(body):
            blobs.extend(b64_values(doc))
        for name, value in self.items:
            if any(value in b for b in blobs):
                problem(f"{where}: response carries {name}")


FORBID = Forbidden()


def json_docs(body):
    try:
        return [json.loads(body)]
    except (ValueError, UnicodeDecodeError):
        pass
    docs = []
    for _flags, msg in envelopes(body):
        try:
            docs.append(json.loads(msg))
        except (ValueError, UnicodeDecodeError):
            pass
    return docs


def b64_values(doc):
    out = []
    if isinstance(doc, dict):
        for v in doc.values():
            out.extend(b64_values(v))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(b64_values(v))
    elif isinstance(doc, str) and len(doc) >= 8:
        for dec in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                out.append(dec(doc + "=" * (-len(doc) % 4)))
            except (binascii.Error, ValueError):
                pass
    return out


def envelopes(body):
    out, i = [], 0
    while i + 5 <= len(body):
        flags = body[i]
        (n,) = struct.unpack(">I", body[i + 1:i + 5])
        if i + 5 + n > len(body):
            break
        out.append((flags, body[i + 5:i + 5 + n]))
        i += 5 + n
    return out


# ---- calls ----

class Resp:
    def __init__(self, status, body):
        self.status = status
        self.body = body
        self.json = None
        self.code = None
        try:
            self.json = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            pass
        if status != 200 and isinstance(self.json, dict):
            self.code = self.json.get("code")

    def outcome(self):
        """ok, unauth, denied, notfound or err:<code>."""
        if self.status == 200:
            return "ok"
        if self.status == 401 and self.code == "unauthenticated":
            return "unauth"
        if self.status == 403 and self.code == "permission_denied":
            return "denied"
        if self.status == 404 and self.code == "not_found":
            return "notfound"
        return f"err:{self.status}/{self.code}"


def http(path, data=None, token=None, ctype=None, timeout=30, method=None):
    req = urllib.request.Request(URL + path, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if token is not None:
        req.add_header("Authorization", token if token.startswith("Basic ") else "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.read())
    except TimeoutError:
        return Resp(0, b"(timed out)")
    except (urllib.error.URLError, OSError) as e:
        die(f"{path}: no answer from the daemon: {e}")


def call(method, req, token=None):
    r = http("/sbx.v1.Sandbox/" + method, json.dumps(req).encode(), token,
             "application/json")
    FORBID.scan(method, r.body)
    return r


def must(method, req, token=None):
    r = call(method, req, token)
    if r.status != 200:
        die(f"{method} {json.dumps(req)[:200]}: HTTP {r.status}: {r.body[:300]!r}")
    return r.json


def watch(run_id, token):
    """WatchRun over application/connect+json; returns a Resp whose outcome
    is that of the end-of-stream message (or of the HTTP error)."""
    msg = json.dumps({"runId": str(run_id)}).encode()
    body = struct.pack(">BI", 0, len(msg)) + msg
    r = http("/sbx.v1.Sandbox/WatchRun", body, token,
             "application/connect+json", timeout=60)
    FORBID.scan("WatchRun", r.body)
    if r.status != 200:
        return r
    env = envelopes(r.body)
    if not env or not env[-1][0] & 0x02:
        problem(f"WatchRun {run_id}: stream without an end message")
        return Resp(0, r.body)
    end = json.loads(env[-1][1] or b"{}")
    err = end.get("error")
    if err:
        # The same outcome as a unary error with that code.
        status = {"unauthenticated": 401, "permission_denied": 403,
                  "not_found": 404}.get(err.get("code"), 500)
        return Resp(status, json.dumps(err).encode())
    events = [json.loads(m) for f, m in env[:-1]]
    res = Resp(200, r.body)
    res.json = {"events": events}
    return res


def wait_runs(ids, token, limit=180):
    t_end = time.monotonic() + limit
    runs = {}
    for rid in ids:
        while True:
            run = must("GetRun", {"runId": str(rid)}, token)["run"]
            if run.get("state") in TERMINAL:
                runs[rid] = run
                break
            if time.monotonic() > t_end:
                die(f"run {rid} still {run.get('state')} after {limit}s")
            time.sleep(0.2)
    return runs


# ---- setup ----

ROLES = ["admin", "publisher", "evaluator", "viewer", "acme", "globex", "none"]
# Calls run in this order within a row: the callers expected to be refused
# before the ones expected to succeed, which may change the object
# (CancelRun, RevokeToken).
ORDER = ["none", "globex", "acme", "viewer", "publisher", "evaluator", "admin"]

tok = {"admin": ADMIN, "none": None}
tok_id = {}


def setup():
    r = must("WhoAmI", {}, ADMIN)
    if r.get("token", {}).get("role") != "ROLE_ADMIN":
        die(f"the init token is not an admin: {r}")
    tok_id["admin"] = r["token"]["id"]
    FORBID.add("the admin token", ADMIN)
    for name, role, vendor in [("publisher", "ROLE_PUBLISHER", ""),
                               ("evaluator", "ROLE_EVALUATOR", ""),
                               ("viewer", "ROLE_VIEWER", ""),
                               ("acme", "ROLE_VENDOR", "acme"),
                               ("globex", "ROLE_VENDOR", "globex"),
                               ("doomed", "ROLE_VIEWER", "")]:
        req = {"role": role, "name": f"roles test {name}"}
        if vendor:
            req["vendor"] = vendor
        r = call("CreateToken", req, ADMIN)
        if r.status != 200:
            die(f"CreateToken {name}: HTTP {r.status} {r.body!r}")
        secret = r.json.get("secret", "")
        if not secret.startswith("sbx_"):
            die(f"CreateToken {name}: secret {secret[:8]!r}... does not start with sbx_")
        tok[name] = secret
        tok_id[name] = r.json["token"]["id"]
        FORBID.add(f"the {name} token's secret", secret)
        if r.json["token"].get("vendor", "") != vendor:
            problem(f"CreateToken {name}: token vendor {r.json['token'].get('vendor')!r}")

    secrets = {}
    for v in ("acme", "globex"):
        secrets[v] = f"{v}-endpoint-secret-" + base64.b32encode(os.urandom(10)).decode()
        FORBID.add(f"{v}'s endpoint secret", secrets[v])
        r = must("RegisterProduct", {"product": {
            "vendor": v, "name": "web", "version": "1.0.0",
            "kind": "PRODUCT_KIND_ENDPOINT",
            "endpoint": {"url": NGINX, "secret": secrets[v]}}}, tok[v])
        if r["product"].get("endpoint", {}).get("url") != NGINX:
            problem(f"RegisterProduct {v}: endpoint url not echoed: {r}")

    # A scenario with a private dataset: web-static under another name,
    # whose private cases carry a marker in their ids.
    spec = open(os.path.join(SPEC_DIR, "spec.yaml"), "rb").read()
    public = open(os.path.join(SPEC_DIR, "dataset.jsonl"), "rb").read()
    priv_spec = spec.replace(b"name: web-static", b"name: web-static-private", 1)
    lines = public.splitlines(keepends=True)[:300]
    private = b"".join(l.replace(b'"id":"r', b'"id":"' + PRIV_MARK.encode() + b"-", 1)
                       for l in lines)
    assert private.count(PRIV_MARK.encode()) == 300
    FORBID.add("the private dataset's marker", PRIV_MARK)
    FORBID.add("the private dataset's first case", private.splitlines()[0])
    r = must("PublishScenario", {"spec": b64(priv_spec), "dataset": b64(public),
                                 "privateDataset": b64(private)}, tok["publisher"])
    info = r["scenario"]
    if info.get("name") != "web-static-private" or not info.get("hasPrivateDataset"):
        problem(f"PublishScenario with a private dataset: {info}")
    if str(info.get("privateCases", "0")) != "300":
        problem(f"PublishScenario: privateCases {info.get('privateCases')}, want 300")

    runs = {}
    runs["acme"] = start("web-static", "acme/web@1.0.0", tok["acme"])
    runs["globex"] = start("web-static", "globex/web@1.0.0", tok["globex"])
    runs["official"] = start("web-static", "globex/web@1.0.0", tok["evaluator"])
    runs["priv_official"] = start("web-static-private@1.0.0", "acme/web@1.0.0",
                                  tok["evaluator"], "DATASET_PRIVATE")
    runs["acme_default"] = start("web-static-private@1.0.0", "acme/web@1.0.0",
                                 tok["acme"], "DATASET_DEFAULT")
    done = wait_runs(runs.values(), ADMIN)
    for k, rid in runs.items():
        run = done[rid]
        if run["state"] != "RUN_STATE_DONE":
            die(f"setup run {k} ({rid}) ended {run['state']}: {run.get('reason')}")
    want = {"acme": (False, "public"), "globex": (False, "public"),
            "official": (True, "public"), "priv_official": (True, "private"),
            "acme_default": (False, "public")}
    for k, (pub, ds) in want.items():
        run = done[runs[k]]
        if bool(run.get("published", False)) != pub:
            problem(f"run {k}: published={run.get('published', False)}, want {pub}")
        if run.get("dataset") != ds:
            problem(f"run {k}: dataset {run.get('dataset')!r}, want {ds!r}")
    return runs, spec, public, priv_spec


def b64(b):
    return base64.b64encode(b).decode()


def start(scenario, product, token, dataset=None, overrides=SHORT):
    req = {"scenario": scenario, "product": product, "overrides": overrides}
    if dataset:
        req["dataset"] = dataset
    return must("StartRun", req, token)["run"]["id"]


# ---- the matrix ----

# Expectations: ok (200), deny (403 permission_denied; 401 unauthenticated
# for "none"), hide (403 or 404: the object may be hidden), any (recorded,
# not asserted), skip (not tried: the call would change the object the
# row's other callers need).
#
# Where the brief's wording leaves a choice, the matrix holds the stricter
# reading, the one the daemon implements: a viewer sees published runs and
# results only (a vendor's own runs are its private rehearsals); a vendor
# may cancel its own runs but no official one.
def row(label, method, expect, req=None, check=None, stream=False):
    """expect: a dict role -> expectation, or a string of 7 letters in ROLES
    order: o ok, d deny, h hide, a any, - skip. req: a dict, or a function of the
    role. check(role, resp): further assertions on an allowed answer."""
    if isinstance(expect, str):
        assert len(expect) == len(ROLES), label
        expect = dict(zip(ROLES, ({"o": "ok", "d": "deny", "h": "hide",
                                   "a": "any", "-": "skip"}[c] for c in expect)))
    got = {}
    for role in ORDER:
        if expect[role] == "skip":
            got[role] = ("skip", True, "skip")
            continue
        q = req(role) if callable(req) else (req if req is not None else {})
        if stream:
            r = watch(q, tok[role])
        else:
            r = call(method, q, tok[role])
        out = r.outcome()
        want = expect[role]
        if role == "none":
            good = out == ("ok" if want == "ok" else "unauth")
        elif want == "ok":
            good = out == "ok"
        elif want == "deny":
            good = out == "denied"
        elif want == "hide":
            good = out in ("denied", "notfound")
        else:
            good = True
        if not good:
            problem(f"{label} as {role}: got {out} ({r.body[:160]!r}), want {want}")
        if out == "ok" and check:
            try:
                check(role, r)
            except AssertionError as e:
                problem(f"{label} as {role}: {e}")
        got[role] = (out, good, want)
    table.append((label, got))


table = []


def print_table():
    w = max(len(l) for l, _ in table)
    print()
    print(f"{'call':<{w}}  " + " ".join(f"{r:>9}" for r in ROLES))
    for label, got in table:
        cells = []
        for role in ROLES:
            out, good, want = got[role]
            short = {"ok": "ok", "unauth": "401", "denied": "403",
                     "notfound": "404", "skip": "-"}.get(out, out[4:12])
            if want == "any":
                short += "~"
            cells.append(f"{short + ('' if good else '!'):>9}")
        print(f"{label:<{w}}  " + " ".join(cells))
    print("(401/403/404: refused with that status; ~: either way is allowed; "
          "-: not tried; !: not what the role matrix says)")


def main():
    for p in ("/healthz", "/metrics"):
        r = http(p)
        if r.status != 200:
            problem(f"GET {p} without a token: HTTP {r.status}")
        FORBID.scan(p, r.body)

    runs, spec, public, priv_spec = setup()
    R_acme, R_globex, R_off = runs["acme"], runs["globex"], runs["official"]
    unpublished = {str(runs["acme"]), str(runs["globex"]), str(runs["acme_default"])}
    vendor_of_run = {str(runs["acme"]): "acme", str(runs["acme_default"]): "acme",
                     str(runs["globex"]): "globex"}

    def whoami_check(role, r):
        t = r.json.get("token", {})
        assert t.get("id") == tok_id[role], f"id {t.get('id')} is not {tok_id[role]}"
        if role in ("acme", "globex"):
            assert t.get("role") == "ROLE_VENDOR" and t.get("vendor") == role, t

    row("WhoAmI", "WhoAmI", "ooooood", check=whoami_check)

    def keys_check(role, r):
        k = r.json["keys"][0]
        pk = base64.b64decode(k["publicKey"])
        assert len(pk) == 32, f"public key of {len(pk)} bytes"

    row("GetSigningKeys", "GetSigningKeys", "ooooooo", check=keys_check)

    def list_scen_check(role, r):
        names = {s["name"] + "@" + s["version"]: s for s in r.json.get("scenarios", [])}
        assert "web-static@1.0.0" in names, f"web-static missing: {sorted(names)}"
        p = names.get("web-static-private@1.0.0")
        assert p is not None, "web-static-private missing"
        if role in ("viewer", "acme", "globex"):
            assert str(p.get("privateCases", "0")) == "0", \
                f"privateCases {p.get('privateCases')} shown to {role}"

    row("ListScenarios", "ListScenarios", "ooooood",
        check=list_scen_check)

    def get_scen_check(want_spec):
        def check(role, r):
            got_spec = base64.b64decode(r.json.get("spec", ""))
            got_ds = base64.b64decode(r.json.get("dataset", ""))
            assert got_spec == want_spec, "spec bytes differ from the published ones"
            assert got_ds == public, \
                f"dataset is not the public one ({len(got_ds)} bytes, {len(public)} expected)"
            if role in ("viewer", "acme", "globex"):
                assert str(r.json["scenario"].get("privateCases", "0")) == "0", \
                    "privateCases shown"
        return check

    row("GetScenario(private scenario, spec)", "GetScenario", "ooooood",
        {"scenario": "web-static-private@1.0.0", "includeSpec": True},
        get_scen_check(priv_spec))
    row("GetScenario(web-static, spec)", "GetScenario", "ooooood",
        {"scenario": "web-static", "includeSpec": True}, get_scen_check(spec))

    def publish_req(role):
        s = spec.replace(b"name: web-static", b"name: roles-probe", 1).replace(
            b'version: "1.0.0"', f'version: "1.0.{ORDER.index(role)}"'.encode(), 1)
        return {"spec": b64(s), "dataset": b64(public)}

    row("PublishScenario", "PublishScenario", "ooddddd", publish_req)

    def reg_req(role):
        return {"product": {"vendor": "acme", "name": f"probe-{role}", "version": "1.0.0",
                            "kind": "PRODUCT_KIND_ENDPOINT",
                            "endpoint": {"url": NGINX, "secret": "probe-secret-" + role}}}

    for role in ROLES:
        FORBID.add(f"probe-{role}'s endpoint secret", "probe-secret-" + role)
    row("RegisterProduct(vendor acme)", "RegisterProduct", "odddodd", reg_req)

    def own_products(role, r):
        prods = r.json.get("products", [])
        for p in prods:
            assert not p.get("endpoint", {}).get("secret"), "an endpoint secret"
        if role in ("acme", "globex"):
            others = [p["vendor"] + "/" + p["name"] for p in prods if p.get("vendor") != role]
            assert not others, f"sees other vendors' products {others}"
            assert any(p.get("name") == "web" for p in prods), "does not see its own product"

    row("ListProducts", "ListProducts", "oooaood", {}, own_products)
    row("ListProducts(vendor globex)", "ListProducts", "oooaaod",
        {"vendor": "globex"}, own_products)
    row("GetProduct(globex/web)", "GetProduct", "oooahod",
        {"product": "globex/web@1.0.0"})
    row("GetProduct(acme/web)", "GetProduct", "oooaohd",
        {"product": "acme/web@1.0.0"})

    probe_runs = {}

    def startrun_req(role):
        return {"scenario": "web-static", "product": "acme/web@1.0.0", "overrides": LONG}

    def remember(role, r):
        probe_runs.setdefault(role, []).append(r.json["run"]["id"])
        run = r.json["run"]
        assert run.get("state") in ("RUN_STATE_QUEUED", "RUN_STATE_PREPARING",
                                    "RUN_STATE_WARMUP", "RUN_STATE_MEASURING"), run.get("state")

    row("StartRun(acme/web)", "StartRun", "ododohd", startrun_req, remember)
    row("StartRun(globex/web)", "StartRun", "ododhod",
        {"scenario": "web-static", "product": "globex/web@1.0.0", "overrides": LONG},
        remember)
    row("StartRun(private dataset)", "StartRun", "ododhhd",
        {"scenario": "web-static-private@1.0.0", "product": "acme/web@1.0.0",
         "dataset": "DATASET_PRIVATE", "overrides": LONG}, remember)

    # CancelRun: first the callers that must be refused try someone else's
    # run (an official one on acme's product; acme's own vendor run); then
    # each caller cancels a probe run of its own (publisher and viewer,
    # having none, try the admin's).
    def first_probe(role):
        mine = probe_runs.get(role) or probe_runs.get("admin") or [R_off]
        return {"runId": str(mine[0])}

    row("CancelRun(official run on acme/web)", "CancelRun", "-d-dhhd",
        lambda role: first_probe("admin"))
    row("CancelRun(acme's vendor run)", "CancelRun", "-d-d-hd",
        lambda role: first_probe("acme"))

    def cancel_check(role, r):
        st = r.json["run"].get("state")
        assert st in ("RUN_STATE_CANCELED",) or st not in TERMINAL, f"state {st} after CancelRun"

    row("CancelRun(own run)", "CancelRun", "ododaad", first_probe, cancel_check)

    def run_check(role, r):
        run = r.json["run"]
        if role in ("acme", "globex") and not run.get("published"):
            assert run.get("vendor") == role, f"sees {run.get('vendor')}'s unpublished run"

    row("GetRun(acme's run)", "GetRun", "ooohohd", {"runId": str(R_acme)}, run_check)
    row("GetRun(globex's run)", "GetRun", "ooohhod", {"runId": str(R_globex)}, run_check)
    row("GetRun(official run)", "GetRun", "ooooaad", {"runId": str(R_off)}, run_check)

    def runs_check(role, r):
        for run in r.json.get("runs", []):
            if role == "viewer":
                assert run.get("published"), f"viewer sees unpublished run {run['id']}"
            if role in ("acme", "globex") and run.get("vendor") != role:
                assert run.get("published"), f"sees {run.get('vendor')}'s unpublished run {run['id']}"

    row("ListRuns", "ListRuns", "ooooood", {}, runs_check)

    def watch_check(role, r):
        evs = r.json["events"]
        assert any("result" in e for e in evs), "no result event for a finished run"

    row("WatchRun(acme's run)", "WatchRun", "ooohohd", R_acme, watch_check, stream=True)
    row("WatchRun(globex's run)", "WatchRun", "ooohhod", R_globex, watch_check, stream=True)

    matches = {}

    def match_remember(role, r):
        matches[role] = r.json["match"]["id"]

    row("StartMatch", "StartMatch", "ododddd",
        {"scenario": "web-static", "products": ["acme/web@1.0.0", "globex/web@1.0.0"],
         "overrides": SHORT}, match_remember)
    mid = matches.get("evaluator") or matches.get("admin")
    if mid:
        row("GetMatch", "GetMatch", "ooooaad", {"matchId": mid})

    def result_check(role, r):
        res = r.json.get("result", {})
        sig = r.json.get("signed", {})
        assert sig.get("payloadType") == "application/vnd.sbx.result.v1+proto", sig.get("payloadType")
        assert sig.get("signatures"), "no signatures"

    row("GetResult(official)", "GetResult", "ooooood", {"runId": str(R_off)}, result_check)
    row("GetResult(acme's unpublished)", "GetResult", "ooohohd", {"runId": str(R_acme)},
        result_check)
    row("GetResult(globex's unpublished)", "GetResult", "ooohhod", {"runId": str(R_globex)},
        result_check)

    def results_check(role, r):
        for s in r.json.get("results", []):
            rid = s.get("runId")
            if rid in unpublished:
                assert role not in ("viewer",), f"viewer sees unpublished result {rid}"
                if role in ("acme", "globex"):
                    assert vendor_of_run[rid] == role, f"sees {vendor_of_run[rid]}'s unpublished result {rid}"
            assert bool(s.get("published", False)) == (rid not in unpublished), \
                f"result {rid} published={s.get('published', False)}"

    row("ListResults", "ListResults", "ooooood", {}, results_check)
    row("ListResults(vendor globex)", "ListResults", "ooooaod", {"vendor": "globex"},
        results_check)

    def board_check(role, r):
        for e in r.json.get("entries", []):
            b = e.get("best", {})
            assert b.get("runId") not in unpublished, f"leaderboard ranks unpublished run {b.get('runId')}"

    row("GetLeaderboard", "GetLeaderboard", "ooooood", {"scenario": "web-static"}, board_check)

    def create_tok_check(role, r):
        FORBID.add("a token made by the matrix", r.json["secret"])

    row("CreateToken", "CreateToken", "odddddd",
        {"role": "ROLE_VIEWER", "name": "matrix probe"}, create_tok_check)

    def list_tok_check(role, r):
        ids = {t["id"] for t in r.json.get("tokens", [])}
        assert tok_id["acme"] in ids and tok_id["admin"] in ids, "tokens missing from the list"

    row("ListTokens", "ListTokens", "odddddd", {}, list_tok_check)
    row("RevokeToken", "RevokeToken", "odddddd", {"tokenId": tok_id["doomed"]})

    # Tokens that must not authenticate anyone.
    bad = {"revoked": tok["doomed"], "garbage": "sbx_" + "A" * 43,
           "malformed": "not a token", "basic": "Basic YWRtaW46YWRtaW4="}
    methods = ["WhoAmI", "ListScenarios", "GetScenario", "PublishScenario",
               "RegisterProduct", "ListProducts", "GetProduct", "StartRun",
               "GetRun", "ListRuns", "CancelRun", "StartMatch", "GetMatch",
               "GetResult", "ListResults", "GetLeaderboard", "CreateToken",
               "RevokeToken", "ListTokens"]
    for name, t in bad.items():
        for m in methods:
            r = call(m, {}, t)
            if r.outcome() != "unauth":
                problem(f"{m} with a {name} token: got {r.outcome()}, want unauthenticated")
        r = watch(R_off, t)
        if r.outcome() != "unauth":
            problem(f"WatchRun with a {name} token: got {r.outcome()}, want unauthenticated")
    r = call("GetSigningKeys", {}, bad["garbage"])
    if r.status != 200:
        problem(f"GetSigningKeys with a garbage token: HTTP {r.status} (it needs no token)")

    print_table()

    # Leave nothing running: cancel the probe runs nobody could cancel,
    # then wait for every run (matches included) to end.
    left = []
    for ids in probe_runs.values():
        for rid in ids:
            run = must("GetRun", {"runId": str(rid)}, ADMIN)["run"]
            if run.get("state") not in TERMINAL:
                must("CancelRun", {"runId": str(rid)}, ADMIN)
            left.append(rid)
    for role, m in matches.items():
        left.extend(must("GetMatch", {"matchId": m}, ADMIN)["match"].get("runIds", []))
    ended = wait_runs(left, ADMIN)
    for rid in sum(probe_runs.values(), []):
        if ended[rid]["state"] != "RUN_STATE_CANCELED":
            problem(f"probe run {rid} ended {ended[rid]['state']}, want CANCELED")
    for role, m in matches.items():
        for rid in must("GetMatch", {"matchId": m}, ADMIN)["match"].get("runIds", []):
            if ended[rid]["state"] != "RUN_STATE_DONE":
                problem(f"match {m} run {rid} ended {ended[rid]['state']}: {ended[rid].get('reason')}")
            elif not ended[rid].get("published"):
                problem(f"match {m} run {rid} is not published")
    r = http("/metrics")
    FORBID.scan("/metrics", r.body)
    if SECRETS_OUT:
        with open(SECRETS_OUT, "w") as f:
            for name, value in FORBID.items:
                f.write(value.decode() + "\n")

    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print("\nroles: ok")


if __name__ == "__main__":
    main()

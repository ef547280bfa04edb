#!/usr/bin/env python3
"""A client in another language: sandboxd from Python with the standard
protobuf runtime (Debian's python3-protobuf) and PyNaCl, nothing of ours.

Driven by python_client.sh, which generates the *_pb2 modules with protoc
into SBX_PB_DIR, starts nginx and the daemon. Environment: SBX_URL,
SBX_ADMIN_TOKEN, SBX_NGINX_URL, SBX_PB_DIR, SBX_PUBKEY_FILE (the data
directory's signing.pub).

Checks: application/proto unary calls; StartRun, then WatchRun read as a
Connect stream (envelopes parsed here) up to the result event and the end
message; GetResult, whose signature verifies with nacl over the DSSE PAE
under the key from GetSigningKeys and from signing.pub, and whose payload
decodes as sbx.v1.Result with the run's fields; a changed byte breaks the
signature; the JSON form of GetResult (POST and the Connect GET form)
parses with google.protobuf.json_format.Parse, strictly, into the very same
message; requests written by json_format are accepted; errors are JSON.
"""
import base64
import hashlib
import json
import math
import os
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.environ["SBX_PB_DIR"])

import nacl.exceptions  # noqa: E402
import nacl.signing  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from sbx.v1 import api_pb2, product_pb2, result_pb2, run_pb2  # noqa: E402

URL = os.environ["SBX_URL"]
TOKEN = os.environ["SBX_ADMIN_TOKEN"]
NGINX = os.environ["SBX_NGINX_URL"]
PUBKEY_FILE = os.environ["SBX_PUBKEY_FILE"]
PAYLOAD_TYPE = "application/vnd.sbx.result.v1+proto"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def request(path, data=None, ctype=None, method=None, timeout=30):
    req = urllib.request.Request(URL + path, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    req.add_header("Authorization", "Bearer " + TOKEN)
    return urllib.request.urlopen(req, timeout=timeout)


def call(method, msg, resp_cls):
    """A unary call with application/proto bodies both ways."""
    try:
        with request("/sbx.v1.Sandbox/" + method, msg.SerializeToString(),
                     "application/proto") as r:
            ctype = r.headers.get("Content-Type", "")
            check(ctype.startswith("application/proto"),
                  f"{method}: answer Content-Type {ctype!r}, want application/proto")
            return resp_cls.FromString(r.read())
    except urllib.error.HTTPError as e:
        fail(f"{method}: HTTP {e.code}: {e.read()[:300]!r}")


def call_json_raw(method, body):
    with request("/sbx.v1.Sandbox/" + method, body, "application/json") as r:
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("application/json"),
              f"{method}: JSON answer Content-Type {ctype!r}")
        return r.read()


def read_exact(r, n):
    buf = b""
    while len(buf) < n:
        chunk = r.read(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def watch(run_id):
    """WatchRun over application/connect+proto: returns the RunEvents and
    the end-of-stream JSON. Envelopes are read one by one as they come."""
    msg = api_pb2.WatchRunRequest(run_id=run_id).SerializeToString()
    body = struct.pack(">BI", 0, len(msg)) + msg
    events, end = [], None
    try:
        r = request("/sbx.v1.Sandbox/WatchRun", body, "application/connect+proto",
                    timeout=120)
    except urllib.error.HTTPError as e:
        fail(f"WatchRun {run_id}: HTTP {e.code}: {e.read()[:300]!r}")
    with r:
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("application/connect+proto"),
              f"WatchRun: Content-Type {ctype!r}, want application/connect+proto")
        while True:
            hdr = read_exact(r, 5)
            if not hdr:
                break
            check(len(hdr) == 5, f"WatchRun: stream cut inside an envelope header ({hdr!r})")
            flags, n = struct.unpack(">BI", hdr)
            payload = read_exact(r, n)
            check(len(payload) == n, f"WatchRun: envelope of {n} bytes cut at {len(payload)}")
            check(not flags & 0x01, "WatchRun: compressed envelope, never negotiated")
            if flags & 0x02:
                end = json.loads(payload or b"{}")
                break
            events.append(run_pb2.RunEvent.FromString(payload))
        rest = r.read()
        check(rest == b"", f"WatchRun: {len(rest)} bytes after the end message")
    check(end is not None, "WatchRun: stream ended without an end-of-stream message")
    check("error" not in end, f"WatchRun: stream ended with an error: {end}")
    return events


def same_scalar(x, y):
    # A metric that was not measured is NaN (mae, rmse without numeric
    # checks); NaN never equals itself, but two NaNs are the same answer.
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def msg_diff(a, b, path=""):
    """The paths of the fields where messages a and b differ (NaN equal to
    NaN), with both values; empty when they are the same."""
    out = []
    for f in a.DESCRIPTOR.fields:
        va, vb = getattr(a, f.name), getattr(b, f.name)
        name = path + f.name
        if f.label == f.LABEL_REPEATED:
            if len(va) != len(vb):
                out.append(f"{name}: {len(va)} vs {len(vb)} elements")
                continue
            for i, (x, y) in enumerate(zip(va, vb)):
                if f.message_type is not None:
                    out.extend(msg_diff(x, y, f"{name}[{i}]."))
                elif not same_scalar(x, y):
                    out.append(f"{name}[{i}]: {x!r} vs {y!r}")
        elif f.message_type is not None:
            if a.HasField(f.name) != b.HasField(f.name):
                out.append(f"{name}: set in one only")
            out.extend(msg_diff(va, vb, name + "."))
        elif not same_scalar(va, vb):
            out.append(f"{name}: {str(va)[:80]!r} vs {str(vb)[:80]!r}")
    return out


def pae(ptype, payload):
    t = ptype.encode()
    return (b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " +
            str(len(payload)).encode() + b" " + payload)


def verify(signed, pk):
    check(signed.payload_type == PAYLOAD_TYPE,
          f"payload_type {signed.payload_type!r}, want {PAYLOAD_TYPE!r}")
    check(len(signed.signatures) >= 1, "SignedResult without signatures")
    keyid = hashlib.sha256(pk).digest()[:8].hex()
    sig = signed.signatures[0]
    check(sig.keyid == keyid, f"signature keyid {sig.keyid!r}, want {keyid!r}")
    check(len(sig.sig) == 64, f"signature of {len(sig.sig)} bytes")
    nacl.signing.VerifyKey(pk).verify(pae(signed.payload_type, signed.payload), sig.sig)


def must_not_verify(signed, pk, what):
    try:
        verify(signed, pk)
    except nacl.exceptions.BadSignatureError:
        return
    fail(f"a result with {what} still verifies")


def main():
    # The key, twice: from the API (no token needed) and from the file.
    keys = call("GetSigningKeys", api_pb2.GetSigningKeysRequest(),
                api_pb2.GetSigningKeysResponse)
    check(len(keys.keys) >= 1, "GetSigningKeys: no key")
    pk = keys.keys[0].public_key
    check(len(pk) == 32, f"public key of {len(pk)} bytes")
    check(keys.keys[0].algorithm == "ed25519", f"algorithm {keys.keys[0].algorithm!r}")
    with open(PUBKEY_FILE, "rb") as f:
        file_pk = base64.b64decode(f.read().strip())
    check(file_pk == pk, "signing.pub differs from GetSigningKeys' key")
    check(keys.keys[0].keyid == hashlib.sha256(pk).digest()[:8].hex(),
          f"GetSigningKeys keyid {keys.keys[0].keyid!r}")

    prod = product_pb2.Product(vendor="pyclient", name="web", version="1.0.0",
                               kind=product_pb2.PRODUCT_KIND_ENDPOINT,
                               endpoint=product_pb2.Endpoint(url=NGINX))
    got = call("RegisterProduct", api_pb2.RegisterProductRequest(product=prod),
               api_pb2.RegisterProductResponse)
    check(got.product.endpoint.url == NGINX, f"RegisterProduct: {got}")

    ov = run_pb2.LoadOverrides(min_duration_us=500000, zero_warmup=True, min_cases=50)
    started = call("StartRun", api_pb2.StartRunRequest(
        scenario="web-static", product="pyclient/web@1.0.0", overrides=ov),
        api_pb2.StartRunResponse)
    run_id = started.run.id
    check(run_id > 0, "StartRun: no run id")
    print(f"run {run_id} started ({run_pb2.RunState.Name(started.run.state)})")

    events = watch(run_id)
    states = [e.state for e in events if e.WhichOneof("event") == "state"]
    results = [e.result for e in events if e.WhichOneof("event") == "result"]
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    print(f"WatchRun: {len(events)} events: states "
          f"{[run_pb2.RunState.Name(s) for s in states]}, {len(progress)} progress, "
          f"{len(results)} result")
    check(all(e.run_id == run_id for e in events), "WatchRun: an event of another run")
    check(len(results) == 1, f"WatchRun: {len(results)} result events, want 1")
    check(events[-1].WhichOneof("event") == "result", "WatchRun: the result is not the last event")
    # The result event stands for DONE; a DONE state event before it is
    # optional.
    check(not states or states[-1] in (run_pb2.RUN_STATE_VERIFYING, run_pb2.RUN_STATE_DONE),
          f"WatchRun: last state before the result {states[-1]}")
    check(states == sorted(states), f"WatchRun: states go backwards: {states}")
    verify(results[0], pk)

    res = call("GetResult", api_pb2.GetResultRequest(run_id=run_id), api_pb2.GetResultResponse)
    check(res.signed.payload == results[0].payload,
          "GetResult's payload differs from the one WatchRun delivered")
    verify(res.signed, pk)
    r = result_pb2.Result.FromString(res.signed.payload)
    if msg_diff(r, res.result):
        fail(f"GetResult.result is not the decoded payload: {msg_diff(r, res.result)}")
    check(r.run_id == run_id, f"result run_id {r.run_id}, want {run_id}")
    check(r.scenario == "web-static" and r.scenario_version == "1.0.0",
          f"result scenario {r.scenario}@{r.scenario_version}")
    check(r.product == "pyclient/web@1.0.0", f"result product {r.product!r}")
    check(r.verdict == result_pb2.VERDICT_PASS,
          f"verdict {result_pb2.Verdict.Name(r.verdict)}: validity "
          f"{list(r.validity.reasons)}, error {r.error_message!r}")
    check(r.validity.valid, f"invalid: {list(r.validity.reasons)}")
    check(r.metrics.requests >= 50, f"{r.metrics.requests} requests, want >= 50")
    check(len(r.scenario_digest) == 32, "scenario_digest is not 32 bytes")
    check(r.dataset == "public", f"dataset {r.dataset!r}")
    print(f"result: {result_pb2.Verdict.Name(r.verdict)}, {r.metrics.requests} requests, "
          f"p99 {r.metrics.latency.p99_us} us, signature ok (keyid {res.signed.signatures[0].keyid})")

    # Tampering: one byte of the payload, or the declared type.
    bad = api_pb2.GetResultResponse()
    bad.CopyFrom(res)
    p = bytearray(bad.signed.payload)
    p[len(p) // 2] ^= 0x01
    bad.signed.payload = bytes(p)
    must_not_verify(bad.signed, pk, "one payload byte changed")
    bad.CopyFrom(res)
    bad.signed.payload_type = "application/vnd.sbx.result.v2+proto"
    try:
        nacl.signing.VerifyKey(pk).verify(pae(bad.signed.payload_type, bad.signed.payload),
                                          bad.signed.signatures[0].sig)
        fail("a result with another payload type still verifies")
    except nacl.exceptions.BadSignatureError:
        pass

    # The JSON forms parse strictly with the standard library into the
    # same message.
    req_json = json_format.MessageToJson(api_pb2.GetResultRequest(run_id=run_id))
    body = call_json_raw("GetResult", req_json.encode())
    from_json = json_format.Parse(body, api_pb2.GetResultResponse())
    if msg_diff(from_json, res):
        fail(f"GetResult as JSON differs from the proto answer: {msg_diff(from_json, res)}")
    q = urllib.parse.urlencode({"encoding": "json", "message": req_json})
    with request("/sbx.v1.Sandbox/GetResult?" + q, method="GET") as g:
        got_get = json_format.Parse(g.read(), api_pb2.GetResultResponse())
    check(not msg_diff(got_get, res),
          f"the GET form (encoding=json) answers differently: {msg_diff(got_get, res)}")
    q = urllib.parse.urlencode({
        "encoding": "proto", "base64": "1",
        "message": base64.urlsafe_b64encode(
            api_pb2.GetResultRequest(run_id=run_id).SerializeToString()).decode().rstrip("=")})
    with request("/sbx.v1.Sandbox/GetResult?" + q, method="GET") as g:
        got_get = api_pb2.GetResultResponse.FromString(g.read())
    check(not msg_diff(got_get, res),
          f"the GET form (encoding=proto) answers differently: {msg_diff(got_get, res)}")
    print("JSON: GetResult parses with json_format.Parse into the same message (POST and GET)")

    # Other answers in JSON parse strictly too.
    for method, req, cls in [
            ("GetRun", api_pb2.GetRunRequest(run_id=run_id), api_pb2.GetRunResponse),
            ("ListResults", api_pb2.ListResultsRequest(scenario="web-static"),
             api_pb2.ListResultsResponse),
            ("GetLeaderboard", api_pb2.GetLeaderboardRequest(scenario="web-static"),
             api_pb2.GetLeaderboardResponse),
            ("ListScenarios", api_pb2.ListScenariosRequest(), api_pb2.ListScenariosResponse),
            ("GetSigningKeys", api_pb2.GetSigningKeysRequest(), api_pb2.GetSigningKeysResponse)]:
        body = call_json_raw(method, json_format.MessageToJson(req).encode())
        try:
            j = json_format.Parse(body, cls())
        except json_format.ParseError as e:
            fail(f"{method}: JSON answer does not parse strictly: {e}")
        d = msg_diff(j, call(method, req, cls))
        check(not d, f"{method}: JSON and proto answers differ: {d}")
    run = call("GetRun", api_pb2.GetRunRequest(run_id=run_id), api_pb2.GetRunResponse).run
    check(run.state == run_pb2.RUN_STATE_DONE, f"run state {run_pb2.RunState.Name(run.state)}")

    # A finished run: WatchRun still ends with its result.
    again = watch(run_id)
    check(again and again[-1].WhichOneof("event") == "result" and
          again[-1].result.payload == res.signed.payload,
          "WatchRun of a finished run does not end with its result")

    # Errors are JSON whatever the request's codec.
    try:
        with request("/sbx.v1.Sandbox/GetResult",
                     api_pb2.GetResultRequest(run_id=run_id + 100000).SerializeToString(),
                     "application/proto"):
            fail("GetResult of an unknown run succeeded")
    except urllib.error.HTTPError as e:
        body = e.read()
        check(e.code == 404, f"unknown run: HTTP {e.code}, want 404")
        err = json.loads(body)
        check(err.get("code") == "not_found" and err.get("message"),
              f"unknown run: error body {body!r}")
    print("python_client.py: every check passed")


if __name__ == "__main__":
    main()

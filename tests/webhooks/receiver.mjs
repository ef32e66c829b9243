// A webhook receiver for connvault's outbound events: a real HTTP server that
// verifies every delivery with the Standard Webhooks library (standardwebhooks),
// independently of connvault's signer, and logs what it got.
//
// Prints `listening on <port>` once bound to 127.0.0.1. Control, over HTTP:
//   POST /_control/hooks/<name>  {"secrets": ["whsec_…", …], "script": [answer, …]}
//        deliveries to /hooks/<name> are verified against each secret; each is
//        answered by the next answer of the script ({"status", "retry_after",
//        "delay_ms"}), then 200. Posting again replaces secrets and script.
//   GET  /_control/log           every delivery: {hook, id, timestamp, signature, body,
//        verified_with: [indexes of the secrets that verify it], rejected: [library
//        errors], answered, at_ms}
//   POST /_control/verify        {"secret", "headers", "body", "skew_secs"}: verifies a
//        delivery as if the clock were `skew_secs` ahead (a replay, later); answers
//        {"ok": bool, "error"}
// A delivery that verifies against none of its hook's secrets is answered 400.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const hooks = new Map();
const log = [];

function verify(secret, headers, body) {
  try {
    new Webhook(secret).verify(body, headers);
    return null;
  } catch (err) {
    return String(err && err.message ? err.message : err);
  }
}

function read(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

const server = createServer(async (req, res) => {
  const body = await read(req);
  const url = new URL(req.url, "http://receiver");
  if (req.method === "POST" && url.pathname.startsWith("/_control/hooks/")) {
    const name = url.pathname.slice("/_control/hooks/".length);
    const config = JSON.parse(body);
    hooks.set(name, { secrets: config.secrets ?? [], script: config.script ?? [] });
    return json(res, 200, { ok: true });
  }
  if (req.method === "GET" && url.pathname === "/_control/log") {
    return json(res, 200, log);
  }
  if (req.method === "POST" && url.pathname === "/_control/verify") {
    const { secret, headers, body: payload, skew_secs } = JSON.parse(body);
    const realNow = Date.now;
    Date.now = () => realNow() + (skew_secs ?? 0) * 1000;
    try {
      const error = verify(secret, headers, payload);
      return json(res, 200, { ok: error === null, error });
    } finally {
      Date.now = realNow;
    }
  }
  if (req.method === "POST" && url.pathname.startsWith("/hooks/")) {
    const name = url.pathname.slice("/hooks/".length);
    const hook = hooks.get(name) ?? { secrets: [], script: [] };
    const headers = {
      "webhook-id": req.headers["webhook-id"],
      "webhook-timestamp": req.headers["webhook-timestamp"],
      "webhook-signature": req.headers["webhook-signature"],
    };
    const verifiedWith = [];
    const rejected = [];
    hook.secrets.forEach((secret, i) => {
      const error = verify(secret, headers, body);
      if (error === null) verifiedWith.push(i);
      else rejected.push(error);
    });
    const answer = verifiedWith.length === 0 ? { status: 400 } : (hook.script.shift() ?? { status: 200 });
    const entry = {
      hook: name,
      id: headers["webhook-id"] ?? null,
      timestamp: headers["webhook-timestamp"] ?? null,
      signature: headers["webhook-signature"] ?? null,
      content_type: req.headers["content-type"] ?? null,
      body,
      verified_with: verifiedWith,
      rejected,
      answered: answer.status,
      at_ms: Date.now(),
    };
    log.push(entry);
    const send = () => {
      const out = { "content-type": "text/plain" };
      if (answer.retry_after !== undefined) out["retry-after"] = String(answer.retry_after);
      res.writeHead(answer.status, out);
      res.end("ok");
    };
    if (answer.delay_ms) setTimeout(send, answer.delay_ms);
    else send();
    return;
  }
  json(res, 404, { error: "unknown path" });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

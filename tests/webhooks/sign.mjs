// Signs webhook deliveries the way GitHub, GitLab and Bitbucket Cloud do, with
// implementations independent of connvault's: GitHub's own signer
// (@octokit/webhooks-methods), the Standard Webhooks library (standardwebhooks) for
// GitLab signing tokens, and Node's crypto for Bitbucket Cloud's HMAC. Real GitHub
// payloads come from @octokit/webhooks-examples.
//
// stdin: a JSON array of requests; stdout: a JSON array with, for each request, a
// list of deliveries {event, body, headers}. Requests:
//   {"kind": "github", "secret", "body", "event", "delivery"}
//   {"kind": "github-examples", "secret"}        every example payload of the package
//   {"kind": "gitlab-token", "secret", "body", "event", "idempotency_key"}
//   {"kind": "gitlab-signing", "secrets": [...], "body", "event", "id", "timestamp"}
//       one v1 signature per secret, space-separated (a sender rotating keys)
//   {"kind": "bitbucket", "secret", "body", "event", "request_uuid"}
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json");

async function github({ secret, body, event, delivery }) {
  return {
    event,
    body,
    headers: {
      "X-GitHub-Delivery": delivery ?? randomUUID(),
      "X-GitHub-Event": event,
      "X-GitHub-Hook-ID": "292430182",
      "X-GitHub-Hook-Installation-Target-ID": "79929171",
      "X-GitHub-Hook-Installation-Target-Type": "repository",
      "X-Hub-Signature-256": await githubSign(secret, body),
      "User-Agent": "GitHub-Hookshot/044aadd",
      "Content-Type": "application/json",
    },
  };
}

function gitlabHeaders(event, idempotencyKey) {
  return {
    "X-Gitlab-Event": event,
    "X-Gitlab-Event-UUID": randomUUID(),
    "X-Gitlab-Webhook-UUID": randomUUID(),
    "X-Gitlab-Instance": "https://gitlab.com",
    "Idempotency-Key": idempotencyKey,
    "User-Agent": "GitLab/18.6.0",
    "Content-Type": "application/json",
  };
}

async function handle(request) {
  switch (request.kind) {
    case "github":
      return [await github(request)];
    case "github-examples": {
      const out = [];
      for (const group of examples) {
        for (const payload of group.examples) {
          out.push(await github({ secret: request.secret, body: JSON.stringify(payload), event: group.name }));
        }
      }
      return out;
    }
    case "gitlab-token": {
      const { secret, body, event, idempotency_key } = request;
      return [{ event, body, headers: { ...gitlabHeaders(event, idempotency_key), "X-Gitlab-Token": secret } }];
    }
    case "gitlab-signing": {
      const { secrets, body, event, id, timestamp } = request;
      const at = new Date(timestamp * 1000);
      const signature = secrets.map((s) => new Webhook(s).sign(id, at, body)).join(" ");
      return [{
        event,
        body,
        headers: {
          ...gitlabHeaders(event, id),
          "webhook-id": id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signature,
        },
      }];
    }
    case "bitbucket": {
      const { secret, body, event, request_uuid } = request;
      const digest = createHmac("sha256", secret).update(body, "utf8").digest("hex");
      return [{
        event,
        body,
        headers: {
          "X-Event-Key": event,
          "X-Request-UUID": request_uuid,
          "X-Hook-UUID": `{${randomUUID()}}`,
          "X-Attempt-Number": "1",
          "X-Hub-Signature": `sha256=${digest}`,
          "User-Agent": "Bitbucket-Webhooks/2.0",
          "Content-Type": "application/json",
        },
      }];
    }
    default:
      throw new Error(`unknown request kind ${JSON.stringify(request.kind)}`);
  }
}

const requests = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const request of requests) {
  results.push(await handle(request));
}
process.stdout.write(JSON.stringify(results));

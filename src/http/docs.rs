//! `/docs`: the OpenAPI document as one page, rendered on the server from the same
//! document `/openapi.json` serves: every operation with its summary, description,
//! parameters, request body, responses and examples, and every schema with its fields
//! and constraints. No script and no external asset; the style sheet is served beside
//! it, so the page works under `default-src 'none'`.

use std::fmt::Write;
use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa::OpenApi;

use super::openapi::ApiDoc;

/// What the page may load: its own style sheet, nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f4f4f5}code{padding:0 .2rem}
pre{padding:.6rem;overflow-x:auto;white-space:pre-wrap}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
section.op{margin:1.5rem 0 2rem;padding-left:.8rem;border-left:3px solid #ddd}
.m{display:inline-block;min-width:4.2rem;font-weight:700}table{border-collapse:collapse;margin:.4rem 0;width:100%}
td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left;vertical-align:top}th{background:#fafafa}
.c{color:#555;font-size:13px}nav li{margin:.1rem 0}";

/// `GET /docs`.
pub async fn page() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let html =
        PAGE.get_or_init(|| render(&serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()));
    with_csp(Html(html.as_str()).into_response())
}

/// `GET /docs/style.css`.
pub async fn style() -> Response {
    let mut response = STYLE.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    with_csp(response)
}

fn with_csp(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Text made safe for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Doc-comment prose: paragraphs, and `code` spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let mut html = String::new();
        for (i, part) in esc(paragraph).split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(html, "<code>{part}</code>");
            } else {
                html.push_str(part);
            }
        }
        let _ = write!(out, "<p>{html}</p>");
    }
    out
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(text) => esc(text),
        other => esc(&serde_json::to_string_pretty(other).unwrap_or_default()),
    }
}

/// A schema in a few words: its type or a link to the named schema, and the
/// constraints on it.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = esc(reference.rsplit('/').next().unwrap_or(reference));
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array() {
            let parts: Vec<String> = options.iter().map(type_of).collect();
            let joiner = if key == "allOf" { " and " } else { " or " };
            return parts.join(joiner);
        }
    }
    let mut out = match &schema["type"] {
        Value::String(t) => esc(t),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .map(esc)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    if let Some(items) = schema.get("items") {
        let _ = write!(out, " of {}", type_of(items));
    }
    let mut facts = Vec::new();
    if let Some(format) = schema["format"].as_str() {
        facts.push(format!("format {}", esc(format)));
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", pretty(v)))
            .collect();
        facts.push(format!("one of {}", names.join(", ")));
    }
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
    ] {
        if let Some(n) = schema.get(key).filter(|v| v.is_number()) {
            facts.push(format!("{label} {n}"));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        facts.push(format!("pattern <code>{}</code>", esc(pattern)));
    }
    if schema["additionalProperties"] == Value::Bool(false) {
        facts.push("no other fields".to_owned());
    }
    if !facts.is_empty() {
        let _ = write!(out, " <span class=\"c\">({})</span>", facts.join("; "));
    }
    out
}

/// A table of an object schema's fields; `None` when it has none.
fn fields(schema: &Value) -> Option<String> {
    let properties = schema["properties"].as_object()?;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::from(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>",
    );
    for (name, field) in properties {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            type_of(field),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                "no"
            },
            esc(field["description"].as_str().unwrap_or_default()),
        );
    }
    out.push_str("</table>");
    Some(out)
}

fn example_block(content: &Value) -> String {
    match content.get("example") {
        Some(example) => format!(
            "<details><summary>example</summary><pre>{}</pre></details>",
            pretty(example)
        ),
        None => String::new(),
    }
}

fn operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let id = esc(op["operationId"].as_str().unwrap_or_default());
    let _ = write!(
        out,
        "<section class=\"op\" id=\"{id}\"><h3><span class=\"m\">{}</span><code>{}</code></h3><p><strong>{}</strong></p>{}",
        method.to_uppercase(),
        esc(path),
        esc(op["summary"].as_str().unwrap_or_default()),
        prose(op["description"].as_str().unwrap_or_default()),
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>meaning</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                esc(p["in"].as_str().unwrap_or_default()),
                type_of(&p["schema"]),
                if p["required"] == Value::Bool(true) {
                    "yes"
                } else {
                    "no"
                },
                esc(p["description"].as_str().unwrap_or_default()),
            );
        }
        out.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, body) in content {
            let _ = write!(
                out,
                "<h4>Request body</h4><p><code>{}</code>: {}</p>{}",
                esc(media),
                type_of(&body["schema"]),
                example_block(body)
            );
        }
    }
    out.push_str("<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
    if let Some(responses) = op["responses"].as_object() {
        for (status, response) in responses {
            let mut body = String::new();
            if let Some(content) = response["content"].as_object() {
                for (media, c) in content {
                    let _ = write!(
                        body,
                        "<code>{}</code>: {}{}",
                        esc(media),
                        type_of(&c["schema"]),
                        example_block(c)
                    );
                }
            }
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>",
                esc(status),
                esc(response["description"].as_str().unwrap_or_default())
            );
        }
    }
    out.push_str("</table></section>");
}

/// One operation of the document: method, path and the operation object.
type Operation = (String, String, Value);

/// The whole page.
fn render(doc: &Value) -> String {
    let mut by_tag: Vec<(String, Vec<Operation>)> = doc["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t["name"].as_str())
                .map(|n| (n.to_owned(), Vec::new()))
                .collect()
        })
        .unwrap_or_default();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let slot = match by_tag.iter().position(|(t, _)| *t == tag) {
                Some(i) => i,
                None => {
                    by_tag.push((tag, Vec::new()));
                    by_tag.len() - 1
                }
            };
            by_tag[slot]
                .1
                .push((method.clone(), path.clone(), op.clone()));
        }
    }
    let title = esc(doc["info"]["title"].as_str().unwrap_or("API"));
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title>\
         <link rel=\"stylesheet\" href=\"/docs/style.css\"></head><body><h1>{title} API <span class=\"c\">{}</span></h1>{}\
         <p>The machine-readable document is <a href=\"/openapi.json\"><code>/openapi.json</code></a> (OpenAPI {}).</p><nav><ul>",
        esc(doc["info"]["version"].as_str().unwrap_or_default()),
        prose(doc["info"]["description"].as_str().unwrap_or_default()),
        esc(doc["openapi"].as_str().unwrap_or_default()),
    );
    for (tag, ops) in &by_tag {
        let _ = write!(out, "<li><a href=\"#tag-{0}\">{0}</a>: ", esc(tag));
        let links: Vec<String> = ops
            .iter()
            .map(|(_, _, op)| {
                let id = esc(op["operationId"].as_str().unwrap_or_default());
                format!(
                    "<a href=\"#{id}\">{}</a>",
                    esc(op["summary"].as_str().unwrap_or(&id))
                )
            })
            .collect();
        let _ = write!(out, "{}</li>", links.join(", "));
    }
    out.push_str("<li><a href=\"#schemas\">schemas</a></li></ul></nav>");
    for (tag, ops) in &by_tag {
        let description = doc["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["name"] == tag.as_str()))
            .and_then(|t| t["description"].as_str())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<h2 id=\"tag-{0}\">{0}</h2><p>{1}</p>",
            esc(tag),
            esc(description)
        );
        for (method, path, op) in ops {
            operation(&mut out, method, path, op);
        }
    }
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = write!(
            out,
            "<section class=\"op\" id=\"schema-{0}\"><h3>{0}</h3>{1}<p>{2}</p>",
            esc(name),
            prose(schema["description"].as_str().unwrap_or_default()),
            type_of(schema)
        );
        if let Some(table) = fields(schema) {
            out.push_str(&table);
        }
        for option in schema["oneOf"].as_array().into_iter().flatten() {
            if let Some(table) = fields(option) {
                let kind = option["properties"]["kind"]["enum"][0]
                    .as_str()
                    .unwrap_or_default();
                let _ = write!(out, "<h4>{}</h4>{table}", esc(kind));
            }
        }
        if let Some(example) = schema["examples"].as_array().and_then(|e| e.first()) {
            let _ = write!(out, "<p>example: <code>{}</code></p>", pretty(example));
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>");
    out
}

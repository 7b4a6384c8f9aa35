//! Server-rendered pages (maud: compile-time checked templates). One small stylesheet, no
//! scripts, no third-party assets.

pub mod install;
pub mod integrations;
pub mod ops;

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use maud::{DOCTYPE, Markup, html};

const STYLE: &str = r#"
:root { color-scheme: light; --ink:#1d2433; --muted:#5b6475; --line:#e3e7ee; --brand:#2d5bff; --ok:#0f7b4f; --bad:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:#f6f8fb; }
main { max-width: 640px; margin: 48px auto; padding: 32px; background:#fff; border:1px solid var(--line); border-radius: 12px; }
h1 { font-size: 1.5rem; margin: 0 0 8px; }
p.lead { color: var(--muted); margin-top: 0; }
ul.perms { padding-left: 1.2rem; }
.button { display:inline-block; background:var(--brand); color:#fff; padding:10px 18px; border-radius:8px; text-decoration:none; font-weight:600; border:0; cursor:pointer; font-size:1rem; }
.note { color: var(--muted); font-size: .9rem; }
.status-ok { color: var(--ok); }
.status-bad { color: var(--bad); }
footer { margin-top: 24px; color: var(--muted); font-size: .85rem; }
code { background:#f1f3f7; padding: 1px 5px; border-radius: 4px; }
"#;

/// The page frame: title, styles, and `body`.
pub fn layout(title: &str, body: Markup) -> Markup {
    layout_with_head(title, html! {}, body)
}

/// The page frame with extra `head` content (a page's own styles, a refresh).
pub fn layout_with_head(title: &str, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Billables AI for Zoom" }
                style { (maud::PreEscaped(STYLE)) }
                (head)
            }
            body {
                main {
                    (body)
                    footer { "Billables AI · Zoom integration" }
                }
            }
        }
    }
}

/// A full page with a status code.
pub fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    page_with_head(status, title, html! {}, body)
}

/// A full page with a status code and extra `head` content.
pub fn page_with_head(status: StatusCode, title: &str, head: Markup, body: Markup) -> Response {
    let mut response = (
        status,
        Html(layout_with_head(title, head, body).into_string()),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// A page that explains a problem in one heading and a sentence or two.
pub fn problem(status: StatusCode, title: &str, message: &str, next: &str) -> Response {
    page(
        status,
        title,
        html! {
            h1.status-bad { (title) }
            p.lead { (message) }
            p { (next) }
        },
    )
}

//! The apalis-board queue UI (a Leptos/wasm single-page app embedded in the
//! `apalis-board-api` crate, so it is served from the binary: no CDN).
//!
//! It only works at the root of its origin: its `index.html` has `<base href="/">` and
//! absolute asset URLs, its router knows `/queues`, `/tasks`, `/workers`, `/logs` and
//! `/settings`, and it calls its API at `/api/v1`. So it is mounted on our origin at exactly
//! those paths (none of which the product uses), all behind operator authentication, and
//! `/ops/board` redirects to its task list. The API answers 401 without credentials; the
//! UI paths redirect to `/ops/login` like our pages.
//!
//! With apalis-redis 1.0 only the board's task lookup (`/api/v1/queues/{queue}/tasks/{id}`)
//! and task lists work; its queue statistics and overview answer 500 or zeros (they count
//! sets with `ZCARD`). Our own pages (`/ops`) never depend on them.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use apalis_board::axum::{
    framework::{ApiBuilder, RegisterRoute},
    ui::ServeUI,
};
use apalis_redis::RedisStorage;
use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{any, get},
};
use jobs::{
    queue::{Job, queue_name, storage},
    tasks::{BackfillMember, BackfillWindow, InstallAccount, PullAccount, TeardownAccount},
};
use tower::ServiceExt as _;

use super::auth::OperatorPage;
use crate::{AppState, extract::Admin};

/// Client-side routes of the board, each answered with its `index.html`.
const UI_ROUTES: [&str; 9] = [
    "/queues",
    "/queues/{*rest}",
    "/tasks",
    "/tasks/{*rest}",
    "/workers",
    "/workers/{*rest}",
    "/logs",
    "/settings",
    "/overview",
];

/// The asset paths `index.html` refers to (`/apalis-board-web-….js`, `…_bg.wasm`, `….css`).
static ASSETS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let Some(index) = ServeUI::get_file("index.html") else {
        return Vec::new();
    };
    let html = String::from_utf8_lossy(index.contents()).into_owned();
    let mut assets: Vec<&'static str> = html
        .split(['"', '\''])
        .filter(|t| {
            t.starts_with('/')
                && !t.contains(char::is_whitespace)
                && [".js", ".wasm", ".css"].iter().any(|ext| t.ends_with(ext))
        })
        .map(|t| &*Box::leak(t.to_owned().into_boxed_str()))
        .collect();
    assets.sort_unstable();
    assets.dedup();
    assets
});

/// Whether `path` belongs to the board's UI (pages or assets).
pub fn is_ui_path(path: &str) -> bool {
    ["/queues", "/tasks", "/workers"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        || ["/logs", "/settings", "/overview"].contains(&path)
        || ASSETS.contains(&path)
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/ops/board", get(home))
        .route("/api/v1", any(api))
        .route("/api/v1/{*rest}", any(api));
    for route in UI_ROUTES {
        router = router.route(route, get(page));
    }
    for asset in ASSETS.iter() {
        router = router.route(asset, get(asset_file));
    }
    router
}

async fn home(_: OperatorPage) -> Redirect {
    Redirect::to("/tasks")
}

fn file_response(path: &str) -> Response {
    let Some(file) = ServeUI::get_file(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let name = file.path().to_str().unwrap_or_default();
    let mut response = file.contents().to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ServeUI::content_type(name)),
    );
    if let Some(cache) = ServeUI::cache_control(name) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

async fn page(_: OperatorPage) -> Response {
    file_response("index.html")
}

async fn asset_file(_: OperatorPage, request: Request) -> Response {
    file_response(request.uri().path())
}

async fn api(_: Admin, State(state): State<AppState>, request: Request) -> Response {
    let router = board_api(&state);
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The board's API over our queues, built once per key prefix (tests run several apps with
/// their own prefixes in one process).
fn board_api(state: &AppState) -> Router {
    static BOARDS: LazyLock<Mutex<HashMap<String, Router>>> = LazyLock::new(Default::default);
    let prefix = state.queues.prefix().to_owned();
    let mut boards = BOARDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    boards
        .entry(prefix)
        .or_insert_with_key(|prefix| {
            let conn = state.queues.connection();
            let api = ApiBuilder::new(Router::new());
            let api = add::<InstallAccount>(api, &conn, prefix);
            let api = add::<BackfillMember>(api, &conn, prefix);
            let api = add::<BackfillWindow>(api, &conn, prefix);
            let api = add::<PullAccount>(api, &conn, prefix);
            let api = add::<TeardownAccount>(api, &conn, prefix);
            Router::new().nest("/api/v1", api.build())
        })
        .clone()
}

fn add<J: Job>(
    api: ApiBuilder<Router>,
    conn: &redis::aio::ConnectionManager,
    prefix: &str,
) -> ApiBuilder<Router> {
    <ApiBuilder<Router> as RegisterRoute<RedisStorage<J>, J>>::register(
        api,
        &queue_name::<J>(prefix),
        storage::<J>(conn.clone(), prefix),
    )
}

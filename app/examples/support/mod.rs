//! What the bench and chaos examples share: the release binaries as processes (the
//! simulator, the API, workers, a Redis of their own), a fresh database, the install and
//! opt-in flows over HTTP, and the comparison of entries with the simulator's ground truth.

#![allow(
    dead_code,
    reason = "each example uses a different part of the support code"
)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use sqlx::{Connection as _, PgPool};

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
pub const JWT_SECRET: &str = "bench-user-jwt-secret";
pub const WEBHOOK_SECRET: &str = "sim-webhook-secret";

/// `target/release` (the examples live in `target/release/examples`).
pub fn release_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("current exe")?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the example runs from target/<profile>/examples")?
        .to_path_buf();
    for bin in ["billables-zoom", "zoom-sim"] {
        ensure!(
            dir.join(bin).exists(),
            "{} is missing: run `cargo build --release -p app -p zoom-sim` first",
            dir.join(bin).display()
        );
    }
    Ok(dir)
}

/// The workspace's `target/` directory.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    Ok(release_dir()?.parent().context("target dir")?.to_path_buf())
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `postgres://…/` server URL (without a database) from `DATABASE_URL`.
pub fn pg_server() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/billables_zoom".to_owned());
    match url.rsplit_once('/') {
        Some((server, _)) if server.contains("://") && !server.ends_with('/') => server.to_owned(),
        _ => url,
    }
}

/// Drops and creates `name`; returns its URL.
pub async fn fresh_database(name: &str) -> anyhow::Result<String> {
    let server = pg_server();
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| format!("Postgres at {server}"))?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    Ok(format!("{server}/{name}"))
}

/// A child process that is killed when dropped (so an early error leaves nothing behind).
pub struct Proc {
    pub name: String,
    child: Option<Child>,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("log file {}", log.display()))?;
        command
            .stdout(file.try_clone()?)
            .stderr(file)
            .stdin(Stdio::null());
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running (false once it exited or was killed).
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Peak and current resident set size in KiB (`VmHWM`, `VmRSS` of /proc/PID/status).
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some((field("VmHWM:")?, field("VmRSS:")?))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `redis-server` of our own with the append-only file on, restartable on the same port
/// and directory.
pub struct OwnRedis {
    pub port: u16,
    dir: PathBuf,
    log: PathBuf,
    proc: Option<Proc>,
}

impl OwnRedis {
    pub fn start(dir: &Path, log: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut redis = Self {
            port: free_port()?,
            dir: dir.to_path_buf(),
            log: log.to_path_buf(),
            proc: None,
        };
        redis.restart()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(&self.dir);
        self.proc = Some(Proc::spawn("redis-server", command, &self.log)?);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("redis-server did not start on port {}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill9();
        }
    }
}

/// The environment of a `billables-zoom` process.
#[derive(Clone, Debug)]
pub struct AppEnv {
    pub vars: BTreeMap<String, String>,
}

impl AppEnv {
    pub fn new(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        api_port: u16,
        sim: &str,
    ) -> Self {
        let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
        let vars = [
            ("DATABASE_URL", database_url.to_owned()),
            ("REDIS_URL", redis_url.to_owned()),
            ("REDIS_KEY_PREFIX", prefix.to_owned()),
            ("BIND_ADDR", format!("127.0.0.1:{api_port}")),
            ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{api_port}")),
            ("ZOOM_CLIENT_ID", "sim-client-id".to_owned()),
            ("ZOOM_CLIENT_SECRET", "sim-client-secret".to_owned()),
            ("ZOOM_WEBHOOK_SECRET_TOKEN", WEBHOOK_SECRET.to_owned()),
            ("ZOOM_OAUTH_BASE_URL", sim.to_owned()),
            ("TOKEN_ENCRYPTION_KEY", key),
            ("ADMIN_API_TOKEN", ADMIN_TOKEN.to_owned()),
            ("USER_JWT_SECRET", JWT_SECRET.to_owned()),
            // No scheduled pull during a run: backfills are what is measured.
            ("PULL_SCHEDULE", "0 0 3 1 1 *".to_owned()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self { vars }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// `billables-zoom {role}` in `dir` (which has no `.env`), logging to `dir/{name}.log`.
    pub fn spawn(
        &self,
        bin_dir: &Path,
        role: &str,
        name: &str,
        dir: &Path,
    ) -> anyhow::Result<Proc> {
        let mut command = Command::new(bin_dir.join("billables-zoom"));
        command
            .arg(role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.vars)
            .current_dir(dir);
        Proc::spawn(name, command, &dir.join(format!("{name}.log")))
    }
}

/// Starts `zoom-sim` on a free port; returns the process and its base URL.
pub async fn spawn_sim(
    bin_dir: &Path,
    dir: &Path,
    seed: u64,
    extra: &[&str],
) -> anyhow::Result<(Proc, String)> {
    let port = free_port()?;
    let mut command = Command::new(bin_dir.join("zoom-sim"));
    command
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    let proc = Proc::spawn("zoom-sim", command, &dir.join("zoom-sim.log"))?;
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/_sim/clock"), Duration::from_secs(20)).await?;
    Ok((proc, base))
}

/// Waits until `url` answers 200.
pub async fn wait_http(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{url} did not answer in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// POST JSON, expecting success; the answer's JSON (or null).
pub async fn post_json(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "POST {url}: {status} {text}");
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// A user token of the main Billables app.
pub fn user_token(sub: &str, email: &str) -> anyhow::Result<String> {
    let claims = json!({"sub": sub, "email": email, "exp": Utc::now().timestamp() + 24 * 3600});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )?)
}

/// The whole install: link, the admin's "Continue to Zoom", Zoom's approval, the callback;
/// then waits until the account is active. Returns our account id.
pub async fn install(
    http: &reqwest::Client,
    api: &str,
    db: &PgPool,
    domain: &str,
) -> anyhow::Result<uuid::Uuid> {
    let response = http
        .post(format!("{api}/v1/admin/install-links"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"domain": domain}))
        .send()
        .await?;
    ensure!(
        response.status() == 201,
        "install link: {}",
        response.status()
    );
    let link: Value = response.json().await?;
    let url = link["url"].as_str().context("link url")?;
    let html = http.get(url).send().await?.text().await?;
    let href = html
        .split("id=\"continue\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the install page has a Continue to Zoom link")?
        .replace("&amp;", "&");
    let location = |r: &reqwest::Response| -> anyhow::Result<String> {
        Ok(r.headers()
            .get("location")
            .context("a redirect")?
            .to_str()?
            .to_owned())
    };
    let to_zoom = http.get(format!("{api}{href}")).send().await?;
    let authorize = location(&to_zoom)?;
    let back = http.get(&authorize).send().await?;
    let callback = location(&back)?;
    let done = http.get(&callback).send().await?;
    ensure!(done.status() == 200, "OAuth callback: {}", done.status());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let id: Option<uuid::Uuid> = sqlx::query_scalar(
            "select a.id from accounts a join account_domains d on d.account_id = a.id \
             where d.domain = $1 and a.status = 'active'",
        )
        .bind(domain)
        .fetch_optional(db)
        .await?;
        if let Some(id) = id {
            return Ok(id);
        }
        ensure!(
            Instant::now() < deadline,
            "the account did not become active"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A user who opted in, and when.
#[derive(Clone, Debug)]
pub struct OptedIn {
    pub zoom_user_id: String,
    pub email: String,
    pub token: String,
    /// Before the first attempt and after the one that was accepted: the backfill window is
    /// `[opt-in − days, opt-in]` for an opt-in time in between.
    pub before: DateTime<Utc>,
    pub after: DateTime<Utc>,
    pub attempts: u32,
}

/// Opts `user` (an entry of the sim company's `users`) in through the API, as the
/// integrations page would: a 503 (the queue briefly unreachable, e.g. while Redis restarts)
/// is retried for up to 30 s.
pub async fn opt_in(http: &reqwest::Client, api: &str, user: &Value) -> anyhow::Result<OptedIn> {
    let email = user["email"].as_str().context("email")?.to_lowercase();
    let token = user_token(&format!("user-{email}"), &email)?;
    let before = Utc::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = http
            .post(format!("{api}/v1/me/zoom/opt-in"))
            .bearer_auth(&token)
            .send()
            .await;
        let retry = match sent {
            Ok(r) if r.status() == 202 => break,
            Ok(r) if r.status() == 503 => format!("503 {}", r.text().await.unwrap_or_default()),
            Ok(r) => {
                let status = r.status();
                bail!(
                    "opt-in of {email}: {status} {}",
                    r.text().await.unwrap_or_default()
                )
            }
            Err(e) => e.to_string(),
        };
        ensure!(
            Instant::now() < deadline,
            "opt-in of {email} kept failing: {retry}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(OptedIn {
        zoom_user_id: user["id"].as_str().context("id")?.to_owned(),
        email,
        token,
        before,
        after: Utc::now(),
        attempts,
    })
}

/// The state of each member's latest backfill.
pub async fn latest_backfill_states(db: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select state, count(*) from (select distinct on (member_id) state from backfills \
         order by member_id, created_at desc) latest group by state",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Backfills by state.
pub async fn backfill_states(db: &PgPool) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from backfills group by state")
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

/// (source, external id, started_at, duration_seconds, billed_minutes), 6-minute rounding.
pub type Row = (String, String, String, i64, i64);

fn rounded(seconds: i64) -> i64 {
    (seconds + 359) / 360 * 6
}

fn time(v: &Value) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(v.as_str().context("time")?)?.with_timezone(&Utc))
}

fn text(v: &Value) -> anyhow::Result<String> {
    Ok(v.as_str().context("string")?.to_owned())
}

/// The simulator's ground truth for a user among what started in `[from, to]`.
async fn truth_rows(
    http: &reqwest::Client,
    sim: &str,
    account: &str,
    user: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<BTreeSet<Row>> {
    let truth = get_json(http, &format!("{sim}/_sim/truth/{account}?user_id={user}")).await?;
    let mut rows = BTreeSet::new();
    for m in truth["meetings"].as_array().context("meetings")? {
        let start = time(&m["meeting_start_time"])?;
        if start >= from && start <= to {
            let seconds = m["duration_seconds"].as_i64().context("duration")?;
            rows.insert((
                "zoom_meeting".into(),
                text(&m["uuid"])?,
                text(&m["start_time"])?,
                seconds,
                rounded(seconds),
            ));
        }
    }
    for c in truth["calls"].as_array().context("calls")? {
        let start = time(&c["start_time"])?;
        if start >= from && start <= to {
            let seconds = c["duration_seconds"].as_i64().context("duration")?;
            rows.insert((
                "zoom_call".into(),
                text(&c["id"])?,
                text(&c["answer_time"])?,
                seconds,
                rounded(seconds),
            ));
        }
    }
    Ok(rows)
}

/// Every entry of the user through the API, following `next_cursor`.
pub async fn entries(http: &reqwest::Client, api: &str, token: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/v1/me/billables?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        items.extend(page["items"].as_array().context("items")?.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(items),
        }
    }
}

/// How one user's entries compare with the ground truth.
#[derive(Debug, Default, serde::Serialize)]
pub struct Comparison {
    pub email: String,
    pub entries: usize,
    pub duplicates: usize,
    pub missing: Vec<Row>,
    pub extra: Vec<Row>,
}

impl Comparison {
    pub fn ok(&self) -> bool {
        self.duplicates == 0 && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares a user's entries with the truth of the window `[opt-in − days, opt-in]`: all
/// that certainly falls inside must be there, nothing outside, nothing twice.
pub async fn compare(
    http: &reqwest::Client,
    api: &str,
    sim: &str,
    zoom_account: &str,
    user: &OptedIn,
    days: i64,
) -> anyhow::Result<Comparison> {
    let items = entries(http, api, &user.token).await?;
    let mut got = BTreeSet::new();
    for i in &items {
        got.insert((
            text(&i["source"])?,
            text(&i["external_id"])?,
            text(&i["started_at"])?,
            i["duration_seconds"].as_i64().context("duration")?,
            i["billed_minutes"].as_i64().context("minutes")?,
        ));
    }
    let days = TimeDelta::days(days);
    let loose = truth_rows(
        http,
        sim,
        zoom_account,
        &user.zoom_user_id,
        user.before - days,
        user.after,
    )
    .await?;
    let strict = truth_rows(
        http,
        sim,
        zoom_account,
        &user.zoom_user_id,
        user.after - days,
        user.before,
    )
    .await?;
    Ok(Comparison {
        email: user.email.clone(),
        entries: items.len(),
        duplicates: items.len() - got.len(),
        missing: strict.difference(&got).cloned().collect(),
        extra: got.difference(&loose).cloned().collect(),
    })
}

/// Prints a table with a header row; columns are padded to the widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        line(row.clone());
    }
}

/// Writes `value` as pretty JSON to `path`, creating the directory.
pub fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(())
}

/// Deletes every key under `prefix:` (best effort).
pub async fn delete_prefix(redis_url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
    }
}

/// A small deterministic PRNG (xorshift64*) so a run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// Resolves on SIGINT or SIGTERM (a `timeout` or ctrl-c): the caller drops its work, and with
/// it every [`Proc`], so no child process outlives the run.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

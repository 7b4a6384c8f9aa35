//! The benchmark suite (`scripts/bench.sh`): each measurement side by side with a baseline
//! measured in the same run, written to `target/bench/summary.json` and printed as a table.
//!
//! 1. **Backfill throughput** at Zoom's real Business limits (Heavy 40 requests/s): the
//!    release binaries (simulator, API, two workers) as processes, a generated company whose
//!    members opt in; entries/s and Heavy requests/s against the theoretical best, the
//!    requests the backfill needed ÷ 40/s. Once as fast as the loopback answers, once with
//!    150 ms of Zoom latency on every request.
//! 2. **Rate limiter overhead**: one `acquire` (a Lua script in Redis) against a plain
//!    Redis `PING` round trip, one at a time and 32 at once.
//! 3. **Enqueue**: one `push` per job (what the backfill planner does) against pushing the
//!    same jobs in bulk (`push_all`, one script call per batch), and 16 pushes at once.
//! 4. **Worker memory**: peak RSS (`VmHWM`) of each worker process after the backfills,
//!    against its RSS when idle after start.
//!
//! Run: `cargo build --release -p app -p zoom-sim && cargo run --release -p app --example
//! bench`; `--help` for the knobs. Postgres and Redis from `DATABASE_URL` / `REDIS_URL`
//! (the local defaults otherwise); a database `billables_zoom_bench` is dropped and created.

mod support;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use apalis::prelude::{TaskBuilder, TaskId, TaskSink as _};
use clap::Parser;
use jobs::{
    queue::{Job as _, PushOptions, Queues},
    tasks::BackfillWindow,
    zoom::{Category, Rate, RateLimiter, RateLimits},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{AppEnv, Proc, print_table};

#[derive(Debug, Parser)]
#[command(about = "Billables for Zoom benchmarks")]
struct Args {
    /// Users of each generated company.
    #[arg(long, default_value_t = 40)]
    users: usize,
    /// Members who opt in, per backfill scenario.
    #[arg(long, default_value_t = 20)]
    members: usize,
    /// Days of history (and BACKFILL_DAYS).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Zoom latency of the second backfill scenario, in milliseconds.
    #[arg(long, default_value_t = 150)]
    latency_ms: u64,
    /// Limiter and PING calls per measurement.
    #[arg(long, default_value_t = 5000)]
    calls: usize,
    /// Jobs per enqueue measurement.
    #[arg(long, default_value_t = 2000)]
    jobs: usize,
    /// Where the summary goes (default: target/bench/summary.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One line of the table: ours against a baseline measured in the same run.
struct Metric {
    group: &'static str,
    name: String,
    unit: &'static str,
    value: f64,
    baseline_name: String,
    baseline: f64,
    /// Whether more is better (throughput) or less (latency, memory, time).
    higher_is_better: bool,
}

impl Metric {
    fn json(&self) -> Value {
        json!({
            "group": self.group, "name": self.name, "unit": self.unit, "value": round(self.value),
            "baseline_name": self.baseline_name, "baseline": round(self.baseline),
            "ratio": round(self.value / self.baseline), "higher_is_better": self.higher_is_better,
        })
    }
}

fn round(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            result = run(args) => result,
            () = support::interrupted() => Err(anyhow::anyhow!("interrupted; every process stopped")),
        }
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let bin_dir = support::release_dir()?;
    let target = support::target_dir()?;
    let dir = target.join("bench");
    let logs = dir.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let out = args.out.clone().unwrap_or_else(|| dir.join("summary.json"));
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!(
        "bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let started = Instant::now();
    println!(
        "Billables for Zoom benchmarks (Redis key prefix {prefix}, logs in {})",
        logs.display()
    );

    let mut metrics = Vec::new();
    let result = async {
        let limiter = limiter_overhead(&redis_url, &prefix, args.calls).await?;
        metrics.extend(limiter.0);
        let enqueue = enqueue_throughput(&redis_url, &prefix, args.jobs).await?;
        metrics.extend(enqueue.0);
        let backfill = backfills(&args, &bin_dir, &logs, &redis_url, &prefix).await?;
        metrics.extend(backfill.0);
        anyhow::Ok(json!({"limiter": limiter.1, "enqueue": enqueue.1, "backfill": backfill.1}))
    }
    .await;
    support::delete_prefix(&redis_url, &prefix).await;
    support::delete_prefix(&redis_url, &format!("{prefix}-app")).await;
    let details = result?;

    let summary = json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "duration_seconds": round(started.elapsed().as_secs_f64()),
        "host": {"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "parameters": {"users": args.users, "members": args.members, "days": args.days,
                       "workers": args.workers, "latency_ms": args.latency_ms,
                       "calls": args.calls, "jobs": args.jobs},
        "metrics": metrics.iter().map(Metric::json).collect::<Vec<_>>(),
        "details": details,
    });
    support::write_json(&out, &summary)?;

    println!();
    let rows: Vec<Vec<String>> = metrics
        .iter()
        .map(|m| {
            vec![
                m.group.to_owned(),
                format!("{} ({})", m.name, m.unit),
                fmt(m.value),
                format!("{} {}", fmt(m.baseline), m.baseline_name),
                format!(
                    "{:.2}{}",
                    m.value / m.baseline,
                    if m.higher_is_better { " ↑" } else { " ↓" }
                ),
            ]
        })
        .collect();
    print_table(
        &["group", "metric", "ours", "baseline", "ours/baseline"],
        &rows,
    );
    println!(
        "\n↑ more is better, ↓ less is better. Summary: {} ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `acquire` on the shared limiter (budgets so large that it never waits: pure overhead)
/// against `PING` on the same connection.
async fn limiter_overhead(
    redis_url: &str,
    prefix: &str,
    calls: usize,
) -> anyhow::Result<(Vec<Metric>, Value)> {
    println!("• rate limiter: {calls} acquire vs {calls} PING, one at a time and 32 at once");
    let conn = app::startup::redis_manager(redis_url)?;
    app::startup::wait_for_redis(&conn, redis_url).await?;
    let unlimited = Rate::per_second(u32::MAX);
    let limits = RateLimits {
        light: unlimited,
        medium: unlimited,
        heavy: unlimited,
        resource_intensive: unlimited,
        daily_heavy: Some(u32::MAX),
        safety_factor: 1.0,
        ..RateLimits::business()
    };
    let limiter = RateLimiter::new(conn.clone(), format!("{prefix}:limiter"), limits);
    let account = "bench-account";

    async fn ping(conn: &redis::aio::ConnectionManager) -> anyhow::Result<()> {
        let mut c = conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }
    // Warm up (loads the script, fills the connection's buffers).
    for _ in 0..200 {
        limiter.acquire(account, Category::Heavy).await?;
        ping(&conn).await?;
    }
    let mut acquire = Vec::with_capacity(calls);
    let mut pings = Vec::with_capacity(calls);
    let t = Instant::now();
    for _ in 0..calls {
        let s = Instant::now();
        limiter.acquire(account, Category::Heavy).await?;
        acquire.push(s.elapsed());
    }
    let acquire_total = t.elapsed();
    let t = Instant::now();
    for _ in 0..calls {
        let s = Instant::now();
        ping(&conn).await?;
        pings.push(s.elapsed());
    }
    let ping_total = t.elapsed();
    acquire.sort();
    pings.sort();

    const TASKS: usize = 32;
    let per_task = (calls / TASKS).max(1);
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let limiter = limiter.clone();
        set.spawn(async move {
            for _ in 0..per_task {
                limiter.acquire(account, Category::Heavy).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let acquire_concurrent = (TASKS * per_task) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..TASKS {
        let conn = conn.clone();
        set.spawn(async move {
            for _ in 0..per_task {
                ping(&conn).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let ping_concurrent = (TASKS * per_task) as f64 / t.elapsed().as_secs_f64();

    let metric = |name: &str, unit, value, baseline, higher_is_better| Metric {
        group: "rate limiter",
        name: name.to_owned(),
        unit,
        value,
        baseline_name: "PING".to_owned(),
        baseline,
        higher_is_better,
    };
    let metrics = vec![
        metric(
            "acquire latency p50",
            "µs",
            micros(percentile(&acquire, 0.5)),
            micros(percentile(&pings, 0.5)),
            false,
        ),
        metric(
            "acquire latency p99",
            "µs",
            micros(percentile(&acquire, 0.99)),
            micros(percentile(&pings, 0.99)),
            false,
        ),
        metric(
            "acquire throughput, 1 caller",
            "calls/s",
            calls as f64 / acquire_total.as_secs_f64(),
            calls as f64 / ping_total.as_secs_f64(),
            true,
        ),
        metric(
            "acquire throughput, 32 callers",
            "calls/s",
            acquire_concurrent,
            ping_concurrent,
            true,
        ),
    ];
    let details = json!({
        "calls": calls,
        "acquire_us": {"p50": micros(percentile(&acquire, 0.5)), "p90": micros(percentile(&acquire, 0.9)),
                       "p99": micros(percentile(&acquire, 0.99)), "max": micros(percentile(&acquire, 1.0))},
        "ping_us": {"p50": micros(percentile(&pings, 0.5)), "p90": micros(percentile(&pings, 0.9)),
                    "p99": micros(percentile(&pings, 0.99)), "max": micros(percentile(&pings, 1.0))},
        "concurrent_calls_per_s": {"acquire": acquire_concurrent, "ping": ping_concurrent},
    });
    Ok((metrics, details))
}

fn window_job(i: usize) -> BackfillWindow {
    BackfillWindow {
        backfill_id: uuid::Uuid::new_v4(),
        member_id: uuid::Uuid::new_v4(),
        window_no: i32::try_from(i % 10).unwrap_or(0),
    }
}

/// `BackfillWindow` jobs (with their idempotency keys, as the planner pushes them), one push
/// per job vs in bulk.
async fn enqueue_throughput(
    redis_url: &str,
    prefix: &str,
    jobs: usize,
) -> anyhow::Result<(Vec<Metric>, Value)> {
    println!("• enqueue: {jobs} jobs one push at a time, 16 pushes at once, and in bulk");
    let conn = app::startup::redis_manager(redis_url)?;
    app::startup::wait_for_redis(&conn, redis_url).await?;

    let queues = Queues::new(conn.clone(), format!("{prefix}:enqueue-one"));
    let t = Instant::now();
    for i in 0..jobs {
        queues.push(window_job(i), PushOptions::default()).await?;
    }
    let one = jobs as f64 / t.elapsed().as_secs_f64();

    let queues = Queues::new(conn.clone(), format!("{prefix}:enqueue-concurrent"));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    const TASKS: usize = 16;
    for task in 0..TASKS {
        let queues = queues.clone();
        let n = jobs / TASKS + usize::from(task < jobs % TASKS);
        set.spawn(async move {
            for i in 0..n {
                queues.push(window_job(i), PushOptions::default()).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let concurrent = jobs as f64 / t.elapsed().as_secs_f64();

    let mut storage =
        jobs::queue::storage::<BackfillWindow>(conn.clone(), &format!("{prefix}:enqueue-bulk"));
    let tasks: Vec<_> = (0..jobs)
        .map(|i| {
            let job = window_job(i);
            let key = job.idempotency_key().unwrap_or_default();
            TaskBuilder::new(job)
                .task_id(TaskId::from_ulid(ulid::Ulid::generate()))
                .idempotency_key(key)
                .build()
        })
        .collect();
    let t = Instant::now();
    storage
        .push_all(futures::stream::iter(tasks))
        .await
        .map_err(|e| anyhow::anyhow!("push_all: {e:?}"))?;
    let bulk = jobs as f64 / t.elapsed().as_secs_f64();

    // Every job really landed once.
    let mut c = conn.clone();
    for (queue, want) in [
        ("enqueue-one", jobs),
        ("enqueue-concurrent", jobs),
        ("enqueue-bulk", jobs),
    ] {
        let n: usize = redis::cmd("HLEN")
            .arg(format!("{prefix}:{queue}:{}:data", BackfillWindow::NAME))
            .query_async(&mut c)
            .await?;
        ensure!(n == want, "{queue}: {n} jobs stored, {want} pushed");
    }

    let metric = |name: &str, value| Metric {
        group: "enqueue",
        name: name.to_owned(),
        unit: "jobs/s",
        value,
        baseline_name: "one push at a time".to_owned(),
        baseline: one,
        higher_is_better: true,
    };
    let metrics = vec![
        metric("push_all (bulk)", bulk),
        metric("push, 16 at once", concurrent),
    ];
    Ok((
        metrics,
        json!({"jobs": jobs, "jobs_per_s": {"push": one, "push_16_at_once": concurrent, "push_all": bulk}}),
    ))
}

/// Heavy requests, 429s and 5xxs of one account in the simulator's counters.
fn heavy_counts(counters: &Value, account: &str) -> (u64, u64, u64) {
    let mut heavy = 0;
    let mut too_many = 0;
    let mut server = 0;
    for r in counters["requests"].as_array().into_iter().flatten() {
        if r["account_id"] != account {
            continue;
        }
        let endpoint = r["endpoint"].as_str().unwrap_or_default();
        let n = r["count"].as_u64().unwrap_or(0);
        let status = r["status"].as_u64().unwrap_or(0);
        if endpoint.contains("/report/") || endpoint.contains("call_history") {
            heavy += n;
        }
        if status == 429 {
            too_many += n;
        } else if status >= 500 {
            server += n;
        }
    }
    (heavy, too_many, server)
}

fn max_heavy_per_second(counters: &Value, account: &str) -> u64 {
    counters["max_per_second"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["account_id"] == account && m["category"] == "Heavy")
        .filter_map(|m| m["max"].as_u64())
        .max()
        .unwrap_or(0)
}

struct Stack {
    http: reqwest::Client,
    db: PgPool,
    sim: String,
    api: String,
    workers: Vec<Proc>,
}

/// Backfill throughput at Zoom's Business limits, with and without latency.
async fn backfills(
    args: &Args,
    bin_dir: &std::path::Path,
    logs: &std::path::Path,
    redis_url: &str,
    prefix: &str,
) -> anyhow::Result<(Vec<Metric>, Value)> {
    let database_url = support::fresh_database("billables_zoom_bench").await?;
    let (_sim_proc, sim) = support::spawn_sim(bin_dir, logs, 11, &[]).await?;
    let api_port = support::free_port()?;
    let mut env = AppEnv::new(
        &database_url,
        redis_url,
        &format!("{prefix}-app"),
        api_port,
        &sim,
    );
    env.set("BACKFILL_DAYS", args.days.to_string());
    let mut api_proc = env.spawn(bin_dir, "serve", "api", logs)?;
    let api = format!("http://127.0.0.1:{api_port}");
    support::wait_http(&format!("{api}/readyz"), Duration::from_secs(60)).await?;
    let workers = (0..args.workers)
        .map(|i| env.spawn(bin_dir, "worker", &format!("worker-{i}"), logs))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut stack = Stack {
        http: support::http_client()?,
        db: PgPool::connect(&database_url).await?,
        sim,
        api,
        workers,
    };

    let limits = support::get_json(&stack.http, &format!("{}/_sim/limits", stack.sim)).await?;
    let heavy_limit = limits["heavy_qps"].as_f64().context("heavy_qps")?;
    ensure!(
        heavy_limit == 40.0,
        "the simulator runs Business limits (Heavy 40/s)"
    );

    let mut metrics = Vec::new();
    let mut details = Vec::new();
    let mut idle_rss = 0u64;
    for (i, latency) in [(1, 0u64), (2, args.latency_ms)] {
        let (m, d) = scenario(&mut stack, args, i, latency, heavy_limit, &mut idle_rss).await?;
        metrics.extend(m);
        details.push(d);
    }

    // Peak memory of the workers over both scenarios.
    let mut peaks = Vec::new();
    for w in &stack.workers {
        let (hwm, rss) = w.memory_kib().context("worker memory")?;
        peaks.push(json!({"worker": w.name, "vm_hwm_kib": hwm, "vm_rss_kib": rss}));
        metrics.push(Metric {
            group: "worker memory",
            name: format!("{} peak RSS (VmHWM)", w.name),
            unit: "MiB",
            value: hwm as f64 / 1024.0,
            baseline_name: "idle after start".to_owned(),
            baseline: idle_rss as f64 / 1024.0,
            higher_is_better: false,
        });
    }
    for w in &mut stack.workers {
        w.stop(Duration::from_secs(10));
    }
    api_proc.stop(Duration::from_secs(10));
    Ok((
        metrics,
        json!({"heavy_limit_per_s": heavy_limit, "scenarios": details, "workers": peaks,
               "idle_rss_kib": idle_rss}),
    ))
}

async fn scenario(
    stack: &mut Stack,
    args: &Args,
    n: usize,
    latency_ms: u64,
    heavy_limit: f64,
    idle_rss: &mut u64,
) -> anyhow::Result<(Vec<Metric>, Value)> {
    let label = if latency_ms == 0 {
        "loopback Zoom".to_owned()
    } else {
        format!("Zoom latency {latency_ms} ms")
    };
    println!(
        "• backfill ({label}): {} of {} users opt in, {} days, {} worker processes",
        args.members, args.users, args.days, args.workers
    );
    let http = stack.http.clone();
    let domain = format!("bench{n}.test");
    let company = support::post_json(
        &http,
        &format!("{}/_sim/companies", stack.sim),
        json!({"domain": domain, "users": args.users, "days": args.days,
               "meetings_per_user_per_day": 1.0, "calls_per_user_per_day": 1.0,
               "shared_meeting_share": 0.5}),
    )
    .await?;
    let zoom_account = company["account_id"]
        .as_str()
        .context("account")?
        .to_owned();
    let account = support::install(&http, &stack.api, &stack.db, &domain).await?;
    if *idle_rss == 0 {
        // Idle baseline: started, connected, one install done, no backfill yet.
        *idle_rss = stack
            .workers
            .iter()
            .filter_map(|w| w.memory_kib().map(|(_, rss)| rss))
            .max()
            .unwrap_or(0);
    }
    support::post_json(
        &http,
        &format!("{}/_sim/faults", stack.sim),
        json!({"latency_ms": latency_ms}),
    )
    .await?;
    http.delete(format!("{}/_sim/counters", stack.sim))
        .send()
        .await?
        .error_for_status()?;

    let users = company["users"].as_array().context("users")?;
    let t0 = Instant::now();
    for user in users.iter().skip(1).take(args.members) {
        support::opt_in(&http, &stack.api, user).await?;
    }
    let deadline = t0 + Duration::from_secs(240);
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from backfills b join members m on m.id = b.member_id \
             where m.account_id = $1 and b.state in ('queued', 'running')",
        )
        .bind(account)
        .fetch_one(&stack.db)
        .await?;
        if open == 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "backfills did not finish in 240 s"
        );
        for w in &mut stack.workers {
            ensure!(w.running(), "{} exited (see its log)", w.name);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    support::post_json(
        &http,
        &format!("{}/_sim/faults", stack.sim),
        json!({"latency_ms": 0}),
    )
    .await?;

    let (done, not_done): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where b.state = 'done'), count(*) filter (where b.state <> 'done') \
         from backfills b join members m on m.id = b.member_id where m.account_id = $1",
    )
    .bind(account)
    .fetch_one(&stack.db)
    .await?;
    ensure!(not_done == 0, "{not_done} backfills did not end done");
    let entries: i64 = sqlx::query_scalar(
        "select count(*) from billables b join members m on m.id = b.member_id where m.account_id = $1",
    )
    .bind(account)
    .fetch_one(&stack.db)
    .await?;
    let counters = support::get_json(&http, &format!("{}/_sim/counters", stack.sim)).await?;
    let (heavy, too_many, server) = heavy_counts(&counters, &zoom_account);
    let max_second = max_heavy_per_second(&counters, &zoom_account);
    let ideal_secs = heavy as f64 / heavy_limit;
    let achieved_rps = heavy as f64 / elapsed;

    let metric = |name: &str, unit, value, baseline_name: &str, baseline| Metric {
        group: "backfill",
        name: format!("{name}, {label}"),
        unit,
        value,
        baseline_name: baseline_name.to_owned(),
        baseline,
        higher_is_better: true,
    };
    let metrics = vec![
        metric(
            "Zoom Heavy requests/s",
            "req/s",
            achieved_rps,
            "Zoom's limit",
            heavy_limit,
        ),
        metric(
            "Zoom Heavy requests/s",
            "req/s",
            achieved_rps,
            "our budget (90 % of it)",
            heavy_limit * RateLimits::business().safety_factor,
        ),
        metric(
            "entries/s",
            "entries/s",
            entries as f64 / elapsed,
            "at the limit",
            entries as f64 / ideal_secs,
        ),
        Metric {
            group: "backfill",
            name: format!("wall time, {label}"),
            unit: "s",
            value: elapsed,
            baseline_name: "requests ÷ limit".to_owned(),
            baseline: ideal_secs,
            higher_is_better: false,
        },
    ];
    let details = json!({
        "scenario": label, "latency_ms": latency_ms, "members": args.members, "users": args.users,
        "days": args.days, "backfills_done": done, "entries": entries, "seconds": elapsed,
        "heavy_requests": heavy, "http_429": too_many, "http_5xx": server,
        "max_heavy_in_any_second": max_second, "heavy_limit_per_s": heavy_limit,
        "ideal_seconds": ideal_secs, "achieved_heavy_per_s": achieved_rps,
        "share_of_limit": achieved_rps / heavy_limit,
    });
    println!(
        "  {done} backfills done in {elapsed:.1} s: {entries} entries, {heavy} Heavy requests \
         ({achieved_rps:.1}/s of {heavy_limit}/s; best possible {ideal_secs:.1} s), \
         most in one second {max_second}, 429s {too_many}"
    );
    Ok((metrics, details))
}

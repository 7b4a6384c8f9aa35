//! The fault scenario of `scripts/chaos.sh`: the release binaries (the Zoom simulator, the
//! API and three workers) as processes on 127.0.0.1 with a Redis of their own (append-only
//! file on), members opting in batch after batch while, at random (but replayable: `--seed`)
//! moments, workers are killed with SIGKILL and started again, Redis is killed and
//! restarted, Zoom answers storms of 429s and bursts of 5xxs, and scheduled pulls run every
//! 15 seconds. Then it lets the work drain and checks what must hold:
//!
//! - every backfill ends `done`;
//! - every opted-in user's entries equal the simulator's ground truth (`/_sim/truth`), none
//!   twice;
//! - the Heavy rate Zoom saw stayed within its limit, and no 429 came beyond the injected ones;
//! - no job ended in a dead set, each scheduler tick pulled each account at most once;
//! - no process died that was not killed on purpose, and the API is ready at the end.
//!
//! It writes `target/chaos/summary.json`, prints the timeline and a table of checks, and
//! exits 0 only if every check held. Run it with `scripts/chaos.sh` (which builds first).

mod support;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use clap::Parser;
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{AppEnv, OptedIn, OwnRedis, Proc, Rng, print_table};

#[derive(Debug, Parser)]
#[command(about = "Billables for Zoom fault scenario")]
struct Args {
    /// Length of the fault phase, in seconds.
    #[arg(long, default_value_t = 90)]
    seconds: u64,
    /// Seed of the random schedule (default: the clock; printed, to replay a run).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Users of the generated company.
    #[arg(long, default_value_t = 40)]
    users: usize,
    /// Members who opt in, in four batches (one before the faults, three during).
    #[arg(long, default_value_t = 20)]
    members: usize,
    /// Days of history (and BACKFILL_DAYS).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Zoom latency on every request, in milliseconds (so jobs are in flight when killed).
    #[arg(long, default_value_t = 150)]
    latency_ms: u64,
    /// How long the work may take to drain after the faults, in seconds.
    #[arg(long, default_value_t = 240)]
    drain_seconds: u64,
    /// Where the summary goes (default: target/chaos/summary.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    KillWorker,
    RestartRedis,
    Storm429,
    Burst5xx,
    OptInBatch,
}

/// Something that happened, for the timeline.
struct Event {
    at: f64,
    kind: &'static str,
    detail: String,
}

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

struct Run {
    args: Args,
    started: Instant,
    rng: Rng,
    http: reqwest::Client,
    bin_dir: PathBuf,
    logs: PathBuf,
    env: AppEnv,
    db: PgPool,
    sim: String,
    api: String,
    zoom_account: String,
    company: Value,
    redis: OwnRedis,
    redis_url: String,
    prefix: String,
    api_proc: Proc,
    workers: Vec<Proc>,
    /// Workers killed on purpose and when to start them again.
    restarts: Vec<(usize, Instant)>,
    /// When the current 5xx burst ends.
    burst_until: Option<Instant>,
    events: Vec<Event>,
    opted: Vec<OptedIn>,
    next_user: usize,
    spawned: usize,
    kills: usize,
    injected_429: u64,
    redis_restarts: usize,
}

impl Run {
    fn log(&mut self, kind: &'static str, detail: String) {
        let at = self.started.elapsed().as_secs_f64();
        println!("  {at:>6.1}s  {kind:<14} {detail}");
        self.events.push(Event { at, kind, detail });
    }

    fn spawn_worker(&mut self) -> anyhow::Result<Proc> {
        self.spawned += 1;
        let name = format!("worker-{}", self.spawned);
        self.env.spawn(&self.bin_dir, "worker", &name, &self.logs)
    }

    async fn faults(&self, body: Value) -> anyhow::Result<Value> {
        support::post_json(&self.http, &format!("{}/_sim/faults", self.sim), body).await
    }

    /// Opts in the next `n` users of the company.
    async fn opt_in_batch(&mut self, n: usize) -> anyhow::Result<()> {
        let users = self.company["users"].as_array().context("users")?.clone();
        let mut emails = Vec::new();
        let mut retried = 0;
        for _ in 0..n {
            if self.opted.len() >= self.args.members || self.next_user >= users.len() {
                break;
            }
            let user = &users[self.next_user];
            self.next_user += 1;
            let opted = support::opt_in(&self.http, &self.api, user).await?;
            emails.push(opted.email.clone());
            retried += usize::from(opted.attempts > 1);
            self.opted.push(opted);
        }
        let note = if retried > 0 {
            format!(", {retried} after a 503 (queue unreachable)")
        } else {
            String::new()
        };
        self.log(
            "opt-in",
            format!("{} users ({} in all){note}", emails.len(), self.opted.len()),
        );
        Ok(())
    }

    async fn apply(&mut self, fault: Fault) -> anyhow::Result<()> {
        match fault {
            Fault::KillWorker => {
                let running: Vec<usize> = (0..self.workers.len())
                    .filter(|&i| self.workers[i].running())
                    .collect();
                if running.len() < 2 {
                    self.log("kill -9", "skipped: fewer than two workers running".into());
                    return Ok(());
                }
                let i = running[self.rng.range(0, running.len() as u64 - 1) as usize];
                let pid = self.workers[i].pid().unwrap_or(0);
                let inflight = self.inflight(pid).await.unwrap_or(0);
                self.workers[i].kill9();
                self.kills += 1;
                let back_in = Duration::from_secs(self.rng.range(2, 8));
                self.restarts.push((i, Instant::now() + back_in));
                self.log(
                    "kill -9",
                    format!(
                        "{} (pid {pid}, {inflight} jobs in flight); restart in {} s",
                        self.workers[i].name,
                        back_in.as_secs()
                    ),
                );
            }
            Fault::RestartRedis => {
                let down = Duration::from_millis(self.rng.range(1000, 3000));
                self.redis.kill9();
                self.log(
                    "redis kill -9",
                    format!("down for {:.1} s", down.as_secs_f64()),
                );
                tokio::time::sleep(down).await;
                self.redis.restart()?;
                self.redis_restarts += 1;
                self.log("redis restart", "same port and append-only file".into());
            }
            Fault::Storm429 => {
                let n = self.rng.range(20, 60);
                let leftover = self.storm_remaining().await?;
                self.injected_429 = self.injected_429 + n - leftover;
                self.faults(json!({"storm_requests": n})).await?;
                self.log(
                    "429 storm",
                    format!("the next {n} Zoom requests answer 429"),
                );
            }
            Fault::Burst5xx => {
                let secs = self.rng.range(4, 10);
                let rate = self.rng.range(20, 50) as f64 / 100.0;
                self.faults(json!({"rate_5xx": rate})).await?;
                self.burst_until = Some(Instant::now() + Duration::from_secs(secs));
                self.log(
                    "5xx burst",
                    format!(
                        "{:.0} % of Zoom requests answer 5xx for {secs} s",
                        rate * 100.0
                    ),
                );
            }
            Fault::OptInBatch => {
                let n = self.args.members.div_ceil(4);
                self.opt_in_batch(n).await?;
            }
        }
        Ok(())
    }

    async fn storm_remaining(&self) -> anyhow::Result<u64> {
        let faults = support::get_json(&self.http, &format!("{}/_sim/faults", self.sim)).await?;
        Ok(faults["global"]["storm_remaining"].as_u64().unwrap_or(0))
    }

    /// Jobs a worker process holds in Redis right now (any queue).
    async fn inflight(&self, pid: u32) -> anyhow::Result<usize> {
        let mut conn = redis::Client::open(self.redis_url.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*:inflight:*:{pid}-*", self.prefix))
            .query_async(&mut conn)
            .await?;
        let mut n = 0;
        for key in keys {
            let c: usize = redis::cmd("SCARD").arg(&key).query_async(&mut conn).await?;
            n += c;
        }
        Ok(n)
    }

    /// Starts killed workers whose time has come, ends a 5xx burst that is over.
    async fn housekeeping(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        let due: Vec<usize> = self
            .restarts
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(i, _)| *i)
            .collect();
        self.restarts.retain(|(_, at)| *at > now);
        for i in due {
            let proc = self.spawn_worker()?;
            let name = proc.name.clone();
            self.workers[i] = proc;
            self.log("worker start", name);
        }
        if self.burst_until.is_some_and(|t| t <= now) {
            self.burst_until = None;
            self.faults(json!({"rate_5xx": 0.0})).await?;
            self.log("5xx burst end", String::new());
        }
        Ok(())
    }

    /// A worker or the API that exited without being killed on purpose.
    fn crashed(&mut self) -> Vec<String> {
        let mut dead = Vec::new();
        if !self.api_proc.running() {
            dead.push(self.api_proc.name.clone());
        }
        let restarting: Vec<usize> = self.restarts.iter().map(|(i, _)| *i).collect();
        for (i, w) in self.workers.iter_mut().enumerate() {
            if !restarting.contains(&i) && !w.running() {
                dead.push(w.name.clone());
            }
        }
        dead
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(args) => result,
            () = support::interrupted() => Err(anyhow::anyhow!("interrupted; every process stopped")),
        }
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos run failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let bin_dir = support::release_dir()?;
    let dir = support::target_dir()?.join("chaos");
    let logs = dir.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    let _ = std::fs::remove_dir_all(dir.join("redis"));
    std::fs::create_dir_all(&logs)?;
    let out = args.out.clone().unwrap_or_else(|| dir.join("summary.json"));
    println!(
        "Billables for Zoom fault scenario: seed {seed}, {} s of faults, {} workers (logs in {})",
        args.seconds,
        args.workers,
        logs.display()
    );

    // The stack: Postgres database, a Redis of our own, Zoom, the API, the workers.
    let database_url = support::fresh_database("billables_zoom_chaos").await?;
    let redis = OwnRedis::start(&dir.join("redis"), &logs.join("redis.log"))?;
    let redis_url = redis.url();
    let (_sim_proc, sim) = support::spawn_sim(&bin_dir, &logs, seed, &[]).await?;
    let api_port = support::free_port()?;
    let prefix = "chaos".to_owned();
    let mut env = AppEnv::new(&database_url, &redis_url, &prefix, api_port, &sim);
    env.set("BACKFILL_DAYS", args.days.to_string())
        .set("PULL_SCHEDULE", "*/15 * * * * *");
    let api_proc = env.spawn(&bin_dir, "serve", "api", &logs)?;
    let api = format!("http://127.0.0.1:{api_port}");
    support::wait_http(&format!("{api}/readyz"), Duration::from_secs(60)).await?;
    let http = support::http_client()?;
    let company = support::post_json(
        &http,
        &format!("{sim}/_sim/companies"),
        json!({"domain": "chaos.test", "users": args.users, "days": args.days,
               "meetings_per_user_per_day": 1.2, "calls_per_user_per_day": 1.0,
               "shared_meeting_share": 0.6}),
    )
    .await?;
    let zoom_account = company["account_id"]
        .as_str()
        .context("account")?
        .to_owned();
    let mut run = Run {
        rng: Rng::new(seed),
        started,
        http,
        bin_dir,
        logs: logs.clone(),
        env,
        db: PgPool::connect(&database_url).await?,
        sim,
        api,
        zoom_account,
        company,
        redis,
        redis_url,
        prefix,
        api_proc,
        workers: Vec::new(),
        restarts: Vec::new(),
        burst_until: None,
        events: Vec::new(),
        opted: Vec::new(),
        next_user: 1,
        spawned: 0,
        kills: 0,
        injected_429: 0,
        redis_restarts: 0,
        args,
    };
    for _ in 0..run.args.workers {
        let w = run.spawn_worker()?;
        run.workers.push(w);
    }
    let account = support::install(&run.http, &run.api, &run.db, "chaos.test").await?;
    run.log("installed", format!("account {account}"));
    run.faults(json!({"latency_ms": run.args.latency_ms}))
        .await?;
    run.log("zoom latency", format!("{} ms", run.args.latency_ms));
    run.opt_in_batch(run.args.members.div_ceil(4)).await?;

    // The fault schedule: every kind at least once, in random order, spread over the phase.
    let mut plan = vec![
        Fault::KillWorker,
        Fault::KillWorker,
        Fault::KillWorker,
        Fault::KillWorker,
        Fault::RestartRedis,
        Fault::Storm429,
        Fault::Storm429,
        Fault::Burst5xx,
        Fault::Burst5xx,
        Fault::OptInBatch,
        Fault::OptInBatch,
        Fault::OptInBatch,
    ];
    run.rng.shuffle(&mut plan);
    let phase = Duration::from_secs(run.args.seconds);
    let slot = phase / (plan.len() as u32 + 1);
    let phase_start = Instant::now();
    let mut schedule: Vec<(Instant, Fault)> = plan
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let jitter = Duration::from_millis(run.rng.range(0, slot.as_millis() as u64 / 2));
            (phase_start + slot * (i as u32 + 1) + jitter, *f)
        })
        .collect();
    schedule.reverse();
    let mut crashes = Vec::new();
    while Instant::now() < phase_start + phase || !schedule.is_empty() {
        run.housekeeping().await?;
        crashes.extend(run.crashed());
        if let Some((at, fault)) = schedule.last().copied()
            && at <= Instant::now()
        {
            schedule.pop();
            run.apply(fault).await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Drain: faults off, killed workers back, everything finishes.
    run.faults(json!({"rate_5xx": 0.0, "latency_ms": 0}))
        .await?;
    run.burst_until = None;
    for (i, _) in std::mem::take(&mut run.restarts) {
        let proc = run.spawn_worker()?;
        let name = proc.name.clone();
        run.workers[i] = proc;
        run.log("worker start", name);
    }
    run.log(
        "drain",
        "faults off; waiting for every backfill to end".into(),
    );
    let drain_deadline = Instant::now() + Duration::from_secs(run.args.drain_seconds);
    loop {
        crashes.extend(run.crashed());
        let open: i64 = sqlx::query_scalar(
            "select count(*) from backfills where state in ('queued', 'running')",
        )
        .fetch_one(&run.db)
        .await?;
        if open == 0 || Instant::now() > drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    run.log(
        "drained",
        format!("{:?}", support::backfill_states(&run.db).await?),
    );

    let checks = checks(&mut run, crashes).await?;
    let counters = support::get_json(&run.http, &format!("{}/_sim/counters", run.sim)).await?;
    let requests: u64 = counters["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["account_id"] == run.zoom_account.as_str())
        .filter_map(|r| r["count"].as_u64())
        .sum();
    let entries: i64 = sqlx::query_scalar("select count(*) from billables")
        .fetch_one(&run.db)
        .await?;

    let all_ok = checks.iter().all(|c| c.ok);
    let summary = json!({
        "ok": all_ok,
        "seed": seed,
        "replay": format!("scripts/chaos.sh --seed {seed}"),
        "duration_seconds": started.elapsed().as_secs_f64(),
        "parameters": {"seconds": run.args.seconds, "workers": run.args.workers, "users": run.args.users,
                       "members": run.args.members, "days": run.args.days, "latency_ms": run.args.latency_ms},
        "totals": {"members": run.opted.len(), "entries": entries, "zoom_requests": requests,
                   "worker_kills": run.kills, "redis_restarts": run.redis_restarts,
                   "injected_429": run.injected_429},
        "checks": checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
        "events": run.events.iter().map(|e| json!({"at_seconds": (e.at * 10.0).round() / 10.0, "kind": e.kind, "detail": e.detail})).collect::<Vec<_>>(),
    });
    support::write_json(&out, &summary)?;

    // Stop everything gracefully (SIGKILL after the grace period).
    for w in &mut run.workers {
        w.stop(Duration::from_secs(10));
    }
    run.api_proc.stop(Duration::from_secs(10));
    run.redis.kill9();

    println!();
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                if c.ok { "ok" } else { "FAILED" }.to_owned(),
                c.name.to_owned(),
                c.detail.clone(),
            ]
        })
        .collect();
    print_table(&["", "check", "detail"], &rows);
    println!(
        "\n{} members, {entries} entries, {requests} Zoom requests; {} worker kills, {} Redis restarts, \
         {} injected 429s; {:.0} s. Summary: {}",
        run.opted.len(),
        run.kills,
        run.redis_restarts,
        run.injected_429,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    println!(
        "{}",
        if all_ok {
            "All checks held."
        } else {
            "Some checks FAILED (logs in target/chaos/logs)."
        }
    );
    Ok(all_ok)
}

async fn checks(run: &mut Run, crashes: Vec<String>) -> anyhow::Result<Vec<Check>> {
    let mut checks = Vec::new();

    // An opt-in the API could not queue (Redis down) leaves a `failed` backfill and is retried
    // by the user: each member's latest backfill is what must be done.
    let latest = support::latest_backfill_states(&run.db).await?;
    let all = support::backfill_states(&run.db).await?;
    let done = latest.get("done").copied().unwrap_or(0);
    checks.push(Check {
        name: "every backfill done",
        ok: done == run.opted.len() as i64 && latest.len() == 1,
        detail: format!(
            "latest per member {latest:?} for {} opt-ins; all {all:?}",
            run.opted.len()
        ),
    });

    let mut wrong = Vec::new();
    let mut duplicates = 0;
    let mut compared = 0;
    for user in run.opted.clone() {
        let c = support::compare(
            &run.http,
            &run.api,
            &run.sim,
            &run.zoom_account,
            &user,
            i64::from(run.args.days),
        )
        .await?;
        duplicates += c.duplicates;
        compared += c.entries;
        if !c.ok() {
            wrong.push(format!(
                "{}: {} missing, {} extra, {} twice",
                c.email,
                c.missing.len(),
                c.extra.len(),
                c.duplicates
            ));
        }
    }
    checks.push(Check {
        name: "entries equal the ground truth",
        ok: wrong.is_empty(),
        detail: if wrong.is_empty() {
            format!("{} users, {compared} entries", run.opted.len())
        } else {
            wrong.join("; ")
        },
    });
    let db_duplicates: i64 = sqlx::query_scalar(
        "select count(*) from (select 1 from billables group by member_id, source, external_id having count(*) > 1) d",
    )
    .fetch_one(&run.db)
    .await?;
    checks.push(Check {
        name: "no entry twice",
        ok: duplicates == 0 && db_duplicates == 0,
        detail: format!("{duplicates} in the API, {db_duplicates} in the database"),
    });

    let counters = support::get_json(&run.http, &format!("{}/_sim/counters", run.sim)).await?;
    let limit =
        support::get_json(&run.http, &format!("{}/_sim/limits", run.sim)).await?["heavy_qps"]
            .as_u64()
            .unwrap_or(0);
    let max_heavy = counters["max_per_second"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["account_id"] == run.zoom_account.as_str() && m["category"] == "Heavy")
        .filter_map(|m| m["max"].as_u64())
        .max()
        .unwrap_or(0);
    checks.push(Check {
        name: "Heavy rate within Zoom's limit",
        ok: max_heavy <= limit && max_heavy > 0,
        detail: format!("at most {max_heavy} in any second; limit {limit}/s"),
    });
    let leftover = run.storm_remaining().await?;
    let injected = run.injected_429.saturating_sub(leftover);
    let (mut too_many, mut server) = (0u64, 0u64);
    for r in counters["requests"].as_array().into_iter().flatten() {
        if r["account_id"] != run.zoom_account.as_str() {
            continue;
        }
        let n = r["count"].as_u64().unwrap_or(0);
        match r["status"].as_u64().unwrap_or(0) {
            429 => too_many += n,
            s if s >= 500 => server += n,
            _ => {}
        }
    }
    // Our limiter paces at 90 % of the limit, but it spaces reservations, not the moments
    // requests leave: a process stalled on a busy machine sends a few late ones together, and
    // Zoom may answer one with a 429 (which is honoured). Those must stay rare.
    let heavy: u64 = counters["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["account_id"] == run.zoom_account.as_str())
        .filter(|r| {
            let e = r["endpoint"].as_str().unwrap_or_default();
            e.contains("/report/") || e.contains("call_history")
        })
        .filter_map(|r| r["count"].as_u64())
        .sum();
    let genuine = too_many.saturating_sub(injected);
    checks.push(Check {
        name: "429s beyond the injected ones rare",
        ok: genuine * 100 <= heavy,
        detail: format!(
            "{genuine} of {heavy} Heavy requests (≤ 1 %); {too_many} 429s answered, {injected} injected; {server} 5xx"
        ),
    });

    let mut conn = redis::Client::open(run.redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let mut dead = Vec::new();
    for job in jobs::tasks::JOB_NAMES {
        let n: u64 = redis::cmd("SCARD")
            .arg(format!("{}:{job}:dead", run.prefix))
            .query_async(&mut conn)
            .await?;
        if n > 0 {
            dead.push(format!("{job}: {n}"));
        }
    }
    checks.push(Check {
        name: "no job dead",
        ok: dead.is_empty(),
        detail: if dead.is_empty() {
            "every dead set empty".into()
        } else {
            dead.join(", ")
        },
    });

    // The scheduler fires a tick by enqueueing one PullAccount per account: count the jobs
    // per (account, tick) in the queue's data (a re-run after a kill is the same job).
    let payloads: Vec<Vec<u8>> = redis::cmd("HVALS")
        .arg(format!("{}:pull_account:data", run.prefix))
        .query_async(&mut conn)
        .await?;
    let mut per_tick: std::collections::BTreeMap<(String, i64), usize> = Default::default();
    for payload in &payloads {
        let job: Value = serde_json::from_slice(payload).context("a PullAccount payload")?;
        if let Some(tick) = job["tick"].as_i64() {
            *per_tick
                .entry((job["account_id"].to_string(), tick))
                .or_default() += 1;
        }
    }
    let doubled = per_tick.values().filter(|n| **n > 1).count();
    let runs: i64 = sqlx::query_scalar("select count(*) from pull_runs where tick is not null")
        .fetch_one(&run.db)
        .await?;
    checks.push(Check {
        name: "each pull tick fired once",
        ok: doubled == 0 && !per_tick.is_empty(),
        detail: format!(
            "{} ticks enqueued, {doubled} more than once; {runs} pull runs",
            per_tick.len()
        ),
    });

    let mut crashes = crashes;
    crashes.sort();
    crashes.dedup();
    checks.push(Check {
        name: "no process died unasked",
        ok: crashes.is_empty(),
        detail: if crashes.is_empty() {
            format!("{} kills, all on purpose", run.kills)
        } else {
            format!("exited: {}", crashes.join(", "))
        },
    });
    let ready = run
        .http
        .get(format!("{}/readyz", run.api))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    checks.push(Check {
        name: "API ready at the end",
        ok: ready == 200,
        detail: format!("/readyz {ready}"),
    });
    ensure!(!checks.is_empty(), "no checks ran");
    Ok(checks)
}

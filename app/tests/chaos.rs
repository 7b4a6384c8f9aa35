//! Faults during real work, against real Postgres, Redis and the simulator (no mocks): a
//! worker process killed with SIGKILL mid-backfill, a Redis restart with jobs queued, and
//! 429 storms and 5xx answers from Zoom. After each, every backfill is `done` and every
//! opted-in user's entries equal the simulator's ground truth, none twice.
//!
//! The longer, randomised version of these runs against release binaries:
//! `scripts/chaos.sh`.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{
    Options, OwnRedis, TestApp, all_billables, backfill_done, count, eventually, install_company,
    processes::{spawn_process, stop_process},
    sim_company, spawn_app_with,
    truth::{entry_rows, truth_rows},
    user_token,
    workers::spawn_workers,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use zoom_sim::{Category, FaultSpec, SimConfig, SimHandle};

/// A user who opted in, and when (the backfill window is `[opt-in − days, opt-in]`).
struct OptedIn {
    zoom_user_id: String,
    email: String,
    token: String,
    before: DateTime<Utc>,
    after: DateTime<Utc>,
}

/// Opts in `n` users of the company through the API: every fifth after the admins, from
/// the `first`-th of those on.
async fn opt_in(app: &TestApp, company: &Value, first: usize, n: usize) -> Vec<OptedIn> {
    let users = company["users"].as_array().expect("users");
    let mut opted = Vec::new();
    for (i, user) in users
        .iter()
        .skip(2)
        .step_by(5)
        .enumerate()
        .skip(first)
        .take(n)
    {
        let email = user["email"].as_str().expect("email").to_lowercase();
        let token = user_token(&format!("chaos-user-{i}"), &email);
        let before = Utc::now();
        let response = app
            .http
            .post(app.url("/v1/me/zoom/opt-in"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("opt-in");
        assert_eq!(
            response.status(),
            202,
            "{}",
            response.text().await.unwrap_or_default()
        );
        opted.push(OptedIn {
            zoom_user_id: user["id"].as_str().expect("id").to_owned(),
            email,
            token,
            before,
            after: Utc::now(),
        });
    }
    assert_eq!(opted.len(), n, "the company has enough users");
    opted
}

/// Every backfill ends `done`, and each user's entries equal the ground truth: all that
/// certainly falls in their window is there, nothing outside it, and nothing twice.
async fn assert_entries_equal_truth(
    app: &TestApp,
    sim: &SimHandle,
    account: &str,
    users: &[OptedIn],
    backfill_days: i64,
    timeout: Duration,
) {
    for user in users {
        let status = backfill_done(app, &user.token, timeout).await;
        assert_eq!(status["status"], "active");
        assert_eq!(status["backfill"]["done"], status["backfill"]["total"]);
    }
    for user in users {
        let items = all_billables(app, &user.token).await;
        let got = entry_rows(&items);
        assert_eq!(got.len(), items.len(), "{}: an entry twice", user.email);
        let days = TimeDelta::days(backfill_days);
        let want = truth_rows(
            &app.http,
            sim,
            account,
            &user.zoom_user_id,
            user.before - days,
            user.after,
        )
        .await;
        let strict = truth_rows(
            &app.http,
            sim,
            account,
            &user.zoom_user_id,
            user.after - days,
            user.before,
        )
        .await;
        assert!(
            got.is_subset(&want) && strict.is_subset(&got),
            "entries differ from the ground truth for {}:\n missing {:?}\n extra {:?}",
            user.email,
            strict.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        );
        assert!(!got.is_empty(), "{} has a history", user.email);
    }
    assert_eq!(
        count(
            &app.db,
            "select count(*) from (select 1 from billables group by member_id, source, external_id having count(*) > 1) d",
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app.db,
            "select count(*) from backfills where state <> 'done'"
        )
        .await,
        0,
        "every backfill is done"
    );
}

/// A worker process that is killed if the test panics before stopping it (a leaked worker
/// would hold the test database open).
struct Worker(Option<std::process::Child>);

impl Worker {
    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }

    /// SIGKILL, as a crash or the OOM killer would.
    fn kill9(&mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// SIGTERM and wait (the graceful path).
    fn stop(mut self) {
        if let Some(child) = self.0.take() {
            stop_process(child);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Where the worker processes log: a temporary directory, kept (and named on stderr) when
/// `CHAOS_KEEP_LOGS` names a directory to keep it in.
fn log_dir() -> tempfile::TempDir {
    match std::env::var("CHAOS_KEEP_LOGS") {
        Ok(keep) => {
            let mut dir = tempfile::TempDir::with_prefix_in("chaos-", keep).expect("log dir");
            dir.disable_cleanup(true);
            eprintln!("worker logs in {}", dir.path().display());
            dir
        }
        Err(_) => tempfile::tempdir().expect("log dir"),
    }
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// The ids of the `BackfillWindow` jobs a worker process holds right now.
async fn inflight_windows(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    pid: u32,
) -> Vec<String> {
    // apalis keeps `{queue}:inflight:{worker}`; our worker names are
    // `{prefix}:{job}:{pid}-{ulid}:{restarts}`.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:backfill_window:inflight:*:{pid}-*"))
        .query_async(conn)
        .await
        .expect("keys");
    let mut ids = Vec::new();
    for key in keys {
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&key)
            .query_async(conn)
            .await
            .expect("smembers");
        ids.extend(members);
    }
    ids
}

async fn sim_with(app_overrides: &[(&'static str, &str)], db: PgPool) -> (TestApp, SimHandle) {
    let sim = zoom_sim::spawn(SimConfig::default()).await.expect("sim");
    let mut overrides = vec![("ZOOM_OAUTH_BASE_URL", sim.base_url())];
    overrides.extend(app_overrides.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = spawn_app_with(
        db,
        Options {
            workers: false,
            overrides,
        },
    )
    .await;
    (app, sim)
}

#[tokio::test]
async fn a_worker_killed_mid_backfill_loses_and_doubles_nothing() {
    let (db, _db) = common::db::migrated().await;
    const DAYS: i64 = 14;
    let (app, sim) = sim_with(&[("BACKFILL_DAYS", "14")], db).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 30, "days": DAYS, "meetings_per_user_per_day": 1.0,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();

    let dir = log_dir();
    let env = [("BACKFILL_DAYS", "14"), ("RUST_LOG", "info")];
    let spawn = |name: &str| {
        Worker(Some(spawn_process(
            &app,
            "worker",
            &sim.base_url(),
            &env,
            &dir.path().join(format!("{name}.log")),
        )))
    };
    let mut victim = spawn("victim");
    let survivor = spawn("survivor");
    install_company(&app, "acme.test").await;

    // Zoom answers slowly, so windows are still running when the worker dies.
    sim.state()
        .set_faults(&FaultSpec {
            latency_ms: Some(300),
            ..FaultSpec::default()
        })
        .expect("faults");
    let users = opt_in(&app, &company, 0, 6).await;

    let mut conn = redis_conn(&app.config.redis_url).await;
    let prefix = app.config.redis_prefix.clone();
    let pid = victim.pid();
    // Kill it in the thick of it: meeting windows (mostly participant-report fetches) done
    // and running.
    let db = app.db.clone();
    let orphans = eventually(Duration::from_secs(40), || {
        let (mut conn, prefix, db) = (conn.clone(), prefix.clone(), db.clone());
        async move {
            let meetings_done = count(
                &db,
                "select count(*) from backfill_windows where done_at is not null and source = 'zoom_meeting'",
            )
            .await;
            let ids = inflight_windows(&mut conn, &prefix, pid).await;
            (meetings_done > 0 && ids.len() >= 2).then_some(ids)
        }
    })
    .await
    .expect("the victim is running backfill windows");
    victim.kill9();
    let done_before: i64 = count(
        &app.db,
        "select count(*) from backfill_windows where done_at is not null",
    )
    .await;
    let total: i64 = count(&app.db, "select count(*) from backfill_windows").await;
    assert!(
        done_before < total,
        "the kill came while work was left ({done_before}/{total})"
    );

    // The survivor re-queues the dead worker's jobs after ~15 s and finishes everything.
    assert_entries_equal_truth(&app, &sim, &account, &users, DAYS, Duration::from_secs(90)).await;
    // Their re-runs may still be acknowledging (a window another run finished is a no-op).
    let done_set = format!("{prefix}:backfill_window:done");
    let acked = eventually(Duration::from_secs(30), || {
        let (mut conn, done_set, orphans) = (conn.clone(), done_set.clone(), orphans.clone());
        async move {
            for id in &orphans {
                let done: bool = redis::cmd("SISMEMBER")
                    .arg(&done_set)
                    .arg(id)
                    .query_async(&mut conn)
                    .await
                    .expect("sismember");
                if !done {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(
        acked.is_some(),
        "the orphaned jobs {orphans:?} were run again to completion"
    );
    let dead: i64 = redis::cmd("SCARD")
        .arg(format!("{prefix}:backfill_window:dead"))
        .query_async(&mut conn)
        .await
        .expect("scard");
    assert_eq!(dead, 0, "no window job failed for good");

    survivor.stop();
    if let Ok(keep) = std::env::var("CHAOS_KEEP_LOGS") {
        for name in ["victim", "survivor"] {
            let _ = std::fs::copy(
                dir.path().join(format!("{name}.log")),
                format!("{keep}/{name}.log"),
            );
        }
    }
    sim.shutdown().await;
    app.stop().await;
}

#[tokio::test]
async fn jobs_queued_before_a_redis_restart_all_run() {
    let (db, _db) = common::db::migrated().await;
    const DAYS: i64 = 7;
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let (app, sim) = sim_with(&[("BACKFILL_DAYS", "7"), ("REDIS_URL", &url)], db).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 30, "days": DAYS}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();
    let workers = spawn_workers(&app);
    install_company(&app, "acme.test").await;
    workers.stop().await;

    // No worker runs: the opt-ins' backfills wait in Redis.
    let users = opt_in(&app, &company, 0, 4).await;
    // A pushed job waits in `:scheduled` (due now) until a worker promotes it to `:active`.
    let queue = format!("{}:backfill_member", app.config.redis_prefix);
    let queued = |url: String| {
        let queue = queue.clone();
        async move {
            let mut conn = redis_conn(&url).await;
            let (active, scheduled): (i64, i64) = redis::pipe()
                .cmd("LLEN")
                .arg(format!("{queue}:active"))
                .cmd("ZCARD")
                .arg(format!("{queue}:scheduled"))
                .query_async(&mut conn)
                .await
                .expect("queue lengths");
            active + scheduled
        }
    };
    assert_eq!(queued(url.clone()).await, 4);

    // SIGKILL and start again on the same port and data directory.
    redis.stop();
    redis.restart();
    assert_eq!(queued(url.clone()).await, 4, "the queued jobs survived");

    let workers = spawn_workers(&app);
    assert_entries_equal_truth(&app, &sim, &account, &users, DAYS, Duration::from_secs(60)).await;

    // Redis dies and comes back while the workers run: they carry on with new work (a queue
    // worker whose backend failed used to end for good, leaving a live process that never ran
    // a job again).
    // Right after a restart the API's first command on the dropped connection fails while it
    // reconnects: readiness still says ready, and opt-ins are still accepted at once.
    redis.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        ready.status(),
        200,
        "{}",
        ready.text().await.unwrap_or_default()
    );
    redis.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    let more = opt_in(&app, &company, 4, 2).await;
    assert_entries_equal_truth(&app, &sim, &account, &more, DAYS, Duration::from_secs(60)).await;
    workers.stop().await;
    sim.shutdown().await;
    app.stop().await;
    redis.stop();
}

#[tokio::test]
async fn storms_of_429_and_5xx_answers_change_no_entry_and_the_rate_stays_under_the_limit() {
    let (db, _db) = common::db::migrated().await;
    const DAYS: i64 = 14;
    // A Pro account: Heavy 10 requests per second on both sides.
    let (app, sim) = sim_with(
        &[("BACKFILL_DAYS", "14"), ("ZOOM_RATE_LIMIT_PLAN", "pro")],
        db,
    )
    .await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 24, "days": DAYS, "plan": "pro",
               "meetings_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();
    let heavy_limit = sim
        .state()
        .limits(Some(&account))
        .expect("limits")
        .heavy_qps;
    assert_eq!(heavy_limit, 10);

    let dir = log_dir();
    let env = [
        ("BACKFILL_DAYS", "14"),
        ("ZOOM_RATE_LIMIT_PLAN", "pro"),
        ("RUST_LOG", "info"),
    ];
    let workers: Vec<_> = (0..2)
        .map(|i| {
            Worker(Some(spawn_process(
                &app,
                "worker",
                &sim.base_url(),
                &env,
                &dir.path().join(format!("worker-{i}.log")),
            )))
        })
        .collect();
    install_company(&app, "acme.test").await;
    sim.state().reset_counters();

    // One in ten answers is a 5xx throughout; a storm of 429s hits once the backfills run.
    sim.state()
        .set_faults(&FaultSpec {
            rate_5xx: Some(0.1),
            ..FaultSpec::default()
        })
        .expect("faults");
    let users = opt_in(&app, &company, 0, 4).await;
    const STORM: u32 = 25;
    let db = app.db.clone();
    eventually(Duration::from_secs(30), || async {
        (count(
            &db,
            "select count(*) from backfill_windows where done_at is not null",
        )
        .await
            > 0)
        .then_some(())
    })
    .await
    .expect("the backfills are under way");
    sim.state()
        .set_faults(&FaultSpec {
            storm_requests: Some(STORM),
            ..FaultSpec::default()
        })
        .expect("storm");

    assert_entries_equal_truth(&app, &sim, &account, &users, DAYS, Duration::from_secs(90)).await;

    let counters = sim.state().counters();
    let answered = |status: u16| -> u64 {
        counters
            .requests
            .iter()
            .filter(|r| r.account_id == account && r.status == status)
            .map(|r| r.count)
            .sum()
    };
    let too_many = answered(429);
    let server_errors: u64 = counters
        .requests
        .iter()
        .filter(|r| r.account_id == account && r.status >= 500)
        .map(|r| r.count)
        .sum();
    assert!(server_errors > 0, "the 5xx faults were hit");
    assert!(
        too_many >= u64::from(STORM),
        "the whole storm was answered: {too_many}"
    );
    // Every 429 beyond the storm would be the simulator enforcing its limit on us.
    assert!(
        too_many - u64::from(STORM) <= 2,
        "our limiter kept under Zoom's limit: {too_many} 429s for a storm of {STORM}"
    );
    let heavy_max = counters
        .max_per_second
        .iter()
        .filter(|m| m.account_id == account && m.category == Category::Heavy)
        .map(|m| m.max)
        .max()
        .expect("heavy requests were made");
    assert!(
        heavy_max <= heavy_limit,
        "at most {heavy_limit} Heavy requests in any second, saw {heavy_max}"
    );

    for worker in workers {
        worker.stop();
    }
    sim.shutdown().await;
    app.stop().await;
}

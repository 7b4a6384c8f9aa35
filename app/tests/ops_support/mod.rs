//! Helpers of the operator tests: signing in like a browser, and reading a queue's state
//! straight from Redis (independently of `jobs::ops`) to compare with what the API and the
//! pages say.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::BTreeMap;

use reqwest::header;

use crate::common::{ADMIN_TOKEN, TestApp, redis_url};

/// Signs in at `/ops/login` and returns the session cookie (`bz_ops=...`).
pub async fn sign_in(app: &TestApp) -> String {
    let response = app
        .http
        .post(app.url("/ops/login"))
        .header(header::ORIGIN, &app.base_url)
        .form(&[("token", ADMIN_TOKEN), ("next", "/ops")])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303, "signed in");
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    cookie.split(';').next().expect("name=value").to_owned()
}

/// A queue's jobs by state, read key by key with plain Redis commands.
pub async fn redis_counts(prefix: &str, job: &str) -> BTreeMap<&'static str, u64> {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let q = format!("{prefix}:{job}");
    let pending: u64 = redis::cmd("LLEN")
        .arg(format!("{q}:active"))
        .query_async(&mut conn)
        .await
        .expect("llen");
    let scheduled_ids: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(format!("{q}:scheduled"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("zrange");
    let now = chrono::Utc::now().timestamp();
    let (mut pending, mut failed, mut scheduled) = (pending, 0, 0);
    for (id, run_at) in scheduled_ids {
        let status: Option<String> = redis::cmd("HGET")
            .arg(format!("{q}:meta:{id}"))
            .arg("status")
            .query_async(&mut conn)
            .await
            .expect("hget");
        if status.as_deref() == Some("Failed") {
            failed += 1;
        } else if run_at <= now {
            // Due: a worker's next fetch moves it to `:active`.
            pending += 1;
        } else {
            scheduled += 1;
        }
    }
    let workers: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{q}:workers"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("workers");
    let mut running = 0;
    for worker in workers {
        let n: u64 = redis::cmd("SCARD")
            .arg(format!("{q}:inflight:{worker}"))
            .query_async(&mut conn)
            .await
            .expect("scard");
        running += n;
    }
    let mut card = async |key: &str| -> u64 {
        redis::cmd("SCARD")
            .arg(format!("{q}:{key}"))
            .query_async(&mut conn)
            .await
            .expect("scard")
    };
    let done = card("done").await;
    let dead = card("dead").await;
    BTreeMap::from([
        ("pending", pending),
        ("scheduled", scheduled),
        ("running", running),
        ("failed", failed),
        ("dead", dead),
        ("done", done),
    ])
}

/// The counts of one queue in a `/v1/ops/queues` body.
pub fn api_counts(body: &serde_json::Value, job: &str) -> BTreeMap<&'static str, u64> {
    let queue = body["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == job)
        .unwrap_or_else(|| panic!("queue {job} listed"));
    ["pending", "scheduled", "running", "failed", "dead", "done"]
        .into_iter()
        .map(|state| (state, queue["counts"][state].as_u64().expect("a count")))
        .collect()
}

/// The counts of one queue in the `/ops` page (`<tr data-queue> <td data-count>` cells).
pub fn page_counts(html: &str, job: &str) -> BTreeMap<&'static str, u64> {
    let row = html
        .split(&format!("data-queue=\"{job}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("row of {job} on the page"))
        .split("</tr>")
        .next()
        .expect("row");
    ["pending", "scheduled", "running", "failed", "dead", "done"]
        .into_iter()
        .map(|state| {
            let cell = row
                .split(&format!("data-count=\"{state}\">"))
                .nth(1)
                .unwrap_or_else(|| panic!("{state} cell"));
            let digits: String = cell
                .trim_start_matches("<span class=\"err\">")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (state, digits.parse().expect("a number"))
        })
        .collect()
}

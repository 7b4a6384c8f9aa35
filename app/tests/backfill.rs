//! Opt-in and backfill end to end: entries exactly for what each opted-in user attended.

mod common;

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use common::{
    all_billables, backfill_done, count, install_company, sim_company, spawn_with_sim, user_token,
};
use serde_json::{Value, json};

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

/// (source, external id, started_at, duration_seconds, billed_minutes) with 6-minute rounding.
type Row = (String, String, String, i64, i64);

fn rounded(seconds: i64) -> i64 {
    (seconds + 359) / 360 * 6
}

async fn truth_rows(
    http: &reqwest::Client,
    sim: &zoom_sim::SimHandle,
    account: &str,
    user: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeSet<Row> {
    let truth: Value = http
        .get(format!(
            "{}/_sim/truth/{account}?user_id={user}",
            sim.base_url()
        ))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    let mut rows = BTreeSet::new();
    for m in truth["meetings"].as_array().expect("meetings") {
        let start = time(&m["meeting_start_time"]);
        if start >= from && start <= to {
            let seconds = m["duration_seconds"].as_i64().expect("d");
            rows.insert((
                "zoom_meeting".into(),
                m["uuid"].as_str().expect("uuid").into(),
                m["start_time"].as_str().expect("s").into(),
                seconds,
                rounded(seconds),
            ));
        }
    }
    for c in truth["calls"].as_array().expect("calls") {
        let start = time(&c["start_time"]);
        if start >= from && start <= to {
            let seconds = c["duration_seconds"].as_i64().expect("d");
            rows.insert((
                "zoom_call".into(),
                c["id"].as_str().expect("id").into(),
                c["answer_time"].as_str().expect("a").into(),
                seconds,
                rounded(seconds),
            ));
        }
    }
    rows
}

fn entry_rows(items: &[Value]) -> BTreeSet<Row> {
    items
        .iter()
        .map(|i| {
            (
                i["source"].as_str().expect("source").into(),
                i["external_id"].as_str().expect("id").into(),
                i["started_at"].as_str().expect("started").into(),
                i["duration_seconds"].as_i64().expect("d"),
                i["billed_minutes"].as_i64().expect("m"),
            )
        })
        .collect()
}

#[tokio::test]
async fn opted_in_users_get_exactly_what_they_attended() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 40, "days": 30, "meetings_per_user_per_day": 1.0,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();
    install_company(&app, "acme.test").await;

    // Waiting for nobody: the first five users opt in (the page would do the same).
    let users = company["users"].as_array().expect("users");
    let opted: Vec<&Value> = users.iter().skip(2).step_by(7).take(5).collect();
    let mut tokens = Vec::new();
    let before = Utc::now();
    for (i, user) in opted.iter().enumerate() {
        // The Billables login knows the address in lower case; Zoom may have capitals.
        let email = user["email"].as_str().expect("email").to_lowercase();
        let token = user_token(&format!("user-{i}"), &email);
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
        tokens.push(token);
    }
    let after = Utc::now();

    for (user, token) in opted.iter().zip(&tokens) {
        let status = backfill_done(&app, token, Duration::from_secs(120)).await;
        assert_eq!(status["status"], "active");
        assert_eq!(status["backfill"]["done"], status["backfill"]["total"]);
        let items = all_billables(&app, token).await;
        let got = entry_rows(&items);
        // The window is [opt-in − 30 days, opt-in]; opt-ins happened between `before` and `after`.
        let want = truth_rows(
            &app.http,
            &sim,
            &account,
            user["id"].as_str().expect("id"),
            before - TimeDelta::days(30),
            after,
        )
        .await;
        let strict = truth_rows(
            &app.http,
            &sim,
            &account,
            user["id"].as_str().expect("id"),
            after - TimeDelta::days(30),
            before,
        )
        .await;
        assert!(
            got.is_subset(&want) && strict.is_subset(&got),
            "entries differ from the ground truth for {}:\n missing {:?}\n extra {:?}",
            user["email"],
            strict.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        );
        assert!(!got.is_empty(), "a 30-day history has entries");
    }

    // Nobody else has anything: 5 members, entries only for them, coverage only for them.
    assert_eq!(count(&db, "select count(*) from members").await, 5);
    assert_eq!(
        count(&db, "select count(distinct member_id) from billables").await,
        5
    );
    assert_eq!(count(&db, "select count(*) from meeting_coverage c left join members m on m.id = c.member_id where m.id is null").await, 0);
    let other = users[1]["email"].as_str().expect("email").to_lowercase();
    let other_token = user_token("someone-else", &other);
    let none: Value = app
        .http
        .get(app.url("/v1/me/billables"))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("x")
        .json()
        .await
        .expect("j");
    assert_eq!(none["items"], json!([]));
    let status: Value = app
        .http
        .get(app.url("/v1/me/zoom"))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("x")
        .json()
        .await
        .expect("j");
    assert_eq!(status["status"], "available");
    app.stop().await;
}

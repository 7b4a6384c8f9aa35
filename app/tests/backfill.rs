//! Opt-in and backfill end to end: entries exactly for what each opted-in user attended.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{
    all_billables, backfill_done, count, install_company, sim_company, spawn_with_sim,
    truth::{entry_rows, truth_rows},
    user_token,
};
use serde_json::{Value, json};

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

//! An operator in headless Chromium: signs in, sees the company and the queues of a running
//! backfill whose Zoom calls fail (simulated 5xx), pauses the queue, opens a failed job,
//! retries it once Zoom is healthy again, resumes the queue and sees the job and the backfill
//! succeed; then opens the apalis-board queue UI. Screenshots go to `target/screenshots/ops-*`.

mod common;
mod ops_support;

use std::time::Duration;

use common::{
    ADMIN_TOKEN, Browser, Options, TestApp, backfill_done, eventually, install_company,
    sim_company, spawn_app_with, user_token,
};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .expect("text")
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .click()
        .await
        .expect("click");
}

async fn queue(app: &TestApp, name: &str) -> Value {
    app.http
        .get(app.url(&format!("/v1/ops/queues/{name}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("queue")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn an_operator_sees_a_failing_backfill_retries_the_job_and_it_succeeds() {
    let (db, _db) = common::db::migrated().await;
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,jobs=debug,apalis_core=debug,apalis_redis=debug")
        .with_test_writer()
        .try_init();
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("simulator");
    let app = spawn_app_with(
        db,
        Options {
            workers: true,
            overrides: vec![
                ("ZOOM_OAUTH_BASE_URL", sim.base_url()),
                ("BACKFILL_DAYS", "7".into()),
            ],
        },
    )
    .await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 4, "days": 7, "meetings_per_user_per_day": 1.0,
               "calls_per_user_per_day": 1.0}),
    )
    .await;
    let account_id = install_company(&app, "acme.test").await;

    // Zoom answers 500 to everything: the backfill's windows fail and are retried.
    let faults = app
        .http
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"rate_5xx": 1.0}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());
    let email = company["users"][1]["email"]
        .as_str()
        .expect("email")
        .to_lowercase();
    let token = user_token("ops-user-1", &email);
    let opt_in = app
        .http
        .post(app.url("/v1/me/zoom/opt-in"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("opt in");
    assert_eq!(opt_in.status(), 202);

    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&app.url("/ops")).await.expect("open /ops");
    client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .expect("sent to the login form");
    assert!(client.current_url().await.expect("url").path() == "/ops/login");
    browser.screenshot("ops-login").await;
    client
        .find(Locator::Id("token"))
        .await
        .expect("token field")
        .send_keys(ADMIN_TOKEN)
        .await
        .expect("type");
    click(client, "#sign-in").await;
    client
        .wait()
        .for_element(Locator::Css("table#accounts"))
        .await
        .expect("the overview");

    // The company and the queues of the running backfill.
    let accounts = text_of(client, "table#accounts").await;
    assert!(
        accounts.contains("acme.test") && accounts.contains("active"),
        "{accounts}"
    );
    let queues = text_of(client, "table#queues").await;
    assert!(queues.contains("backfill_window"), "{queues}");
    browser.screenshot("ops-overview").await;
    click(client, &format!("tr[data-account=\"{account_id}\"] a")).await;
    client
        .wait()
        .for_element(Locator::Css("table#members"))
        .await
        .expect("the account page");
    let members = text_of(client, "table#members").await;
    assert!(members.contains(&email), "{members}");
    assert!(
        members.contains("running") || members.contains("queued"),
        "{members}"
    );
    browser.screenshot("ops-account-backfill-running").await;

    // Wait for a window to have failed for good in this round (Redis would retry it later).
    let failed = eventually(Duration::from_secs(45), || async {
        let q = queue(&app, "backfill_window").await;
        (q["counts"]["failed"].as_u64().unwrap_or(0) + q["counts"]["dead"].as_u64().unwrap_or(0)
            > 0)
        .then_some(q)
    })
    .await
    .expect("a backfill window failed");
    assert!(
        failed["throughput"]["error"].as_u64().unwrap_or(0) > 0,
        "{failed}"
    );

    // Pause the queue so that nothing retries behind our back, and heal Zoom.
    client
        .goto(&app.url("/ops/queues/backfill_window"))
        .await
        .expect("queue page");
    click(client, "#pause").await;
    client
        .wait()
        .for_element(Locator::Id("resume"))
        .await
        .expect("paused");
    assert!(text_of(client, "#flash").await.contains("Queue paused"));
    let healed = app
        .http
        .delete(format!("{}/_sim/faults", sim.base_url()))
        .send()
        .await
        .expect("clear faults");
    assert!(healed.status().is_success());
    browser.screenshot("ops-queue-paused-with-failures").await;

    // Open a failed job and retry it.
    client.refresh().await.expect("reload");
    click(client, "table.jobs a[href^=\"/ops/jobs/\"]").await;
    client
        .wait()
        .for_element(Locator::Id("args"))
        .await
        .expect("the job page");
    let job_url = client.current_url().await.expect("url");
    let state = text_of(client, "#job-state").await;
    assert!(state == "failed" || state == "dead", "{state}");
    assert!(!text_of(client, "#last-error").await.is_empty());
    assert!(text_of(client, "#args").await.contains("backfill_id"));
    browser.screenshot("ops-job-failed").await;
    click(client, "#retry").await;
    client
        .wait()
        .for_element(Locator::Id("flash"))
        .await
        .expect("back on the job page");
    assert!(text_of(client, "#flash").await.contains("Job queued again"));
    assert_eq!(
        text_of(client, "#job-state").await,
        "pending",
        "waits: the queue is paused"
    );
    browser.screenshot("ops-job-retried").await;

    // Resume: the retried job (and its sibling) run against a healthy Zoom and succeed.
    client
        .goto(&app.url("/ops/queues/backfill_window"))
        .await
        .expect("queue page");
    click(client, "#resume").await;
    client
        .wait()
        .for_element(Locator::Id("pause"))
        .await
        .expect("resumed");
    client.goto(job_url.as_str()).await.expect("job page");
    let mut state = String::new();
    for _ in 0..60 {
        state = text_of(client, "#job-state").await;
        if state == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.refresh().await.expect("reload");
    }
    assert_eq!(state, "done", "the retried job succeeded");
    browser.screenshot("ops-job-done").await;
    let status = backfill_done(&app, &token, Duration::from_secs(30)).await;
    assert_eq!(status["backfill"]["state"], "done");

    // The account, as a script sees it (SPEC §7 shape) and on the page.
    let body: Value = app
        .http
        .get(app.url("/v1/ops/accounts"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("accounts")
        .json()
        .await
        .expect("json");
    let account = &body["accounts"][0];
    for key in [
        "id",
        "zoom_account_id",
        "domains",
        "status",
        "members_active",
        "last_pull_at",
        "last_error",
    ] {
        assert!(account.get(key).is_some(), "{key} in {account}");
    }
    assert_eq!(account["id"], account_id.to_string());
    assert_eq!(account["domains"], json!(["acme.test"]));
    assert_eq!(
        (
            account["status"].as_str(),
            account["members_active"].as_i64()
        ),
        (Some("active"), Some(1))
    );
    client
        .goto(&app.url(&format!("/ops/accounts/{account_id}")))
        .await
        .expect("account page");
    let members = text_of(client, "table#members").await;
    assert!(
        members.contains("done") && members.contains("2 / 2"),
        "{members}"
    );
    browser.screenshot("ops-account-backfill-done").await;
    click(client, "#pull-now").await;
    client
        .wait()
        .for_element(Locator::Id("flash"))
        .await
        .expect("back on the account page");
    let flash = text_of(client, "#flash").await;
    assert!(flash.starts_with("Pull queued (job "), "{flash}");
    let pulled = eventually(Duration::from_secs(15), || async {
        let q = queue(&app, "pull_account").await;
        (q["counts"]["done"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    assert!(pulled.is_some(), "the pull ran");

    // The apalis-board UI, served by the binary behind the same sign-in.
    client.goto(&app.url("/ops/board")).await.expect("board");
    assert_eq!(client.current_url().await.expect("url").path(), "/tasks");
    let title = eventually(Duration::from_secs(10), || async {
        let title = client.title().await.ok()?;
        let body = client.source().await.ok()?;
        (body.contains("<nav") || body.contains("Tasks")).then_some(title)
    })
    .await
    .expect("the board's app started");
    assert!(title.contains("Apalis"), "{title}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    browser.screenshot("ops-board").await;

    browser.close().await;
    app.stop().await;
    drop(sim);
}

//! The IT admin's install in a real browser: headless Chromium opens the link, clicks
//! "Continue to Zoom", is auto-approved by the simulator and lands on the success page.

mod common;

use std::time::Duration;

use common::{Browser, eventually, install_link, sim_company, spawn_with_sim};
use fantoccini::Locator;
use serde_json::json;

#[tokio::test]
async fn admin_installs_by_clicking_the_real_button() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 8, "days": 1}),
    )
    .await;
    let (_, url) = install_link(&app, "acme.test").await;

    let browser = Browser::start().await;
    browser.client.goto(&url).await.expect("open the link");
    let heading = browser
        .client
        .find(Locator::Css("h1"))
        .await
        .expect("h1")
        .text()
        .await
        .expect("text");
    assert!(heading.contains("Install"), "{heading}");
    let body = browser
        .client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(
        body.contains("acme.test") && body.contains("read-only"),
        "{body}"
    );
    browser.screenshot("install-landing").await;

    browser
        .client
        .find(Locator::Id("continue"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let done = browser
        .client
        .wait()
        .for_element(Locator::Css("h1.status-ok"))
        .await
        .expect("success page");
    let text = done.text().await.expect("text");
    assert!(text.contains("installed for acme.test"), "{text}");
    let landed = browser.client.current_url().await.expect("url");
    assert!(
        landed
            .as_str()
            .starts_with(&format!("{}/oauth/callback", app.base_url)),
        "{landed}"
    );
    browser.screenshot("install-done").await;
    browser.close().await;

    let active = eventually(Duration::from_secs(30), || async {
        let status: String = sqlx::query_scalar("select status from accounts")
            .fetch_one(&db)
            .await
            .ok()?;
        (status == "active").then_some(())
    })
    .await;
    assert!(active.is_some(), "the account became active");
    assert_eq!(
        common::count(&db, "select count(*) from zoom_users").await,
        8
    );
    app.stop().await;
}

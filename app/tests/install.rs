//! Admin install end to end against the simulator: link → page → Zoom authorize → callback →
//! onboarding job → account active with every Zoom user synced; and every way it must fail
//! without leaving anything behind.

mod common;

use std::time::Duration;

use common::{
    ADMIN_TOKEN, admin_approves, count, eventually, install_link, sim_company, spawn_with_sim,
};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn nothing_stored(db: &PgPool) {
    assert_eq!(
        count(db, "select count(*) from accounts").await,
        0,
        "no account"
    );
    assert_eq!(
        count(db, "select count(*) from oauth_tokens").await,
        0,
        "no token"
    );
    assert_eq!(
        count(db, "select count(*) from zoom_users").await,
        0,
        "no directory"
    );
}

#[tokio::test]
async fn link_to_active_account_with_every_zoom_user() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 350, "days": 1}),
    )
    .await;

    let response = app
        .http
        .post(app.url("/v1/admin/install-links"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"domain": " ACME.test "}))
        .send()
        .await
        .expect("link");
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.expect("json");
    assert_eq!(link["domain"], "acme.test");
    let url = link["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/install/", app.base_url)),
        "{url}"
    );
    assert!(
        link["id"].is_string()
            && link["expires_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
    );
    let token = url.rsplit('/').next().expect("token");
    assert_eq!(
        count(
            &db,
            &format!("select count(*) from install_links where token_hash::text like '%{token}%'")
        )
        .await,
        0
    );

    let page = app
        .http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("acme.test")
            && page.contains("Continue to Zoom")
            && page.contains("read-only")
    );

    let (callback, response) = admin_approves(&app, url).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("html").contains("installed"));

    let account_id = company["account_id"]
        .as_str()
        .expect("account id")
        .to_owned();
    let active = eventually(Duration::from_secs(30), || async {
        let status: String =
            sqlx::query_scalar("select status from accounts where zoom_account_id = $1")
                .bind(&account_id)
                .fetch_one(&db)
                .await
                .ok()?;
        (status == "active").then_some(())
    })
    .await;
    assert!(
        active.is_some(),
        "InstallAccount did not make the account active"
    );
    assert_eq!(
        count(&db, "select count(*) from zoom_users").await,
        350,
        "every page of users synced"
    );
    assert_eq!(
        count(
            &db,
            "select count(*) from account_domains where domain = 'acme.test'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "select count(*) from audit_log where action = 'account.installed'"
        )
        .await,
        1
    );

    // Replaying the callback (same state) is refused and changes nothing.
    let replay = app.http.get(&callback).send().await.expect("replay");
    assert_eq!(replay.status(), 400);
    assert_eq!(count(&db, "select count(*) from accounts").await, 1);

    // The link now says it is installed.
    let again = app
        .http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(again.contains("already installed"), "{again}");
    app.stop().await;
}

#[tokio::test]
async fn install_job_is_idempotent_and_reinstall_reuses_the_row() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 12, "days": 1}),
    )
    .await;
    let (_, url) = install_link(&app, "acme.test").await;
    let (_, response) = admin_approves(&app, &url).await;
    assert_eq!(response.status(), 200);
    let account: uuid::Uuid = eventually(Duration::from_secs(30), || async {
        sqlx::query_scalar("select id from accounts where status = 'active'")
            .fetch_optional(&db)
            .await
            .ok()?
    })
    .await
    .expect("active");

    // The same job again: nothing changes, no second audit entry.
    app.queues
        .push(
            jobs::tasks::InstallAccount {
                account_id: account,
                installation_id: uuid::Uuid::new_v4(),
            },
            jobs::queue::PushOptions::default(),
        )
        .await
        .expect("enqueued");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&db, "select count(*) from zoom_users").await, 12);
    assert_eq!(
        count(
            &db,
            "select count(*) from audit_log where action = 'account.installed'"
        )
        .await,
        1
    );

    // Removal, then a reinstall with a new link: the same account row comes back active.
    sqlx::query("update accounts set status = 'needs_reauth' where id = $1")
        .bind(account)
        .execute(&db)
        .await
        .expect("x");
    let (_, url) = install_link(&app, "acme.test").await;
    let (_, response) = admin_approves(&app, &url).await;
    assert_eq!(response.status(), 200);
    let active = eventually(Duration::from_secs(30), || async {
        let status: String = sqlx::query_scalar("select status from accounts where id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .ok()?;
        (status == "active").then_some(())
    })
    .await;
    assert!(active.is_some());
    assert_eq!(
        count(&db, "select count(*) from accounts").await,
        1,
        "the row is reused"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_states_and_links_get_clear_pages_and_store_nothing() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;

    // Unknown link.
    let unknown = app
        .http
        .get(app.url("/install/not-a-real-token"))
        .send()
        .await
        .expect("page");
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.expect("html").contains("not valid"));
    assert_eq!(
        app.http
            .get(app.url("/install/not-a-real-token/authorize"))
            .send()
            .await
            .expect("x")
            .status(),
        404
    );

    // Expired link.
    let (token, url) = install_link(&app, "acme.test").await;
    sqlx::query("update install_links set expires_at = now() - interval '1 minute'")
        .execute(&db)
        .await
        .expect("x");
    let expired = app.http.get(&url).send().await.expect("page");
    assert_eq!(expired.status(), 410);
    assert_eq!(
        app.http
            .get(app.url(&format!("/install/{token}/authorize")))
            .send()
            .await
            .expect("x")
            .status(),
        410
    );
    sqlx::query("update install_links set expires_at = now() + interval '1 day'")
        .execute(&db)
        .await
        .expect("x");

    // Missing, forged and expired states.
    for query in [
        "",
        "?code=abc",
        "?state=abc",
        "?code=abc&state=forged-state",
        "?error=access_denied",
    ] {
        let response = app
            .http
            .get(app.url(&format!("/oauth/callback{query}")))
            .send()
            .await
            .expect("callback");
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("text/html")
        );
    }
    let to_zoom = app
        .http
        .get(app.url(&format!("/install/{token}/authorize")))
        .send()
        .await
        .expect("continue");
    let authorize = to_zoom.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let back = app.http.get(&authorize).send().await.expect("authorize");
    let callback = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    // Tampered: the same code with a state that differs by one character.
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(
        app.http.get(&tampered).send().await.expect("x").status(),
        400
    );
    sqlx::query("update oauth_states set expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .expect("x");
    let stale = app.http.get(&callback).send().await.expect("callback");
    assert_eq!(stale.status(), 400);
    assert!(stale.text().await.expect("html").contains("expired"));
    nothing_stored(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn an_admin_of_another_domain_is_refused_and_nothing_is_kept() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;
    let account = company["account_id"].as_str().expect("id");
    let outsider = app
        .http
        .post(format!("{}/_sim/companies/{account}/users", sim.base_url()))
        .json(
            &json!({"email": "it@contractor.test", "first_name": "It", "last_name": "Contractor"}),
        )
        .send()
        .await
        .expect("add user");
    assert!(outsider.status().is_success());
    let approver = app
        .http
        .post(format!(
            "{}/_sim/companies/{account}/approver",
            sim.base_url()
        ))
        .json(&json!({"email": "it@contractor.test"}))
        .send()
        .await
        .expect("approver");
    assert!(approver.status().is_success());

    let (_, url) = install_link(&app, "acme.test").await;
    let (_, response) = admin_approves(&app, &url).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.expect("html").contains("acme.test"));
    nothing_stored(&db).await;
    let counters: Value = app
        .http
        .get(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .expect("c")
        .json()
        .await
        .expect("j");
    assert_eq!(
        counters["revocations"], 1,
        "the unused grant was revoked at Zoom"
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_check_the_token_and_the_domain() {
    let (db, _db) = common::db::migrated().await;
    let (app, _sim) = spawn_with_sim(db.clone(), false).await;
    let url = app.url("/v1/admin/install-links");
    let none = app
        .http
        .post(&url)
        .json(&json!({"domain": "acme.test"}))
        .send()
        .await
        .expect("x");
    assert_eq!(none.status(), 401);
    let wrong = app
        .http
        .post(&url)
        .bearer_auth("nope")
        .json(&json!({"domain": "acme.test"}))
        .send()
        .await
        .expect("x");
    assert_eq!(wrong.status(), 401);
    for bad in ["", "acme", "http://acme.test", "a b.test"] {
        let response = app
            .http
            .post(&url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"domain": bad}))
            .send()
            .await
            .expect("x");
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unprocessable");
    }
    let malformed = app
        .http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("x");
    assert_eq!(malformed.status(), 400);
    assert_eq!(count(&db, "select count(*) from install_links").await, 0);
    app.stop().await;
}

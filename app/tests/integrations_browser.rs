//! The user's integrations page: signing in with a token, the forms' CSRF defences, the
//! clear messages, and the whole path in headless Chromium (waiting for the IT admin,
//! activate, progress, entries, deactivate), with screenshots under target/screenshots/.

mod common;

use std::time::Duration;

use common::{
    Browser, JWT_SECRET, Options, TestApp, all_billables, count, install_company, sim_company,
    spawn_app_with, user_token,
};
use fantoccini::Locator;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn app_with_sim(db: PgPool, days: u32) -> (TestApp, zoom_sim::SimHandle) {
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let app = spawn_app_with(
        db,
        Options {
            workers: true,
            overrides: vec![
                ("ZOOM_OAUTH_BASE_URL", sim.base_url()),
                ("BACKFILL_DAYS", days.to_string()),
            ],
        },
    )
    .await;
    (app, sim)
}

fn cookie(token: &str) -> String {
    format!("bz_user={token}")
}

/// `GET /integrations` with the session cookie: (status, headers, body).
async fn page(app: &TestApp, path: &str, token: &str) -> (StatusCode, header::HeaderMap, String) {
    let response = app
        .http
        .get(app.url(path))
        .header(header::COOKIE, cookie(token))
        .send()
        .await
        .expect("page");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.expect("html"))
}

/// The form token on a rendered page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a form token")
        .to_owned()
}

async fn post_form(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.post(app.url(path));
    if let Some(token) = token {
        request = request.header(header::COOKIE, cookie(token));
    }
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let form: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
    request.form(&form).send().await.expect("form post")
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
}

#[tokio::test]
async fn page_signs_in_with_a_token_and_refuses_forged_forms() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db.clone(), Options::default()).await;
    let ann = user_token("user-ann", "ann@acme.test");

    // No token: a page that says how to open it.
    let response = app
        .http
        .get(app.url("/integrations"))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.expect("html");
    assert!(html.contains("Billables app") && html.contains("billables-zoom dev-token --email"));

    // A bad token in the link or in the cookie: 401, and the cookie is dropped.
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "user-ann", "email": "ann@acme.test", "exp": chrono::Utc::now().timestamp() - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let response = app
        .http
        .get(app.url(&format!("/integrations?token={expired}")))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, headers, html) = page(&app, "/integrations", &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("expired or is not valid"));
    let cleared = headers[header::SET_COOKIE].to_str().expect("cookie");
    assert!(
        cleared.starts_with("bz_user=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // A good token: kept in a strict cookie, and the address loses it.
    let response = app
        .http
        .get(app.url(&format!("/integrations?token={ann}")))
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/integrations");
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(set.starts_with(&format!("bz_user={ann};")), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    // From another site, a page of ours takes the last step (a redirect would lose the cookie).
    let response = app
        .http
        .get(app.url(&format!("/integrations?token={ann}")))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key(header::SET_COOKIE));
    let html = response.text().await.expect("html");
    assert!(
        html.contains("http-equiv=\"refresh\" content=\"0; url=/integrations\""),
        "{html}"
    );

    // The page, by cookie or bearer token: waiting for the IT admin, Activate disabled.
    let (status, _, html) = page(&app, "/integrations", &ann).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Waiting for your IT admin"), "{html}");
    assert!(
        html.contains("id=\"activate\" type=\"submit\" disabled"),
        "{html}"
    );
    let by_bearer = app
        .http
        .get(app.url("/integrations"))
        .bearer_auth(&ann)
        .send()
        .await
        .expect("page");
    assert_eq!(by_bearer.status(), StatusCode::OK);

    // Form tokens belong to one session; forms without the right one, or sent by another
    // site, are refused.
    let csrf = csrf_of(&html);
    let bob = user_token("user-bob", "bob@acme.test");
    let (_, _, bobs_page) = page(&app, "/integrations", &bob).await;
    let bobs_csrf = csrf_of(&bobs_page);
    assert_ne!(csrf, bobs_csrf);
    for (why, given, origin) in [
        ("no form token", None, None),
        ("a wrong form token", Some("bm9wZQ"), None),
        ("another user's form token", Some(bobs_csrf.as_str()), None),
        (
            "another site",
            Some(csrf.as_str()),
            Some("http://evil.test"),
        ),
    ] {
        for path in ["/integrations/activate", "/integrations/deactivate"] {
            let response = post_form(&app, path, Some(&ann), given, origin).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}: {why}");
        }
    }
    let response = post_form(&app, "/integrations/activate", None, Some(&csrf), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no session");

    // The right token, with the Origin a browser sends under no-referrer, or our own: accepted.
    // (A disabled button cannot submit; a stale page can.) Nothing is installed for acme.test,
    // so Activate comes back with the reason, as the JSON API's 409 would.
    let response = post_form(
        &app,
        "/integrations/activate",
        Some(&ann),
        Some(&csrf),
        Some("null"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/integrations?notice=not_installed");
    let (_, _, html) = page(&app, location(&response), &ann).await;
    assert!(
        html.contains("Zoom could not be activated: waiting for your IT admin"),
        "{html}"
    );
    let response = post_form(
        &app,
        "/integrations/deactivate",
        Some(&ann),
        Some(&csrf),
        Some(&app.base_url),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/integrations");
    assert_eq!(count(&db, "select count(*) from members").await, 0);

    // Unknown notices are ignored.
    let (status, _, html) = page(&app, "/integrations?notice=%3Cscript%3E", &ann).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<script") && !html.contains("id=\"notice\""));
    app.stop().await;
}

#[tokio::test]
async fn no_zoom_user_with_that_address_gets_a_clear_message() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 2).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 4, "days": 1}),
    )
    .await;
    install_company(&app, "acme.test").await;
    let stranger = user_token("user-stranger", "nobody.here@acme.test");
    let (_, _, html) = page(&app, "/integrations", &stranger).await;
    assert!(html.contains(">Available<"), "{html}");
    let csrf = csrf_of(&html);
    let response = post_form(
        &app,
        "/integrations/activate",
        Some(&stranger),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, _, html) = page(&app, location(&response), &stranger).await;
    assert!(
        html.contains("We could not find you in your company's Zoom account"),
        "{html}"
    );
    assert!(html.contains("nobody.here@acme.test"));
    assert_eq!(count(&db, "select count(*) from members").await, 0);
    app.stop().await;
}

async fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let element = browser.client.find(Locator::Css(css)).await.ok()?;
    element.text().await.ok()
}

async fn sim_faults(app: &TestApp, sim: &zoom_sim::SimHandle, body: Option<Value>) {
    let url = format!("{}/_sim/faults", sim.base_url());
    let request = match body {
        Some(body) => app.http.post(url).json(&body),
        None => app.http.delete(url),
    };
    assert!(request.send().await.expect("faults").status().is_success());
}

#[tokio::test]
async fn user_activates_zoom_in_a_real_browser() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 8, "days": 10, "meetings_per_user_per_day": 1.5,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();
    let email = company["users"][2]["email"]
        .as_str()
        .expect("email")
        .to_lowercase();
    let token = user_token("user-2", &email);

    let browser = Browser::start().await;
    // Without a token: how to open the page.
    browser
        .client
        .goto(&app.url("/integrations"))
        .await
        .expect("open");
    let heading = text_of(&browser, "h1").await.unwrap_or_default();
    assert!(heading.contains("Sign in"), "{heading}");
    browser.screenshot("integrations-signin").await;

    // From the link with the token: the token leaves the address; waiting for the IT admin.
    browser
        .client
        .goto(&app.url(&format!("/integrations?token={token}")))
        .await
        .expect("open with token");
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.as_str(), app.url("/integrations"));
    let status = text_of(&browser, "#zoom-status").await.unwrap_or_default();
    assert_eq!(status, "Waiting for your IT admin");
    let activate = browser
        .client
        .find(Locator::Id("activate"))
        .await
        .expect("button");
    assert_eq!(
        activate.attr("disabled").await.expect("attr").as_deref(),
        Some("true")
    );
    browser.screenshot("integrations-waiting").await;

    // The IT admin installs; the page now offers Activate.
    install_company(&app, "acme.test").await;
    browser.client.refresh().await.expect("reload");
    assert_eq!(
        text_of(&browser, "#zoom-status").await.as_deref(),
        Some("Available")
    );
    let activate = browser
        .client
        .find(Locator::Id("activate"))
        .await
        .expect("button");
    assert_eq!(activate.attr("disabled").await.expect("attr"), None);

    // Zoom is slow today: the import takes a while and the page shows its progress.
    sim_faults(
        &app,
        &sim,
        Some(json!({"account_id": account, "latency_ms": 700})),
    )
    .await;
    activate.click().await.expect("click Activate");
    let mut progress = None;
    for _ in 0..100 {
        if let Some(text) = text_of(&browser, "#backfill-count").await
            && text.contains(" of ")
        {
            progress = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let progress = progress.expect("the page shows the backfill's progress");
    assert!(progress.ends_with(" of 4 windows"), "{progress}");
    assert_eq!(
        text_of(&browser, "#zoom-status").await.as_deref(),
        Some("Active")
    );
    assert!(
        browser
            .client
            .find(Locator::Css("meta[http-equiv=refresh]"))
            .await
            .is_ok(),
        "the page refreshes itself while importing"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("div.progress[role=progressbar]"))
            .await
            .is_ok()
    );
    browser.screenshot("integrations-progress").await;

    // Zoom recovers; the page refreshes itself until the import is done.
    sim_faults(&app, &sim, None).await;
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#backfill[data-state=done]"))
        .await
        .expect("the page shows the import done");
    assert!(
        browser
            .client
            .find(Locator::Css("meta[http-equiv=refresh]"))
            .await
            .is_err(),
        "no more refreshing"
    );

    // The entries, newest first, with the user's own edits marked.
    let entries = all_billables(&app, &token).await;
    assert!(entries.len() >= 3, "{entries:?}");
    for (id, body) in [
        (
            &entries[0]["id"],
            json!({"title": "Acme – contract review", "billed_minutes": 42}),
        ),
        (&entries[1]["id"], json!({"dismissed": true})),
    ] {
        let response = app
            .http
            .patch(app.url(&format!("/v1/me/billables/{}", id.as_str().expect("id"))))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), StatusCode::OK);
    }
    browser.client.refresh().await.expect("reload");
    let rows = browser
        .client
        .find_all(Locator::Css("table.entries tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), entries.len().min(20));
    let first = rows[0].text().await.expect("text");
    assert!(
        first.contains("Acme – contract review")
            && first.contains("42 min")
            && first.contains("edited"),
        "{first}"
    );
    let second = rows[1].text().await.expect("text");
    assert!(second.contains("dismissed"), "{second}");
    assert_eq!(
        rows[1].attr("class").await.expect("class").as_deref(),
        Some("dismissed")
    );
    browser.screenshot("integrations-entries").await;

    // Deactivate: Zoom is off, the entries stay, Activate is offered again.
    browser
        .client
        .find(Locator::Id("deactivate"))
        .await
        .expect("Deactivate")
        .click()
        .await
        .expect("click Deactivate");
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#zoom[data-status=opted_out]"))
        .await
        .expect("the page shows Zoom off");
    assert_eq!(
        text_of(&browser, "#zoom-status").await.as_deref(),
        Some("Off")
    );
    assert!(browser.client.find(Locator::Id("activate")).await.is_ok());
    assert!(
        browser
            .client
            .find(Locator::Css("table.entries"))
            .await
            .is_ok(),
        "the entries stay"
    );
    browser.screenshot("integrations-off").await;
    browser.close().await;
    let status: String = sqlx::query_scalar("select status from members")
        .fetch_one(&db)
        .await
        .expect("member");
    assert_eq!(status, "opted_out");
    app.stop().await;
}

//! OAuth: code flow, refresh rotation, revoke, expiry, approvers, data compliance.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn code_flow_installs_as_the_owner() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 5));
    let code = authorize(&sim).await;

    let wrong_redirect = token_request(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://evil.test/cb"),
        ],
    )
    .await;
    assert_eq!(wrong_redirect.status(), 400);
    let body: serde_json::Value = wrong_redirect.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let ok = token_request(&sim, &form).await;
    assert_eq!(ok.status(), 200);
    let tokens = tokens(ok).await;
    assert_eq!(tokens.body["token_type"], "bearer");
    assert_eq!(tokens.body["expires_in"], 3599);
    assert_eq!(tokens.body["api_url"], sim.base_url());
    assert!(
        tokens.body["scope"]
            .as_str()
            .unwrap()
            .contains("report:read:admin")
    );

    // Codes are single use.
    let reused = token_request(&sim, &form).await;
    assert_eq!(reused.status(), 400);
    let body: serde_json::Value = reused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"reason": "Invalid authorization code", "error": "invalid_grant"})
    );

    let (status, me) = api_json(&sim, &tokens.access_token, "/v2/users/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["account_id"], acme.account_id);
    assert_eq!(me["email"], acme.admin.email);
    assert_eq!(me["id"], acme.admin.id);
    assert_eq!(me["role_name"], "Owner");

    // Bad client credentials.
    let bad_client = http()
        .post(format!("{}/oauth/token", sim.base_url()))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), 401);
    let body: serde_json::Value = bad_client.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Unknown client on authorize: an error page, no redirect.
    let page = http()
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id=nope&redirect_uri={}",
            sim.base_url(),
            encode(REDIRECT_URI)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

#[tokio::test]
async fn token_params_may_come_in_the_query_string() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let code = authorize(&sim).await;
    let response = http()
        .post(format!(
            "{}/oauth/token?grant_type=authorization_code&code={code}&redirect_uri={}",
            sim.base_url(),
            encode(REDIRECT_URI)
        ))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn refresh_tokens_rotate() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let first = install(&sim).await;

    let second = refresh(&sim, &first.refresh_token).await;
    assert_eq!(second.status(), 200);
    let second = tokens(second).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);

    let stale = refresh(&sim, &first.refresh_token).await;
    assert_eq!(stale.status(), 400);
    let body: serde_json::Value = stale.json().await.unwrap();
    assert_eq!(
        body,
        json!({"reason": "Invalid Token!", "error": "invalid_grant"})
    );

    let third = refresh(&sim, &second.refresh_token).await;
    assert_eq!(third.status(), 200);
    let third = tokens(third).await;
    assert_eq!(
        api(&sim, &third.access_token, "/v2/users/me")
            .await
            .status(),
        200
    );
    assert_eq!(sim.state().counters().refreshes, 2);
}

#[tokio::test]
async fn revoke_kills_the_grant() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;
    let response = http()
        .post(format!("{}/oauth/revoke", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", tokens.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "success"}));

    let (status, body) = api_json(&sim, &tokens.access_token, "/v2/users/me").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"code": 124, "message": "Invalid access token."})
    );
    assert_eq!(refresh(&sim, &tokens.refresh_token).await.status(), 400);
    assert_eq!(sim.state().counters().revocations, 1);
}

#[tokio::test]
async fn expired_tokens_answer_124_and_refresh_recovers() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;
    sim.state().advance_clock(3600);
    let (status, body) = api_json(&sim, &tokens.access_token, "/v2/users/me").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"code": 124, "message": "Access token is expired."})
    );
    let fresh = common::tokens(refresh(&sim, &tokens.refresh_token).await).await;
    assert_eq!(
        api(&sim, &fresh.access_token, "/v2/users/me")
            .await
            .status(),
        200
    );

    // The expire_tokens fault expires every current token at once.
    let (status, _) = control(
        &sim,
        "/_sim/faults",
        json!({"account_id": acme.account_id, "expire_tokens": true}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = api_json(&sim, &fresh.access_token, "/v2/users/me").await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Access token is expired.");

    // Counted against the account, with the 401.
    let counters = sim.state().counters();
    assert!(
        counters
            .requests
            .iter()
            .any(|row| row.account_id == acme.account_id
                && row.endpoint == "GET /v2/users/me"
                && row.status == 401)
    );
}

#[tokio::test]
async fn approver_can_be_a_user_of_another_domain() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 3));
    let other = company(&sim, &small("other.test", 2));
    let (status, approver) = control(
        &sim,
        &format!("/_sim/companies/{}/approver", acme.account_id),
        json!({"email": "Someone@Elsewhere.test"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(approver["role_name"], "Admin");

    let tokens = install(&sim).await;
    let (_, me) = api_json(&sim, &tokens.access_token, "/v2/users/me").await;
    assert_eq!(me["account_id"], acme.account_id);
    assert_eq!(me["email"], "Someone@Elsewhere.test");
    assert_eq!(me["role_name"], "Admin");

    // Re-approving by user id switches the browser to that account.
    let (status, _) = control(
        &sim,
        &format!("/_sim/companies/{}/approver", other.account_id),
        json!({"user_id": other.users[1].id, "role_name": "Member"}),
    )
    .await;
    assert_eq!(status, 200);
    let tokens = install(&sim).await;
    let (_, me) = api_json(&sim, &tokens.access_token, "/v2/users/me").await;
    assert_eq!(me["account_id"], other.account_id);
    assert_eq!(me["id"], other.users[1].id);
    assert_eq!(me["role_name"], "Member");
}

#[tokio::test]
async fn reinstall_invalidates_earlier_tokens() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let first = install(&sim).await;
    let second = install(&sim).await;
    assert_eq!(
        api(&sim, &first.access_token, "/v2/users/me")
            .await
            .status(),
        401
    );
    assert_eq!(refresh(&sim, &first.refresh_token).await.status(), 400);
    assert_eq!(
        api(&sim, &second.access_token, "/v2/users/me")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn data_compliance_is_recorded() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 2));
    let payload = json!({
        "client_id": CLIENT_ID,
        "user_id": acme.admin.id,
        "account_id": acme.account_id,
        "deauthorization_event_received": {"account_id": acme.account_id},
        "compliance_completed": true
    });
    let response = http()
        .post(format!("{}/oauth/data/compliance", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(sim.state().counters().compliance_calls, 1);
    assert_eq!(sim.state().compliance_calls(), vec![payload]);
}

#[tokio::test]
async fn authorization_codes_expire_after_five_minutes() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let code = authorize(&sim).await;
    sim.state().advance_clock(301);
    let response = token_request(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

//! The Zoom client against the simulator over HTTP (the "done when"):
//! pagination over 1,000 users and over 300+ meetings, month windows and UUIDs that need
//! double encoding, 429 storms, a rate limiter shared by several clients and a second OS
//! process, refresh-token rotation, and access tokens expiring mid-pagination.
//!
//! Each test starts its own simulator (`zoom_sim::spawn`) and drives it through its control
//! API (`/_sim/...`, docs/zoom-sim.md); Redis keys use a random prefix per test.

mod zoom_support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use jobs::zoom::{
    AccountApi, MemoryTokenSource, Rate, RateLimits, StaticTokenSource, TokenSource, ZoomClient,
    ZoomError,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use zoom_sim::SimConfig;
use zoom_support::{access_token, cleanup, client, config, limiter, random_prefix};

const USERS_ENDPOINT: &str = "GET /v2/users";
const MEETINGS_ENDPOINT: &str = "GET /v2/report/users/{userId}/meetings";
const PARTICIPANTS_ENDPOINT: &str = "GET /v2/report/meetings/{meetingId}/participants";
const CALLS_ENDPOINT: &str = "GET /v2/phone/users/{userId}/call_history";

/// A running simulator and a plain HTTP client for its control API.
struct Sim {
    handle: zoom_sim::SimHandle,
    http: reqwest::Client,
}

impl Sim {
    async fn start(config: SimConfig) -> Self {
        let handle = zoom_sim::spawn(config).await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { handle, http }
    }

    fn base(&self) -> String {
        self.handle.base_url()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.expect("control API reachable");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "control API answered {status}: {text}");
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base());
        self.send(self.http.post(url).json(&body)).await
    }

    async fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base());
        self.send(self.http.get(url)).await
    }

    async fn delete(&self, path: &str) {
        let url = format!("{}{path}", self.base());
        self.send(self.http.delete(url)).await;
    }

    async fn company(&self, spec: Value) -> Value {
        self.post("/_sim/companies", spec).await
    }

    async fn now(&self) -> DateTime<Utc> {
        let clock = self.get("/_sim/clock").await;
        clock["now"].as_str().unwrap().parse().unwrap()
    }

    async fn today(&self) -> NaiveDate {
        self.now().await.date_naive()
    }

    async fn meeting(&self, account_id: &str, body: Value) -> Value {
        self.post(&format!("/_sim/companies/{account_id}/meetings"), body)
            .await
    }

    async fn counters(&self) -> Counters {
        Counters(self.get("/_sim/counters").await)
    }
}

struct Counters(Value);

impl Counters {
    fn requests(&self) -> impl Iterator<Item = &Value> {
        self.0["requests"].as_array().into_iter().flatten()
    }

    /// Requests to `endpoint` (route template) with `status` (any status when `None`).
    fn count(&self, endpoint: &str, status: Option<u64>) -> u64 {
        self.requests()
            .filter(|r| r["endpoint"] == endpoint)
            .filter(|r| status.is_none_or(|s| r["status"].as_u64() == Some(s)))
            .map(|r| r["count"].as_u64().unwrap_or(0))
            .sum()
    }

    /// Answers with `status` on any endpoint.
    fn with_status(&self, status: u64) -> u64 {
        self.requests()
            .filter(|r| r["status"].as_u64() == Some(status))
            .map(|r| r["count"].as_u64().unwrap_or(0))
            .sum()
    }

    fn max_per_second(&self, account_id: &str, category: &str) -> u64 {
        self.0["max_per_second"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["account_id"] == account_id)
            .filter(|m| {
                m["category"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(category))
            })
            .map(|m| m["max"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    fn refreshes(&self) -> u64 {
        self.0["refreshes"].as_u64().unwrap_or(0)
    }
}

/// An installed account: the OAuth dance against the sim, then `/users/me`.
struct Installed {
    zoom: ZoomClient,
    tokens: Arc<MemoryTokenSource>,
    api: AccountApi,
    account_id: String,
}

async fn install(sim: &Sim, zoom: ZoomClient) -> Installed {
    let authorize = zoom.authorize_url("state-1");
    let response = sim.http.get(authorize).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let redirect = url::Url::parse(&location).unwrap();
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("state-1"));
    let code = param("code").expect("authorization code");

    let tokens = zoom.exchange_code(&code).await.expect("code exchange");
    assert_eq!(
        tokens
            .api_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        Some(sim.base()),
        "the sim steers the client through api_url"
    );
    let tokens = MemoryTokenSource::shared(zoom.clone(), tokens);
    // The account id is learnt from /users/me; any placeholder serves until then.
    let me = zoom.account("pending", tokens.clone()).me().await.unwrap();
    let account_id = me.account_id.expect("account_id on /users/me");
    let api = zoom.account(&account_id, tokens.clone());
    Installed {
        zoom,
        tokens,
        api,
        account_id,
    }
}

/// A client following the token's `api_url` (no override), with fast retries.
fn sim_client(sim: &Sim) -> ZoomClient {
    client(config(&sim.base(), false))
}

fn user_ids(company: &Value) -> Vec<String> {
    company["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

fn quiet_company(domain: &str, users: usize) -> Value {
    json!({"domain": domain, "users": users, "days": 1,
           "meetings_per_user_per_day": 0.0, "calls_per_user_per_day": 0.0})
}

/// A two-person meeting hosted by `host` with `guest` that started at `start`.
fn two_person_meeting(host: &str, guest: &str, start: DateTime<Utc>, uuid: Option<&str>) -> Value {
    let mut body = json!({
        "topic": "Sync", "host_id": host, "start_time": start.to_rfc3339(), "publish_delay_secs": 0,
        "participants": [
            {"user_id": host, "join_offset_secs": 0, "leave_offset_secs": 1800},
            {"user_id": guest, "join_offset_secs": 60, "leave_offset_secs": 1700},
        ],
    });
    if let Some(uuid) = uuid {
        body["uuid"] = json!(uuid);
    }
    body
}

#[tokio::test]
async fn install_reads_the_account_and_its_admin() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("acme.test", 5)).await;
    let installed = install(&sim, sim_client(&sim)).await;
    assert_eq!(
        installed.account_id,
        company["account_id"].as_str().unwrap()
    );
    let me = installed.api.me().await.unwrap();
    assert_eq!(me.email, company["admin"]["email"].as_str().unwrap());
    assert_eq!(me.role_name.as_deref(), Some("Owner"));
    let scope = installed.tokens.tokens().await.scope;
    assert!(!scope.is_empty(), "granted scopes are kept");
}

#[tokio::test]
async fn pagination_returns_each_of_1000_users_once() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("big.test", 1000)).await;
    let installed = install(&sim, sim_client(&sim)).await;
    sim.delete("/_sim/counters").await;

    let users: Vec<_> = installed.api.users().try_collect().await.unwrap();
    let ids: HashSet<_> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(users.len(), 1000, "every user once");
    assert_eq!(ids.len(), 1000, "no duplicates");
    assert_eq!(ids, user_ids(&company).into_iter().collect::<HashSet<_>>());
    assert!(users.iter().all(|u| u.status == "active"));

    let counters = sim.counters().await;
    assert_eq!(counters.count(USERS_ENDPOINT, Some(200)), 4, "pages of 300");
}

#[tokio::test]
async fn pagination_returns_each_of_320_meetings_once() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("busy.test", 3)).await;
    let account_id = company["account_id"].as_str().unwrap().to_owned();
    let users = user_ids(&company);
    let now = sim.now().await;
    let mut created = HashSet::new();
    for i in 0..320 {
        let start = now - TimeDelta::hours(2) - TimeDelta::minutes(90 * i);
        let meeting = sim
            .meeting(
                &account_id,
                two_person_meeting(&users[0], &users[1], start, None),
            )
            .await;
        created.insert(meeting["uuid"].as_str().unwrap().to_owned());
    }
    assert_eq!(created.len(), 320);
    let installed = install(&sim, sim_client(&sim)).await;
    let today = sim.today().await;
    let from = today - Days::new(25);

    for user in [&users[0], &users[1]] {
        sim.delete("/_sim/counters").await;
        let meetings: Vec<_> = installed
            .api
            .report_meetings(user, from, today)
            .try_collect()
            .await
            .unwrap();
        let uuids: HashSet<_> = meetings.iter().map(|m| m.uuid.clone()).collect();
        assert_eq!(uuids.len(), meetings.len(), "each meeting once");
        // The generator may add a meeting of its own; every one created here is listed.
        assert!(uuids.is_superset(&created), "hosted or joined, all listed");
        assert!(meetings.len() >= 320);
        assert!(meetings.iter().all(|m| m.end_time.is_some()));
        let counters = sim.counters().await;
        assert_eq!(counters.count(MEETINGS_ENDPOINT, Some(200)), 2, "two pages");
    }
}

#[tokio::test]
async fn forty_days_are_split_into_month_windows_and_odd_uuids_work() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("odd.test", 3)).await;
    let account_id = company["account_id"].as_str().unwrap().to_owned();
    let users = user_ids(&company);
    let now = sim.now().await;
    let odd = [
        ("/slashFirst+Ab12==", 35),
        ("ab//cdEF+gh34==", 5),
        ("a+b/cdEF56=", 20),
    ];
    for (uuid, days_ago) in odd {
        let start = now - TimeDelta::days(days_ago);
        let created = sim
            .meeting(
                &account_id,
                two_person_meeting(&users[0], &users[1], start, Some(uuid)),
            )
            .await;
        assert_eq!(created["uuid"], uuid);
    }
    let calls = [("answered", 35, 300), ("no_answer", 5, 0)];
    for (result, days_ago, talk) in calls {
        sim.post(
            &format!("/_sim/companies/{account_id}/calls"),
            json!({"user_id": users[0], "direction": "outbound", "result": result,
                   "start_time": (now - TimeDelta::days(days_ago)).to_rfc3339(),
                   "ring_secs": 10, "talk_secs": talk}),
        )
        .await;
    }
    let installed = install(&sim, sim_client(&sim)).await;
    let today = sim.today().await;
    let from = today - Days::new(40);
    sim.delete("/_sim/counters").await;

    let meetings: Vec<_> = installed
        .api
        .report_meetings(&users[0], from, today)
        .try_collect()
        .await
        .unwrap();
    let uuids: HashSet<_> = meetings.iter().map(|m| m.uuid.as_str()).collect();
    assert_eq!(uuids.len(), meetings.len(), "each meeting once");
    assert!(
        uuids.is_superset(&odd.iter().map(|(u, _)| *u).collect::<HashSet<_>>()),
        "both windows searched: {uuids:?}"
    );
    let counters = sim.counters().await;
    assert_eq!(
        counters.count(MEETINGS_ENDPOINT, None),
        2,
        "40 days = two requests of at most a month"
    );
    assert_eq!(counters.count(MEETINGS_ENDPOINT, Some(400)), 0);

    for (uuid, _) in odd {
        let participants: Vec<_> = installed
            .api
            .meeting_participants(uuid)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("participants of {uuid}: {e}"));
        let ids: HashSet<_> = participants
            .iter()
            .filter_map(|p| p.zoom_user_id.clone())
            .collect();
        assert_eq!(
            ids,
            HashSet::from([users[0].clone(), users[1].clone()]),
            "{uuid}"
        );
    }

    let calls: Vec<_> = installed
        .api
        .call_history(&users[0], from, today)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(calls.len(), 2);
    let answered = calls.iter().find(|c| c.result == "answered").unwrap();
    assert!(answered.answer_time.is_some() && answered.end_time.is_some());
    let missed = calls.iter().find(|c| c.result == "no_answer").unwrap();
    assert!(missed.answer_time.is_none());
    let counters = sim.counters().await;
    assert_eq!(
        counters.count(CALLS_ENDPOINT, None),
        2,
        "month windows for calls too"
    );
}

/// Everything a pull reads for the first `members` users: meetings, their participants,
/// calls; sorted so two runs can be compared.
async fn gather(
    api: &AccountApi,
    members: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<String> {
    let mut out = Vec::new();
    let users: Vec<_> = api.users().try_collect().await.unwrap();
    out.extend(users.iter().map(|u| format!("user {}", u.id)));
    for member in members {
        let meetings: Vec<_> = api
            .report_meetings(member, from, to)
            .try_collect()
            .await
            .unwrap();
        let participants: Vec<Vec<_>> = futures::stream::iter(meetings.iter().map(|m| {
            let uuid = m.uuid.clone();
            async move {
                api.meeting_participants(&uuid)
                    .try_collect::<Vec<_>>()
                    .await
            }
        }))
        .buffer_unordered(4)
        .try_collect()
        .await
        .unwrap();
        out.extend(
            meetings
                .iter()
                .map(|m| format!("meeting {} {}", m.uuid, m.start_time)),
        );
        out.extend(participants.iter().flatten().map(|p| {
            format!(
                "participant {:?} {} {:?}",
                p.zoom_user_id, p.join_time, p.leave_time
            )
        }));
        let calls: Vec<_> = api
            .call_history(member, from, to)
            .try_collect()
            .await
            .unwrap();
        out.extend(calls.iter().map(|c| format!("call {} {}", c.id, c.result)));
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_429_storm_loses_nothing() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim
        .company(json!({"domain": "storm.test", "users": 12, "days": 4,
                        "meetings_per_user_per_day": 1.5, "calls_per_user_per_day": 1.0,
                        "shared_meeting_share": 0.8}))
        .await;
    let account_id = company["account_id"].as_str().unwrap().to_owned();
    let members: Vec<_> = user_ids(&company).into_iter().take(2).collect();
    let prefix = random_prefix();
    let zoom = sim_client(&sim).with_rate_limiter(limiter(&prefix, RateLimits::business()).await);
    let installed = install(&sim, zoom).await;
    let today = sim.today().await;
    let from = today - Days::new(5);

    let calm = gather(&installed.api, &members, from, today).await;
    assert!(
        calm.iter().any(|l| l.starts_with("meeting")),
        "the scenario has meetings"
    );

    sim.delete("/_sim/counters").await;
    sim.post(
        "/_sim/faults",
        json!({"account_id": account_id, "storm_requests": 5, "rate_429": 0.1}),
    )
    .await;
    let stormy = gather(&installed.api, &members, from, today).await;
    sim.delete("/_sim/faults").await;

    assert_eq!(stormy, calm, "every item retrieved, none twice");
    let counters = sim.counters().await;
    assert!(counters.with_status(429) >= 5, "the storm happened");
    cleanup(&prefix).await;
}

/// Environment of the child process in `a_shared_limiter_keeps_several_processes_under_the_limit`.
const CHILD_ENV: &str = "ZOOM_TEST_CHILD";

fn paced_limits() -> RateLimits {
    RateLimits {
        heavy: Rate::per_second(5),
        ..RateLimits::business()
    }
}

/// Fetches the participants of `uuids`, two at a time.
async fn fetch_participants(api: &AccountApi, uuids: &[String]) -> usize {
    futures::stream::iter(uuids.iter().cloned().map(|uuid| {
        let api = api.clone();
        async move {
            api.meeting_participants(&uuid)
                .try_collect::<Vec<_>>()
                .await
        }
    }))
    .buffer_unordered(2)
    .try_fold(0, |n, records| async move { Ok(n + records.len()) })
    .await
    .unwrap()
}

/// Not a test on its own: the second OS process of the shared-limiter test runs this
/// (the test binary re-executed with `--exact`); without its environment it does nothing.
#[tokio::test]
async fn child_process_worker() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let base = spec["base"].as_str().unwrap();
    let prefix = spec["prefix"].as_str().unwrap();
    let tokens: Arc<dyn TokenSource> = Arc::new(StaticTokenSource(access_token(
        spec["token"].as_str().unwrap(),
        Some(base),
    )));
    let uuids: Vec<String> = serde_json::from_value(spec["uuids"].clone()).unwrap();
    let zoom = client(config(base, false)).with_rate_limiter(limiter(prefix, paced_limits()).await);
    let api = zoom.account(spec["account_id"].as_str().unwrap(), tokens);
    let records = fetch_participants(&api, &uuids).await;
    assert!(records >= uuids.len() * 2);
}

#[tokio::test]
async fn a_shared_limiter_keeps_several_processes_under_the_limit() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim
        .company(json!({"domain": "paced.test", "users": 3, "days": 1,
                        "meetings_per_user_per_day": 0.0, "calls_per_user_per_day": 0.0,
                        "limits": {"heavy_qps": 5}}))
        .await;
    let account_id = company["account_id"].as_str().unwrap().to_owned();
    let users = user_ids(&company);
    let now = sim.now().await;
    for i in 0..10 {
        let start = now - TimeDelta::hours(1 + i);
        sim.meeting(
            &account_id,
            two_person_meeting(&users[0], &users[1], start, None),
        )
        .await;
    }
    let prefix = random_prefix();
    let a = sim_client(&sim).with_rate_limiter(limiter(&prefix, paced_limits()).await);
    let installed = install(&sim, a.clone()).await;
    let today = sim.today().await;
    let uuids: Vec<String> = installed
        .api
        .report_meetings(&users[0], today - Days::new(1), today)
        .map_ok(|m| m.uuid)
        .try_collect()
        .await
        .unwrap();
    assert!(
        uuids.len() >= 10,
        "the ten meetings created here (and any generated)"
    );
    sim.delete("/_sim/counters").await;

    // Process two: this test binary again, running only `child_process_worker`.
    let token = installed.tokens.tokens().await.access_token;
    let spec = json!({"base": sim.base(), "prefix": prefix, "account_id": account_id,
                      "token": token.expose_secret(), "uuids": uuids});
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_worker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("re-run the test binary");

    // Two more "processes" in this one: separate clients, HTTP pools and Redis connections.
    let b = sim_client(&sim).with_rate_limiter(limiter(&prefix, paced_limits()).await);
    let api_a = installed.api.clone();
    let api_b = b.account(&account_id, installed.tokens.clone());
    let (ra, rb) = tokio::join!(
        fetch_participants(&api_a, &uuids),
        fetch_participants(&api_b, &uuids)
    );
    assert!(ra >= 20 && ra == rb, "{ra} {rb}");
    let status = child.wait_with_output().await.unwrap();
    assert!(
        status.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&status.stdout)
    );

    let counters = sim.counters().await;
    assert_eq!(
        counters.count(PARTICIPANTS_ENDPOINT, Some(200)),
        3 * uuids.len() as u64,
        "all three processes made their requests"
    );
    assert_eq!(counters.with_status(429), 0, "no 429 at all");
    let max = counters.max_per_second(&account_id, "heavy");
    eprintln!("max Heavy requests in one second: {max}");
    assert!((1..=5).contains(&max), "max Heavy per second {max}");
    cleanup(&prefix).await;
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let sim = Sim::start(SimConfig::default()).await;
    sim.company(quiet_company("rotate.test", 2)).await;
    let installed = install(&sim, sim_client(&sim)).await;
    let first = installed.tokens.tokens().await;

    let second = installed.zoom.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    let reused = installed
        .zoom
        .refresh(&first.refresh_token)
        .await
        .unwrap_err();
    assert!(
        matches!(&reused, ZoomError::InvalidGrant { error } if error == "invalid_grant"),
        "{reused:?}"
    );
    assert!(reused.needs_reauth());

    // The new access token works, and so does the new refresh token.
    let tokens = MemoryTokenSource::shared(installed.zoom.clone(), second.clone());
    let api = installed.zoom.account(&installed.account_id, tokens);
    api.me().await.unwrap();
    let third = installed.zoom.refresh(&second.refresh_token).await.unwrap();
    assert_ne!(
        third.refresh_token.expose_secret(),
        second.refresh_token.expose_secret()
    );
}

/// Reads 300 users (one page), lets `expire` run, then finishes the stream.
async fn list_users_expiring_midway<F, Fut>(installed: &Installed, expire: F) -> usize
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut stream = std::pin::pin!(installed.api.users());
    let mut ids = HashSet::new();
    for _ in 0..300 {
        ids.insert(stream.next().await.unwrap().unwrap().id);
    }
    expire().await;
    while let Some(user) = stream.next().await {
        assert!(ids.insert(user.unwrap().id), "duplicate user");
    }
    ids.len()
}

#[tokio::test]
async fn an_access_token_revoked_by_expiry_mid_pagination_is_refreshed() {
    let sim = Sim::start(SimConfig::default()).await;
    sim.company(quiet_company("expire.test", 1000)).await;
    let installed = install(&sim, sim_client(&sim)).await;
    let before = installed.tokens.tokens().await;
    sim.delete("/_sim/counters").await;

    let n = list_users_expiring_midway(&installed, || async {
        sim.post("/_sim/faults", json!({"expire_tokens": true}))
            .await;
    })
    .await;
    assert_eq!(n, 1000);

    let after = installed.tokens.tokens().await;
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret()
    );
    let counters = sim.counters().await;
    assert_eq!(counters.count(USERS_ENDPOINT, Some(401)), 1);
    assert_eq!(counters.refreshes(), 1);
}

#[tokio::test]
async fn an_access_token_expiring_by_the_clock_mid_pagination_is_refreshed() {
    let sim = Sim::start(SimConfig {
        access_token_ttl_secs: 600,
        ..SimConfig::default()
    })
    .await;
    sim.company(quiet_company("clock.test", 1000)).await;
    let installed = install(&sim, sim_client(&sim)).await;

    // 11 minutes: past the token's 10, within the page token's 15.
    let n = list_users_expiring_midway(&installed, || async {
        sim.post("/_sim/clock/advance", json!({"seconds": 660}))
            .await;
    })
    .await;
    assert_eq!(n, 1000);
    assert_eq!(sim.counters().await.count(USERS_ENDPOINT, Some(401)), 1);
}

#[tokio::test]
async fn a_revoked_grant_needs_reauth() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("gone.test", 2)).await;
    let installed = install(&sim, sim_client(&sim)).await;
    let account_id = company["account_id"].as_str().unwrap();
    sim.post(&format!("/_sim/companies/{account_id}/revoke"), json!({}))
        .await;
    let err = installed.api.me().await.unwrap_err();
    assert!(err.needs_reauth(), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn server_errors_and_latency_are_ridden_out() {
    let sim = Sim::start(SimConfig::default()).await;
    let company = sim.company(quiet_company("flaky.test", 700)).await;
    // Six retries: a request fails for good with probability 0.2^7.
    let mut cfg = config(&sim.base(), false);
    cfg.max_retries = 6;
    let installed = install(&sim, client(cfg)).await;
    let calm: Vec<_> = installed.api.users().try_collect().await.unwrap();
    sim.post(
        "/_sim/faults",
        json!({"account_id": company["account_id"], "rate_5xx": 0.2, "latency_ms": 20}),
    )
    .await;
    let flaky: Vec<_> = installed.api.users().try_collect().await.unwrap();
    sim.delete("/_sim/faults").await;
    assert_eq!(flaky, calm);
}

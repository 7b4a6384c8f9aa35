//! Users, meeting reports, participants and call history: pagination, ranges, UUID
//! encoding, and agreement with the ground truth.

mod common;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};
use zoom_sim::{CompanySpec, NewCall, NewMeeting, NewParticipant, TruthQuery};

#[tokio::test]
async fn users_paginate_each_exactly_once() {
    let sim = start().await;
    company(&sim, &small("big.test", 1000));
    let tokens = install(&sim).await;

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (status, body) = api_json(
            &sim,
            &tokens.access_token,
            &format!("/v2/users?page_size=300&next_page_token={token}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total_records"], 1000);
        assert_eq!(body["page_count"], 4);
        assert_eq!(body["page_size"], 300);
        pages += 1;
        for user in body["users"].as_array().unwrap() {
            seen.push(user["id"].as_str().unwrap().to_owned());
        }
        token = body["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 1000);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1000);

    // Over 300 is capped; default is 30.
    let (_, body) = api_json(&sim, &tokens.access_token, "/v2/users?page_size=1000").await;
    assert_eq!(body["page_size"], 300);
    let (_, body) = api_json(&sim, &tokens.access_token, "/v2/users").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 30);
    let next = body["next_page_token"].as_str().unwrap().to_owned();

    // Bogus and expired tokens.
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        "/v2/users?next_page_token=bogus",
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(300)));
    sim.state().advance_clock(16 * 60);
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &format!("/v2/users?next_page_token={next}"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"code": 300, "message": "The next page token is invalid or expired."})
    );
}

#[tokio::test]
async fn report_range_is_one_month_within_six() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 3));
    let tokens = install(&sim).await;
    let path = |from: &str, to: &str| {
        format!(
            "/v2/report/users/{}/meetings?type=pastJoined&from={from}&to={to}",
            acme.admin.id
        )
    };
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &path(&day(&sim, 45), &day(&sim, 0)),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(300)), "{body}");
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &path(&day(&sim, 0), &day(&sim, 5)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (400, Some(300)),
        "to before from"
    );
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &path(&day(&sim, 220), &day(&sim, 200)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (400, Some(300)),
        "older than six months"
    );
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &path(&day(&sim, 30), &day(&sim, 0)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], day(&sim, 30));
    assert_eq!(body["next_page_token"], "");

    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &format!(
            "/v2/report/users/nobody/meetings?from={}&to={}",
            day(&sim, 1),
            day(&sim, 0)
        ),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(1001)));
}

fn member(user_id: &str, join: i64, leave: i64) -> NewParticipant {
    NewParticipant {
        user_id: Some(user_id.to_owned()),
        join_offset_secs: join,
        leave_offset_secs: leave,
        ..NewParticipant::default()
    }
}

fn guest(name: &str, join: i64, leave: i64) -> NewParticipant {
    NewParticipant {
        guest_name: Some(name.to_owned()),
        join_offset_secs: join,
        leave_offset_secs: leave,
        ..NewParticipant::default()
    }
}

#[tokio::test]
async fn uuids_with_slashes_need_double_encoding() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 3));
    let tokens = install(&sim).await;
    let (host, other) = (&acme.users[0].id, &acme.users[1].id);
    for uuid in [
        "/ajXp112QmuoKj4854875==",
        "Ab3//dEfGhIjKlMnOpQrSt==",
        "Plain+Uuid0123456789ab==",
    ] {
        let (status, _) = control(
            &sim,
            &format!("/_sim/companies/{}/meetings", acme.account_id),
            json!({
                "topic": "Encoding",
                "host_id": host,
                "uuid": uuid,
                "participants": [
                    {"user_id": host, "join_offset_secs": 0, "leave_offset_secs": 600},
                    {"user_id": other, "join_offset_secs": 60, "leave_offset_secs": 600}
                ]
            }),
        )
        .await;
        assert_eq!(status, 201);
        let participants = |segment: String| format!("/v2/report/meetings/{segment}/participants");

        let (status, body) = api_json(
            &sim,
            &tokens.access_token,
            &participants(encode(&encode(uuid))),
        )
        .await;
        assert_eq!(status, 200, "double-encoded {uuid}: {body}");
        assert_eq!(body["participants"].as_array().unwrap().len(), 2);
        assert_eq!(body["participants"][0]["id"], host.as_str());

        let (status, body) =
            api_json(&sim, &tokens.access_token, &participants(encode(uuid))).await;
        if uuid.contains('/') {
            assert_eq!(status, 404, "single-encoded {uuid}");
            assert_eq!(body["code"], 3001);
            let (status, body) =
                api_json(&sim, &tokens.access_token, &participants(uuid.to_owned())).await;
            assert_eq!(
                (status, body["code"].as_i64()),
                (404, Some(3001)),
                "raw {uuid}"
            );
        } else {
            assert_eq!(status, 200, "single-encoded {uuid}");
        }
    }
    // The route template is counted for every variant, including the raw-slash fallback.
    let counters = sim.state().counters();
    assert_eq!(
        counters.count(
            "GET /v2/report/meetings/{meetingId}/participants",
            Some(404)
        ),
        4
    );
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        "/v2/report/meetings/nope/participants",
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(3001)));
}

#[tokio::test]
async fn truth_matches_a_hand_built_meeting() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 4));
    let tokens = install(&sim).await;
    let state = sim.state();
    let (a, b, c) = (&acme.users[1], &acme.users[2], &acme.users[3]);
    let b_name = format!("{} {}", b.first_name, b.last_name);
    // `a` waits, joins, drops, rejoins on a laptop while a phone overlaps; `b` stays;
    // a guest carries `b`'s display name; `c` never leaves the waiting room.
    let meeting = state
        .add_meeting(
            &acme.account_id,
            &NewMeeting {
                topic: Some("Deal review".into()),
                host_id: a.id.clone(),
                participants: vec![
                    NewParticipant {
                        status: Some("in_waiting_room".into()),
                        ..member(&a.id, 0, 60)
                    },
                    member(&a.id, 60, 600),
                    member(&a.id, 900, 1800),
                    member(&a.id, 1500, 2100),
                    member(&b.id, 30, 2400),
                    guest(&b_name, 100, 200),
                    NewParticipant {
                        status: Some("in_waiting_room".into()),
                        ..member(&c.id, 10, 2400)
                    },
                ],
                ..NewMeeting::default()
            },
        )
        .unwrap();
    // A meeting sat in alone, and one whose report is not yet published.
    state
        .add_meeting(
            &acme.account_id,
            &NewMeeting {
                host_id: a.id.clone(),
                participants: vec![member(&a.id, 0, 300), member(&a.id, 400, 500)],
                ..NewMeeting::default()
            },
        )
        .unwrap();
    let late = state
        .add_meeting(
            &acme.account_id,
            &NewMeeting {
                host_id: b.id.clone(),
                participants: vec![member(&a.id, 0, 120), member(&b.id, 0, 120)],
                publish_delay_secs: Some(3600),
                ..NewMeeting::default()
            },
        )
        .unwrap();

    let truth = state
        .truth(
            &acme.account_id,
            &TruthQuery {
                user_id: a.id.clone(),
                ..TruthQuery::default()
            },
        )
        .unwrap();
    assert_eq!(truth.meetings.len(), 1, "{truth:?}");
    let entry = &truth.meetings[0];
    assert_eq!(entry.uuid, meeting.uuid);
    // 60–600 plus the union of 900–1800 and 1500–2100; the waiting room does not count.
    assert_eq!(entry.duration_seconds, 540 + 1200);
    assert_eq!(
        entry.start_time,
        meeting.start_time + chrono::TimeDelta::seconds(60)
    );
    assert_eq!(
        entry.end_time,
        meeting.start_time + chrono::TimeDelta::seconds(2100)
    );
    let c_truth = state
        .truth(
            &acme.account_id,
            &TruthQuery {
                user_id: c.id.clone(),
                ..TruthQuery::default()
            },
        )
        .unwrap();
    assert!(c_truth.meetings.is_empty(), "waiting room only");

    // The report lists only the published meeting with two or more participants.
    let from = day(&sim, 1);
    let to = day(&sim, 0);
    let (status, report) = api_json(
        &sim,
        &tokens.access_token,
        &format!(
            "/v2/report/users/{}/meetings?type=pastJoined&from={from}&to={to}",
            a.email
        ),
    )
    .await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = report["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![meeting.uuid.as_str()]);
    let item = &report["meetings"][0];
    assert_eq!(item["topic"], "Deal review");
    assert_eq!(item["participants_count"], 3);
    assert_eq!(item["user_email"], a.email);
    assert!(item["start_time"].as_str().unwrap().ends_with('Z'));

    // Participants: one record per join; the guest has no id or e-mail.
    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &format!(
            "/v2/report/meetings/{}/participants?page_size=300",
            encode_uuid(&meeting.uuid)
        ),
    )
    .await;
    assert_eq!(status, 200);
    let records = body["participants"].as_array().unwrap();
    assert_eq!(records.len(), 7);
    let guest_record = records
        .iter()
        .find(|r| r["name"] == b_name.as_str() && r["id"] == "")
        .unwrap();
    assert_eq!(guest_record["user_email"], "");
    assert_eq!(guest_record["duration"], 100);
    let per_meeting_ids: HashSet<&str> = records
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(per_meeting_ids.len(), 7);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["status"] == "in_waiting_room")
            .count(),
        2
    );

    // Publishing delay: listed only after the clock passes it.
    sim.state().advance_clock(3601);
    let truth = state
        .truth(
            &acme.account_id,
            &TruthQuery {
                user_id: a.id.clone(),
                ..TruthQuery::default()
            },
        )
        .unwrap();
    assert!(truth.meetings.iter().any(|m| m.uuid == late.uuid));

    // A record without a user id still belongs to the member whose e-mail it carries
    // (case-insensitively): `b` hosts and dials in unsigned with an upper-cased address.
    let dial_in = state
        .add_meeting(
            &acme.account_id,
            &NewMeeting {
                host_id: b.id.clone(),
                participants: vec![
                    member(&a.id, 0, 600),
                    NewParticipant {
                        email: Some(b.email.to_uppercase()),
                        ..guest("Phone user", 0, 300)
                    },
                ],
                ..NewMeeting::default()
            },
        )
        .unwrap();
    let truth = state
        .truth(
            &acme.account_id,
            &TruthQuery {
                user_id: b.id.clone(),
                ..TruthQuery::default()
            },
        )
        .unwrap();
    let entry = truth
        .meetings
        .iter()
        .find(|m| m.uuid == dial_in.uuid)
        .unwrap();
    assert_eq!(entry.duration_seconds, 300);
}

#[tokio::test]
async fn internal_calls_appear_in_both_histories() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 3));
    let tokens = install(&sim).await;
    let state = sim.state();
    let (a, b) = (&acme.users[1], &acme.users[2]);
    let call = |result: &str, talk: i64, peer: Option<&str>| NewCall {
        user_id: a.id.clone(),
        direction: "outbound".into(),
        result: result.into(),
        start_time: None,
        ring_secs: 8,
        talk_secs: talk,
        peer_user_id: peer.map(str::to_owned),
    };
    let internal = state
        .add_call(&acme.account_id, &call("answered", 95, Some(&b.id)))
        .unwrap();
    assert_eq!(internal.len(), 2);
    assert_eq!(internal[0].call_id, internal[1].call_id);
    assert_ne!(internal[0].id, internal[1].id);
    assert_eq!(
        (
            internal[0].direction.as_str(),
            internal[1].direction.as_str()
        ),
        ("outbound", "inbound")
    );
    state
        .add_call(&acme.account_id, &call("no_answer", 0, None))
        .unwrap();
    state
        .add_call(&acme.account_id, &call("voicemail", 0, None))
        .unwrap();
    state
        .add_call(&acme.account_id, &call("answered", 0, None))
        .unwrap();

    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        &format!(
            "/v2/phone/users/{}/call_history?from={}&to={}",
            b.id,
            day(&sim, 1),
            day(&sim, 0)
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let logs = body["call_logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["id"], internal[1].id.as_str());
    assert_eq!(logs[0]["direction"], "inbound");
    assert_eq!(logs[0]["connect_type"], "internal");
    assert_eq!(logs[0]["talk_time"], 95);
    assert!(logs[0]["answer_time"].is_string());

    let (_, body) = api_json(
        &sim,
        &tokens.access_token,
        &format!("/v2/phone/users/{}/call_history", a.id),
    )
    .await;
    let logs = body["call_logs"].as_array().unwrap();
    assert_eq!(logs.len(), 4);
    assert!(
        logs.iter()
            .filter(|l| l["result"] != "answered")
            .all(|l| l.get("answer_time").is_none())
    );

    let truth = state
        .truth(
            &acme.account_id,
            &TruthQuery {
                user_id: a.id.clone(),
                ..TruthQuery::default()
            },
        )
        .unwrap();
    assert_eq!(
        truth.calls.len(),
        1,
        "only the connected call with talk time"
    );
    assert_eq!(truth.calls[0].id, internal[0].id);
    assert_eq!(truth.calls[0].duration_seconds, 95);

    let (status, body) = api_json(
        &sim,
        &tokens.access_token,
        "/v2/phone/call_history?page_size=300",
    )
    .await;
    assert_eq!(status, 200);
    let history = body["call_history"].as_array().unwrap();
    assert_eq!(history.len(), 5);
    assert!(
        history
            .iter()
            .any(|h| h["call_history_uuid"] == internal[1].id.as_str())
    );
    assert!(history.iter().any(|h| h["call_result"] == "voicemail"));
}

/// A reference client: pulls a user's billables through the API the way the service
/// must, and checks the result against the sim's ground truth.
async fn billables_via_api(
    sim: &zoom_sim::SimHandle,
    token: &str,
    user_id: &str,
    email: &str,
    from: &str,
    to: &str,
) -> BTreeMap<String, i64> {
    let mut result = BTreeMap::new();
    let mut next = String::new();
    loop {
        let (status, body) = api_json(
            sim,
            token,
            &format!("/v2/report/users/{user_id}/meetings?type=pastJoined&from={from}&to={to}&page_size=300&next_page_token={next}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for meeting in body["meetings"].as_array().unwrap() {
            let uuid = meeting["uuid"].as_str().unwrap();
            let (status, parts) = api_json(
                sim,
                token,
                &format!(
                    "/v2/report/meetings/{}/participants?page_size=300",
                    encode_uuid(uuid)
                ),
            )
            .await;
            assert_eq!(status, 200, "{uuid}: {parts}");
            let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = parts["participants"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| {
                    let by_email = p["user_email"]
                        .as_str()
                        .is_some_and(|e| !e.is_empty() && e.eq_ignore_ascii_case(email));
                    (p["id"] == user_id || by_email) && p["status"] == "in_meeting"
                })
                .map(|p| {
                    let t = |k: &str| p[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
                    (t("join_time"), t("leave_time"))
                })
                .collect();
            spans.sort();
            let mut total = 0;
            let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
            for (s, e) in spans {
                current = match current {
                    Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
                    Some((cs, ce)) => {
                        total += (ce - cs).num_seconds();
                        Some((s, e))
                    }
                    None => Some((s, e)),
                };
            }
            if let Some((cs, ce)) = current {
                total += (ce - cs).num_seconds();
            }
            if total > 0 {
                result.insert(uuid.to_owned(), total);
            }
        }
        next = body["next_page_token"].as_str().unwrap().to_owned();
        if next.is_empty() {
            break;
        }
    }
    result
}

#[tokio::test]
async fn generated_company_agrees_with_truth() {
    // This reference client does not pace itself; lift the limits.
    let sim = start_with(zoom_sim::SimConfig {
        limits: zoom_sim::Limits::unlimited(),
        ..zoom_sim::SimConfig::default()
    })
    .await;
    let spec = CompanySpec {
        users: 8,
        days: 10,
        ..CompanySpec::new("gen.test")
    };
    let acme = company(&sim, &spec);
    let tokens = install(&sim).await;
    let (from, to) = (day(&sim, 12), day(&sim, 0));
    let mut checked = 0;
    for user in acme.users.iter().take(4) {
        let via_api = billables_via_api(
            &sim,
            &tokens.access_token,
            &user.id,
            &user.email,
            &from,
            &to,
        )
        .await;
        let truth = sim
            .state()
            .truth(
                &acme.account_id,
                &TruthQuery {
                    user_id: user.id.clone(),
                    from: Some(from.clone()),
                    to: Some(to.clone()),
                },
            )
            .unwrap();
        let expected: BTreeMap<String, i64> = truth
            .meetings
            .iter()
            .map(|m| (m.uuid.clone(), m.duration_seconds))
            .collect();
        assert_eq!(via_api, expected, "user {}", user.email);
        checked += expected.len();

        // Calls: connected with talk time, from the user's own history.
        let (_, body) = api_json(
            &sim,
            &tokens.access_token,
            &format!(
                "/v2/phone/users/{}/call_history?from={from}&to={to}&page_size=300",
                user.id
            ),
        )
        .await;
        let connected: BTreeMap<String, i64> = body["call_logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l.get("answer_time").is_some_and(Value::is_string))
            .filter_map(|l| {
                let t = |k: &str| l[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
                let seconds = (t("end_time") - t("answer_time")).num_seconds();
                (seconds > 0).then(|| (l["id"].as_str().unwrap().to_owned(), seconds))
            })
            .collect();
        let expected_calls: BTreeMap<String, i64> = truth
            .calls
            .iter()
            .map(|c| (c.id.clone(), c.duration_seconds))
            .collect();
        assert_eq!(connected, expected_calls);
    }
    assert!(checked > 0, "the generated company has billable meetings");
}

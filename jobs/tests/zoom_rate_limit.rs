//! The shared Zoom rate limiter against a real Redis: GCRA spacing across independent
//! limiters (as separate processes would hold), the daily budget, `penalize`,
//! `exhaust_daily`, and the `max_wait` cut-off. Each test uses its own random key prefix.

mod zoom_support;

use std::time::{Duration, Instant};

use jobs::zoom::{Category, Rate, RateLimits, Waited, ZoomError};
use zoom_support::{cleanup, limiter, random_prefix, redis_conn};

fn limits(heavy_per_second: u32) -> RateLimits {
    RateLimits {
        heavy: Rate::per_second(heavy_per_second),
        safety_factor: 1.0,
        ..RateLimits::business()
    }
}

#[tokio::test]
async fn two_limiters_share_one_budget() {
    let prefix = random_prefix();
    // 10/s with the default 90 % safety factor: slots 111 ms apart.
    let shared = RateLimits {
        safety_factor: 0.9,
        ..limits(10)
    };
    let a = limiter(&prefix, shared.clone()).await;
    let b = limiter(&prefix, shared).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            l.acquire("acct", Category::Heavy).await.unwrap();
            started.elapsed()
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort();
    // 20 slots 111 ms apart: the last one is ~2.1 s after the first.
    assert!(
        *times.last().unwrap() >= Duration::from_millis(2050),
        "{times:?}"
    );
    // In any one-second window at most 10 requests start (the 10 % margin absorbs
    // timer jitter; at exactly 100 ms spacing a closed window could hold 11).
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 10,
            "{in_window} in the second after {t:?}: {times:?}"
        );
    }
    // Other accounts and categories are not slowed down.
    let quick = Instant::now();
    a.acquire("other", Category::Heavy).await.unwrap();
    a.acquire("acct", Category::Light).await.unwrap();
    assert!(quick.elapsed() < Duration::from_millis(100));

    let mut conn = redis_conn().await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("{prefix}:zoom:rl:acct:heavy"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        exists,
        "key layout {{prefix}}:zoom:rl:{{account}}:{{category}}"
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn daily_budget_is_shared_by_heavy_and_resource_intensive() {
    let prefix = random_prefix();
    let l = limiter(
        &prefix,
        RateLimits {
            daily_heavy: Some(3),
            resource_intensive: Rate::per_second(100),
            ..limits(100)
        },
    )
    .await;
    l.acquire("acct", Category::Heavy).await.unwrap();
    l.acquire("acct", Category::ResourceIntensive)
        .await
        .unwrap();
    l.acquire("acct", Category::Heavy).await.unwrap();
    match l.acquire("acct", Category::Heavy).await {
        Err(ZoomError::RateLimited {
            daily: true,
            retry_after,
        }) => assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(86_400)),
        other => panic!("expected the daily cap, got {other:?}"),
    }
    // Light/Medium do not count against it.
    l.acquire("acct", Category::Medium).await.unwrap();

    let mut conn = redis_conn().await;
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{prefix}:zoom:rl:acct:daily"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 86_400,
        "daily counter expires at midnight, ttl {ttl}"
    );
    cleanup(&prefix).await;
}

#[tokio::test]
async fn penalize_slows_every_limiter_down() {
    let prefix = random_prefix();
    let a = limiter(&prefix, limits(100)).await;
    let b = limiter(&prefix, limits(100)).await;
    a.penalize("acct", Category::Heavy, Duration::from_millis(600))
        .await
        .unwrap();
    let Waited(waited) = b.acquire("acct", Category::Heavy).await.unwrap();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    // A shorter penalty never pulls the slot earlier.
    a.penalize("acct", Category::Heavy, Duration::from_millis(600))
        .await
        .unwrap();
    a.penalize("acct", Category::Heavy, Duration::from_millis(10))
        .await
        .unwrap();
    let Waited(waited) = a.acquire("acct", Category::Heavy).await.unwrap();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    cleanup(&prefix).await;
}

#[tokio::test]
async fn waits_beyond_max_wait_are_refused() {
    let prefix = random_prefix();
    let l = limiter(
        &prefix,
        RateLimits {
            max_wait: Duration::from_secs(1),
            ..limits(100)
        },
    )
    .await;
    l.penalize("acct", Category::Heavy, Duration::from_secs(30))
        .await
        .unwrap();
    let started = Instant::now();
    match l.acquire("acct", Category::Heavy).await {
        Err(ZoomError::RateLimited {
            daily: false,
            retry_after,
        }) => assert!(retry_after > Duration::from_secs(25)),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    cleanup(&prefix).await;
}

#[tokio::test]
async fn exhaust_daily_defers_heavy_work_everywhere() {
    let prefix = random_prefix();
    let a = limiter(&prefix, limits(100)).await;
    let b = limiter(&prefix, limits(100)).await;
    a.exhaust_daily("acct", Duration::from_secs(3600))
        .await
        .unwrap();
    match b.acquire("acct", Category::Heavy).await {
        Err(ZoomError::RateLimited {
            daily: true,
            retry_after,
        }) => assert!(retry_after > Duration::from_secs(3590)),
        other => panic!("expected the daily cap, got {other:?}"),
    }
    b.acquire("acct", Category::Light).await.unwrap();
    b.acquire("other", Category::Heavy).await.unwrap();
    cleanup(&prefix).await;
}

#[tokio::test]
async fn burst_allows_back_to_back_requests() {
    let prefix = random_prefix();
    let l = limiter(
        &prefix,
        RateLimits {
            burst: 5,
            ..limits(2)
        },
    )
    .await;
    let started = Instant::now();
    for _ in 0..5 {
        l.acquire("acct", Category::Heavy).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let Waited(waited) = l.acquire("acct", Category::Heavy).await.unwrap();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    cleanup(&prefix).await;
}

mod through_the_client {
    //! The client feeding 429s back into the shared limiter (wiremock plays Zoom).

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use futures::TryStreamExt;
    use jobs::zoom::{Category, StaticTokenSource, TokenSource, Waited, ZoomError};
    use serde_json::json;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::limits;
    use crate::zoom_support::{access_token, cleanup, client, config, limiter, random_prefix};

    fn tokens() -> Arc<dyn TokenSource> {
        Arc::new(StaticTokenSource(access_token("eyJaccess", None)))
    }

    #[tokio::test]
    async fn a_qps_429_slows_every_process_down() {
        let server = MockServer::start().await;
        Mock::given(path("/v2/users/me"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .insert_header("x-ratelimit-type", "QPS"),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/v2/users/me"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id":"u1","email":"x@acme.test","first_name":"","last_name":"","status":"active"})))
            .mount(&server)
            .await;
        let prefix = random_prefix();
        let zoom = client(config(&server.uri(), true))
            .with_rate_limiter(limiter(&prefix, limits(100)).await);
        let api = zoom.account("acct", tokens());
        let started = Instant::now();
        let call = tokio::spawn(async move { api.me().await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Another "process": its own limiter on the same Redis prefix.
        let other = limiter(&prefix, limits(100)).await;
        let Waited(waited) = other.acquire("acct", Category::Light).await.unwrap();
        assert!(waited >= Duration::from_millis(500), "{waited:?}");
        assert_eq!(call.await.unwrap().unwrap().id, "u1");
        assert!(started.elapsed() >= Duration::from_millis(950));
        cleanup(&prefix).await;
    }

    #[tokio::test]
    async fn a_daily_429_defers_every_process() {
        let server = MockServer::start().await;
        Mock::given(path("/v2/report/users/u1/meetings"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("x-ratelimit-type", "Daily-limit")
                    .insert_header("retry-after", "3600"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let prefix = random_prefix();
        let zoom = client(config(&server.uri(), true))
            .with_rate_limiter(limiter(&prefix, limits(100)).await);
        let day = chrono::Utc::now().date_naive();
        let err = zoom
            .account("acct", tokens())
            .report_meetings("u1", day, day)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ZoomError::RateLimited { daily: true, .. }),
            "{err:?}"
        );

        let other = limiter(&prefix, limits(100)).await;
        let err = other.acquire("acct", Category::Heavy).await.unwrap_err();
        assert!(
            matches!(err, ZoomError::RateLimited { daily: true, retry_after } if retry_after > Duration::from_secs(3500)),
            "{err:?}"
        );
        other.acquire("acct", Category::Medium).await.unwrap();
        cleanup(&prefix).await;
    }
}

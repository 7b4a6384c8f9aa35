//! Per-account, per-category rate limits, as Zoom enforces them (zoom-api.md §7).
//!
//! Each category (Light, Medium, Heavy, Resource-intensive) has its own sliding window per
//! account: a request is allowed when fewer than `limit` requests were allowed in the
//! preceding window (one second; one minute for Resource-intensive). Heavy and
//! Resource-intensive also share a daily cap that resets at 00:00 UTC on the sim clock.
//! The limiter also records the most requests it allowed in any one-second window, so
//! tests can prove a client paced itself.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Zoom's rate-limit label of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Light,
    Medium,
    Heavy,
    #[serde(rename = "Resource-intensive")]
    ResourceIntensive,
}

impl Category {
    /// The label as it appears in `X-RateLimit-Category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "Light",
            Self::Medium => "Medium",
            Self::Heavy => "Heavy",
            Self::ResourceIntensive => "Resource-intensive",
        }
    }

    fn has_daily_cap(self) -> bool {
        matches!(self, Self::Heavy | Self::ResourceIntensive)
    }
}

/// Rate limits of one account. Defaults to the Business plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub light_qps: u32,
    pub medium_qps: u32,
    pub heavy_qps: u32,
    pub resource_intensive_per_minute: u32,
    /// Daily cap shared by Heavy and Resource-intensive requests.
    pub daily_heavy: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self::business()
    }
}

impl Limits {
    /// Business, Education, Enterprise and Partner plans.
    pub fn business() -> Self {
        Self {
            light_qps: 80,
            medium_qps: 60,
            heavy_qps: 40,
            resource_intensive_per_minute: 20,
            daily_heavy: 60_000,
        }
    }

    /// The Pro plan.
    pub fn pro() -> Self {
        Self {
            light_qps: 30,
            medium_qps: 20,
            heavy_qps: 10,
            resource_intensive_per_minute: 10,
            daily_heavy: 30_000,
        }
    }

    /// Limits so high that no test reaches them (for measuring a client's own pacing).
    pub fn unlimited() -> Self {
        Self {
            light_qps: u32::MAX,
            medium_qps: u32::MAX,
            heavy_qps: u32::MAX,
            resource_intensive_per_minute: u32::MAX,
            daily_heavy: u32::MAX,
        }
    }

    /// The preset for a plan name (`pro`, `business`, `education`, `enterprise`, `partner`).
    pub fn for_plan(plan: &str) -> Option<Self> {
        match plan.to_ascii_lowercase().as_str() {
            "pro" => Some(Self::pro()),
            "business" | "business_plus" | "education" | "enterprise" | "partner" => {
                Some(Self::business())
            }
            _ => None,
        }
    }

    /// The request budget of `category` per its window (per second; per minute for
    /// Resource-intensive).
    pub(crate) fn limit_for(&self, category: Category) -> u32 {
        self.window(category).0
    }

    fn window(&self, category: Category) -> (u32, Duration) {
        match category {
            Category::Light => (self.light_qps, Duration::from_secs(1)),
            Category::Medium => (self.medium_qps, Duration::from_secs(1)),
            Category::Heavy => (self.heavy_qps, Duration::from_secs(1)),
            Category::ResourceIntensive => {
                (self.resource_intensive_per_minute, Duration::from_secs(60))
            }
        }
    }
}

/// Whether a limit header describes the per-second or the daily budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitType {
    Qps,
    Daily,
}

impl LimitType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Qps => "QPS",
            Self::Daily => "Daily-limit",
        }
    }
}

/// The `X-RateLimit-*` values of one answer.
#[derive(Debug, Clone)]
pub(crate) struct RateInfo {
    pub category: Category,
    pub limit_type: LimitType,
    pub limit: u32,
    pub remaining: u32,
    /// For a daily-limit 429: when the budget resets (next 00:00 UTC, sim clock).
    pub reset_at: Option<DateTime<Utc>>,
}

/// The limiter's decision.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Allowed(RateInfo),
    Denied(RateInfo),
}

#[derive(Debug, Default)]
struct Window {
    /// Allowed requests inside the category's window.
    recent: VecDeque<Instant>,
    /// Allowed requests inside the last second (for `max_per_second`).
    last_second: VecDeque<Instant>,
    max_per_second: u32,
}

fn prune(queue: &mut VecDeque<Instant>, at: Instant, span: Duration) {
    while queue
        .front()
        .is_some_and(|first| at.saturating_duration_since(*first) >= span)
    {
        queue.pop_front();
    }
}

/// Sliding-window counters per (account, category) plus the shared daily cap.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, Category), Window>,
    daily: HashMap<String, (NaiveDate, u32)>,
}

impl RateLimiter {
    /// Decides one request at real instant `at` (QPS) and sim time `now` (daily cap), and
    /// counts it when allowed.
    pub(crate) fn check(
        &mut self,
        account: &str,
        category: Category,
        limits: &Limits,
        at: Instant,
        now: DateTime<Utc>,
    ) -> Verdict {
        let (limit, span) = limits.window(category);
        let window = self
            .windows
            .entry((account.to_owned(), category))
            .or_default();
        prune(&mut window.recent, at, span);
        prune(&mut window.last_second, at, Duration::from_secs(1));
        let used = u32::try_from(window.recent.len()).unwrap_or(u32::MAX);
        if used >= limit {
            return Verdict::Denied(RateInfo {
                category,
                limit_type: LimitType::Qps,
                limit,
                remaining: 0,
                reset_at: None,
            });
        }

        let mut daily_info = None;
        if category.has_daily_cap() {
            let today = now.date_naive();
            let day = self.daily.entry(account.to_owned()).or_insert((today, 0));
            if day.0 != today {
                *day = (today, 0);
            }
            if day.1 >= limits.daily_heavy {
                let reset_at = crate::time::day_start(today) + TimeDelta::days(1);
                return Verdict::Denied(RateInfo {
                    category,
                    limit_type: LimitType::Daily,
                    limit: limits.daily_heavy,
                    remaining: 0,
                    reset_at: Some(reset_at),
                });
            }
            day.1 += 1;
            daily_info = Some(RateInfo {
                category,
                limit_type: LimitType::Daily,
                limit: limits.daily_heavy,
                remaining: limits.daily_heavy - day.1,
                reset_at: None,
            });
        }

        window.recent.push_back(at);
        window.last_second.push_back(at);
        let in_second = u32::try_from(window.last_second.len()).unwrap_or(u32::MAX);
        window.max_per_second = window.max_per_second.max(in_second);
        Verdict::Allowed(daily_info.unwrap_or(RateInfo {
            category,
            limit_type: LimitType::Qps,
            limit,
            remaining: limit.saturating_sub(used + 1),
            reset_at: None,
        }))
    }

    /// The most requests allowed in any one second, per (account, category).
    pub(crate) fn max_per_second(&self) -> BTreeMap<(String, Category), u32> {
        self.windows
            .iter()
            .filter(|(_, w)| w.max_per_second > 0)
            .map(|(key, w)| (key.clone(), w.max_per_second))
            .collect()
    }

    /// Forgets the recorded maxima (the windows keep limiting).
    pub(crate) fn reset_max(&mut self) {
        for window in self.windows.values_mut() {
            window.max_per_second = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(heavy_qps: u32, daily_heavy: u32) -> Limits {
        Limits {
            heavy_qps,
            daily_heavy,
            ..Limits::business()
        }
    }

    #[test]
    fn sliding_window_allows_limit_per_second() {
        let mut limiter = RateLimiter::default();
        let limits = limits(3, 1000);
        let t0 = Instant::now();
        let now = Utc::now();
        let mut allowed = 0;
        for i in 0..10u64 {
            let at = t0 + Duration::from_millis(i * 50);
            if let Verdict::Allowed(_) = limiter.check("a", Category::Heavy, &limits, at, now) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        // A full second after the first request a slot frees up.
        let later = t0 + Duration::from_millis(1000);
        assert!(matches!(
            limiter.check("a", Category::Heavy, &limits, later, now),
            Verdict::Allowed(_)
        ));
        // Other accounts and categories are independent.
        assert!(matches!(
            limiter.check("b", Category::Heavy, &limits, t0, now),
            Verdict::Allowed(_)
        ));
        let max = limiter.max_per_second();
        assert_eq!(max[&("a".to_owned(), Category::Heavy)], 3);
    }

    #[test]
    fn daily_cap_resets_at_midnight() {
        let mut limiter = RateLimiter::default();
        let limits = limits(100, 2);
        let t0 = Instant::now();
        let now = DateTime::parse_from_rfc3339("2024-05-01T23:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for _ in 0..2 {
            assert!(matches!(
                limiter.check("a", Category::Heavy, &limits, t0, now),
                Verdict::Allowed(_)
            ));
        }
        match limiter.check("a", Category::Heavy, &limits, t0, now) {
            Verdict::Denied(info) => {
                assert_eq!(info.limit_type, LimitType::Daily);
                assert_eq!(
                    crate::time::fmt(info.reset_at.unwrap()),
                    "2024-05-02T00:00:00Z"
                );
            }
            Verdict::Allowed(_) => panic!("daily cap not enforced"),
        }
        let tomorrow = now + TimeDelta::hours(2);
        assert!(matches!(
            limiter.check("a", Category::Heavy, &limits, t0, tomorrow),
            Verdict::Allowed(_)
        ));
    }
}

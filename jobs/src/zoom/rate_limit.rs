//! The per-account Zoom rate limiter, shared by every process through Redis.
//!
//! Zoom limits each account per category (Light, Medium, Heavy, Resource-intensive) per
//! second, plus a daily cap shared by Heavy and Resource-intensive (zoom-api.md §7). Every
//! worker and API process asks this limiter before each call, so together they stay under
//! the account's budget.
//!
//! Per-second budgets use GCRA (the generic cell rate algorithm) in a Lua script, with the
//! reservation variant: each caller atomically takes the next free slot (the "theoretical
//! arrival time", TAT, kept at `{prefix}:zoom:rl:{account}:{category}`) and sleeps until it.
//! Callers are therefore spaced evenly across processes without polling. The clock is Redis'
//! own (`TIME`), so processes on machines with skewed clocks agree.
//!
//! The daily budget is a counter at `{prefix}:zoom:rl:{account}:daily` that expires at the
//! next 00:00 UTC; a daily 429 from Zoom also sets `…:daily:blocked` until Zoom's
//! `Retry-After`, so every process defers at once.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use tracing::debug;

use super::error::ZoomError;
use super::metrics;

/// Zoom's rate-limit categories ("Rate Limit Label" of each endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Light,
    Medium,
    Heavy,
    ResourceIntensive,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Self::Light,
        Self::Medium,
        Self::Heavy,
        Self::ResourceIntensive,
    ];

    /// Stable lowercase name, used in Redis keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Medium => "medium",
            Self::Heavy => "heavy",
            Self::ResourceIntensive => "resource_intensive",
        }
    }

    /// Whether the category draws on the shared daily cap (Heavy + Resource-intensive).
    pub fn counts_daily(self) -> bool {
        matches!(self, Self::Heavy | Self::ResourceIntensive)
    }
}

/// `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl Rate {
    pub const fn per_second(requests: u32) -> Self {
        Self {
            requests,
            per: Duration::from_secs(1),
        }
    }

    pub const fn per_minute(requests: u32) -> Self {
        Self {
            requests,
            per: Duration::from_secs(60),
        }
    }
}

/// An account's budgets. `Default` is Zoom's Business+ plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub light: Rate,
    pub medium: Rate,
    pub heavy: Rate,
    pub resource_intensive: Rate,
    /// Daily cap shared by Heavy and Resource-intensive; `None` for no daily budget.
    pub daily_heavy: Option<u32>,
    /// Share of every budget actually used (0 < f ≤ 1), a margin for clock and network
    /// jitter and for other apps on the same account.
    pub safety_factor: f64,
    /// Requests allowed back to back before spacing applies (GCRA burst); 1 = evenly spaced.
    pub burst: u32,
    /// Longest wait `acquire` sleeps; beyond it, it returns `RateLimited` instead.
    pub max_wait: Duration,
}

impl RateLimits {
    /// Zoom Business, Education, Enterprise and Partner plans.
    pub fn business() -> Self {
        Self {
            light: Rate::per_second(80),
            medium: Rate::per_second(60),
            heavy: Rate::per_second(40),
            resource_intensive: Rate::per_minute(20),
            daily_heavy: Some(60_000),
            safety_factor: 0.9,
            burst: 1,
            max_wait: Duration::from_secs(120),
        }
    }

    /// Zoom Pro plan.
    pub fn pro() -> Self {
        Self {
            light: Rate::per_second(30),
            medium: Rate::per_second(20),
            heavy: Rate::per_second(10),
            resource_intensive: Rate::per_minute(10),
            daily_heavy: Some(30_000),
            ..Self::business()
        }
    }

    /// The budget of one category.
    pub fn rate(&self, category: Category) -> Rate {
        match category {
            Category::Light => self.light,
            Category::Medium => self.medium,
            Category::Heavy => self.heavy,
            Category::ResourceIntensive => self.resource_intensive,
        }
    }

    fn factor(&self) -> f64 {
        if self.safety_factor.is_finite() && self.safety_factor > 0.0 {
            self.safety_factor.min(1.0)
        } else {
            1.0
        }
    }

    /// Time between two requests of `category` after the safety factor.
    pub fn emission_interval(&self, category: Category) -> Duration {
        let rate = self.rate(category);
        let per_request =
            rate.per.as_secs_f64() / (f64::from(rate.requests.max(1)) * self.factor());
        Duration::from_secs_f64(per_request)
    }

    /// Daily cap after the safety factor (`None`: unlimited).
    pub fn daily_budget(&self) -> Option<u64> {
        self.daily_heavy
            .map(|d| ((f64::from(d) * self.factor()).floor() as u64).max(1))
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::business()
    }
}

/// How long `acquire` waited for its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Waited(pub Duration);

/// Reserves a slot. KEYS: tat, daily counter, daily block.
/// ARGV: interval µs, burst tolerance µs, max wait µs, daily budget (0 = none).
/// Returns {0, wait µs} | {1, µs until the daily budget resets} | {2, wait µs over max}.
const ACQUIRE_LUA: &str = r"
local t = redis.call('TIME')
local secs = tonumber(t[1])
local now = secs * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local daily = tonumber(ARGV[4])
local midnight = (math.floor(secs / 86400) + 1) * 86400
if daily > 0 then
  local blocked = redis.call('PTTL', KEYS[3])
  if blocked > 0 then
    return {1, blocked * 1000}
  end
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= daily then
    return {1, midnight * 1000000 - now}
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local at = tat - tau
if at < now then at = now end
local wait = at - now
if wait > max_wait then
  return {2, wait}
end
local new_tat = tat + interval
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
if daily > 0 then
  redis.call('INCR', KEYS[2])
  if redis.call('TTL', KEYS[2]) < 0 then
    redis.call('EXPIREAT', KEYS[2], string.format('%.0f', midnight))
  end
end
return {0, wait}
";

/// Pushes the TAT to at least now + ARGV[1] µs. KEYS: tat.
const PENALIZE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ then
  local ttl_ms = math.floor((until_ - now) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', string.format('%.0f', ttl_ms))
end
return 1
";

struct Scripts {
    acquire: Script,
    penalize: Script,
}

/// The shared limiter. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    prefix: Arc<str>,
    limits: Arc<RateLimits>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter on `conn` whose keys start with `prefix` (e.g. the deployment name; tests
    /// use a random one).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>, limits: RateLimits) -> Self {
        Self {
            conn,
            prefix: prefix.into().into(),
            limits: Arc::new(limits),
            scripts: Arc::new(Scripts {
                acquire: Script::new(ACQUIRE_LUA),
                penalize: Script::new(PENALIZE_LUA),
            }),
        }
    }

    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    fn key(&self, account_id: &str, suffix: &str) -> String {
        format!("{}:zoom:rl:{account_id}:{suffix}", self.prefix)
    }

    /// Waits until `account_id` may make one request of `category`, and takes it.
    ///
    /// Returns how long it waited, or `RateLimited { daily: true, retry_after }` when the
    /// daily budget is spent (retry after the next 00:00 UTC), or `RateLimited { daily:
    /// false }` when the wait would exceed `max_wait`.
    pub async fn acquire(&self, account_id: &str, category: Category) -> Result<Waited, ZoomError> {
        let interval = self.limits.emission_interval(category);
        let tau = interval.saturating_mul(self.limits.burst.max(1) - 1);
        let daily = if category.counts_daily() {
            self.limits.daily_budget().unwrap_or(0)
        } else {
            0
        };
        let mut conn = self.conn.clone();
        let (status, micros): (i64, i64) = self
            .scripts
            .acquire
            .key(self.key(account_id, category.as_str()))
            .key(self.key(account_id, "daily"))
            .key(self.key(account_id, "daily:blocked"))
            .arg(micros(interval))
            .arg(micros(tau))
            .arg(micros(self.limits.max_wait))
            .arg(daily)
            .invoke_async(&mut conn)
            .await
            .map_err(ZoomError::Limiter)?;
        let wait = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
        match status {
            0 => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                metrics::limiter_wait(category.as_str(), wait);
                Ok(Waited(wait))
            }
            1 => {
                debug!(category = category.as_str(), "daily Zoom budget spent");
                Err(ZoomError::RateLimited {
                    retry_after: wait,
                    daily: true,
                })
            }
            _ => Err(ZoomError::RateLimited {
                retry_after: wait,
                daily: false,
            }),
        }
    }

    /// Slows every process down after a 429: no request of `category` for `account_id`
    /// starts before `retry_after` from now.
    pub async fn penalize(
        &self,
        account_id: &str,
        category: Category,
        retry_after: Duration,
    ) -> Result<(), ZoomError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .penalize
            .key(self.key(account_id, category.as_str()))
            .arg(micros(retry_after))
            .invoke_async(&mut conn)
            .await
            .map_err(ZoomError::Limiter)?;
        Ok(())
    }

    /// Marks the account's daily budget as spent for `retry_after` (after Zoom answered a
    /// daily-limit 429), so every process defers its Heavy work.
    pub async fn exhaust_daily(
        &self,
        account_id: &str,
        retry_after: Duration,
    ) -> Result<(), ZoomError> {
        let ms = u64::try_from(retry_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(self.key(account_id, "daily:blocked"))
            .arg(1)
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await
            .map_err(ZoomError::Limiter)?;
        Ok(())
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_apply_the_safety_factor() {
        let limits = RateLimits::business();
        assert_eq!(
            limits.emission_interval(Category::Heavy),
            Duration::from_secs_f64(1.0 / 36.0)
        );
        assert_eq!(
            limits.emission_interval(Category::ResourceIntensive),
            Duration::from_secs_f64(60.0 / 18.0)
        );
        assert_eq!(limits.daily_budget(), Some(54_000));
        let exact = RateLimits {
            safety_factor: 1.0,
            heavy: Rate::per_second(5),
            ..RateLimits::business()
        };
        assert_eq!(
            exact.emission_interval(Category::Heavy),
            Duration::from_millis(200)
        );
        let nonsense = RateLimits {
            safety_factor: f64::NAN,
            ..exact.clone()
        };
        assert_eq!(
            nonsense.emission_interval(Category::Heavy),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn categories() {
        assert!(Category::Heavy.counts_daily());
        assert!(Category::ResourceIntensive.counts_daily());
        assert!(!Category::Medium.counts_daily());
        assert_eq!(Category::ResourceIntensive.as_str(), "resource_intensive");
    }
}

//! Configuration from the environment (SPEC §3), read once at start-up into typed structs.
//!
//! Nothing else in the process reads the environment. A missing or malformed variable is a
//! [`ConfigError`] whose `Display` is one line naming the variable; `main` prints it and exits
//! with [`EXIT_CONFIG`].

use std::{net::SocketAddr, time::Duration};

use base64::Engine as _;
use jobs::{crypto::TokenKey, zoom::RateLimits};
use secrecy::SecretString;
use url::Url;

/// Exit code of a process stopped by bad configuration (documented in the README).
pub const EXIT_CONFIG: i32 = 2;

/// One problem with one variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("{var} is malformed: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Everything `serve`, `worker` and `all` need.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub bind_addr: SocketAddr,
    pub public_base_url: Url,
    pub zoom_client_id: String,
    pub zoom_client_secret: SecretString,
    pub zoom_webhook_secret_token: SecretString,
    pub zoom_oauth_base_url: Url,
    pub zoom_api_base_url: Option<Url>,
    /// The budget of the shared Zoom rate limiter (`ZOOM_RATE_LIMIT_PLAN`).
    pub zoom_rate_limits: RateLimits,
    pub token_key: TokenKey,
    pub admin_api_token: SecretString,
    pub user_jwt: UserJwtConfig,
    pub pull_schedule: cron::Schedule,
    pub pull_schedule_text: String,
    pub backfill_days: u32,
    pub pull_overlap_minutes: u32,
    pub billing_increment_minutes: u32,
    pub worker_concurrency: usize,
    pub shutdown_timeout: Duration,
    pub log_format: LogFormat,
}

/// How the main Billables app's user tokens are checked.
#[derive(Clone, Debug)]
pub struct UserJwtConfig {
    pub secret: SecretString,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Defaults for local use (SPEC §3).
pub mod defaults {
    pub const DATABASE_URL: &str = "postgres://root@127.0.0.1:5432/billables_zoom";
    pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
    pub const REDIS_PREFIX: &str = "bz";
    pub const BIND_ADDR: &str = "127.0.0.1:8080";
    pub const PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080";
    pub const ZOOM_OAUTH_BASE_URL: &str = "https://zoom.us";
    pub const PULL_SCHEDULE: &str = "0 */15 * * * *";
    pub const BACKFILL_DAYS: u32 = 30;
    pub const PULL_OVERLAP_MINUTES: u32 = 120;
    pub const BILLING_INCREMENT_MINUTES: u32 = 6;
    pub const WORKER_CONCURRENCY: usize = 4;
    pub const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
}

/// A source of variables: the process environment in production, a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment (after `.env` was loaded by `main`).
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.trim().is_empty())
    }
}

fn required(vars: &dyn Vars, var: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    vars.get(var).ok_or(ConfigError::Missing { var, hint })
}

fn or_default(vars: &dyn Vars, var: &str, default: &str) -> String {
    vars.get(var).unwrap_or_else(|| default.to_owned())
}

fn parse_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid {
            var,
            reason: "must be an http or https URL".into(),
        });
    }
    Ok(url)
}

fn parse_number<T: std::str::FromStr>(
    vars: &dyn Vars,
    var: &'static str,
    default: T,
    valid: impl Fn(&T) -> bool,
    expect: &str,
) -> Result<T, ConfigError> {
    match vars.get(var) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .ok()
            .filter(|v| valid(v))
            .ok_or_else(|| ConfigError::Invalid {
                var,
                reason: format!("expected {expect}, got {raw:?}"),
            }),
    }
}

/// Strips a trailing `/` so `{base}/path` joins cleanly.
fn trim_base(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    url
}

impl Config {
    /// Reads and checks every variable. The first problem found is returned.
    pub fn from_vars(vars: &dyn Vars) -> Result<Self, ConfigError> {
        let database_url = or_default(vars, "DATABASE_URL", defaults::DATABASE_URL);
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                reason: "must start with postgres:// or postgresql://".into(),
            });
        }
        let redis_url = or_default(vars, "REDIS_URL", defaults::REDIS_URL);
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            return Err(ConfigError::Invalid {
                var: "REDIS_URL",
                reason: "must start with redis:// or rediss://".into(),
            });
        }
        let redis_prefix = or_default(vars, "REDIS_KEY_PREFIX", defaults::REDIS_PREFIX);
        if !redis_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::Invalid {
                var: "REDIS_KEY_PREFIX",
                reason: "use letters, digits, '-', '_' or '.'".into(),
            });
        }
        let bind_raw = or_default(vars, "BIND_ADDR", defaults::BIND_ADDR);
        let bind_addr = bind_raw.parse().map_err(|_| ConfigError::Invalid {
            var: "BIND_ADDR",
            reason: format!("expected host:port such as 127.0.0.1:8080, got {bind_raw:?}"),
        })?;
        let public_base_url = trim_base(parse_url(
            "PUBLIC_BASE_URL",
            &or_default(vars, "PUBLIC_BASE_URL", defaults::PUBLIC_BASE_URL),
        )?);

        let zoom_client_id = required(vars, "ZOOM_CLIENT_ID", "the Zoom app's OAuth client id")?;
        let zoom_client_secret = SecretString::from(required(
            vars,
            "ZOOM_CLIENT_SECRET",
            "the Zoom app's OAuth client secret",
        )?);
        let zoom_webhook_secret_token = SecretString::from(required(
            vars,
            "ZOOM_WEBHOOK_SECRET_TOKEN",
            "the Zoom app's webhook secret token",
        )?);
        let zoom_oauth_base_url = trim_base(parse_url(
            "ZOOM_OAUTH_BASE_URL",
            &or_default(vars, "ZOOM_OAUTH_BASE_URL", defaults::ZOOM_OAUTH_BASE_URL),
        )?);
        let zoom_api_base_url = vars
            .get("ZOOM_API_BASE_URL")
            .map(|v| parse_url("ZOOM_API_BASE_URL", &v).map(trim_base))
            .transpose()?;
        // Zoom's limits depend on the account's plan; the limiter is sized to one plan for
        // every account this deployment serves (the smallest plan among them is the safe pick).
        let zoom_rate_limits = match vars
            .get("ZOOM_RATE_LIMIT_PLAN")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("business") => RateLimits::business(),
            Some("pro") => RateLimits::pro(),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "ZOOM_RATE_LIMIT_PLAN",
                    reason: format!("expected business or pro, got {other:?}"),
                });
            }
        };

        let key_b64 = required(
            vars,
            "TOKEN_ENCRYPTION_KEY",
            "32 random bytes, base64 (openssl rand -base64 32)",
        )?;
        let key_bytes = base64::engine::general_purpose::STANDARD
            .decode(key_b64.trim())
            .map_err(|_| ConfigError::Invalid {
                var: "TOKEN_ENCRYPTION_KEY",
                reason: "not valid base64".into(),
            })?;
        let token_key = TokenKey::from_bytes(&key_bytes).map_err(|_| ConfigError::Invalid {
            var: "TOKEN_ENCRYPTION_KEY",
            reason: format!("must decode to 32 bytes, got {}", key_bytes.len()),
        })?;

        let admin_api_token = required(
            vars,
            "ADMIN_API_TOKEN",
            "the bearer token of Billables staff and operators",
        )?;
        if admin_api_token.len() < 16 {
            return Err(ConfigError::Invalid {
                var: "ADMIN_API_TOKEN",
                reason: "must be at least 16 characters".into(),
            });
        }
        let admin_api_token = SecretString::from(admin_api_token);
        let user_jwt = UserJwtConfig {
            secret: SecretString::from(required(
                vars,
                "USER_JWT_SECRET",
                "the HS256 secret of the Billables app's user tokens",
            )?),
            issuer: vars.get("USER_JWT_ISSUER"),
            audience: vars.get("USER_JWT_AUDIENCE"),
        };

        let pull_schedule_text = or_default(vars, "PULL_SCHEDULE", defaults::PULL_SCHEDULE);
        let pull_schedule =
            pull_schedule_text
                .parse::<cron::Schedule>()
                .map_err(|e| ConfigError::Invalid {
                    var: "PULL_SCHEDULE",
                    reason: format!(
                        "not a cron expression with seconds, such as \"0 */15 * * * *\" ({e})"
                    ),
                })?;
        let backfill_days = parse_number(
            vars,
            "BACKFILL_DAYS",
            defaults::BACKFILL_DAYS,
            |d| (1..=180).contains(d),
            "a whole number of days from 1 to 180 (Zoom keeps reports six months)",
        )?;
        let pull_overlap_minutes = parse_number(
            vars,
            "PULL_OVERLAP_MINUTES",
            defaults::PULL_OVERLAP_MINUTES,
            |m| (5..=7 * 24 * 60).contains(m),
            "a whole number of minutes from 5 to 10080 (at least Zoom's report delay; 120 is safe)",
        )?;
        let billing_increment_minutes = parse_number(
            vars,
            "BILLING_INCREMENT_MINUTES",
            defaults::BILLING_INCREMENT_MINUTES,
            |m| (1..=60).contains(m),
            "a whole number of minutes from 1 to 60",
        )?;
        let worker_concurrency = parse_number(
            vars,
            "WORKER_CONCURRENCY",
            defaults::WORKER_CONCURRENCY,
            |c| (1..=256).contains(c),
            "a whole number from 1 to 256",
        )?;
        let shutdown_timeout = Duration::from_secs(parse_number(
            vars,
            "SHUTDOWN_TIMEOUT_SECS",
            defaults::SHUTDOWN_TIMEOUT_SECS,
            |s| (1..=600).contains(s),
            "a whole number of seconds from 1 to 600",
        )?);
        let log_format = match vars.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "LOG_FORMAT",
                    reason: format!("expected text or json, got {other:?}"),
                });
            }
        };

        Ok(Self {
            database_url,
            redis_url,
            redis_prefix,
            bind_addr,
            public_base_url,
            zoom_client_id,
            zoom_client_secret,
            zoom_webhook_secret_token,
            zoom_oauth_base_url,
            zoom_api_base_url,
            zoom_rate_limits,
            token_key,
            admin_api_token,
            user_jwt,
            pull_schedule,
            pull_schedule_text,
            backfill_days,
            pull_overlap_minutes,
            billing_increment_minutes,
            worker_concurrency,
            shutdown_timeout,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ZOOM_CLIENT_ID", "id".to_owned()),
            ("ZOOM_CLIENT_SECRET", "secret".to_owned()),
            ("ZOOM_WEBHOOK_SECRET_TOKEN", "whsecret".to_owned()),
            (
                "TOKEN_ENCRYPTION_KEY",
                base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
            ),
            ("ADMIN_API_TOKEN", "admin-token-0123456789".to_owned()),
            ("USER_JWT_SECRET", "jwt-secret".to_owned()),
        ])
    }

    fn load(map: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_vars(&|name: &str| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_secrets_are_set() {
        let config = load(&base()).expect("valid");
        assert_eq!(config.database_url, defaults::DATABASE_URL);
        assert_eq!(config.bind_addr.to_string(), defaults::BIND_ADDR);
        assert_eq!(config.public_base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.backfill_days, 30);
        assert_eq!(config.billing_increment_minutes, 6);
        assert!(config.zoom_api_base_url.is_none());
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for var in [
            "ZOOM_CLIENT_ID",
            "ZOOM_CLIENT_SECRET",
            "ZOOM_WEBHOOK_SECRET_TOKEN",
            "TOKEN_ENCRYPTION_KEY",
            "ADMIN_API_TOKEN",
            "USER_JWT_SECRET",
        ] {
            let mut map = base();
            map.remove(var);
            let err = load(&map).expect_err(var);
            assert!(
                matches!(err, ConfigError::Missing { var: v, .. } if v == var),
                "{err}"
            );
            let line = err.to_string();
            assert!(line.starts_with(var) && !line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn blank_counts_as_missing() {
        let mut map = base();
        map.insert("ZOOM_CLIENT_ID", "  ".to_owned());
        assert!(matches!(
            load(&map),
            Err(ConfigError::Missing {
                var: "ZOOM_CLIENT_ID",
                ..
            })
        ));
    }

    #[test]
    fn malformed_values_are_named() {
        let cases = [
            ("TOKEN_ENCRYPTION_KEY", "not base64!"),
            ("TOKEN_ENCRYPTION_KEY", "c2hvcnQ="),
            ("BIND_ADDR", "localhost"),
            ("PUBLIC_BASE_URL", "ftp://x"),
            ("PULL_SCHEDULE", "every minute"),
            ("BACKFILL_DAYS", "0"),
            ("BACKFILL_DAYS", "abc"),
            ("PULL_OVERLAP_MINUTES", "1"),
            ("BILLING_INCREMENT_MINUTES", "-6"),
            ("WORKER_CONCURRENCY", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "http://x"),
            ("LOG_FORMAT", "xml"),
            ("ZOOM_RATE_LIMIT_PLAN", "free"),
            ("ADMIN_API_TOKEN", "short"),
        ];
        for (var, value) in cases {
            let mut map = base();
            map.insert(var, value.to_owned());
            let err = load(&map).expect_err(var);
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn rate_limit_plan_defaults_to_business_and_accepts_pro() {
        assert_eq!(
            load(&base()).expect("valid").zoom_rate_limits,
            RateLimits::business()
        );
        for value in ["pro", " Pro "] {
            let mut map = base();
            map.insert("ZOOM_RATE_LIMIT_PLAN", value.to_owned());
            assert_eq!(
                load(&map).expect("valid").zoom_rate_limits,
                RateLimits::pro(),
                "{value:?}"
            );
        }
        let mut map = base();
        map.insert("ZOOM_RATE_LIMIT_PLAN", "business".to_owned());
        assert_eq!(
            load(&map).expect("valid").zoom_rate_limits,
            RateLimits::business()
        );
    }

    #[test]
    fn api_base_override_and_trailing_slashes() {
        let mut map = base();
        map.insert("ZOOM_API_BASE_URL", "http://127.0.0.1:9100/v2/".to_owned());
        map.insert("ZOOM_OAUTH_BASE_URL", "http://127.0.0.1:9100/".to_owned());
        let config = load(&map).expect("valid");
        assert_eq!(
            config.zoom_api_base_url.expect("set").as_str(),
            "http://127.0.0.1:9100/v2"
        );
        assert_eq!(
            config.zoom_oauth_base_url.as_str(),
            "http://127.0.0.1:9100/"
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let config = load(&base()).expect("valid");
        let debug = format!("{config:?}");
        for secret in ["secret", "whsecret", "admin-token-0123456789", "jwt-secret"] {
            assert!(
                !debug.contains(&format!("\"{secret}\"")),
                "{secret} leaked in {debug}"
            );
        }
    }
}

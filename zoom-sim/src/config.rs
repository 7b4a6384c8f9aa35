//! Simulator configuration: the app's credentials, token lifetime, default rate limits.

use crate::limits::Limits;

/// How a simulator instance behaves. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Seeds every generated company (per company: seed + company index).
    pub seed: u64,
    pub client_id: String,
    pub client_secret: String,
    /// Key of the `x-zm-signature` HMAC on webhooks the simulator sends.
    pub webhook_secret_token: String,
    pub access_token_ttl_secs: i64,
    /// Limits of Business-plan companies (the default plan).
    pub limits: Limits,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            client_id: "sim-client-id".to_owned(),
            client_secret: "sim-client-secret".to_owned(),
            webhook_secret_token: "sim-webhook-secret".to_owned(),
            access_token_ttl_secs: 3599,
            limits: Limits::business(),
        }
    }
}

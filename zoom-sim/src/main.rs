//! The `zoom-sim` binary: serves the fake Zoom on `--bind`, optionally creating the
//! companies of a scenario file first and printing their account ids and admin e-mails.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use zoom_sim::{CompanySpec, Limits, SimConfig};

/// A stateful, deterministic fake of the Zoom API for Billables for Zoom.
#[derive(Debug, Parser)]
#[command(name = "zoom-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "ZOOM_SIM_BIND", default_value = "127.0.0.1:9100")]
    bind: SocketAddr,
    /// Seed of every generated company.
    #[arg(long, env = "ZOOM_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// JSON file: `{"companies":[{...POST /_sim/companies body...}], "limits":{...}}`.
    #[arg(long, env = "ZOOM_SIM_SCENARIO")]
    scenario: Option<PathBuf>,
    #[arg(long, env = "ZOOM_SIM_CLIENT_ID", default_value = "sim-client-id")]
    client_id: String,
    #[arg(
        long,
        env = "ZOOM_SIM_CLIENT_SECRET",
        default_value = "sim-client-secret"
    )]
    client_secret: String,
    #[arg(
        long,
        env = "ZOOM_SIM_WEBHOOK_SECRET",
        default_value = "sim-webhook-secret"
    )]
    webhook_secret_token: String,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    token_ttl_secs: i64,
    /// Light requests per second per account (overrides the scenario).
    #[arg(long)]
    light_qps: Option<u32>,
    /// Medium requests per second per account.
    #[arg(long)]
    medium_qps: Option<u32>,
    /// Heavy requests per second per account.
    #[arg(long)]
    heavy_qps: Option<u32>,
    /// Resource-intensive requests per minute per account.
    #[arg(long)]
    resource_intensive_per_minute: Option<u32>,
    /// Daily cap shared by Heavy and Resource-intensive requests.
    #[arg(long)]
    daily_heavy: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(default)]
    companies: Vec<CompanySpec>,
    #[serde(default)]
    limits: Option<Limits>,
}

impl Args {
    fn limits(&self, base: Limits) -> Limits {
        Limits {
            light_qps: self.light_qps.unwrap_or(base.light_qps),
            medium_qps: self.medium_qps.unwrap_or(base.medium_qps),
            heavy_qps: self.heavy_qps.unwrap_or(base.heavy_qps),
            resource_intensive_per_minute: self
                .resource_intensive_per_minute
                .unwrap_or(base.resource_intensive_per_minute),
            daily_heavy: self.daily_heavy.unwrap_or(base.daily_heavy),
        }
    }
}

fn read_scenario(path: &PathBuf) -> anyhow::Result<Scenario> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    serde_json::from_str(&raw).with_context(|| format!("parsing scenario {}", path.display()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(path) => read_scenario(path)?,
        None => Scenario::default(),
    };
    let config = SimConfig {
        seed: args.seed,
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        webhook_secret_token: args.webhook_secret_token.clone(),
        access_token_ttl_secs: args.token_ttl_secs,
        limits: args.limits(scenario.limits.clone().unwrap_or_default()),
    };
    let handle = zoom_sim::spawn_on(config, args.bind).await?;
    let sim = handle.state();
    println!("zoom-sim listening on {}", handle.base_url());
    for spec in &scenario.companies {
        let company = sim
            .create_company(spec)
            .with_context(|| format!("creating company {}", spec.domain))?;
        println!(
            "company domain={} account_id={} admin_email={} users={}",
            company.domain,
            company.account_id,
            company.admin.email,
            company.users.len()
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

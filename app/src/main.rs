//! `billables-zoom`: the one binary of the Zoom integration of Billables AI.
//!
//! `serve` runs the API, `worker` the job workers and the scheduler, `all` both in one
//! process; `migrate` applies the database migrations; `dev-token` prints a user token for
//! local use. Configuration comes from the environment (and `.env`), see the README.

use std::process::ExitCode;

use anyhow::Context as _;
use app::{
    config::{self, Config, ConfigError, EXIT_CONFIG, ProcessEnv, Vars},
    startup, telemetry,
};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "billables-zoom",
    version,
    about = "Zoom meetings and calls into billable time entries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (install links, OAuth, webhooks, user and operator routes).
    Serve,
    /// Run the job workers and the pull scheduler.
    Worker,
    /// Run the API and the workers in one process.
    All,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a user token (HS256 JWT signed with USER_JWT_SECRET) for local use.
    DevToken {
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The Billables user id (`sub`); defaults to one derived from the e-mail.
        #[arg(long)]
        sub: Option<String>,
        /// Hours until the token expires.
        #[arg(long, default_value_t = 24)]
        hours: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is fine; a malformed one is not.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env could not be read: {e}");
        return ExitCode::from(EXIT_CONFIG as u8);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<ConfigError>() {
                eprintln!("error: {config_error}");
                return ExitCode::from(EXIT_CONFIG as u8);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            let url = ProcessEnv
                .get("DATABASE_URL")
                .unwrap_or_else(|| config::defaults::DATABASE_URL.to_owned());
            telemetry::init(config::LogFormat::Text);
            let db = jobs::store::connect(&url, 2).await.with_context(|| {
                format!(
                    "could not connect to Postgres at {}",
                    startup::redact_url(&url)
                )
            })?;
            jobs::store::migrate(&db)
                .await
                .context("could not apply database migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::DevToken { email, sub, hours } => {
            let secret = ProcessEnv
                .get("USER_JWT_SECRET")
                .ok_or(ConfigError::Missing {
                    var: "USER_JWT_SECRET",
                    hint: "the HS256 secret of the Billables app's user tokens",
                })?;
            let email = email.trim().to_owned();
            if !email.contains('@') {
                anyhow::bail!("--email must be an e-mail address, got {email:?}");
            }
            let sub = sub.unwrap_or_else(|| format!("dev-{}", email.to_lowercase()));
            let exp = chrono::Utc::now().timestamp() + hours.max(1) * 3600;
            let mut claims = serde_json::json!({"sub": sub, "email": email, "exp": exp});
            if let Some(iss) = ProcessEnv.get("USER_JWT_ISSUER") {
                claims["iss"] = iss.into();
            }
            if let Some(aud) = ProcessEnv.get("USER_JWT_AUDIENCE") {
                claims["aud"] = aud.into();
            }
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            )
            .context("could not sign the token")?;
            println!("{token}");
            Ok(())
        }
        role @ (Command::Serve | Command::Worker | Command::All) => {
            let config = Config::from_vars(&ProcessEnv)?;
            telemetry::init(config.log_format);
            run_roles(
                &config,
                matches!(role, Command::Serve | Command::All),
                matches!(role, Command::Worker | Command::All),
            )
            .await
        }
    }
}

async fn run_roles(config: &Config, api: bool, workers: bool) -> anyhow::Result<()> {
    let services = startup::connect(config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            startup::shutdown_signal().await;
            shutdown.cancel();
        }
    });

    let api_task = async {
        if !api {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("could not listen on BIND_ADDR {}", config.bind_addr))?;
        let result = startup::serve(
            listener,
            startup::api_state(config, &services)?,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        result
    };
    let worker_task = async {
        if !workers {
            return Ok(());
        }
        let result = startup::work(config, &services, shutdown.clone()).await;
        shutdown.cancel();
        result
    };
    let (api_result, worker_result) = tokio::join!(api_task, worker_task);
    api_result.and(worker_result)
}

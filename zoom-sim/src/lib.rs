//! `zoom-sim`: a stateful, deterministic (seeded) fake of the Zoom surface Billables for
//! Zoom uses — OAuth, users, meeting reports and participants, phone call history — with
//! Zoom's URL shapes, field names, pagination, errors and per-account rate limits, plus a
//! control API under `/_sim/` to generate companies, move the clock, inject faults, send a
//! signed `app_deauthorized` webhook and read counters and ground truth.
//!
//! The contract is `docs/zoom-sim.md`; Zoom facts are in `shared/zoom-api.md`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = zoom_sim::spawn(zoom_sim::SimConfig::default()).await?;
//! let company = sim.state().create_company(&zoom_sim::CompanySpec::new("acme.test"))?;
//! println!("{} at {}", company.account_id, sim.base_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod control;
mod counters;
mod error;
mod faults;
mod generator;
mod ids;
mod limits;
mod model;
mod oauth;
mod pagination;
mod sim;
mod state;
mod time;
mod truth;
mod types;
mod webhook;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::SimConfig;
pub use error::SimError;
pub use faults::{ActiveFaults, FaultSpec, FaultState};
pub use limits::{Category, Limits};
pub use sim::Sim;
pub use types::{
    AdminInfo, ApproverSpec, CallRecord, ClockInfo, CompanyInfo, CompanySpec, Counters,
    MaxPerSecond, MeetingCreated, NewCall, NewMeeting, NewParticipant, NewUser, RequestCount,
    Truth, TruthCall, TruthMeeting, TruthQuery, UserInfo,
};
pub use webhook::signature as webhook_signature;

/// The whole HTTP surface: OAuth, `/v2` REST, `/_sim/` control.
fn router(sim: Sim) -> Router {
    Router::new()
        .merge(oauth::router())
        .merge(api::router())
        .merge(control::router())
        .fallback(api::fallback)
        .with_state(sim)
}

/// A running simulator. Dropping it stops the server too; [`SimHandle::shutdown`] also
/// waits for it to finish.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    sim: Sim,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// In-process access to the same state as `/_sim/`.
    pub fn state(&self) -> Sim {
        self.sim.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; nothing to stop then.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "zoom-sim server task ended abnormally");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `127.0.0.1` with a free port.
pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    spawn_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// Starts a simulator on `addr`.
pub async fn spawn_on(config: SimConfig, addr: SocketAddr) -> anyhow::Result<SimHandle> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding zoom-sim to {addr}"))?;
    let addr = listener
        .local_addr()
        .context("reading zoom-sim's bound address")?;
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    };
    let sim = Sim::new(config, format!("http://{host}")).context("building zoom-sim")?;
    let app = router(sim.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            // Either an explicit stop or the handle being dropped.
            let _ = stopped.await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "zoom-sim server failed");
        }
    });
    tracing::info!(%addr, "zoom-sim listening");
    Ok(SimHandle {
        addr,
        sim,
        stop: Some(stop),
        task: Some(task),
    })
}

//! More in-process job workers for an app under test: another "worker process" on the same
//! database and Redis prefix, as `billables-zoom worker` started twice would be.

use app::startup::{self, Services};
use jobs::queue::Queues;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// A second set of workers; stops with the app, or earlier with [`Workers::stop`].
pub struct Workers {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Starts every job worker again over `app`'s database and Redis prefix, with a Redis
/// connection of its own (worker names are unique per start, as in separate processes).
pub fn spawn_workers(app: &TestApp) -> Workers {
    let redis = startup::redis_manager(&app.config.redis_url).expect("redis client");
    let services = Services {
        db: app.db.clone(),
        queues: Queues::new(redis.clone(), app.queues.prefix()),
        redis,
    };
    let config = app.config.clone();
    let shutdown = app.shutdown.child_token();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { startup::work(&config, &services, token).await });
    Workers { shutdown, task }
}

impl Workers {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(20), self.task)
            .await
            .expect("stopped within 20 s")
            .expect("did not panic")
            .expect("stopped cleanly");
    }
}

//! Real `billables-zoom` processes for tests that need several of them (scheduler, crashes).

use std::process::{Child, Command, Stdio};

use base64::Engine as _;

use super::{ADMIN_TOKEN, JWT_SECRET, TestApp, WEBHOOK_SECRET};

/// The test database's URL (the harness's pool points at a per-test database).
pub fn database_url(app: &TestApp) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let (server, _) = server.rsplit_once('/').expect("URL with a database");
    format!(
        "{server}/{}",
        app.db
            .connect_options()
            .get_database()
            .expect("database name")
    )
}

/// Starts `billables-zoom {role}` against the app's database, Redis prefix and Zoom (the
/// simulator at `zoom_base`), with `extra` variables. Logs go to `log` (a file).
pub fn spawn_process(
    app: &TestApp,
    role: &str,
    zoom_base: &str,
    extra: &[(&str, &str)],
    log: &std::path::Path,
) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_billables-zoom"));
    command
        .arg(role)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(log.parent().expect("log dir"))
        .env("DATABASE_URL", database_url(app))
        .env("REDIS_URL", &app.config.redis_url)
        .env("REDIS_KEY_PREFIX", &app.config.redis_prefix)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("PUBLIC_BASE_URL", &app.base_url)
        .env("ZOOM_CLIENT_ID", "sim-client-id")
        .env("ZOOM_CLIENT_SECRET", "sim-client-secret")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", WEBHOOK_SECRET)
        .env("ZOOM_OAUTH_BASE_URL", zoom_base)
        .env(
            "TOKEN_ENCRYPTION_KEY",
            base64::engine::general_purpose::STANDARD.encode([42u8; 32]),
        )
        .env("ADMIN_API_TOKEN", ADMIN_TOKEN)
        .env("USER_JWT_SECRET", JWT_SECRET)
        .env("SHUTDOWN_TIMEOUT_SECS", "5")
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .stdin(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().expect("billables-zoom starts")
}

/// SIGTERM, then wait (kill after 15 s).
pub fn stop_process(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..150 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

//! The user's integrations page: Zoom's status, Activate/Deactivate, the progress of the
//! backfill and the most recent entries; and the pages around it (sign-in needed, a form that
//! cannot be trusted, the hop that brings a cross-site visitor back with their cookie).

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use jobs::{membership::ZoomStatus, store::billables::Billable, store::members::Backfill};
use maud::{Markup, PreEscaped, html};

use super::{page_with_head, problem};

/// The page's own styles, on top of the shared ones.
const STYLE: &str = r#"
main { max-width: 780px; }
.who { color: var(--muted); margin: 0 0 24px; }
.card { border:1px solid var(--line); border-radius:12px; padding:20px 22px; margin: 0 0 28px; }
.card-head { display:flex; gap:14px; align-items:center; }
.card-head h2 { margin:0; font-size:1.1rem; }
.card-head p { margin:0; color:var(--muted); font-size:.9rem; }
.app-icon { width:44px; height:44px; border-radius:11px; background:#2d8cff; display:flex; align-items:center; justify-content:center; flex:none; }
.badge { margin-left:auto; white-space:nowrap; font-size:.8rem; font-weight:600; padding:4px 11px; border-radius:999px; }
.badge-active { background:#e3f6ec; color:var(--ok); }
.badge-available { background:#e8eeff; color:var(--brand); }
.badge-waiting { background:#fff3d6; color:#8a5a00; }
.badge-off { background:#eef1f6; color:var(--muted); }
.badge-removed { background:#fdeceb; color:var(--bad); }
.card-body { margin-top:16px; padding-top:16px; border-top:1px solid var(--line); }
.card-body p { margin: 0 0 12px; }
.actions { margin-top: 16px; display:flex; gap:12px; align-items:center; }
.actions form { margin:0; }
.button[disabled] { background:#c5cbd6; cursor:not-allowed; }
.button.quiet { background:#fff; color:var(--bad); border:1px solid #ecc8c4; }
.progress-label { display:flex; justify-content:space-between; font-size:.9rem; color:var(--muted); }
.progress { height:8px; background:#eef1f6; border-radius:999px; overflow:hidden; margin:6px 0 12px; }
.progress > span { display:block; height:100%; background:var(--brand); border-radius:999px; transition: width .4s; }
.notice { border-left:4px solid #d9a000; background:#fff8e6; padding:10px 14px; border-radius:6px; margin: 0 0 20px; }
.notice.bad { border-left-color: var(--bad); background:#fdf0ef; }
.notice > strong:first-child { display:block; }
h2.section { font-size:1.1rem; margin: 0 0 8px; }
table.entries { width:100%; border-collapse:collapse; font-size:.95rem; }
table.entries th { text-align:left; font-size:.75rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:6px 8px; }
table.entries td { border-bottom:1px solid var(--line); padding:9px 8px; vertical-align:top; }
table.entries .when { white-space:nowrap; width: 1%; }
table.entries .num { text-align:right; white-space:nowrap; width: 1%; }
.sub { display:block; color:var(--muted); font-size:.8rem; }
.pill { display:inline-block; font-size:.72rem; font-weight:600; padding:1px 8px; border-radius:999px; background:#eef1f6; color:var(--muted); margin-left:6px; vertical-align:1px; }
.pill.dismissed { background:#fdeceb; color:var(--bad); }
tr.dismissed td { color: var(--muted); }
tr.dismissed .title { text-decoration: line-through; }
pre.command { background:#f1f3f7; padding:10px 14px; border-radius:8px; overflow-x:auto; font-size:.9rem; margin: 0 0 12px; }
"#;

/// How often the page reloads itself while a backfill is under way.
pub const REFRESH_SECS: u32 = 2;

/// Why the last Activate did not work (carried in the redirect back to the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    NotInstalled,
    NoZoomUser,
    QueueUnavailable,
}

impl Notice {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotInstalled => "not_installed",
            Self::NoZoomUser => "no_zoom_user",
            Self::QueueUnavailable => "queue_unavailable",
        }
    }

    /// Only the codes this page sends; anything else is ignored.
    pub fn parse(code: &str) -> Option<Self> {
        [Self::NotInstalled, Self::NoZoomUser, Self::QueueUnavailable]
            .into_iter()
            .find(|n| n.code() == code)
    }
}

/// Everything the page shows.
pub struct View<'a> {
    pub email: &'a str,
    pub zoom: &'a ZoomStatus,
    pub entries: &'a [Billable],
    pub notice: Option<Notice>,
    /// The form token of this user's session.
    pub csrf: &'a str,
    /// `BACKFILL_DAYS`, for users who have not activated yet.
    pub backfill_days: u32,
}

/// The backfill is still to finish: the page keeps refreshing.
fn in_progress(zoom: &ZoomStatus) -> bool {
    zoom.status == "active"
        && zoom
            .backfill
            .as_ref()
            .is_some_and(|b| matches!(b.state.as_str(), "queued" | "running"))
}

pub fn integrations(view: &View<'_>) -> Response {
    page_with_head(StatusCode::OK, "Integrations", head(view), body(view))
}

/// The page's styles, and a refresh while the backfill is under way (no script needed).
fn head(view: &View<'_>) -> Markup {
    html! {
        @if in_progress(view.zoom) {
            meta http-equiv="refresh" content={ (REFRESH_SECS) "; url=/integrations" };
        }
        style { (PreEscaped(STYLE)) }
    }
}

fn body(view: &View<'_>) -> Markup {
    html! {
        h1 { "Integrations" }
        p.who { "Signed in as " strong { (view.email) } }
        @if let Some(notice) = view.notice {
            (notice_box(notice, view.email))
        }
        (zoom_card(view))
        (entries_section(view))
    }
}

fn notice_box(notice: Notice, email: &str) -> Markup {
    match notice {
        Notice::NotInstalled => html! {
            div.notice id="notice" role="alert" {
                strong { "Zoom could not be activated: waiting for your IT admin." }
                "Your company's IT admin has not installed the Billables app for Zoom yet."
            }
        },
        Notice::NoZoomUser => html! {
            div.notice.bad id="notice" role="alert" {
                strong { "We could not find you in your company's Zoom account." }
                "No Zoom user there has the e-mail address " strong { (email) } ". "
                "Ask your IT admin to check the address of your Zoom user, or sign in to Billables with "
                "the address you use in Zoom."
            }
        },
        Notice::QueueUnavailable => html! {
            div.notice.bad id="notice" role="alert" {
                strong { "Zoom could not be activated just now." }
                "Please try again in a minute."
            }
        },
    }
}

/// Zoom's blue square with a camera, drawn inline (no third-party assets).
fn zoom_icon() -> Markup {
    html! {
        div.app-icon aria-hidden="true" {
            svg width="26" height="26" viewBox="0 0 26 26" fill="none" {
                rect x="2" y="7" width="15" height="12" rx="3" fill="#fff" {}
                path d="M18.5 11.2 24 8v10l-5.5-3.2z" fill="#fff" {}
            }
        }
    }
}

struct Badge {
    class: &'static str,
    text: &'static str,
}

fn badge(zoom: &ZoomStatus) -> Badge {
    let account_active = zoom.account_status.as_deref() == Some("active");
    let (class, text) = match zoom.status {
        "active" if account_active => ("badge-active", "Active"),
        "active" => ("badge-waiting", "Paused"),
        "available" => ("badge-available", "Available"),
        "opted_out" => ("badge-off", "Off"),
        "disabled" => ("badge-removed", "Removed by your admin"),
        _ => ("badge-waiting", "Waiting for your IT admin"),
    };
    Badge { class, text }
}

fn zoom_card(view: &View<'_>) -> Markup {
    let zoom = view.zoom;
    let badge = badge(zoom);
    let account_active = zoom.account_status.as_deref() == Some("active");
    html! {
        section.card id="zoom" data-status=(zoom.status) {
            div.card-head {
                (zoom_icon())
                div {
                    h2 { "Zoom Meetings and Phone" }
                    p { "Billable entries for the meetings and calls you take part in." }
                }
                span class={ "badge " (badge.class) } id="zoom-status" { (badge.text) }
            }
            div.card-body {
                (explanation(view, account_active))
                @if zoom.status == "active" {
                    @if let Some(backfill) = &zoom.backfill {
                        (progress(backfill))
                    }
                }
                div.actions { (action(view, account_active)) }
            }
        }
    }
}

fn explanation(view: &View<'_>, account_active: bool) -> Markup {
    let zoom = view.zoom;
    let account = zoom.account_status.as_deref();
    match zoom.status {
        "active" if !account_active => html! {
            p { "Your company's Zoom connection needs your IT admin to reconnect it. "
                "Entries resume automatically when they have." }
        },
        "active" => html! {
            p { "Billables creates an entry for each Zoom meeting you join and each Zoom Phone call "
                "you talk on, with the time you were actually there, rounded up. "
                "Meetings you only hosted, or never joined, are not billed." }
        },
        "available" => html! {
            p { "Your IT admin has installed Billables for Zoom. Activate it to get billable entries "
                "for the meetings and calls you take part in, starting with your last "
                (view.backfill_days) " days." }
            p.note { "Only your own meetings and calls are read, and only while Zoom is active here." }
        },
        "opted_out" if account_active => html! {
            p { "You turned Zoom off. No new entries are created; the entries you already have stay. "
                "Activate it again at any time: your last " (view.backfill_days)
                " days are imported again, without duplicates." }
        },
        "opted_out" => html! {
            p { "You turned Zoom off. The entries you already have stay." }
            p.note { "You can activate it again once your IT admin has installed the Billables app for Zoom." }
        },
        "disabled" => html! {
            p { "Your IT admin removed the Billables app from your company's Zoom account, so Zoom is "
                "off for everyone at your company. The entries you already have stay." }
            p.note { "You can activate it again once your admin installs the app again." }
        },
        _ => match account {
            Some("removed") => html! {
                p { "Your IT admin removed the Billables app from your company's Zoom account." }
                p.note { "You can activate Zoom once your admin installs it again." }
            },
            Some("needs_reauth") => html! {
                p { "Your company's Zoom connection needs your IT admin to reconnect it." }
                p.note { "You can activate Zoom as soon as they have." }
            },
            Some("pending") => html! {
                p { "Your IT admin is installing the Billables app for Zoom right now." }
                p.note { "Reload this page in a minute." }
            },
            _ => html! {
                p { "Your company's IT admin has not installed the Billables app for Zoom yet. "
                    "You can activate Zoom here as soon as they have." }
                p.note { "IT admins install it once for the whole company, from the custom link Billables sends them." }
            },
        },
    }
}

fn progress(backfill: &Backfill) -> Markup {
    let days = (backfill.window_to - backfill.window_from)
        .num_days()
        .max(1);
    match backfill.state.as_str() {
        "queued" | "running" => {
            let percent = if backfill.total > 0 {
                (i64::from(backfill.done) * 100 / i64::from(backfill.total)).clamp(0, 100)
            } else {
                0
            };
            html! {
                div #backfill data-state=(backfill.state) {
                    div.progress-label {
                        span { "Importing your last " (days) " days" }
                        span #backfill-count {
                            @if backfill.total > 0 {
                                (backfill.done) " of " (backfill.total) " windows"
                            } @else {
                                "Starting…"
                            }
                        }
                    }
                    div.progress role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(percent) {
                        span style={ "width:" (percent) "%" } {}
                    }
                    p.note { "This page updates itself. Entries appear below as they are imported." }
                }
            }
        }
        "done" => html! {
            p.note #backfill data-state="done" {
                "Your last " (days) " days are imported (" (backfill.done) " of " (backfill.total)
                " windows). New meetings and calls are added automatically."
            }
        },
        "failed" => html! {
            div.notice.bad #backfill data-state="failed" {
                strong { "Importing your history stopped before it finished." }
                "Deactivate and activate Zoom again to retry; if it keeps failing, contact Billables support."
            }
        },
        _ => html! {},
    }
}

fn action(view: &View<'_>, account_active: bool) -> Markup {
    let activate = Button {
        path: "/integrations/activate",
        id: "activate",
        label: "Activate Zoom",
        quiet: false,
        enabled: true,
    };
    match view.zoom.status {
        "active" => form(
            &Button {
                path: "/integrations/deactivate",
                id: "deactivate",
                label: "Deactivate",
                quiet: true,
                enabled: true,
            },
            view.csrf,
        ),
        "available" => form(&activate, view.csrf),
        "opted_out" if account_active => form(&activate, view.csrf),
        _ => html! {
            (form(&Button { enabled: false, ..activate }, view.csrf))
            span.note { "Available once your IT admin has installed the app" }
        },
    }
}

struct Button {
    path: &'static str,
    id: &'static str,
    label: &'static str,
    quiet: bool,
    enabled: bool,
}

fn form(button: &Button, csrf: &str) -> Markup {
    html! {
        form method="post" action=(button.path) {
            input type="hidden" name="csrf" value=(csrf);
            button.button.quiet[button.quiet] id=(button.id) type="submit" disabled[!button.enabled] {
                (button.label)
            }
        }
    }
}

fn entries_section(view: &View<'_>) -> Markup {
    if view.entries.is_empty() && view.zoom.status != "active" {
        return html! {};
    }
    html! {
        section #entries {
            h2.section { "Recent entries" }
            @if view.entries.is_empty() {
                p.note #no-entries {
                    @if in_progress(view.zoom) {
                        "Nothing yet: entries appear here as your history is imported."
                    } @else {
                        "No Zoom meetings or calls in your history yet."
                    }
                }
            } @else {
                table.entries {
                    thead { tr { th.when { "Date" } th { "Title" } th.num { "Billed" } } }
                    tbody {
                        @for entry in view.entries {
                            (entry_row(entry))
                        }
                    }
                }
                p.note {
                    "Your " (view.entries.len()) " most recent entries. Edit or dismiss entries in your Billables dashboard."
                }
            }
        }
    }
}

fn entry_row(entry: &Billable) -> Markup {
    let kind = if entry.source == "zoom_call" {
        "Call"
    } else {
        "Meeting"
    };
    html! {
        tr.dismissed[entry.dismissed] data-id=(entry.id) {
            td.when {
                (day(entry.started_at))
                span.sub { (entry.started_at.format("%H:%M")) " UTC" }
            }
            td {
                span.title { (entry.title) }
                @if entry.user_edited { span.pill { "edited" } }
                @if entry.dismissed { span.pill.dismissed { "dismissed" } }
                span.sub { (kind) " · " (duration(entry.duration_seconds)) }
            }
            td.num { (entry.billed_minutes) " min" }
        }
    }
}

/// The time actually spent: `38 s`, `21 min 30 s`, `1 h 19 min`.
fn duration(seconds: i32) -> String {
    let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (hours, minutes, seconds) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%a %-d %b %Y").to_string()
}

/// Why there is no signed-in user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// No token at all.
    Missing,
    /// A token that is expired, signed with another key, or malformed.
    Invalid,
}

/// 401: how to open the page.
pub fn sign_in_required(why: SignIn) -> Response {
    let lead = match why {
        SignIn::Missing => {
            "This page shows your own Zoom integration, so we need to know who you are."
        }
        SignIn::Invalid => "Your sign-in link has expired or is not valid.",
    };
    page_with_head(
        StatusCode::UNAUTHORIZED,
        "Sign in to see your integrations",
        html! { style { (PreEscaped(STYLE)) } },
        html! {
            h1.status-bad { "Sign in to see your integrations" }
            p.lead { (lead) }
            p { "Open it from the Billables app: its link to your integrations signs you in and brings you here." }
            p.note { "For local use, create a token:" }
            pre.command { "billables-zoom dev-token --email you@company.com" }
            p.note { "and open " code { "/integrations?token=" i { "the token" } } "." }
        },
    )
}

/// 403: a form post that did not come from this page.
pub fn form_refused() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "This request was refused",
        "The form did not come from your integrations page, or the page was open for too long.",
        "Go back to your integrations page, reload it and try again.",
    )
}

/// A visitor who came from another site: their browser will only send the SameSite=Strict
/// cookie on a navigation that starts here, so this page takes the next step itself.
pub fn continue_to(location: &str) -> Response {
    page_with_head(
        StatusCode::OK,
        "Opening your integrations",
        html! { meta http-equiv="refresh" content={ "0; url=" (location) }; },
        html! {
            h1 { "Opening your integrations…" }
            p { a.button href=(location) { "Continue" } }
        },
    )
}

/// 500: the cause is logged by the caller.
pub fn unavailable() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "We could not load your integrations just now.",
        "Please reload the page in a minute; if it keeps failing, contact Billables support.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(
        status: &'static str,
        account: Option<&str>,
        backfill: Option<(&str, i32, i32)>,
    ) -> ZoomStatus {
        let from = DateTime::parse_from_rfc3339("2026-11-01T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        ZoomStatus {
            status,
            account_status: account.map(str::to_owned),
            backfill: backfill.map(|(state, done, total)| Backfill {
                id: uuid::Uuid::nil(),
                member_id: uuid::Uuid::nil(),
                job_id: Some("01J".into()),
                state: state.into(),
                window_from: from,
                window_to: from + chrono::TimeDelta::days(30),
                done,
                total,
                last_error: None,
            }),
        }
    }

    /// (head, body) of the page for `zoom`.
    fn render(zoom: &ZoomStatus) -> (String, String) {
        let view = View {
            email: "ann@acme.test",
            zoom,
            entries: &[],
            notice: None,
            csrf: "token",
            backfill_days: 30,
        };
        (head(&view).into_string(), body(&view).into_string())
    }

    #[test]
    fn each_status_has_its_badge_and_button() {
        let disabled = r#"id="activate" type="submit" disabled"#;
        let enabled = r#"id="activate" type="submit">"#;
        let deactivate = r#"id="deactivate" type="submit">"#;
        for (zoom, badge, button) in [
            (
                status("waiting_for_admin", None, None),
                "Waiting for your IT admin",
                disabled,
            ),
            (
                status("waiting_for_admin", Some("removed"), None),
                "Waiting for your IT admin",
                disabled,
            ),
            (
                status("available", Some("active"), None),
                "Available",
                enabled,
            ),
            (
                status("active", Some("active"), Some(("done", 10, 10))),
                "Active",
                deactivate,
            ),
            (
                status("active", Some("needs_reauth"), None),
                "Paused",
                deactivate,
            ),
            (status("opted_out", Some("active"), None), "Off", enabled),
            (status("opted_out", Some("removed"), None), "Off", disabled),
            (
                status("disabled", Some("removed"), None),
                "Removed by your admin",
                disabled,
            ),
        ] {
            let (head, body) = render(&zoom);
            assert!(
                body.contains(&format!(">{badge}</span>")),
                "{}: {body}",
                zoom.status
            );
            assert!(
                body.contains(button),
                "{} / {:?}: {body}",
                zoom.status,
                zoom.account_status
            );
            assert!(body.contains(r#"name="csrf" value="token""#));
            assert!(!head.contains("refresh"), "{}", zoom.status);
        }
    }

    #[test]
    fn a_running_backfill_shows_progress_and_refreshes_the_page() {
        let (head, body) = render(&status("active", Some("active"), Some(("running", 3, 10))));
        assert!(
            head.contains(r#"http-equiv="refresh" content="2; url=/integrations""#),
            "{head}"
        );
        assert!(body.contains("Importing your last 30 days"), "{body}");
        assert!(body.contains("3 of 10 windows"), "{body}");
        assert!(body.contains(r#"aria-valuenow="30""#), "{body}");
        assert!(body.contains("width:30%"), "{body}");

        let (head, body) = render(&status("active", Some("active"), Some(("queued", 0, 0))));
        assert!(head.contains("refresh"));
        assert!(body.contains("Starting…"), "{body}");

        let (head, body) = render(&status("active", Some("active"), Some(("failed", 2, 10))));
        assert!(!head.contains("refresh"));
        assert!(body.contains("stopped before it finished"), "{body}");
    }

    #[test]
    fn durations_read_naturally() {
        for (seconds, text) in [
            (38, "38 s"),
            (60, "1 min"),
            (1290, "21 min 30 s"),
            (3600, "1 h"),
            (4778, "1 h 19 min"),
        ] {
            assert_eq!(duration(seconds), text);
        }
    }

    #[test]
    fn only_known_notices_are_shown() {
        for notice in [
            Notice::NotInstalled,
            Notice::NoZoomUser,
            Notice::QueueUnavailable,
        ] {
            assert_eq!(Notice::parse(notice.code()), Some(notice));
        }
        assert_eq!(Notice::parse("<script>"), None);
    }
}

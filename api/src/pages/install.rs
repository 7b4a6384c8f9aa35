//! The IT admin's pages: the install link landing page and the OAuth outcome.

use axum::{http::StatusCode, response::Response};
use maud::html;

use super::{page, problem};

/// The landing page of a valid install link.
pub fn landing(domain: &str, authorize_path: &str) -> Response {
    page(
        StatusCode::OK,
        "Install the Zoom integration",
        html! {
            h1 { "Install Billables AI for Zoom" }
            p.lead { "For the Zoom account of " strong { (domain) } "." }
            p {
                "This installs the Billables AI Zoom integration for your whole Zoom account. "
                "Sign in to Zoom as an administrator of the " strong { (domain) } " account and click "
                strong { "Allow" } "."
            }
            h2 { "What the integration can read" }
            ul.perms {
                li { "Your account's users (to match people who opt in)" }
                li { "Past meetings users hosted or joined, and their participant reports" }
                li { "Zoom Phone call logs" }
            }
            p { "It is " strong { "read-only" } ": it never creates, changes or deletes anything in your Zoom account." }
            p {
                "Billable entries are created only for people who activate Zoom on their own Billables "
                "integrations page, and only for the meetings and calls they took part in."
            }
            p { a.button id="continue" href=(authorize_path) { "Continue to Zoom" } }
            p.note { "To remove the integration later, remove the Billables-Admin app in the Zoom App Marketplace (Added Apps)." }
        },
    )
}

pub fn unknown_link() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "This install link is not valid",
        "We could not find this install link. Check that you copied the whole address.",
        "Ask Billables support for a new link for your company's e-mail domain.",
    )
}

pub fn expired_link(domain: &str) -> Response {
    problem(
        StatusCode::GONE,
        "This install link has expired",
        &format!("The install link for {domain} is no longer valid."),
        "Ask Billables support for a new link.",
    )
}

pub fn already_installed(domain: &str) -> Response {
    page(
        StatusCode::OK,
        "Already installed",
        html! {
            h1.status-ok { "Zoom is already installed for " (domain) }
            p.lead { "The Billables AI Zoom integration is active for your Zoom account. There is nothing more to do." }
            p { "Each person activates Zoom on their own Billables integrations page." }
        },
    )
}

pub fn installed(domain: &str, users_note: &str) -> Response {
    page(
        StatusCode::OK,
        "Zoom installed",
        html! {
            h1.status-ok { "Zoom is installed for " (domain) }
            p.lead { "Thank you. The Billables AI Zoom integration is now installed for your whole Zoom account." }
            p { (users_note) }
            p { "People at " (domain) " can now activate Zoom on their Billables integrations page." }
        },
    )
}

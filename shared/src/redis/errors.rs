//! How a failed Redis call reads as a backend error: refused credentials, an unreachable server,
//! TLS, or an ACL command the admin may not run.

use super::connection::ConnError;
use crate::rotation::{BackendError, BackendErrorKind};

/// Classifies a failed login: refused credentials, an unreachable server, TLS, or other.
pub(super) fn resp_error(e: ConnError, label: &str, target: &str) -> BackendError {
    // Redis before 6 answers a wrong password with `ERR invalid password`.
    let refused = match &e {
        ConnError::Server { code, text } => {
            code == "WRONGPASS" || code == "NOAUTH" || text.contains("invalid password")
        }
        _ => false,
    };
    // A login's reply may come from any server a secret names: keep only its code (WRONGPASS,
    // NOAUTH, ERR), never text that server chose to send back.
    let e = match e {
        ConnError::Server { code, .. } => ConnError::Server {
            code: code.chars().take(32).collect(),
            text: String::new(),
        },
        other => other,
    };
    let (kind, message) = match &e {
        _ if refused => (
            BackendErrorKind::LoginRefused,
            format!("Redis refused the {label} login ({target})"),
        ),
        ConnError::Connect(_) | ConnError::Timeout(_) | ConnError::Io => (
            BackendErrorKind::Unavailable,
            format!("could not reach Redis for {label} ({target})"),
        ),
        ConnError::Tls(_) | ConnError::TlsConfig(_) => (
            BackendErrorKind::Failed,
            format!("TLS with Redis failed for {label} ({target}); TLS is never downgraded"),
        ),
        _ => (
            BackendErrorKind::Failed,
            format!("Redis login failed for {label} ({target})"),
        ),
    };
    BackendError::with_source(kind, message, e)
}

pub(super) fn acl_error(e: ConnError, user: &str) -> BackendError {
    // Redis echoes a rejected ACL modifier in its error text; a `>password` modifier must not
    // travel on in an error, so keep only the text before the first quote.
    let e = match e {
        ConnError::Server { code, text } => ConnError::Server {
            code,
            text: text
                .split('\'')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        },
        other => other,
    };
    let kind = match &e {
        ConnError::Connect(_) | ConnError::Timeout(_) | ConnError::Io => {
            BackendErrorKind::Unavailable
        }
        _ => BackendErrorKind::Failed,
    };
    BackendError::with_source(
        kind,
        format!("changing the ACL of Redis user `{user}` failed (does the admin login have +acl?)"),
        e,
    )
}

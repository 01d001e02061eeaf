//! How a failed login or statement reads as a backend error: refused credentials, an unreachable
//! server, a TLS refusal, a lock timeout.

use crate::rotation::{BackendError, BackendErrorKind};

/// Classifies a failed login: refused credentials, an unreachable server, or anything else.
pub(super) fn login_error(e: sqlx::Error, label: &str, target: &str) -> BackendError {
    let kind = match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01") | Some("28000") => BackendErrorKind::LoginRefused,
            // cannot_connect_now (starting or stopping), too_many_connections
            Some("57P03") | Some("53300") => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Failed,
        },
        // A certificate the client refused surfaces as an I/O error: it is no outage, and no
        // retry (least of all one without TLS) would change it.
        sqlx::Error::Tls(_) => BackendErrorKind::Failed,
        sqlx::Error::Io(io) if is_tls_refusal(io) => BackendErrorKind::Failed,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Failed,
    };
    let tls_refused = match &e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => is_tls_refusal(io),
        _ => false,
    };
    let message = match (kind, &e) {
        (BackendErrorKind::LoginRefused, _) => {
            format!("PostgreSQL refused the {label} login ({target})")
        }
        (BackendErrorKind::Unavailable, _) => {
            format!("could not reach PostgreSQL for {label} ({target})")
        }
        _ if tls_refused => format!(
            "the TLS handshake with PostgreSQL failed for {label} ({target}): its certificate is \
             not trusted (PG_SSL_ROOT_CERT) or does not name the host; never retried without TLS"
        ),
        _ => format!("could not log in to PostgreSQL with {label} ({target})"),
    };
    BackendError::with_source(kind, message, e)
}

/// True when the TLS layer refused the server (its certificate, its name), not the network.
pub(super) fn is_tls_refusal(io: &std::io::Error) -> bool {
    io.get_ref()
        .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                tokio_rustls::rustls::Error::InvalidCertificate(_)
                    | tokio_rustls::rustls::Error::NoCertificatesPresented
                    | tokio_rustls::rustls::Error::PeerIncompatible(_)
                    | tokio_rustls::rustls::Error::AlertReceived(_)
            )
        })
}

pub(super) fn sql_error(e: sqlx::Error, what: &str) -> BackendError {
    let (kind, why) = match &e {
        sqlx::Error::Io(_) => (BackendErrorKind::Unavailable, ""),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // query_canceled (statement_timeout), lock_not_available (lock_timeout)
            Some("57014") | Some("55P03") => (
                BackendErrorKind::Unavailable,
                ": it timed out, most likely waiting for a lock another session holds on the \
                 role; the retry finishes it once that session ends",
            ),
            // admin_shutdown, crash_shutdown, cannot_connect_now
            Some("57P01") | Some("57P02") | Some("57P03") => (BackendErrorKind::Unavailable, ""),
            _ => (BackendErrorKind::Failed, ""),
        },
        _ => (BackendErrorKind::Failed, ""),
    };
    BackendError::with_source(kind, format!("{what}{why}"), e)
}

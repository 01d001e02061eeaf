//! Error plumbing shared by every function: the one kind of boxed source error, and the report
//! that joins an error with all its causes into the single message Lambda shows.

use std::error::Error as StdError;

/// The boxed cause kept under a domain error (`#[source]`), never stringified away.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error and each of its causes, outermost first, joined by `": "`.
///
/// Lambda's error response carries one message; the SDK's and sqlx's useful detail (the service
/// error code, the database's reason) lives in the causes, so the report walks the chain.
pub fn report(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // SDK wrappers often repeat their inner message; say each thing once.
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn given_a_chain_when_reported_then_every_cause_is_named_once() {
        let e = Outer(std::io::Error::other("inner reason"));
        assert_eq!(report(&e), "outer: inner reason");
    }
}

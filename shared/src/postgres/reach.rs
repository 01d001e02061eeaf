//! How far a pair of roles reaches: refused when it could do more than the login that proved
//! it holds the password (superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, or privileges
//! the proven login does not hold).

use crate::rotation::BackendError;

/// Role attributes that reach beyond an application's own data.
const ELEVATED: [&str; 4] = ["CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"];

/// A role of the pair: name, superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, and whether
/// the proven login holds its privileges (`USAGE`: itself, or a member that inherits them).
pub(super) type RoleRow = (String, bool, bool, bool, bool, bool, bool);

pub(super) fn elevated(row: &RoleRow) -> Vec<&'static str> {
    let flags = [row.2, row.3, row.4, row.5];
    ELEVATED
        .iter()
        .zip(flags)
        .filter_map(|(name, on)| on.then_some(*name))
        .collect()
}

/// Refuses a pair that would reach further than the proven login: a superuser in it, or an
/// attribute (CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS) that neither the proven login nor a
/// role of the pair it already belongs to has.
pub(super) fn check_reach(rows: &[RoleRow], proven: &str) -> Result<(), BackendError> {
    let held: Vec<&str> = rows.iter().filter(|r| r.6).flat_map(elevated).collect();
    for row in rows {
        if row.1 {
            return Err(BackendError::refused(format!(
                "role `{}` is a superuser: the rotation never sets up or changes a superuser \
                 login for an application secret",
                row.0
            )));
        }
        if let Some(extra) = elevated(row).into_iter().find(|a| !held.contains(a)) {
            return Err(BackendError::refused(format!(
                "role `{}` has {extra}, which the secret's own login `{proven}` does not: the \
                 rotation never gives an application secret more than its login already has",
                row.0
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::BackendErrorKind;

    fn row(name: &str, flags: [bool; 5], member: bool) -> RoleRow {
        (
            name.into(),
            flags[0],
            flags[1],
            flags[2],
            flags[3],
            flags[4],
            member,
        )
    }

    const PLAIN: [bool; 5] = [false; 5];

    #[test]
    fn given_an_ordinary_pair_then_it_may_be_rotated() {
        let rows = [row("app", PLAIN, true), row("app_clone", PLAIN, false)];
        assert!(check_reach(&rows, "app").is_ok());
        // The owner's CREATEDB is the clone's too when the clone proved itself (it runs as owner).
        let rows = [
            row("app", [false, false, true, false, false], true),
            row("app_clone", PLAIN, true),
        ];
        assert!(check_reach(&rows, "app_clone").is_ok());
    }

    #[test]
    fn given_a_pair_that_reaches_further_than_the_proven_login_then_it_is_refused() {
        let superuser = [
            row("app", PLAIN, true),
            row("app_clone", [true, false, false, false, false], false),
        ];
        let e = check_reach(&superuser, "app").unwrap_err();
        assert_eq!(e.kind, BackendErrorKind::Refused);
        assert!(e.message.contains("superuser"), "{}", e.message);
        // A proven clone that is not (yet) a member of a CREATEROLE owner does not get it.
        let rows = [
            row("ops", [false, true, false, false, false], false),
            row("ops_clone", PLAIN, true),
        ];
        let e = check_reach(&rows, "ops_clone").unwrap_err();
        assert!(e.message.contains("CREATEROLE"), "{}", e.message);
        let rows = [
            row("app", PLAIN, true),
            row("app_clone", [false, false, false, true, false], false),
        ];
        assert!(
            check_reach(&rows, "app")
                .unwrap_err()
                .message
                .contains("REPLICATION")
        );
    }
}

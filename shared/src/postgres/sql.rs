//! The SQL a rotation runs as the master or the owner: the new password as a SCRAM verifier, and
//! the alternate user made to match the owner, each checked against how far the proven login
//! reaches.

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use tracing::info;

use super::backend::PostgresBackend;
use super::reach::{RoleRow, check_reach};
use super::scram;
use super::secret::{alternate_username, quote_ident, quote_literal};
use crate::rotation::BackendError;
use crate::secret::SecretString;

impl PostgresBackend {
    /// Sets `role`'s password from a verifier computed here: the clear text never leaves the
    /// function.
    pub(super) async fn set_password(
        &self,
        conn: &mut PgConnection,
        role: &str,
        password: &SecretString,
    ) -> Result<(), BackendError> {
        let verifier = scram::verifier(password.expose())?;
        // Only the password: a role may change its own password, not its other attributes.
        let statement = format!(
            "ALTER ROLE {} WITH PASSWORD {}",
            quote_ident(role),
            quote_literal(&verifier)
        );
        self.bounded(
            &format!("could not set the password of role `{role}`"),
            sqlx::raw_sql(AssertSqlSafe(statement)).execute(&mut *conn),
        )
        .await?;
        Ok(())
    }

    /// Makes `login` a working login for the alternating pair owned by `owner`, in one
    /// transaction, after checking that the pair reaches no further than `proven` (the login
    /// that proved the secret holds the pair's password) already does.
    ///
    /// AWS's alternating-users template grants the clone membership in the original user, so
    /// objects the clone creates are the clone's alone and the original user cannot use them
    /// after the next swap. Here the clone's sessions run as the owner (`ALTER ROLE clone SET
    /// role = owner`), so whatever either login creates belongs to the owner and stays fully
    /// usable by both.
    pub(super) async fn ensure_login(
        &self,
        conn: &mut PgConnection,
        owner: &str,
        login: &str,
        password: &SecretString,
        proven: &str,
    ) -> Result<String, BackendError> {
        let verifier = scram::verifier(password.expose())?;
        // Both users of the pair, whichever of them is being set up and whichever proved itself.
        let clone = alternate_username(owner)?;
        let mut tx = self
            .bounded("could not start a transaction", conn.begin())
            .await?;
        let rows: Vec<RoleRow> = self
            .bounded(
                "could not look up the roles",
                sqlx::query_as(
                    "SELECT rolname::text, rolsuper, rolcreaterole, rolcreatedb, rolreplication, \
                     rolbypassrls, pg_catalog.pg_has_role($3::pg_catalog.name, oid, 'USAGE') \
                     FROM pg_catalog.pg_roles \
                     WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name \
                        OR rolname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
                )
                .bind(owner)
                .bind(&clone)
                .bind(proven)
                .fetch_all(&mut *tx),
            )
            .await?;
        if !rows.iter().any(|r| r.0 == owner) {
            return Err(BackendError::refused(format!(
                "role `{owner}` does not exist: the alternating strategy needs the original user"
            )));
        }
        check_reach(&rows, proven)?;
        // A clone counts only as this function sets it up: linked to its owner (created and
        // granted in one transaction), with no member of its own (else someone else holds it).
        let clone_exists = rows.iter().any(|r| r.0 == clone);
        if clone_exists {
            let (linked, members): (bool, i64) = self
                .bounded(
                    "could not look up the clone's memberships",
                    sqlx::query_as(
                        "SELECT pg_catalog.pg_has_role($1::pg_catalog.name, $2::pg_catalog.name, \
                                'USAGE'), \
                                (SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m \
                                 WHERE m.roleid OPERATOR(pg_catalog.=) \
                                       (SELECT oid FROM pg_catalog.pg_roles \
                                        WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name))",
                    )
                    .bind(&clone)
                    .bind(owner)
                    .fetch_one(&mut *tx),
                )
                .await?;
            if !linked {
                return Err(BackendError::refused(format!(
                    "role `{clone}` exists but is not a member of `{owner}`: it was not set up as \
                     the pair's second login by this function, so it is not adopted"
                )));
            }
            if members > 0 {
                return Err(BackendError::refused(format!(
                    "role `{clone}` has members of its own: someone else can act as it, so it \
                     is not adopted as `{owner}`'s second login"
                )));
            }
        }
        // Any role either user of the pair belongs to, the proven login must belong to as well.
        let beyond: Vec<(String, String)> = self
            .bounded(
                "could not look up the pair's memberships",
                sqlx::query_as(
                    "SELECT p.rolname::text, r.rolname::text \
                     FROM pg_catalog.pg_roles p JOIN pg_catalog.pg_roles r \
                       ON r.oid OPERATOR(pg_catalog.<>) p.oid \
                      AND pg_catalog.pg_has_role(p.oid, r.oid, 'MEMBER') \
                     WHERE (p.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name \
                            OR p.rolname OPERATOR(pg_catalog.=) $2::pg_catalog.name) \
                       AND NOT pg_catalog.pg_has_role($3::pg_catalog.name, r.oid, 'USAGE') \
                     ORDER BY 1, 2",
                )
                .bind(owner)
                .bind(&clone)
                .bind(proven)
                .fetch_all(&mut *tx),
            )
            .await?;
        if let Some((role, group)) = beyond.first() {
            return Err(BackendError::refused(format!(
                "role `{role}` is a member of `{group}`, which the secret's own login `{proven}` \
                 is not: the rotation never gives an application secret more than its login has"
            )));
        }
        let exists = rows.iter().any(|r| r.0 == login);
        let set_up = |verb: &str| {
            format!(
                "{verb} ROLE {} WITH LOGIN PASSWORD {}",
                quote_ident(login),
                quote_literal(&verifier)
            )
        };
        let (statements, change) = if login == owner {
            (
                vec![set_up("ALTER")],
                format!("password of role `{login}` changed"),
            )
        } else {
            (
                vec![
                    set_up(if exists { "ALTER" } else { "CREATE" }),
                    format!("GRANT {} TO {}", quote_ident(owner), quote_ident(login)),
                    format!(
                        "ALTER ROLE {} SET role = {}",
                        quote_ident(login),
                        quote_literal(owner)
                    ),
                ],
                format!("role `{login}` set up as the alternate login of `{owner}`"),
            )
        };
        for statement in statements {
            self.bounded(
                &format!("could not set up role `{login}`"),
                sqlx::raw_sql(AssertSqlSafe(statement)).execute(&mut *tx),
            )
            .await?;
        }
        self.bounded("could not commit the role change", tx.commit())
            .await?;
        info!(role = login, owner, "alternate login ready");
        Ok(change)
    }
}

//! The names of minted service accounts: which secret and which version each serves, so a
//! rotation only ever revokes its own secret's keys.

/// Minted service accounts are named this, a short hash of the secret's ARN, and the version
/// (ClientRequestToken) they serve: `macro-ai-ops-<8 hex>-<version>`. Before the hash was added,
/// they were `macro-ai-ops-<version>`; those are still recognised by the version id.
pub const SERVICE_ACCOUNT_PREFIX: &str = "macro-ai-ops-";

/// The part of minted account names that says which secret they belong to.
pub fn secret_tag(secret_arn: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(secret_arn.as_bytes())[..4])
}

/// The service account that holds the key of `version` of the secret `secret_arn`.
pub fn account_name(secret_arn: &str, version: &str) -> String {
    format!(
        "{SERVICE_ACCOUNT_PREFIX}{}-{version}",
        secret_tag(secret_arn)
    )
}

/// The version a service account was minted for, when it belongs to this secret: named with this
/// secret's tag, or under the old naming with one of this secret's version ids. `None` for any
/// other account, which this function never touches.
pub(super) fn version_of<'a>(
    name: &'a str,
    secret_arn: &str,
    versions: &crate::rotation::SecretDescription,
) -> Option<&'a str> {
    let rest = name.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let tag = secret_tag(secret_arn);
    if let Some(version) = rest
        .strip_prefix(tag.as_str())
        .and_then(|r| r.strip_prefix('-'))
    {
        return Some(version);
    }
    legacy_version(rest).filter(|v| versions.stages_of(v).is_some())
}

/// The version of an account named the old way (`macro-ai-ops-<version>`), which carried no
/// owner: recognised only when the rest is exactly a UUID, the form Secrets Manager gives
/// versions. Anything longer (another secret's `<tag>-<version>`, or a token someone chose to look
/// like one) is never taken for ours.
pub(super) fn legacy_version(rest: &str) -> Option<&str> {
    let groups: Vec<&str> = rest.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    (groups.len() == shape.len()
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit())))
    .then_some(rest)
}

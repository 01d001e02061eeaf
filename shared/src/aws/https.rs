//! The HTTPS client every SDK client of a function shares: the SDK's own connector (hyper 1,
//! rustls on aws-lc, the proxy settings from the environment, as `aws-config`'s default builds
//! it), trusting the platform's CA bundle read from its one file.
//!
//! Why not the default: the SDK's default trust store comes from `rustls-native-certs`, which
//! reads the bundle file *and* every file of the platform's certificate directory (on Debian, 294
//! entries: the same roots again, one file each, plus hash links; on Amazon Linux 2023 the
//! directory holds the bundle twice more). That scan was 80% of a cold start measured here
//! (docs/benchmarks.md, issue 25); the bundle alone holds the same roots. `SSL_CERT_FILE` names
//! the bundle when set, as it does for the default; with `SSL_CERT_DIR` set, or no bundle found,
//! or a bundle with no usable certificate, the SDK's default stays.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

/// The client for [`crate::lambda::init`]; `None` keeps the SDK's default.
///
/// `SSL_CERT_FILE` is taken exactly as given: when it cannot be read, the default it falls back
/// to reads the same variable and trusts nothing, as before (openssl-probe would skip a missing
/// file and quietly trust the system bundle instead).
pub fn https_client() -> Option<SharedHttpClient> {
    let chosen = if std::env::var_os("SSL_CERT_DIR").is_some() {
        None
    } else if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        https_client_trusting(Path::new(&file)).map(|c| (c, PathBuf::from(file)))
    } else {
        openssl_probe::probe()
            .cert_file
            .and_then(|file| https_client_trusting(&file).map(|c| (c, file)))
    };
    match chosen {
        Some((client, file)) => {
            tracing::debug!(bundle = %file.display(), "the SDK trusts this CA bundle");
            Some(client)
        }
        None => {
            tracing::debug!("the SDK trusts its default roots (rustls-native-certs)");
            None
        }
    }
}

/// An HTTPS client that trusts exactly the certificates of the PEM bundle at `path`; `None` when
/// the file cannot be read or holds no certificate rustls accepts as a root.
pub fn https_client_trusting(path: &Path) -> Option<SharedHttpClient> {
    let roots = usable_roots(&std::fs::read(path).ok()?);
    if roots.is_empty() {
        return None;
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots))
        .build()
        .ok()?;
    Some(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            // As the default client does from behaviour version 2025-08-07 (ours is the latest).
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

/// The bundle's certificates that rustls takes as roots, as PEM. The SDK's trust store panics on
/// a certificate it cannot parse (`expect("cert parsable")`), where its native path skips it:
/// only certificates checked here reach it, so a stray entry costs that entry, not the function.
fn usable_roots(bundle: &[u8]) -> Vec<u8> {
    let mut check = rustls::RootCertStore::empty();
    let mut pem = Vec::with_capacity(bundle.len());
    for der in CertificateDer::pem_slice_iter(bundle).flatten() {
        if check.add(der.clone()).is_err() {
            continue;
        }
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let body = STANDARD.encode(der.as_ref());
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_of(der: &[u8]) -> String {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn only_certificates_rustls_accepts_reach_the_trust_store() {
        // A garbage certificate and a private key block are dropped; so is everything of an
        // empty bundle or a missing file.
        let garbage = pem_of(b"not a certificate");
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(usable_roots(format!("{garbage}{key}").as_bytes()).is_empty());
        assert!(usable_roots(b"").is_empty());
        assert!(https_client_trusting(Path::new("/nonexistent/bundle.pem")).is_none());
    }

    #[test]
    fn a_bundle_s_roots_survive_the_round_trip() {
        // The platform bundle (every machine this runs on has one: the SDK's default needs it).
        let path = openssl_probe::probe()
            .cert_file
            .expect("a CA bundle on this machine");
        let bundle = std::fs::read(&path).expect("the bundle reads");
        let kept = usable_roots(&bundle);
        let before = CertificateDer::pem_slice_iter(&bundle).flatten().count();
        let after = CertificateDer::pem_slice_iter(&kept).flatten().count();
        assert!(after > 0 && after <= before, "{after} of {before} kept");
        // The PEM written is read back to the very same certificates.
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) =
            store.add_parsable_certificates(CertificateDer::pem_slice_iter(&kept).flatten());
        assert_eq!((valid, invalid), (after, 0));
        assert!(https_client_trusting(&path).is_some());
    }
}

//! The SDK's HTTPS client trusts exactly the CA bundle it is given (shared/src/aws/https.rs, the
//! client every function's `init` builds): a Secrets Manager call through the real SDK to a TLS
//! server on loopback, whose certificate the stack's private CA signed, gets through with that
//! CA as the bundle and is refused in the handshake with another CA.

use anyhow::Result;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tests::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TLS server that answers every request as Secrets Manager answers an unknown secret, and
/// counts the requests that got through the handshake.
async fn secrets_manager_over_tls(stack: &Stack) -> Result<(u16, Arc<AtomicUsize>)> {
    let tls = stack.tls_ca.parent().expect("the stack's TLS folder");
    let certs =
        CertificateDer::pem_file_iter(tls.join("server.crt"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(tls.join("server.key"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"__type":"ResourceNotFoundException","message":"no such secret"}"#;
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok((port, served))
}

async fn describe_through(
    bundle: &Path,
    port: u16,
) -> Result<SdkError<impl ProvideErrorMetadata + std::fmt::Debug>> {
    let client =
        shared::aws::https::https_client_trusting(bundle).expect("a client for the bundle");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(client)
        .endpoint_url(format!("https://localhost:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::for_tests())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    match sm
        .describe_secret()
        .secret_id("macro-ai/dev/db")
        .send()
        .await
    {
        Ok(_) => anyhow::bail!("the stand-in never answers with a secret"),
        Err(e) => Ok(e),
    }
}

#[tokio::test]
async fn the_sdk_trusts_the_bundle_it_is_given_and_nothing_else() -> Result<()> {
    let stack = Stack::get();
    let (port, served) = secrets_manager_over_tls(stack).await?;

    let trusted = describe_through(&stack.tls_ca, port).await?;
    assert_eq!(
        trusted.code(),
        Some("ResourceNotFoundException"),
        "{trusted:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let refused = describe_through(&stack.tls_wrong_ca, port).await?;
    assert!(
        matches!(refused, SdkError::DispatchFailure(_)),
        "a server signed by another CA must fail the handshake: {refused:?}"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "no request past the handshake"
    );
    Ok(())
}

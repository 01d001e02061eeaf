//! A small RESP2 client: one connection, plain TCP or TLS (never a silent downgrade), for the
//! handful of commands rotation needs (AUTH, PING, ACL GETUSER / SETUSER / SAVE). Arguments are
//! sent as bulk strings, so no value ever needs quoting, and nothing here logs.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A reply, as RESP2 types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a simple or bulk string reply.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Why a connection or command failed.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("could not connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("TLS set-up failed: {0}")]
    TlsConfig(String),
    #[error("connection failed: {0}")]
    Io(#[source] std::io::Error),
    #[error("the server sent a malformed reply")]
    Protocol,
    /// An error reply; its text comes from the server and never holds an argument.
    #[error("the server answered: {0}")]
    Server(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TLS settings: the public web roots plus, optionally, a private CA bundle.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
}

impl TlsSettings {
    /// Trusts the public roots (ElastiCache's certificates chain to them) and `extra_ca` if given.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, RespError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                RespError::TlsConfig(format!("cannot read {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    RespError::TlsConfig(format!("bad certificate in {}: {e}", path.display()))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| RespError::TlsConfig(format!("unusable CA certificate: {e}")))?;
            }
        }
        let config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

/// One RESP connection.
pub struct RespConnection {
    stream: BufStream<Box<dyn Io>>,
    timeout: Duration,
}

impl RespConnection {
    /// Connects to `host:port`, over TLS when `tls` is given; every step is bounded by `timeout`.
    pub async fn connect(
        host: &str,
        port: u16,
        tls: Option<&TlsSettings>,
        timeout: Duration,
    ) -> Result<Self, RespError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| RespError::Timeout(timeout))?
            .map_err(RespError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(settings) => {
                let name = ServerName::try_from(host.to_string()).map_err(|_| {
                    RespError::TlsConfig(format!("`{host}` is not a valid TLS server name"))
                })?;
                let stream = tokio::time::timeout(
                    timeout,
                    TlsConnector::from(settings.config.clone()).connect(name, tcp),
                )
                .await
                .map_err(|_| RespError::Timeout(timeout))?
                .map_err(RespError::Tls)?;
                Box::new(stream)
            }
        };
        Ok(Self {
            stream: BufStream::new(io),
            timeout,
        })
    }

    /// Sends one command and reads its reply; an error reply is `Err(Server)`.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.round_trip(args)).await {
            Err(_) => Err(RespError::Timeout(timeout)),
            Ok(Ok(Reply::Error(e))) => Err(RespError::Server(e)),
            Ok(other) => other,
        }
    }

    async fn round_trip(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        let mut frame = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        frame.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg);
            frame.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&frame).await.map_err(RespError::Io)?;
        self.stream.flush().await.map_err(RespError::Io)?;
        read_reply(&mut self.stream).await
    }
}

async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<String, RespError> {
    let mut line = Vec::new();
    let n = r
        .read_until(b'\n', &mut line)
        .await
        .map_err(RespError::Io)?;
    if n == 0 {
        return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol);
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| RespError::Protocol)
}

/// Reads one reply; arrays nest, so this boxes its own recursion.
fn read_reply<'a, R: AsyncBufReadExt + Unpin + Send>(
    r: &'a mut R,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, RespError>> + Send + 'a>> {
    Box::pin(async move {
        let line = read_line(r).await?;
        let (kind, rest) = line.split_at_checked(1).ok_or(RespError::Protocol)?;
        let number = || rest.parse::<i64>().map_err(|_| RespError::Protocol);
        Ok(match kind {
            "+" => Reply::Simple(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Integer(number()?),
            "$" => match number()? {
                -1 => Reply::Bulk(None),
                n if (0..=512 * 1024 * 1024).contains(&n) => {
                    let mut data = vec![0u8; n as usize + 2];
                    r.read_exact(&mut data).await.map_err(RespError::Io)?;
                    if !data.ends_with(b"\r\n") {
                        return Err(RespError::Protocol);
                    }
                    data.truncate(n as usize);
                    Reply::Bulk(Some(data))
                }
                _ => return Err(RespError::Protocol),
            },
            "*" => match number()? {
                -1 => Reply::Array(None),
                n if (0..=1_000_000).contains(&n) => {
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        items.push(read_reply(r).await?);
                    }
                    Reply::Array(Some(items))
                }
                _ => return Err(RespError::Protocol),
            },
            _ => return Err(RespError::Protocol),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Reply, RespError> {
        let mut r = tokio::io::BufReader::new(bytes);
        read_reply(&mut r).await
    }

    #[tokio::test]
    async fn given_each_reply_type_then_it_is_parsed() {
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Reply::Simple("OK".into()));
        assert_eq!(
            parse(b"-WRONGPASS no\r\n").await.unwrap(),
            Reply::Error("WRONGPASS no".into())
        );
        assert_eq!(parse(b":42\r\n").await.unwrap(), Reply::Integer(42));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"$3\r\na\r\n\r\n").await.unwrap(),
            Reply::Bulk(Some(b"a\r\n".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n$5\r\nflags\r\n*1\r\n+on\r\n").await.unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"flags".to_vec())),
                Reply::Array(Some(vec![Reply::Simple("on".into())]))
            ]))
        );
    }

    #[tokio::test]
    async fn given_malformed_replies_then_they_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"?x\r\n",
            b"$5\r\nab\r\n",
            b":x\r\n",
            b"*-5\r\n",
            b"+OK\n",
            b"$2\r\nabcd",
        ] {
            assert!(
                parse(bad).await.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

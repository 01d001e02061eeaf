//! One connection to Redis for the handful of commands rotation needs (AUTH, PING, ACL GETUSER /
//! SETUSER / SAVE, INFO, CONFIG REWRITE), spoken by the `redis` crate over a stream this module
//! opens itself: plain TCP, or TLS that is never silently downgraded.
//!
//! Why the stream is ours: the crate's own TLS options (`TlsCertificates::root_cert`) *replace*
//! the trusted roots with the given CA, while `REDIS_TLS_CA_FILE` means "the public roots (which
//! ElastiCache's certificates chain to) *and* this private CA". So the TLS handshake happens here,
//! with that root store, and the crate gets the established stream
//! (`MultiplexedConnection::new_with_config`). Arguments travel as bulk strings, so no value ever
//! needs quoting; a server's error text is kept apart from its code so callers decide what of it
//! may travel on; nothing here logs.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, RedisConnectionInfo, RedisError, Value};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Why a connection or command failed. No variant holds a command's arguments.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("could not connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("TLS set-up failed: {0}")]
    TlsConfig(String),
    #[error("the connection failed")]
    Io,
    #[error("the server sent a reply the client could not read")]
    Protocol,
    /// An error reply: its code (`WRONGPASS`, `NOPERM`, `ERR`) and the text after it, which the
    /// server wrote and which may echo an argument: callers cut it before it travels on.
    #[error("the server answered: {code} {text}")]
    Server { code: String, text: String },
}

impl ConnError {
    /// The server's error code, if the server answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ConnError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Maps the crate's error without keeping its `Display`, which prints the server's whole
    /// text: what of it may travel on is the caller's choice (see `ConnError::Server`).
    fn from_redis(e: &RedisError, timeout: Duration) -> Self {
        if let Some(code) = e.code() {
            return ConnError::Server {
                code: code.to_string(),
                text: e.detail().unwrap_or_default().to_string(),
            };
        }
        if e.is_timeout() {
            ConnError::Timeout(timeout)
        } else if e.is_io_error() || e.is_connection_dropped() {
            ConnError::Io
        } else {
            ConnError::Protocol
        }
    }
}

/// TLS settings: the public web roots plus, optionally, a private CA bundle.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
}

impl TlsSettings {
    /// Trusts the public roots (ElastiCache's certificates chain to them) and `extra_ca` if given.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, ConnError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                ConnError::TlsConfig(format!("cannot read {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    ConnError::TlsConfig(format!("bad certificate in {}: {e}", path.display()))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| ConnError::TlsConfig(format!("unusable CA certificate: {e}")))?;
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

/// One connection; the task that drives it ends when the connection is dropped.
pub struct RedisConnection {
    conn: MultiplexedConnection,
    driver: JoinHandle<()>,
    timeout: Duration,
}

impl Drop for RedisConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl RedisConnection {
    /// Connects to `host:port`, over TLS when `tls` is given; every step is bounded by `timeout`.
    pub async fn connect(
        host: &str,
        port: u16,
        tls: Option<&TlsSettings>,
        timeout: Duration,
    ) -> Result<Self, ConnError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ConnError::Timeout(timeout))?
            .map_err(ConnError::Connect)?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Self::over(tcp, timeout).await,
            Some(settings) => {
                let name = ServerName::try_from(host.to_string()).map_err(|_| {
                    ConnError::TlsConfig(format!("`{host}` is not a valid TLS server name"))
                })?;
                let stream = tokio::time::timeout(
                    timeout,
                    TlsConnector::from(settings.config.clone()).connect(name, tcp),
                )
                .await
                .map_err(|_| ConnError::Timeout(timeout))?
                .map_err(ConnError::Tls)?;
                Self::over(stream, timeout).await
            }
        }
    }

    /// Hands an established stream to the crate. No credentials and no `CLIENT SETINFO` at
    /// set-up: the caller's `AUTH` is the first command the server sees.
    async fn over<S>(stream: S, timeout: Duration) -> Result<Self, ConnError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let info = RedisConnectionInfo::default().set_skip_set_lib_name();
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(timeout));
        let (conn, driver) = tokio::time::timeout(
            timeout,
            MultiplexedConnection::new_with_config(&info, stream, config),
        )
        .await
        .map_err(|_| ConnError::Timeout(timeout))?
        .map_err(|e| ConnError::from_redis(&e, timeout))?;
        Ok(Self {
            conn,
            driver: tokio::spawn(driver),
            timeout,
        })
    }

    /// Sends one command and returns its reply; an error reply is `Err(Server)`.
    pub async fn query(&mut self, cmd: &Cmd) -> Result<Value, ConnError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, cmd.query_async::<Value>(&mut self.conn)).await {
            Err(_) => Err(ConnError::Timeout(timeout)),
            Ok(Err(e)) => Err(ConnError::from_redis(&e, timeout)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// `AUTH user password`.
    pub async fn auth(&mut self, user: &str, password: &str) -> Result<(), ConnError> {
        self.query(redis::cmd("AUTH").arg(user).arg(password))
            .await
            .map(drop)
    }
}

/// The text of a simple or bulk string reply.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".to_string()),
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

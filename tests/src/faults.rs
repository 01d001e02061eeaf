//! Faults in the middle of a step: a secret store that stops at its k-th call (before the call,
//! or after the store applied it, as when the response is lost), and a PostgreSQL proxy that
//! loses the server's reply to a chosen command after the server applied it. A step stopped so
//! is dropped by the test, as Lambda drops an invocation that times out.

use shared::rotation::{
    CurrentSince, PasswordPolicy, SecretDescription, SecretStore, StoreError, VersionRef,
};
use shared::secret::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Where a [`FaultyStore`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Before the k-th call reaches the store: nothing of it applied.
    Before(usize),
    /// After the store applied the k-th call: its response is lost.
    After(usize),
}

/// A [`SecretStore`] around another, with a [`StoreHook`] on every call: the one forwarding of
/// the port that [`FaultyStore`] and [`StaleStore`] share.
pub struct Wrapped<S, H> {
    inner: S,
    hook: H,
}

/// What a [`Wrapped`] store does besides forwarding.
pub trait StoreHook: Send + Sync {
    /// Runs every call (by default, as it is).
    fn around<T: Send>(
        &self,
        call: impl std::future::Future<Output = T> + Send,
    ) -> impl std::future::Future<Output = T> + Send {
        call
    }

    /// The version a read of `stage` is answered from instead, if any.
    fn redirect(&self, _secret_id: &str, _stage: &str) -> Option<String> {
        None
    }
}

impl<S: SecretStore, H: StoreHook> SecretStore for Wrapped<S, H> {
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.hook.around(self.inner.describe(secret_id)).await
    }

    async fn get(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> Result<Option<SecretString>, StoreError> {
        let redirected = match version {
            VersionRef::Stage(stage) => self.hook.redirect(secret_id, stage),
            _ => None,
        };
        let version = redirected.as_deref().map_or(version, VersionRef::Id);
        self.hook.around(self.inner.get(secret_id, version)).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> Result<(), StoreError> {
        let call = self
            .inner
            .put_pending(secret_id, token, value, rotation_token);
        self.hook.around(call).await
    }

    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        let call = self.inner.move_stage(secret_id, stage, to, from);
        self.hook.around(call).await
    }

    async fn random_password(&self, policy: &PasswordPolicy) -> Result<SecretString, StoreError> {
        self.hook.around(self.inner.random_password(policy)).await
    }

    async fn mark_current_since(
        &self,
        secret_id: &str,
        since: &CurrentSince,
    ) -> Result<(), StoreError> {
        let call = self.inner.mark_current_since(secret_id, since);
        self.hook.around(call).await
    }

    async fn versions_created(
        &self,
        secret_id: &str,
    ) -> Result<std::collections::BTreeMap<String, jiff::Timestamp>, StoreError> {
        self.hook
            .around(self.inner.versions_created(secret_id))
            .await
    }
}

/// A [`SecretStore`] that never returns from the call chosen by [`Stop`] (and signals `hung`).
pub type FaultyStore<S> = Wrapped<S, Fault>;

/// The hook of a [`FaultyStore`].
pub struct Fault {
    stop: Option<Stop>,
    calls: AtomicUsize,
    /// Notified when the chosen call is reached: the test then drops the step's future.
    hung: Arc<Notify>,
}

impl<S> Wrapped<S, Fault> {
    /// `hung` is notified when the chosen call is reached (the rotator owns the store, so the
    /// test keeps its own handle on the notification).
    pub fn new(inner: S, stop: Option<Stop>, hung: Arc<Notify>) -> Self {
        Self {
            inner,
            hook: Fault {
                stop,
                calls: AtomicUsize::new(0),
                hung,
            },
        }
    }

    /// How many calls were made so far.
    pub fn calls(&self) -> usize {
        self.hook.calls.load(Ordering::SeqCst)
    }
}

impl Fault {
    async fn hang(&self) {
        self.hung.notify_one();
        std::future::pending::<()>().await;
    }
}

impl StoreHook for Fault {
    async fn around<T: Send>(&self, call: impl std::future::Future<Output = T> + Send) -> T {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.stop == Some(Stop::Before(n)) {
            self.hang().await;
        }
        let out = call.await;
        if self.stop == Some(Stop::After(n)) {
            self.hang().await;
        }
        out
    }
}

/// A TCP proxy to PostgreSQL (plaintext, so it can read the protocol) that, once armed, cuts the
/// connection instead of forwarding the server's CommandComplete for `tag` (e.g. `COMMIT`,
/// `ALTER ROLE`): the server applied the command, the client never hears it did.
pub struct LosingProxy {
    pub port: u16,
    armed: Arc<AtomicBool>,
    /// Set once a reply was lost.
    pub lost: Arc<AtomicBool>,
}

impl LosingProxy {
    pub async fn start(upstream_port: u16, tag: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let armed = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        // CommandComplete: 'C', an int32 length (itself + the tag + NUL), the tag, NUL.
        let mut needle = vec![b'C'];
        needle.extend(((4 + tag.len() + 1) as u32).to_be_bytes());
        needle.extend(tag.as_bytes());
        needle.push(0);
        let (a, l) = (armed.clone(), lost.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (a, l, needle) = (a.clone(), l.clone(), needle.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await {
                        let _ = relay(client, server, needle, a, l).await;
                    }
                });
            }
        });
        Ok(Self { port, armed, lost })
    }

    /// The next reply carrying the tag is lost (once).
    pub fn arm(&self) {
        self.lost.store(false, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    needle: Vec<u8>,
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    // The tail of the previous read, so a tag split across two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = server_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&buf[..n]);
        if armed.load(Ordering::SeqCst) && window.windows(needle.len()).any(|w| w == needle) {
            armed.store(false, Ordering::SeqCst);
            lost.store(true, Ordering::SeqCst);
            upstream.abort();
            return Ok(());
        }
        client_write.write_all(&buf[..n]).await?;
        let keep = needle.len().min(window.len());
        tail = window[window.len() - keep..].to_vec();
    }
    upstream.abort();
    Ok(())
}

/// A server an attacker points a rewritten secret at: it speaks just enough of PostgreSQL's
/// protocol to ask every client for its password in clear text (as a real server may), records
/// each password it receives, and lets in only `accept` (the attacker's own).
pub struct EvilPostgres {
    pub port: u16,
    received: Arc<std::sync::Mutex<Vec<String>>>,
}

impl EvilPostgres {
    pub async fn start(accept: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen, accept) = (received.clone(), accept.to_string());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, accept) = (seen.clone(), accept.clone());
                tokio::spawn(async move {
                    let _ = evil_session(stream, &seen, &accept).await;
                });
            }
        });
        Ok(Self { port, received })
    }

    /// Every password a client sent.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

async fn evil_session(
    mut s: TcpStream,
    seen: &std::sync::Mutex<Vec<String>>,
    accept: &str,
) -> std::io::Result<()> {
    // Startup, after an optional SSLRequest (answered "no TLS here").
    loop {
        let len = s.read_u32().await? as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        s.read_exact(&mut body).await?;
        if body.get(..4) == Some(&80877103u32.to_be_bytes()[..]) {
            s.write_all(b"N").await?;
            continue;
        }
        break;
    }
    // AuthenticationCleartextPassword.
    s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
    if s.read_u8().await? != b'p' {
        return Ok(());
    }
    let len = s.read_u32().await? as usize;
    let mut body = vec![0u8; len.saturating_sub(4)];
    s.read_exact(&mut body).await?;
    let password = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).to_string();
    let ok = password == accept;
    if let Ok(mut v) = seen.lock() {
        v.push(password);
    }
    if ok {
        // AuthenticationOk, ReadyForQuery (idle); then every simple query "succeeds".
        s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'Z', 0, 0, 0, 5, b'I'])
            .await?;
        loop {
            let kind = s.read_u8().await?;
            let len = s.read_u32().await? as usize;
            let mut body = vec![0u8; len.saturating_sub(4)];
            s.read_exact(&mut body).await?;
            match kind {
                b'Q' => {
                    s.write_all(&[
                        b'C', 0, 0, 0, 8, b'S', b'E', b'T', 0, b'Z', 0, 0, 0, 5, b'I',
                    ])
                    .await?
                }
                b'X' => return Ok(()),
                _ => {}
            }
        }
    } else {
        let mut fields = Vec::new();
        for (code, text) in [
            (b'S', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed"),
        ] {
            fields.push(code);
            fields.extend(text.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut msg = vec![b'E'];
        msg.extend(((fields.len() + 4) as u32).to_be_bytes());
        msg.extend(fields);
        s.write_all(&msg).await?;
    }
    Ok(())
}

/// A [`SecretStore`] whose reads by stage lag behind label moves, as an eventually consistent
/// read may right after `UpdateSecretVersionStage`: once armed, a read of a stage answers with
/// the version that carried it when the store was armed.
pub type StaleStore<S> = Wrapped<S, Stale>;

/// The hook of a [`StaleStore`]: the frozen secret and its stage → version map.
#[derive(Default)]
pub struct Stale(std::sync::Mutex<Option<(String, std::collections::BTreeMap<String, String>)>>);

impl<S: SecretStore> Wrapped<S, Stale> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            hook: Stale::default(),
        }
    }

    /// From now on, reads by stage see the labels of `secret_id` as they are now.
    pub async fn freeze(&self, secret_id: &str) -> Result<(), StoreError> {
        let d = self.inner.describe(secret_id).await?;
        let mut by_stage = std::collections::BTreeMap::new();
        for (version, stages) in &d.versions {
            for stage in stages {
                by_stage.insert(stage.clone(), version.clone());
            }
        }
        if let Ok(mut f) = self.hook.0.lock() {
            *f = Some((secret_id.to_string(), by_stage));
        }
        Ok(())
    }
}

impl StoreHook for Stale {
    fn redirect(&self, secret_id: &str, stage: &str) -> Option<String> {
        let frozen = self.0.lock().ok()?;
        let (id, map) = frozen.as_ref()?;
        (id == secret_id).then(|| map.get(stage).cloned()).flatten()
    }
}

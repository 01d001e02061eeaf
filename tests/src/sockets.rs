//! The TCP sockets this process holds, read from `/proc/self/fd`: which server each is connected
//! to and whether it sends without delay (`TCP_NODELAY`). A client that leaves Nagle's algorithm
//! on holds back its second small write until the server acknowledges the first, and the server
//! delays that acknowledgement by up to 40 ms: a TLS handshake followed by PostgreSQL's startup
//! message paid it twice on every login (issue 22).

use anyhow::{Context as _, Result};
use std::os::fd::BorrowedFd;

/// `TCP_NODELAY` of every open TCP socket of this process connected to `port` on loopback.
pub fn nodelay_to(port: u16) -> Result<Vec<bool>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").context("listing /proc/self/fd")? {
        let entry = entry?;
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only read (getsockopt, getpeername) while borrowed. Another
        // thread may close it meanwhile; then these calls fail with EBADF, which is skipped, or
        // answer for whatever socket took the number, which the peer check filters.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let Some(peer) = socket.peer_addr().ok().and_then(|a| a.as_socket()) else {
            continue;
        };
        if peer.port() != port || !peer.ip().is_loopback() {
            continue;
        }
        if let Ok(nodelay) = socket.tcp_nodelay() {
            found.push(nodelay);
        }
    }
    Ok(found)
}

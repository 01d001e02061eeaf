//! A minimal Lambda Runtime API on loopback, enough to run a function's real `bootstrap` binary
//! outside Lambda: it hands out queued events on `/next`, collects responses and errors, and
//! notes when the first `/next` arrived (the end of the function's cold init).

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function answered to one event.
#[derive(Debug, Clone)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value)>,
    answers: Vec<(String, Answer)>,
    first_next: Option<Instant>,
    init_error: Option<String>,
    next_id: u64,
}

/// The server; dropping it leaves the listener thread parked on `accept`, which ends with the process.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Ok(Self { addr, state })
    }

    /// Queues an event; returns its request id.
    pub fn push(&self, event: Value) -> String {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.next_id += 1;
        let id = format!("req-{:04}", s.next_id);
        s.queue.push_back((id.clone(), event));
        cvar.notify_all();
        id
    }

    /// Waits until `count` answers have arrived (or `timeout`), and returns them all.
    pub fn wait_answers(&self, count: usize, timeout: Duration) -> Vec<(String, Answer)> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        while s.answers.len() < count && s.init_error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = cvar
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        s.answers.clone()
    }

    /// When the function first asked for work.
    pub fn first_next(&self) -> Option<Instant> {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first_next
    }

    /// Waits for the first `/next` (the end of cold init), up to `timeout`.
    pub fn wait_first_next(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(t) = self.first_next() {
                return Some(t);
            }
            thread::sleep(Duration::from_micros(200));
        }
        None
    }

    pub fn init_error(&self) -> Option<String> {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .init_error
            .clone()
    }
}

fn serve(stream: TcpStream, state: &Arc<(Mutex<State>, Condvar)>) -> std::io::Result<()> {
    // Each answer goes out in one write with Nagle off: a response split over small writes would
    // wait on the client's delayed ACK and add tens of milliseconds to every invocation measured.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = std::io::BufWriter::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let (lock, cvar) = &**state;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let (id, event) = {
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                s.first_next.get_or_insert_with(Instant::now);
                loop {
                    if let Some(item) = s.queue.pop_front() {
                        break item;
                    }
                    s = cvar.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or_default();
            let payload = event.to_string();
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:local\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                 Content-Length: {}\r\n\r\n{payload}",
                payload.len()
            )?;
        } else {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            {
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                let id = path.split('/').nth(4).unwrap_or_default().to_string();
                if path.ends_with("/response") {
                    s.answers.push((id, Answer::Response(value)));
                } else if path.ends_with("/init/error") {
                    s.init_error = Some(value.to_string());
                } else if path.ends_with("/error") {
                    s.answers.push((id, Answer::Error(value)));
                }
                cvar.notify_all();
            }
            write!(writer, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")?;
        }
        writer.flush()?;
    }
}

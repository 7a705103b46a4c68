//! A fault-injecting HTTP/1.1 proxy in front of a real registry (loopback only): answers
//! chosen requests with 500/503/429 + `Retry-After`, or drops the connection mid-body.
//! One request per upstream connection (`Connection: close`), so faults hit exact requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a matching request.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer with this status.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// Forward the head and half the body, then close both connections.
    DropMidBody,
    /// Read half the body, forward nothing, close the client's connection (a network cut).
    CutMidBody,
    /// Forward the request; change the first byte of the response body (bit rot).
    CorruptResponse,
}

/// Injects `fault` into the `nth` (1-based) requests with `method` whose path contains `path`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// HTTP method.
    pub method: &'static str,
    /// Substring of the request target.
    pub path: &'static str,
    /// Which matching requests (1-based) get the fault.
    pub nth: Vec<usize>,
    /// The fault.
    pub fault: Fault,
}

/// The running proxy (stopped on drop).
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: Arc<Mutex<Vec<String>>>,
    authorizations: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

struct Shared {
    upstream: String,
    rules: Vec<Rule>,
    counts: Mutex<Vec<usize>>,
    log: Arc<Mutex<Vec<String>>>,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with `rules`.
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            counts: Mutex::new(vec![0; rules.len()]),
            rules,
            log: log.clone(),
            authorizations: authorizations.clone(),
        });
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let mut backoff = super::AcceptBackoff::default();
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let conn = match conn {
                    Ok(conn) => conn,
                    Err(e) => {
                        std::thread::sleep(backoff.failed("proxy", &e));
                        continue;
                    }
                };
                backoff.accepted();
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        FaultProxy { host, log, authorizations, stop }
    }

    /// Every `Authorization` header value the proxy forwarded, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }

    /// `METHOD path -> outcome` for every request seen.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut client = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut head = Vec::new();
    let mut first = String::new();
    if client.read_line(&mut first)? == 0 {
        return Ok(());
    }
    let mut len = 0u64;
    loop {
        let mut line = String::new();
        if client.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("authorization:") {
            let value = line.split_once(':').map_or("", |(_, v)| v.trim()).to_owned();
            shared.authorizations.lock().unwrap().push(value);
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let fault = {
        let mut counts = shared.counts.lock().unwrap();
        let mut fault = None;
        for (i, r) in shared.rules.iter().enumerate() {
            if r.method == method && target.contains(r.path) {
                counts[i] += 1;
                if fault.is_none() && r.nth.contains(&counts[i]) {
                    fault = Some(r.fault);
                }
            }
        }
        fault
    };
    let path = target.split('?').next().unwrap_or("").to_owned();
    shared.log.lock().unwrap().push(format!("{method} {path} {len} {fault:?}"));
    let reply = match fault {
        Some(Fault::Status(code)) => Some((code, String::new())),
        Some(Fault::TooMany(secs)) => Some((429, format!("Retry-After: {secs}\r\n"))),
        _ => None,
    };
    if let Some((status, extra)) = reply {
        std::io::copy(&mut (&mut client).take(len), &mut std::io::sink())?;
        let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}"#;
        write!(
            out,
            "HTTP/1.1 {status} Injected\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    if let Some(Fault::CutMidBody) = fault {
        std::io::copy(&mut (&mut client).take(len / 2), &mut std::io::sink())?;
        let _ = out.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut up = TcpStream::connect(&shared.upstream)?;
    up.write_all(first.as_bytes())?;
    up.write_all(&head)?;
    up.write_all(b"Connection: close\r\n\r\n")?;
    if let Some(Fault::DropMidBody) = fault {
        std::io::copy(&mut (&mut client).take(len / 2), &mut up)?;
        up.flush()?;
        std::thread::sleep(Duration::from_millis(200));
        let _ = up.shutdown(Shutdown::Both);
        let _ = out.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut (&mut client).take(len), &mut up)?;
    let mut response = BufReader::new(up);
    let mut status = String::new();
    response.read_line(&mut status)?;
    out.write_all(status.as_bytes())?;
    if let Some(entry) =
        shared.log.lock().unwrap().iter_mut().rev().find(|e| e.starts_with(&format!("{method} {path} ")))
    {
        entry.push_str(&format!(" -> {}", status.split(' ').nth(1).unwrap_or("?")));
    }
    if let Some(Fault::CorruptResponse) = fault {
        let mut rest = Vec::new();
        response.read_to_end(&mut rest)?;
        if let Some(at) = rest.windows(4).position(|w| w == b"\r\n\r\n")
            && let Some(b) = rest.get_mut(at + 4)
        {
            *b = if *b == b' ' { b'\n' } else { b' ' };
        }
        out.write_all(&rest)?;
    } else {
        std::io::copy(&mut response, &mut out)?;
    }
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

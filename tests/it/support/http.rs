//! A scripted HTTP/1.1 server on 127.0.0.1: answers requests from a list of canned responses
//! (the last one repeats) and records what it was asked. For health checks and simple fakes.
//! A body may quote a request header back (`{authorization}`, `{x-api-key}`), as servers that
//! echo the request in their errors do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A canned answer.
#[derive(Clone, Debug)]
pub struct Canned {
    /// Status code.
    pub status: u16,
    /// Body; `{name}` is replaced by the request's header `name` (lower case) as sent,
    /// `{json:name}` by it escaped for a JSON string.
    pub body: String,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl Canned {
    /// A response with `status` and `body`.
    pub fn new(status: u16, body: &str) -> Self {
        Canned { status, body: body.into(), headers: Vec::new() }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Request line (`POST /api/compose.deploy HTTP/1.1`).
    pub line: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl Recorded {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The running server.
pub struct ScriptedServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// Request lines seen (`GET /health`).
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Whole requests seen, in arrival order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl ScriptedServer {
    /// Starts a server answering with `script` in order, repeating the last answer.
    pub fn start(script: Vec<Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let (seen2, requests2) = (seen.clone(), requests.clone());
        thread::spawn(move || {
            let mut backoff = super::AcceptBackoff::default();
            for stream in listener.incoming().take(10_000) {
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(e) => {
                        thread::sleep(backoff.failed("scripted server", &e));
                        continue;
                    }
                };
                backoff.accepted();
                let (seen, requests, script) = (seen2.clone(), requests2.clone(), script.clone());
                thread::spawn(move || serve(stream, &seen, &requests, &script));
            }
        });
        ScriptedServer { url, seen, requests }
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<String>>,
    requests: &Mutex<Vec<Recorded>>,
    script: &Mutex<Vec<Canned>>,
) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut len = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let mut answer = {
        let mut s = script.lock().unwrap();
        if s.len() > 1 { s.remove(0) } else { s[0].clone() }
    };
    for (name, value) in &headers {
        let json = serde_json::to_string(value).unwrap();
        answer.body = answer.body.replace(&format!("{{json:{name}}}"), &json[1..json.len() - 1]);
        answer.body = answer.body.replace(&format!("{{{name}}}"), value);
    }
    // Under one lock with `seen`'s push, so both keep the same order.
    {
        let mut seen = seen.lock().unwrap();
        seen.push(line.trim().to_owned());
        requests.lock().unwrap().push(Recorded {
            line: line.trim().to_owned(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let extra: String = answer.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\ncontent-type: text/plain\r\n{extra}\r\n{}",
        answer.status,
        answer.body.len(),
        answer.body
    );
}

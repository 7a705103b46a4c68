//! Minimal HTTP/1.1 over a unix socket or TCP, enough for the Docker Engine API: one request per
//! connection (`Connection: close`), bodies streamed from a file, responses read as a stream
//! (`Content-Length`, `chunked`, or until the engine closes).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dial {
    /// A unix socket (`unix:///var/run/docker.sock`).
    Unix(PathBuf),
    /// `host:port` over plain TCP (`tcp://10.0.0.5:2375`).
    Tcp(String),
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

fn connect(dial: &Dial, timeout: Duration) -> io::Result<Box<dyn Conn>> {
    match dial {
        Dial::Unix(p) => {
            let s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            Ok(Box::new(s))
        }
        Dial::Tcp(addr) => {
            let s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            Ok(Box::new(s))
        }
    }
}

/// A response whose body is read as a stream.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Box<dyn BufRead + Send>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Reads the whole body as text (for small error bodies).
    pub fn text(mut self) -> String {
        let mut s = String::new();
        let _ = self.body.by_ref().take(1 << 20).read_to_string(&mut s);
        s
    }
}

/// A request body: a reader and its length.
pub(crate) type Body<'a> = Option<(&'a mut dyn Read, u64, &'a str)>;

/// Sends `method path` to `dial`; `timeout` bounds every read and write.
pub(crate) fn request_to(
    dial: &Dial,
    method: &str,
    path: &str,
    body: Body,
    timeout: Duration,
) -> io::Result<Response> {
    let mut stream = connect(dial, timeout)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: deploy-action\r\nConnection: close\r\n"
    );
    match &body {
        Some((_, len, content_type)) => {
            head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {len}\r\n"))
        }
        None if method == "POST" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    let mut w = io::BufWriter::with_capacity(1 << 16, &mut stream);
    w.write_all(head.as_bytes())?;
    if let Some((reader, _, _)) = body {
        io::copy(reader, &mut w)?;
    }
    w.flush()?;
    drop(w);
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP response: {line:?}"))
    })?;
    let mut headers = Vec::new();
    for _ in 0..200 {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body: Box<dyn BufRead + Send> =
        if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Box::new(BufReader::new(Chunked { inner: r, left: 0, done: false }))
        } else if let Some(len) = find("content-length").and_then(|v| v.parse::<u64>().ok()) {
            Box::new(BufReader::new(r.take(len)))
        } else {
            Box::new(r)
        };
    Ok(Response { status, headers, body })
}

/// Decodes a `Transfer-Encoding: chunked` body.
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode() {
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        let mut out = String::new();
        Chunked { inner: &raw[..], left: 0, done: false }.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello, world");
    }

    #[test]
    fn requests_and_responses_round_trip_over_a_socket() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&req).contains("\r\n\r\nbody") {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.41\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n").unwrap();
            String::from_utf8(req).unwrap()
        });
        let mut body: &[u8] = b"body";
        let resp = request_to(
            &Dial::Unix(sock.clone()),
            "POST",
            "/build?x=1",
            Some((&mut body, 4, "application/x-tar")),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((resp.status, resp.header("api-version")), (200, Some("1.41")));
        assert_eq!(resp.text(), "{}\n");
        let req = server.join().unwrap();
        assert!(
            req.starts_with("POST /build?x=1 HTTP/1.1\r\n") && req.contains("Content-Length: 4\r\n"),
            "{req}"
        );
    }

    #[test]
    fn tcp_engines_are_dialled_too() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let resp = request_to(&Dial::Tcp(addr), "GET", "/v1.41/_ping", None, Duration::from_secs(5)).unwrap();
        assert_eq!((resp.status, resp.text()), (200, "OK".to_owned()));
        assert!(server.join().unwrap().starts_with("GET /v1.41/_ping HTTP/1.1\r\n"));
    }
}

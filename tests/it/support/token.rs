//! A loopback token server for distribution's token auth: RS256 JWTs signed with `openssl`
//! using a self-signed certificate the registry trusts (`x5c` header), granting scopes per user.

use base64::Engine as _;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// User `pusher` may pull and push everything; `reader` may only pull; anonymous gets nothing.
pub const PUSHER: (&str, &str) = ("pusher", "push-Secret-4711");
/// Pull-only user.
pub const READER: (&str, &str) = ("reader", "read-Secret-0815");
/// An OAuth2 refresh token (a docker config `identitytoken`) that acts as `pusher`.
pub const IDENTITY_TOKEN: &str = "identity-Refresh-9d2c";

/// The running token server (a thread; stopped on drop).
pub struct TokenServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Certificate the registry trusts.
    pub cert_path: PathBuf,
    issued: Arc<AtomicUsize>,
    scopes: Arc<Mutex<Vec<String>>>,
    stale: Arc<AtomicUsize>,
    echo: Arc<AtomicBool>,
    refreshed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?');
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    /// Generates a key and certificate in `dir` and starts serving.
    pub fn start(dir: &Path) -> TokenServer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-issuer"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(ok.success(), "openssl req failed");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let stale = Arc::new(AtomicUsize::new(0));
        let echo = Arc::new(AtomicBool::new(false));
        let refreshed = Arc::new(AtomicUsize::new(0));
        let (i2, s2, st2, stale2, echo2, r2) =
            (issued.clone(), scopes.clone(), stop.clone(), stale.clone(), echo.clone(), refreshed.clone());
        std::thread::spawn(move || {
            let mut backoff = super::AcceptBackoff::default();
            for conn in listener.incoming() {
                if st2.load(Ordering::SeqCst) {
                    return;
                }
                let mut conn = match conn {
                    Ok(conn) => conn,
                    Err(e) => {
                        std::thread::sleep(backoff.failed("token server", &e));
                        continue;
                    }
                };
                backoff.accepted();
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                // A stale token claims 300 s of life but expired two minutes ago.
                let expired =
                    stale2.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                let echo = echo2.load(Ordering::SeqCst);
                let (status, body, refresh) =
                    handle(&mut BufReader::new(&conn), &key, &x5c, &s2, expired, echo);
                if status == 200 {
                    i2.fetch_add(1, Ordering::SeqCst);
                    if refresh {
                        r2.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer { addr, cert_path: cert, issued, scopes, stale, echo, refreshed, stop }
    }

    /// The next `n` tokens are already expired (the registry refuses them).
    pub fn issue_stale(&self, n: usize) {
        self.stale.store(n, Ordering::SeqCst);
    }

    /// From now on a refusal quotes the request's `Authorization` header in its error message
    /// (`bad credentials Basic …`), as token services that echo the request do.
    pub fn echo_credentials(&self) {
        self.echo.store(true, Ordering::SeqCst);
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Tokens issued for a refresh token (`POST`, `grant_type=refresh_token`) so far.
    pub fn refreshed(&self) -> usize {
        self.refreshed.load(Ordering::SeqCst)
    }

    /// The scopes of every token request so far (space-separated per request).
    pub fn scopes(&self) -> Vec<String> {
        self.scopes.lock().unwrap().clone()
    }
}

/// Answers one token request: `GET` with basic credentials (distribution
/// `docs/spec/auth/token.md`), or `POST` of a form (`docs/spec/auth/oauth.md`, v2.8:
/// `grant_type=refresh_token` with `refresh_token`, or `grant_type=password`), answered with
/// `access_token` only. Returns status, body and whether a refresh token was exchanged.
fn handle(
    reader: &mut impl BufRead,
    key: &Path,
    x5c: &str,
    seen: &Mutex<Vec<String>>,
    expired: bool,
    echo: bool,
) -> (u16, String, bool) {
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return (400, "{}".into(), false);
    }
    let post = line.starts_with("POST ");
    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut user = None;
    let mut authorization = String::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        if let Some((name, value)) = h.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
            && let Some(b) = value.trim().strip_prefix("Basic ")
        {
            authorization = value.trim().to_owned();
            let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).unwrap_or_default();
            user = String::from_utf8(raw)
                .ok()
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        }
    }
    let mut form = vec![0u8; length.min(1 << 16)];
    if post && std::io::Read::read_exact(reader, &mut form).is_err() {
        return (400, "{}".into(), false);
    }
    let form = String::from_utf8_lossy(&form).into_owned();
    let query = if post { form.as_str() } else { target.split_once('?').map(|(_, q)| q).unwrap_or("") };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut refresh = false;
    if post {
        match param("grant_type").as_deref() {
            Some("refresh_token") => {
                if param("refresh_token").as_deref() != Some(IDENTITY_TOKEN) {
                    let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid refresh token"}]});
                    return (401, body.to_string(), false);
                }
                refresh = true;
                user = Some((PUSHER.0.to_owned(), PUSHER.1.to_owned()));
            }
            Some("password") => user = param("username").zip(param("password")),
            _ => {
                let body =
                    serde_json::json!({"errors": [{"code": "UNSUPPORTED", "message": "unknown grant_type"}]});
                return (400, body.to_string(), false);
            }
        }
    }
    let subject = match &user {
        Some((u, p)) if (u.as_str(), p.as_str()) == PUSHER || (u.as_str(), p.as_str()) == READER => u.clone(),
        Some(_) => {
            let message =
                if echo { format!("bad credentials {authorization}") } else { "bad credentials".to_owned() };
            let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]});
            return (401, body.to_string(), false);
        }
        None => String::new(),
    };
    let mut access = Vec::new();
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    let requested: Vec<&str> = params.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.as_str()).collect();
    seen.lock().unwrap().push(requested.join(" "));
    for (k, v) in &params {
        if k != "scope" {
            continue;
        }
        for scope in v.split(' ') {
            let (Some((typ, rest)), Some((_, actions))) = (scope.split_once(':'), scope.rsplit_once(':'))
            else {
                continue;
            };
            let name = rest.rsplit_once(':').map(|(n, _)| n).unwrap_or(rest);
            let granted: Vec<String> = actions
                .split(',')
                .filter(|a| match subject.as_str() {
                    "pusher" => true,
                    "reader" => *a == "pull",
                    _ => false,
                })
                .map(str::to_owned)
                .collect();
            if typ == "repository" && !granted.is_empty() {
                by_name.entry(name.to_owned()).or_default().extend(granted);
            }
        }
    }
    for (name, actions) in by_name {
        access.push(serde_json::json!({"type": "repository", "name": name, "actions": actions}));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let now = if expired { now - 900 } else { now };
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": subject, "aud": "test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{:x}", rand::random::<u64>()),
        "access": access,
    });
    let signing_input =
        format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    let token = format!("{signing_input}.{}", b64url(&sig));
    if post {
        return (200, serde_json::json!({"access_token": token, "expires_in": 300}).to_string(), refresh);
    }
    (200, serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string(), false)
}

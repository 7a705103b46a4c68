//! The syntax rules of the deploy and health inputs, checked before anything is contacted or
//! written: values that reach ssh's command line, the host's shell or an HTTP client must be
//! plain data there. Pure functions: a value in, the value to use (or an [`InputError`]) out.

use crate::settings::InputError;
use std::net::Ipv6Addr;

/// The characters a path input may contain: those a POSIX shell reads literally (the set
/// [`super::process::shell_quote`] leaves unquoted). No whitespace, quotes, `$`, `` ` ``, `;`,
/// `|`, `&`, `<>`, `(){}`, globs (`*?[]`), `!`, `~` or `\`.
pub(crate) const PATH_CHARS: &str = "letters, digits and `-_./=:@%+,`";

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)
}

/// A port: 1–65535 (0 is "any port" to a socket, never a place to connect to).
pub(crate) fn port(input: &str, port: u16) -> Result<u16, InputError> {
    if port == 0 {
        return Err(InputError::new(input, "0", "must be a port from 1 to 65535"));
    }
    Ok(port)
}

fn ipv6(s: &str) -> bool {
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    addr.parse::<Ipv6Addr>().is_ok()
        && zone.is_none_or(|z| {
            !z.is_empty() && z.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

fn dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// An ssh host: a DNS name or IPv4 address (dot-separated labels of letters, digits, `-`, `_`,
/// none starting with `-`), or an IPv6 address, bare or in brackets (`[::1]`, `fe80::1%eth0`).
/// Returns the host as ssh takes it: without brackets.
pub(crate) fn ssh_host(input: &str, v: &str) -> Result<String, InputError> {
    let inner = v.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    let ok = match inner {
        Some(addr) => ipv6(addr),
        None if v.contains(':') => ipv6(v),
        None => dns_name(v),
    };
    if !ok {
        return Err(InputError::new(
            input,
            v,
            "must be a host name or IPv4 address (labels of letters, digits, `-_`, not starting with `-`) \
             or an IPv6 address (bare or in brackets)",
        ));
    }
    Ok(inner.unwrap_or(v).to_owned())
}

/// One line of `ssh-hosts`: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address
/// (no port), the host as [`ssh_host`] takes it. Returns the host (without brackets) and the
/// port (`default_port` when none is given).
pub(crate) fn ssh_host_port(input: &str, v: &str, default_port: u16) -> Result<(String, u16), InputError> {
    let (host, port) = match (v.strip_prefix('['), v.matches(':').count()) {
        (Some(rest), _) => match rest.split_once(']') {
            Some((addr, "")) => (format!("[{addr}]"), None),
            Some((addr, p)) if p.starts_with(':') => (format!("[{addr}]"), Some(&p[1..])),
            _ => (v.to_owned(), None),
        },
        (None, 1) => {
            let (h, p) = v.split_once(':').expect("one colon");
            (h.to_owned(), Some(p))
        }
        _ => (v.to_owned(), None),
    };
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(InputError::new(input, v, "has a port that is not 1 to 65535 (`host:port`)")),
        },
    };
    Ok((ssh_host(input, &host).map_err(|e| InputError::new(input, v, e.rule))?, port))
}

/// An ssh login: 1–64 letters, digits or `._-`, not starting with `-`.
pub(crate) fn ssh_user(input: &str, v: &str) -> Result<String, InputError> {
    let ok = (1..=64).contains(&v.len())
        && !v.starts_with('-')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(InputError::new(
            input,
            v,
            "must be a login of letters, digits and `._-`, not starting with `-`",
        ));
    }
    Ok(v.to_owned())
}

fn plain_path(input: &str, v: &str) -> Result<(), InputError> {
    if let Some(bad) = v.chars().find(|c| !path_char(*c)) {
        let shown =
            if bad.is_whitespace() || bad.is_control() { format!("{bad:?}") } else { format!("`{bad}`") };
        return Err(InputError::new(
            input,
            v,
            format!(
                "contains {shown}: a path here may hold only {PATH_CHARS} (no shell syntax, no whitespace)"
            ),
        ));
    }
    Ok(())
}

/// The compose project directory: absolute (`/srv/app`) or in the login's home (`~`, `~/app`),
/// of [`PATH_CHARS`] after the `~`.
pub(crate) fn compose_dir(input: &str, v: &str) -> Result<String, InputError> {
    let rest = if v == "~" { "" } else { v.strip_prefix("~/").unwrap_or(v) };
    plain_path(input, rest)?;
    if !(v.starts_with('/') || v == "~" || v.starts_with("~/")) {
        return Err(InputError::new(
            input,
            v,
            "must be an absolute path (`/srv/app`) or in the home directory (`~/app`)",
        ));
    }
    Ok(v.to_owned())
}

/// A file inside the compose directory: relative, of [`PATH_CHARS`], no `..` component and no
/// component starting with `-` (it would read as an option of `mv` or compose).
pub(crate) fn compose_path(input: &str, v: &str) -> Result<String, InputError> {
    plain_path(input, v)?;
    if v.starts_with('/') {
        return Err(InputError::new(input, v, "must be relative to compose-dir, not an absolute path"));
    }
    let parts: Vec<&str> = v.split('/').collect();
    if parts.contains(&"..") {
        return Err(InputError::new(input, v, "must stay inside compose-dir: no `..` component"));
    }
    if parts.iter().any(|p| p.starts_with('-')) {
        return Err(InputError::new(input, v, "must not have a component starting with `-`"));
    }
    if parts.last().is_none_or(|p| p.is_empty() || *p == ".") {
        return Err(InputError::new(input, v, "must name a file, not a directory"));
    }
    Ok(v.to_owned())
}

/// An `http://` or `https://` URL with a host (no `file:`, `ftp:`, `javascript:` …).
pub(crate) fn http_url(input: &str, v: &str) -> Result<url::Url, InputError> {
    let parsed = url::Url::parse(v).map_err(|e| InputError::new(input, v, format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(InputError::new(input, v, "must be an http:// or https:// URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(InputError::new(input, v, "must name a host (http://host/…)"));
    }
    Ok(parsed)
}

/// An HTTP status a health check can expect: 100–599.
pub(crate) fn http_status(input: &str, status: u16) -> Result<u16, InputError> {
    if !(100..=599).contains(&status) {
        return Err(InputError::new(input, status.to_string(), "must be an HTTP status from 100 to 599"));
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in ["vm.example", "10.0.0.1", "my_host-1", "::1", "[::1]", "fe80::1%eth0", "[2001:db8::2]"] {
            assert!(ssh_host("ssh-host", ok).is_ok(), "{ok}");
        }
        assert_eq!(ssh_host("h", "[::1]").unwrap(), "::1");
        for bad in [
            "-oProxyCommand=x",
            "a b",
            "a\nb",
            "host;id",
            "a..b",
            "",
            "[vm.example]",
            "::1]",
            "a.-b",
            "user@host",
            "$(id)",
            "[::1",
            "fe80::1%",
            "h\t",
        ] {
            assert!(ssh_host("ssh-host", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_lines() {
        let hp = |v: &str| ssh_host_port("ssh-hosts", v, 22);
        assert_eq!(hp("vm1.example").unwrap(), ("vm1.example".into(), 22));
        assert_eq!(hp("10.0.0.2:2222").unwrap(), ("10.0.0.2".into(), 2222));
        assert_eq!(hp("[::1]:2200").unwrap(), ("::1".into(), 2200));
        assert_eq!(hp("[::1]").unwrap(), ("::1".into(), 22));
        assert_eq!(hp("fe80::1").unwrap(), ("fe80::1".into(), 22));
        for bad in ["vm:0", "vm:x", "vm:70000", "-o:22", "[::1]x", "a b:22", "[vm]:22", ""] {
            assert!(hp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn users() {
        assert!(ssh_user("u", "deploy").is_ok() && ssh_user("u", "ci.bot_2").is_ok());
        for bad in ["-l", "a b", "", "root;id", "a\u{7}", "x@y"] {
            assert!(ssh_user("u", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        for ok in ["/srv/app", "~/app", "~", "/srv/my-app_2/v1.0"] {
            assert!(compose_dir("d", ok).is_ok(), "{ok}");
        }
        for bad in ["srv/app", "~user/app", "/srv/my app", "/srv/$(id)", "/srv/a;b", "/srv/\n", "'/x'", "/a*"]
        {
            assert!(compose_dir("d", bad).is_err(), "{bad:?}");
        }
        for ok in [".env.versions", "deploy/compose.yml", "./x.yml"] {
            assert!(compose_path("f", ok).is_ok(), "{ok}");
        }
        for bad in
            ["../x.env", "/etc/x.env", "a/../../b", "-x", "a/-b", "x y", "a`id`", "~/x", "", "dir/", "."]
        {
            assert!(compose_path("f", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_and_numbers() {
        assert!(http_url("u", "https://app.example/health").is_ok());
        assert!(http_url("u", "http://127.0.0.1:8080").is_ok());
        for bad in ["file:///etc/passwd", "gopher://x", "ftp://x", "javascript:alert(1)", "http://", "x"] {
            assert!(http_url("u", bad).is_err(), "{bad}");
        }
        assert!(port("p", 0).is_err() && port("p", 22).is_ok());
        assert!(
            http_status("s", 99).is_err() && http_status("s", 600).is_err() && http_status("s", 204).is_ok()
        );
    }
}

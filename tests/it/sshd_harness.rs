//! The sshd stand-in for a VM works with strict host-key checking, and refuses a wrong key.

use crate::support::skip;
use crate::support::sshd::Sshd;

#[test]
fn ssh_with_pinned_host_key_runs_a_command_and_a_wrong_pin_is_refused() {
    if !skip::unless(
        skip::is_root() && std::path::Path::new("/usr/sbin/sshd").exists(),
        "sshd tests: root and openssh-server",
    ) {
        return;
    }
    let sshd = Sshd::start();
    let out = sshd.ssh("echo vm-ok").output().unwrap();
    assert!(out.status.success(), "ssh failed: {}\n{}", String::from_utf8_lossy(&out.stderr), sshd.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "vm-ok");

    // A different host key pinned for the same address must be refused, never accepted.
    let other = Sshd::start();
    let forged = other.known_hosts_line.replace(&format!(":{}", other.port), &format!(":{}", sshd.port));
    let out = sshd.ssh_pinned("echo should-not-run", &forged).output().unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("should-not-run"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"));
}

/// A port taken between `free_port` and sshd's bind makes sshd exit; the harness then tries
/// the next port instead of failing or waiting on the other listener.
#[test]
fn sshd_whose_port_is_taken_starts_on_the_next_one() {
    if !skip::unless(
        skip::is_root() && std::path::Path::new("/usr/sbin/sshd").exists(),
        "sshd tests: root and openssh-server",
    ) {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let sshd = Sshd::start_on("", [busy, crate::support::sshd::free_port()]);
    assert_ne!(sshd.port, busy);
    let out = sshd.ssh("echo vm-ok").output().unwrap();
    assert!(out.status.success(), "ssh failed: {}\n{}", String::from_utf8_lossy(&out.stderr), sshd.log());
}

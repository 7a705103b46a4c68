//! The sshd stand-in for a VM works with strict host-key checking, and refuses a wrong key.

use crate::support::sshd::Sshd;

fn root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

#[test]
fn ssh_with_pinned_host_key_runs_a_command_and_a_wrong_pin_is_refused() {
    if !root() || !std::path::Path::new("/usr/sbin/sshd").exists() {
        assert!(std::env::var("CI").is_err(), "sshd tests need root and openssh-server in CI");
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

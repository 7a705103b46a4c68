//! The release pipeline's scripts (scripts/release/, called by .github/workflows/release.yml)
//! and `make image`'s, run here as the workflow runs them; and the shipped action.yml.

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    root().join("scripts").join(name)
}

fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(script(name));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn lines(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn version_tags_are_the_version_its_minor_and_its_major() {
    let tags = |t: &str| lines(&run("release/version-tags.sh", &[t], &[]));
    assert_eq!(tags("v1.2.3"), ["v1.2.3", "v1.2", "v1"]);
    assert_eq!(tags("v0.1.0"), ["v0.1.0", "v0.1", "v0"]);
    assert_eq!(tags("v10.20.30"), ["v10.20.30", "v10.20", "v10"]);
    // A pre-release never moves the tags users pin to.
    assert_eq!(tags("v2.0.0-rc.1"), ["v2.0.0-rc.1"]);
    for bad in ["", "1.2.3", "v1.2", "v1", "v01.2.3", "v1.2.3+build.5", "v1.2.3 ", "release-1.2.3", "v1.2.3-"]
    {
        let out = run("release/version-tags.sh", &[bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
}

#[test]
fn set_action_image_rewrites_the_runs_image_line_of_action_yml_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("action.yml");
    let original = std::fs::read_to_string(root().join("action.yml")).unwrap();
    std::fs::write(&file, &original).unwrap();
    let image = "docker://ghcr.io/org/deploy-action:v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let out = run("release/set-action-image.sh", &[file.to_str().unwrap(), image], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<_> = original.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].1, format!("  image: {image}"));
    assert_eq!(original.lines().count(), after.lines().count());
    assert_eq!(original.ends_with('\n'), after.ends_with('\n'));
}

#[test]
fn set_action_image_leaves_image_keys_outside_runs_alone_and_refuses_ambiguity() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("action.yml");
    let text = "name: x\ninputs:\n  image:\n    description: the image\nruns:\n  using: docker\n  # image: not this\n  image: Dockerfile\n  args: [a]\nbranding:\n  image: nor this\n";
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    assert!(run("release/set-action-image.sh", &[f, "docker://r/a:v1"], &[]).status.success());
    let want = text.replace("  image: Dockerfile\n", "  image: docker://r/a:v1\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want);

    // Not a docker:// reference: exit 2, file unchanged.
    for bad in ["Dockerfile", "docker://", "docker://a b", "ghcr.io/org/x:v1"] {
        let out = run("release/set-action-image.sh", &[f, bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), want);
    }
    // No or two `image:` lines in runs: exit 1, file unchanged.
    for text in ["runs:\n  using: docker\n", "runs:\n  image: a\n  image: b\n"] {
        std::fs::write(&file, text).unwrap();
        let out = run("release/set-action-image.sh", &[f, "docker://r/a:v1"], &[]);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}

#[test]
fn checksums_lists_every_file_with_its_sha256_for_sha256sum_c() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deploy-action-linux-arm64"), b"arm").unwrap();
    std::fs::write(dir.path().join("deploy-action-linux-amd64"), b"amd").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let d = dir.path().to_str().unwrap();
    for _ in 0..2 {
        // A second run does not list SHA256SUMS itself.
        let printed = lines(&run("release/checksums.sh", &[d], &[]));
        let want: Vec<String> = [("deploy-action-linux-amd64", "amd"), ("deploy-action-linux-arm64", "arm")]
            .iter()
            .map(|(n, c)| format!("{}  {n}", hex::encode(sha2::Sha256::digest(c.as_bytes()))))
            .collect();
        assert_eq!(printed, want);
        let file = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
        assert_eq!(file.lines().collect::<Vec<_>>(), want);
    }
    let check =
        Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(dir.path()).output().unwrap();
    assert!(check.status.success());
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(run("release/checksums.sh", &[empty.path().to_str().unwrap()], &[]).status.code(), Some(1));
}

/// rootfs.sh with a stand-in `apk` that records its arguments and installs a file: the
/// architecture mapping, the keys, the packages, and nothing of apk's left in the image.
#[test]
fn rootfs_installs_the_architectures_packages_without_running_them() {
    let dir = tempfile::tempdir().unwrap();
    let apk = dir.path().join("apk");
    std::fs::write(
        &apk,
        "#!/bin/sh\necho \"$@\" > \"$APK_LOG\"\nwhile [ \"$1\" != --root ]; do shift; done\n\
         mkdir -p \"$2/usr/bin\" \"$2/lib/apk/db\" && touch \"$2/usr/bin/ssh\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&apk, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let repos = dir.path().join("repositories");
    std::fs::write(&repos, "https://dl-cdn.alpinelinux.org/alpine/v3.22/main\n").unwrap();
    let log = dir.path().join("log");
    for (arch, apk_arch) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        let out_dir = dir.path().join(arch);
        let env = [
            ("APK", apk.to_str().unwrap()),
            ("APK_REPOSITORIES", repos.to_str().unwrap()),
            ("APK_LOG", log.to_str().unwrap()),
        ];
        let out = run("release/rootfs.sh", &[arch, out_dir.to_str().unwrap()], &env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let args = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            args.trim(),
            format!(
                "add --root {} --arch {apk_arch} --initdb --no-cache --no-scripts --keys-dir \
                 /usr/share/apk/keys/{apk_arch} ca-certificates-bundle openssh-client-default",
                out_dir.display()
            )
        );
        assert!(out_dir.join("usr/bin/ssh").exists());
        assert!(!out_dir.join("etc/apk").exists() && !out_dir.join("lib/apk").exists());
        assert!(std::fs::read_to_string(out_dir.join("etc/passwd")).unwrap().starts_with("root:x:0:0:"));
    }
    let out = run("release/rootfs.sh", &["386", dir.path().join("x").to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// image-rootfs.sh (make image, the tests' action image): the binary and ssh with every
/// library `ldd` names, so both run in an otherwise empty image.
#[test]
fn image_rootfs_has_the_binary_ssh_and_what_they_link() {
    if !crate::support::skip::unless(Path::new("/usr/bin/ssh").exists(), "ssh (openssh-client)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("rootfs");
    let bin = crate::support::binary();
    let out = run("image-rootfs.sh", &[bin.to_str().unwrap(), r.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for prog in ["usr/local/bin/deploy-action", "usr/bin/ssh"] {
        let ldd = Command::new("ldd").arg(r.join(prog)).output().unwrap();
        for lib in String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
            assert!(r.join(lib.trim_start_matches('/')).exists(), "{prog} links {lib}, not in the image");
        }
    }
    assert!(std::fs::read_to_string(r.join("etc/passwd")).unwrap().contains("/root"));
    let missing = run("image-rootfs.sh", &["/nonexistent", r.to_str().unwrap()], &[]);
    assert_eq!(missing.status.code(), Some(1));
}

/// action.yml runs the published image (nothing builds at job start), of this version.
#[test]
fn action_yml_runs_the_prebuilt_image_of_this_version() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let runs = action.split("\nruns:\n").nth(1).expect("a runs: block");
    let image: Vec<&str> = runs.lines().filter_map(|l| l.trim().strip_prefix("image: ")).collect();
    assert_eq!(image, [format!("docker://ghcr.io/org/deploy-action:v{}", env!("CARGO_PKG_VERSION"))]);
    let keys: Vec<&str> = runs.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert!(!keys.iter().any(|l| l.contains("Dockerfile")), "{keys:?}");
}

/// Every script the release workflow runs exists and is executable, and a step calls
/// nothing from scripts/ outside scripts/release/.
#[test]
fn the_release_workflow_runs_only_tested_scripts() {
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let mut named: Vec<&str> = wf
        .split(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
        .filter(|w| w.starts_with("scripts/") && w.ends_with(".sh"))
        .collect();
    named.sort();
    named.dedup();
    assert_eq!(
        named,
        [
            "scripts/release/checksums.sh",
            "scripts/release/rootfs.sh",
            "scripts/release/set-action-image.sh",
            "scripts/release/version-tags.sh"
        ]
    );
    for s in named {
        let meta = std::fs::metadata(root().join(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0, "{s}");
    }
}

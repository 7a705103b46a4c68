//! Real `docker-registry` (distribution 2.8) processes for tests: loopback only, a free port,
//! their own storage; no auth, htpasswd (bcrypt) or token auth with a test token server.
//! Processes are killed on drop. Also: test images written as OCI layouts, and pull-back checks.

use base64::Engine as _;
use deploy_action::oci::sha256_digest;
use deploy_action::registry::{ClientOptions, Credentials, Registries};
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::token::TokenServer;

/// How the registry authenticates.
pub enum Auth {
    /// Anyone may pull and push.
    None,
    /// htpasswd with one bcrypt user.
    Basic { user: &'static str, password: &'static str },
    /// Bearer tokens from a [`TokenServer`].
    Token,
}

/// A running registry; killed on drop.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Token server, for `Auth::Token`.
    pub token: Option<TokenServer>,
    dir: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (released just before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts connections on `addr`.
pub fn wait_listening(addr: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {addr} after 10 s");
}

impl TestRegistry {
    /// Starts `docker-registry` with `auth`.
    pub fn start(auth: Auth) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let mut token = None;
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Basic { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils) is installed");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            Auth::Token => {
                let t = TokenServer::start(dir.path());
                let yaml = format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    t.addr,
                    t.cert_path.display()
                );
                token = Some(t);
                yaml
            }
        };
        // Another test may grab the free port first: then our registry exits, and we retry.
        for _ in 0..5 {
            let host = format!("127.0.0.1:{}", free_port());
            let mut child = spawn_registry(dir.path(), &host, &auth_yaml);
            wait_listening(&host);
            std::thread::sleep(Duration::from_millis(100));
            if child.try_wait().unwrap().is_none() {
                return TestRegistry { child, host, token, dir };
            }
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

fn spawn_registry(dir: &Path, host: &str, auth_yaml: &str) -> Child {
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: test-http-secret\n{auth_yaml}",
        dir.join("data").display()
    );
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("docker-registry is installed")
}

/// A tar.gz layer holding one file of `size` random (or, if `text`, repetitive) bytes.
pub fn layer(size: usize, text: bool) -> Vec<u8> {
    let data: Vec<u8> = if text {
        b"lorem ipsum dolor sit amet\n".iter().copied().cycle().take(size).collect()
    } else {
        (0..size).map(|_| rand::random::<u8>()).collect()
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, format!("file-{}", rand::random::<u32>()), data.as_slice()).unwrap();
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

/// An OCI layout written by a test.
pub struct TestLayout {
    /// Layout directory.
    pub dir: PathBuf,
    /// Digest of the root (manifest or index).
    pub digest: String,
    /// Every blob digest (config, layers, child manifests).
    pub blobs: Vec<String>,
}

fn write_blob(dir: &Path, bytes: &[u8]) -> (String, u64) {
    let digest = sha256_digest(bytes);
    let path = dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    (digest, bytes.len() as u64)
}

fn write_image(dir: &Path, layers: &[Vec<u8>], arch: &str, blobs: &mut Vec<String>) -> serde_json::Value {
    let mut descs = Vec::new();
    for l in layers {
        let (d, size) = write_blob(dir, l);
        blobs.push(d.clone());
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size}));
    }
    let config = serde_json::json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "config": {}});
    let (cd, cs) = write_blob(dir, &serde_json::to_vec(&config).unwrap());
    blobs.push(cd.clone());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs,
    });
    let (md, ms) = write_blob(dir, &serde_json::to_vec_pretty(&manifest).unwrap());
    serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms, "platform": {"architecture": arch, "os": "linux"}})
}

fn finish_layout(dir: &Path, root: &serde_json::Value) {
    let mut entry = root.clone();
    entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

impl TestLayout {
    /// A single-platform image with the given layers.
    pub fn image(dir: &Path, layers: &[Vec<u8>]) -> TestLayout {
        let mut blobs = Vec::new();
        let root = write_image(dir, layers, "amd64", &mut blobs);
        finish_layout(dir, &root);
        TestLayout { dir: dir.to_owned(), digest: root["digest"].as_str().unwrap().to_owned(), blobs }
    }

    /// A two-platform index (amd64, arm64), each with its own small layer.
    pub fn index(dir: &Path) -> TestLayout {
        let mut blobs = Vec::new();
        let a = write_image(dir, &[layer(3000, false)], "amd64", &mut blobs);
        let b = write_image(dir, &[layer(3000, false)], "arm64", &mut blobs);
        blobs.push(a["digest"].as_str().unwrap().to_owned());
        blobs.push(b["digest"].as_str().unwrap().to_owned());
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [a, b]});
        let (d, s) = write_blob(dir, &serde_json::to_vec_pretty(&index).unwrap());
        finish_layout(
            dir,
            &serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s}),
        );
        TestLayout { dir: dir.to_owned(), digest: d, blobs }
    }

    /// A Docker manifest list of two Docker v2 manifests, written by hand the way other tools
    /// do: unknown fields, annotations, `os.features`, odd whitespace. A client that parsed and
    /// re-serialized any of it would change its digest. Returns the layout and each
    /// manifest's bytes by digest.
    pub fn docker_list(dir: &Path) -> (TestLayout, Vec<(String, Vec<u8>)>) {
        let mut blobs = Vec::new();
        let mut raw = Vec::new();
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let (ld, ls) = write_blob(dir, &layer(1000, false));
            let config = format!(
                r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
            );
            let (cd, cs) = write_blob(dir, config.as_bytes());
            blobs.extend([ld.clone(), cd.clone()]);
            let manifest = format!(
                "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n  \"config\": {{\"mediaType\": \"application/vnd.docker.container.image.v1+json\", \"size\": {cs}, \"digest\": \"{cd}\"}},\n  \"layers\": [{{\"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\", \"size\": {ls}, \"digest\": \"{ld}\", \"x-vendor-layer\": true}}],\n  \"x-vendor\": {{\"z\": 1, \"a\": 2}}\n}}"
            );
            let (md, ms) = write_blob(dir, manifest.as_bytes());
            blobs.push(md.clone());
            raw.push((md.clone(), manifest.into_bytes()));
            entries.push(format!(
                r#"{{"digest":"{md}","mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":{ms},"platform":{{"os":"linux","architecture":"{arch}","os.features":["x"]}}}}"#
            ));
        }
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{}],"annotations":{{"z.last":"1","a.first":"2"}},"x-unknown":[1, 2.50]}}"#,
            entries.join(", ")
        );
        let (d, s) = write_blob(dir, list.as_bytes());
        raw.push((d.clone(), list.into_bytes()));
        finish_layout(
            dir,
            &serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "digest": d, "size": s}),
        );
        (TestLayout { dir: dir.to_owned(), digest: d, blobs }, raw)
    }

    /// The exact bytes `host` serves for manifest `digest` of `repo`.
    pub fn served_manifest(host: &str, repo: &str, digest: &str) -> (String, Vec<u8>) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let regs = Registries::new(ClientOptions::default());
            let m = regs.client(host).unwrap().get_manifest(repo, digest).await.unwrap();
            (m.media_type, m.bytes.to_vec())
        })
    }

    /// `oci:DIR`.
    pub fn spec(&self) -> String {
        format!("oci:{}", self.dir.display())
    }
}

/// Pulls `repo:tag` back with the library and checks every manifest and blob hashes to its
/// digest; returns the root digest.
pub fn pull_and_verify(host: &str, repo: &str, tag: &str, creds: Option<(&str, &str)>) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut credentials = Credentials::default();
        if let Some((u, p)) = creds {
            credentials.insert(host, u, deploy_action::secret::Secret::new(p));
        }
        let regs = Registries::new(ClientOptions { credentials, ..ClientOptions::default() });
        let c = regs.client(host).unwrap();
        let root = c.get_manifest(repo, tag).await.unwrap();
        let mut manifests = vec![root.clone()];
        let children = root.children().unwrap();
        let mut blobs = children.blobs;
        for m in &children.manifests {
            let child = c.get_manifest(repo, &m.digest).await.unwrap();
            assert_eq!(child.digest, m.digest);
            assert_eq!(child.bytes.len() as u64, m.size);
            blobs.extend(child.children().unwrap().blobs);
            manifests.push(child);
        }
        for b in blobs {
            let (_, mut stream) = c.get_blob(repo, &b.digest).await.unwrap();
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                n += chunk.len() as u64;
                h.update(&chunk);
            }
            assert_eq!(format!("sha256:{}", hex::encode(h.finalize())), b.digest, "blob content");
            assert_eq!(n, b.size, "blob size of {}", b.digest);
        }
        root.digest
    })
}

/// A raw HTTP/1.1 GET (for probing without the library); returns status and headers.
pub fn raw_get(host: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

/// base64 of `user:password`, as docker's config.json stores it.
pub fn docker_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

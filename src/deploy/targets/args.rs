//! The deploy target's inputs (`target` and the target's own), flattened into the arguments of
//! every command that deploys, and their validation into an [`AnyTarget`].

use super::command::CommandTarget;
use super::compose_ssh::{ComposeSsh, SshHost};
use super::dokploy::{Dokploy, DokployCompose};
use super::inputs;
use super::none::NoTarget;
use super::swarm::Swarm;
use super::swarm_spec::{SwarmHost, swarm_host, swarm_stack};
use super::swarm_tunnel::SshTunnel;
use super::{AnyTarget, TargetKind};
use crate::builder::docker::Engine;
use crate::env::EnvMap;
use crate::runner::Runner;
use crate::secret::Secret;
use crate::settings::{InputError, split_list};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a rollout goes, and how to reach it.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// `compose-ssh`, `swarm`, `dokploy`, `command` or `none` (record only).
    #[arg(long = "target", value_name = "TARGET", value_enum)]
    pub target: Option<TargetKind>,
    /// compose-ssh: the host to SSH to.
    #[arg(long, value_name = "HOST")]
    pub ssh_host: Option<String>,
    /// compose-ssh: several hosts, one `host` or `host:port` per line, deployed in this order.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub ssh_hosts: Vec<String>,
    /// compose-ssh: how many hosts are deployed at once (1: one after the other).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_parallel: usize,
    /// compose-ssh: SSH port.
    #[arg(long, value_name = "PORT", default_value_t = 22)]
    pub ssh_port: u16,
    /// compose-ssh: login on the host.
    #[arg(long, value_name = "USER", default_value = "root")]
    pub ssh_user: String,
    /// compose-ssh: the private key (OpenSSH format; masked). On the CLI also a path to it.
    #[arg(long, value_name = "KEY", hide_env_values = true)]
    pub ssh_key: Option<String>,
    /// compose-ssh: `known_hosts` line(s) pinning the host key (`ssh-keyscan -p PORT HOST`).
    #[arg(long, value_name = "LINES")]
    pub ssh_known_hosts: Option<String>,
    /// compose-ssh: the compose project directory on the host.
    #[arg(long, value_name = "DIR")]
    pub compose_dir: Option<String>,
    /// compose-ssh: compose file(s) relative to `compose-dir` (default: compose's own).
    #[arg(long, value_name = "FILE")]
    pub compose_file: Vec<String>,
    /// compose-ssh: the env file (relative to `compose-dir`) the compose file reads tags from.
    #[arg(long, value_name = "FILE", default_value = ".env.versions")]
    pub compose_env_file: String,
    /// compose-ssh: `docker image prune -f` after the deploy (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "false", value_parser = crate::settings::bool_input(), action = clap::ArgAction::Set)]
    pub compose_prune: bool,
    /// compose-ssh: `service=composeService` lines where the compose service is named differently.
    #[arg(long, value_name = "SERVICE=NAME")]
    pub compose_services: Vec<String>,
    /// swarm: the manager's Engine API, `unix:///path` or `tcp://host:port`.
    #[arg(long, value_name = "HOST", default_value = "unix:///var/run/docker.sock")]
    pub swarm_host: String,
    /// swarm: stack name; services are `<stack>_<service>` unless named in `swarm-services`.
    #[arg(long, value_name = "STACK")]
    pub swarm_stack: Option<String>,
    /// swarm: `service=swarmService` lines where the swarm service is named differently.
    #[arg(long, value_name = "SERVICE=NAME")]
    pub swarm_services: Vec<String>,
    /// swarm: seconds each service may take to update and run its new tasks.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub swarm_timeout: u64,
    /// dokploy: base URL of the Dokploy instance.
    #[arg(long, value_name = "URL")]
    pub dokploy_url: Option<String>,
    /// dokploy: API key (masked).
    #[arg(long, value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// dokploy: compose ids in deploy order, `id` or `id=healthURL` per line.
    #[arg(long, value_name = "ID[=URL]")]
    pub dokploy_compose_ids: Vec<String>,
    /// dokploy: longest wait, in seconds, for each compose's deployment to end.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub dokploy_timeout: u64,
    /// command: the shell command to run in the workspace.
    #[arg(long, value_name = "COMMAND")]
    pub deploy_command: Option<String>,
}

impl Default for TargetArgs {
    /// The arguments as clap gives them when none is passed.
    fn default() -> Self {
        use clap::FromArgMatches as _;
        let cmd = <TargetArgs as clap::Args>::augment_args(clap::Command::new("deploy"));
        TargetArgs::from_arg_matches(&cmd.get_matches_from(["deploy"])).expect("the defaults parse")
    }
}

/// Masks `value` unless it is masked already (a secret input is masked before parsing; masking
/// again would only repeat the `::add-mask::` lines).
fn mask_once(runner: &Runner, value: &str) {
    let covered = crate::secret::redact(value).chars().all(|c| c == '*' || c.is_whitespace());
    if !covered {
        runner.mask(value);
    }
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn needed<'a>(v: &'a Option<String>, input: &str, target: &str, what: &str) -> Result<&'a str, InputError> {
    given(v).ok_or_else(|| InputError::new(input, "", format!("is empty: target {target} needs {what}")))
}

const KEYSCAN_HINT: &str = "get the line with `ssh-keyscan -p PORT HOST` from a trusted network and verify \
     its fingerprint (`ssh-keygen -lf -`) against the host's own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`)";

fn known_hosts(raw: Option<&str>) -> Result<String, InputError> {
    let Some(raw) = raw else {
        return Err(InputError::new(
            "ssh-known-hosts",
            "",
            format!("is empty: SSH targets pin the host key and never trust on first use; {KEYSCAN_HINT}"),
        ));
    };
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.split_whitespace().count() < 3 {
            return Err(InputError::new(
                "ssh-known-hosts",
                line,
                format!("is not a known_hosts line (`HOST KEYTYPE KEY`); {KEYSCAN_HINT}"),
            ));
        }
    }
    Ok(raw.trim().to_owned())
}

fn private_key(raw: &str) -> Result<String, InputError> {
    if raw.contains("PRIVATE KEY") {
        return Ok(raw.to_owned());
    }
    // The CLI may name a key file instead of passing the key.
    match std::fs::read_to_string(raw) {
        Ok(k) if k.contains("PRIVATE KEY") => Ok(k),
        _ => Err(InputError::new(
            "ssh-key",
            crate::secret::REDACTED,
            "is not a private key (`-----BEGIN OPENSSH PRIVATE KEY-----` …) nor a key file",
        )),
    }
}

fn name_map(input: &str, items: &[String], what: &str) -> Result<BTreeMap<String, String>, InputError> {
    let mut map = BTreeMap::new();
    for item in items.iter().flat_map(|i| split_list(i, false)) {
        let Some((service, name)) = item.split_once('=') else {
            return Err(InputError::new(input, item, format!("must be service={what}Service")));
        };
        let name = name.trim();
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(InputError::new(
                input,
                item,
                format!("names a {what} service with characters other than `a-z0-9._-`"),
            ));
        }
        map.insert(service.trim().to_owned(), name.to_owned());
    }
    Ok(map)
}

fn compose_ids(items: &[String]) -> Result<Vec<DokployCompose>, InputError> {
    let input = "dokploy-compose-ids";
    let mut out = Vec::new();
    for item in items.iter().flat_map(|i| split_list(i, true)) {
        let (id, url) = match item.split_once('=') {
            Some((id, url)) => (id.trim(), Some(url.trim())),
            None => (item.as_str(), None),
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
            return Err(InputError::new(
                input,
                &item,
                "must be `id` or `id=healthURL` (ids are letters, digits, `-_`)",
            ));
        }
        if let Some(u) = url {
            inputs::http_url(input, u).map_err(|e| {
                InputError::new(
                    input,
                    &item,
                    format!("has a health URL that {}", e.rule.trim_start_matches("must be ")),
                )
            })?;
        }
        out.push(DokployCompose { id: id.to_owned(), health_url: url.map(str::to_owned) });
    }
    if out.is_empty() {
        return Err(InputError::new(input, "", "is empty: target dokploy needs the compose id(s) to deploy"));
    }
    Ok(out)
}

impl TargetArgs {
    /// Checks the syntax of every deploy input that is given, whichever target is chosen: the
    /// rules of [`inputs`]. Pure; the first call of [`TargetArgs::target`].
    pub fn check(&self) -> Result<(), InputError> {
        inputs::port("ssh-port", self.ssh_port)?;
        if let Some(h) = given(&self.ssh_host) {
            inputs::ssh_host("ssh-host", h)?;
        }
        self.ssh_host_list()?;
        if !(1..=64).contains(&self.max_parallel) {
            let v = self.max_parallel.to_string();
            return Err(InputError::new("max-parallel", v, "must be 1 to 64 hosts at once"));
        }
        inputs::ssh_user("ssh-user", self.ssh_user.trim())?;
        if let Some(d) = given(&self.compose_dir) {
            inputs::compose_dir("compose-dir", d)?;
        }
        for f in self.compose_file.iter().flat_map(|f| split_list(f, false)) {
            inputs::compose_path("compose-file", &f)?;
        }
        let env_file = self.compose_env_file.trim();
        if !env_file.is_empty() {
            inputs::compose_path("compose-env-file", env_file)?;
        }
        if let Some(u) = given(&self.dokploy_url) {
            inputs::http_url("dokploy-url", u)?;
        }
        if !(1..=86_400).contains(&self.dokploy_timeout) {
            let value = self.dokploy_timeout.to_string();
            return Err(InputError::new("dokploy-timeout", value, "must be 1 to 86400 seconds"));
        }
        swarm_host(self.swarm_host.trim())?;
        if let Some(s) = given(&self.swarm_stack) {
            swarm_stack(s)?;
        }
        name_map("swarm-services", &self.swarm_services, "swarm")?;
        if !(1..=3600).contains(&self.swarm_timeout) {
            let v = self.swarm_timeout.to_string();
            return Err(InputError::new("swarm-timeout", &v, "must be 1 to 3600 seconds"));
        }
        Ok(())
    }

    /// Validates the inputs ([`TargetArgs::check`], then those the chosen target needs), masks
    /// its secrets and builds it. Nothing is contacted yet.
    pub fn target(&self, env: &EnvMap, runner: &Runner) -> Result<AnyTarget, InputError> {
        self.check()?;
        let kind = self.target.ok_or_else(|| {
            InputError::new(
                "target",
                "",
                "is empty: choose compose-ssh, swarm, dokploy, command or none (record only)",
            )
        })?;
        let name = kind.name();
        match kind {
            TargetKind::ComposeSsh => self.compose_ssh(runner).map(AnyTarget::ComposeSsh),
            TargetKind::Swarm => self.swarm(runner).map(AnyTarget::Swarm),
            TargetKind::Dokploy => {
                let url = needed(&self.dokploy_url, "dokploy-url", name, "the Dokploy URL")?;
                let key = needed(&self.api_key, "api-key", name, "a Dokploy API key")?;
                mask_once(runner, key);
                let composes = compose_ids(&self.dokploy_compose_ids)?;
                let mut d = Dokploy::new(url, Secret::new(key), composes).map_err(|e| {
                    InputError::new("dokploy-url", url, format!("cannot make an HTTP client: {e}"))
                })?;
                d.timeout = std::time::Duration::from_secs(self.dokploy_timeout);
                Ok(AnyTarget::Dokploy(d))
            }
            TargetKind::Command => {
                let command = needed(&self.deploy_command, "deploy-command", name, "the command to run")?;
                let workdir = env
                    .runner_var("WORKSPACE")
                    .map(PathBuf::from)
                    .or_else(|| std::env::current_dir().ok())
                    .unwrap_or_else(|| PathBuf::from("."));
                // Inputs (secrets among them) stay out of the command's environment.
                let base_env = env
                    .vars()
                    .filter(|(k, _)| !k.starts_with("INPUT_"))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                Ok(AnyTarget::Command(CommandTarget { command: command.to_owned(), workdir, base_env }))
            }
            TargetKind::None => Ok(AnyTarget::None(NoTarget)),
        }
    }

    fn swarm(&self, runner: &Runner) -> Result<Swarm, InputError> {
        let (engine, tunnel) = match swarm_host(self.swarm_host.trim())? {
            SwarmHost::Engine(e) => (e, None),
            SwarmHost::Ssh { user, host, port, socket } => {
                let t = "swarm with an ssh:// swarm-host";
                let raw_key = needed(&self.ssh_key, "ssh-key", t, "a private key (a masked secret)")?;
                mask_once(runner, raw_key);
                let key = private_key(raw_key)?;
                mask_once(runner, &key);
                let known_hosts = known_hosts(given(&self.ssh_known_hosts))?;
                let tunnel = SshTunnel {
                    host,
                    port,
                    user,
                    key: Secret::new(key),
                    known_hosts,
                    socket,
                    ssh_program: PathBuf::from("ssh"),
                };
                (Engine::default_socket(), Some(tunnel))
            }
        };
        Ok(Swarm {
            engine,
            tunnel,
            services: name_map("swarm-services", &self.swarm_services, "swarm")?,
            stack: given(&self.swarm_stack).map(str::to_owned),
            timeout: std::time::Duration::from_secs(self.swarm_timeout),
            poll: std::time::Duration::from_secs(1),
        })
    }

    /// The hosts of `ssh-host` or `ssh-hosts` (not both), each once; empty when neither is given.
    fn ssh_host_list(&self) -> Result<Vec<SshHost>, InputError> {
        let lines: Vec<String> = self.ssh_hosts.iter().flat_map(|h| split_list(h, true)).collect();
        let mut hosts: Vec<SshHost> = Vec::new();
        for line in &lines {
            let (host, port) = inputs::ssh_host_port("ssh-hosts", line, self.ssh_port)?;
            let h = SshHost { host, port };
            if hosts.contains(&h) {
                return Err(InputError::new("ssh-hosts", line, "names a host twice"));
            }
            hosts.push(h);
        }
        let Some(one) = given(&self.ssh_host) else { return Ok(hosts) };
        if !hosts.is_empty() {
            return Err(InputError::new(
                "ssh-hosts",
                lines.join(" "),
                "is given with ssh-host: give one host in ssh-host or all of them in ssh-hosts",
            ));
        }
        Ok(vec![SshHost { host: inputs::ssh_host("ssh-host", one)?, port: self.ssh_port }])
    }

    fn compose_ssh(&self, runner: &Runner) -> Result<ComposeSsh, InputError> {
        let t = "compose-ssh";
        let hosts = self.ssh_host_list()?;
        if hosts.is_empty() {
            return Err(InputError::new(
                "ssh-host",
                "",
                "is empty: target compose-ssh needs the host to SSH to (or ssh-hosts, one per line)",
            ));
        }
        let user = inputs::ssh_user("ssh-user", self.ssh_user.trim())?;
        let raw_key = needed(&self.ssh_key, "ssh-key", t, "a private key (a masked secret)")?;
        mask_once(runner, raw_key);
        let key = private_key(raw_key)?;
        mask_once(runner, &key);
        let known_hosts = known_hosts(given(&self.ssh_known_hosts))?;
        let dir = needed(&self.compose_dir, "compose-dir", t, "the compose project directory on the host")?;
        let env_file = self.compose_env_file.trim();
        if env_file.is_empty() {
            return Err(InputError::new(
                "compose-env-file",
                "",
                "is empty: name the env file the compose file reads",
            ));
        }
        Ok(ComposeSsh {
            hosts,
            user,
            key: Secret::new(key),
            known_hosts,
            dir: inputs::compose_dir("compose-dir", dir)?,
            files: self.compose_file.iter().flat_map(|f| split_list(f, false)).collect(),
            env_file: env_file.to_owned(),
            prune: self.compose_prune,
            services: name_map("compose-services", &self.compose_services, "compose")?,
            max_parallel: self.max_parallel,
            ssh_program: PathBuf::from("ssh"),
            changed_hosts: std::sync::Arc::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh_args() -> TargetArgs {
        TargetArgs {
            target: Some(TargetKind::ComposeSsh),
            ssh_host: Some("vm.example".into()),
            ssh_port: 22,
            ssh_user: "root".into(),
            ssh_key: Some(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----".into(),
            ),
            ssh_known_hosts: Some("vm.example ssh-ed25519 AAAAC3Nza".into()),
            compose_dir: Some("/srv/app".into()),
            compose_env_file: ".env.versions".into(),
            compose_prune: false,
            ..TargetArgs::default()
        }
    }

    fn err(a: &TargetArgs) -> InputError {
        a.target(&EnvMap::default(), &Runner::cli()).unwrap_err()
    }

    #[test]
    fn each_missing_input_is_named() {
        assert_eq!(err(&TargetArgs::default()).input, "target");
        assert_eq!(err(&TargetArgs { ssh_host: None, ..ssh_args() }).input, "ssh-host");
        assert_eq!(err(&TargetArgs { ssh_key: None, ..ssh_args() }).input, "ssh-key");
        assert_eq!(err(&TargetArgs { compose_dir: None, ..ssh_args() }).input, "compose-dir");
        let kh = err(&TargetArgs { ssh_known_hosts: None, ..ssh_args() });
        assert_eq!(kh.input, "ssh-known-hosts");
        assert!(kh.rule.contains("ssh-keyscan -p PORT HOST"), "{kh}");
        let dok = TargetArgs { target: Some(TargetKind::Dokploy), ..TargetArgs::default() };
        assert_eq!(err(&dok).input, "dokploy-url");
        let dok = TargetArgs { dokploy_url: Some("https://dok.example".into()), ..dok };
        assert_eq!(err(&dok).input, "api-key");
        let dok = TargetArgs { api_key: Some("dok-key-123".into()), ..dok };
        assert_eq!(err(&dok).input, "dokploy-compose-ids");
        let cmd = TargetArgs { target: Some(TargetKind::Command), ..TargetArgs::default() };
        assert_eq!(err(&cmd).input, "deploy-command");
        assert_eq!(err(&TargetArgs { target: None, ..TargetArgs::default() }).input, "target");
    }

    #[test]
    fn option_injection_and_bad_lines_are_refused() {
        assert_eq!(
            err(&TargetArgs { ssh_host: Some("-oProxyCommand=x".into()), ..ssh_args() }).input,
            "ssh-host"
        );
        assert_eq!(
            err(&TargetArgs { ssh_known_hosts: Some("ssh-ed25519 AAAA".into()), ..ssh_args() }).input,
            "ssh-known-hosts"
        );
        let e = err(&TargetArgs { ssh_key: Some("not-a-key-secret".into()), ..ssh_args() });
        assert!(!e.to_string().contains("not-a-key-secret"), "{e}");
        let e = err(&TargetArgs { compose_services: vec!["api=$(id)".into()], ..ssh_args() });
        assert_eq!(e.input, "compose-services");
    }

    #[test]
    fn given_inputs_are_checked_whatever_the_target() {
        let none = TargetArgs { target: Some(TargetKind::None), ..TargetArgs::default() };
        assert!(none.target(&EnvMap::default(), &Runner::cli()).is_ok(), "the defaults are valid");
        assert_eq!(err(&TargetArgs { ssh_port: 0, ..none.clone() }).input, "ssh-port");
        let e = err(&TargetArgs { compose_env_file: "../x.env".into(), ..none.clone() });
        assert_eq!((e.input.as_str(), e.value.as_str()), ("compose-env-file", "../x.env"));
        assert_eq!(
            err(&TargetArgs { compose_file: vec!["a.yml\n/etc/b.yml".into()], ..none.clone() }).value,
            "/etc/b.yml"
        );
        assert_eq!(
            err(&TargetArgs { dokploy_url: Some("gopher://x".into()), ..none.clone() }).input,
            "dokploy-url"
        );
        assert_eq!(err(&TargetArgs { dokploy_timeout: 0, ..none.clone() }).input, "dokploy-timeout");
        assert_eq!(
            err(&TargetArgs { compose_dir: Some("/srv/$(id)".into()), ..ssh_args() }).input,
            "compose-dir"
        );
    }

    #[test]
    fn dokploy_ids_take_optional_health_urls() {
        let ids = compose_ids(&["abc-1\nxyz_2=http://127.0.0.1:8080/health".into()]).unwrap();
        assert_eq!(ids[0], DokployCompose { id: "abc-1".into(), health_url: None });
        assert_eq!(ids[1].health_url.as_deref(), Some("http://127.0.0.1:8080/health"));
        assert!(compose_ids(&["a=ftp://x".into()]).is_err());
    }

    #[test]
    fn a_valid_compose_ssh_target_is_built() {
        let AnyTarget::ComposeSsh(t) = ssh_args().target(&EnvMap::default(), &Runner::cli()).unwrap() else {
            panic!("not compose-ssh")
        };
        assert_eq!(t.destination(&t.hosts[0]), "root@vm.example:22");
        let many = TargetArgs {
            ssh_host: None,
            ssh_hosts: vec!["vm1.example\n10.0.0.2:2222\n".into()],
            max_parallel: 2,
            ..ssh_args()
        };
        let AnyTarget::ComposeSsh(t) = many.target(&EnvMap::default(), &Runner::cli()).unwrap() else {
            panic!("not compose-ssh")
        };
        let d: Vec<String> = t.hosts.iter().map(|h| t.destination(h)).collect();
        assert_eq!(
            (d.as_slice(), t.max_parallel),
            (["root@vm1.example:22", "root@10.0.0.2:2222"].map(String::from).as_slice(), 2)
        );
        let both = TargetArgs { ssh_host: Some("vm.example".into()), ..many.clone() };
        assert_eq!(err(&both).input, "ssh-hosts");
        let twice = TargetArgs { ssh_hosts: vec!["vm1\nvm1:22".into()], ..many.clone() };
        assert!(err(&twice).rule.contains("twice"), "{}", err(&twice));
        assert_eq!(err(&TargetArgs { max_parallel: 0, ..many.clone() }).input, "max-parallel");
        let bad = TargetArgs { ssh_hosts: vec!["vm1\nvm2:99999".into()], ..many };
        assert_eq!((err(&bad).input.as_str(), err(&bad).value.as_str()), ("ssh-hosts", "vm2:99999"));
    }

    #[test]
    fn swarm_inputs_are_checked_before_any_io() {
        let swarm = TargetArgs { target: Some(TargetKind::Swarm), ..TargetArgs::default() };
        let AnyTarget::Swarm(t) = swarm.target(&EnvMap::default(), &Runner::cli()).unwrap() else {
            panic!("not swarm")
        };
        assert_eq!(t.engine.host(), "unix:///var/run/docker.sock");
        let host = |h: &str| TargetArgs { swarm_host: h.into(), ..swarm.clone() };
        assert!(host("tcp://10.0.0.5:2375").target(&EnvMap::default(), &Runner::cli()).is_ok());
        for bad in [
            "tcp://10.0.0.5",
            "tcp://:2375",
            "unix://relative.sock",
            "http://x:1",
            "ssh://-oProxyCommand=x@vm",
            "ssh://root@vm/run/$(id).sock",
            "ssh://root:pw@vm",
        ] {
            let e = err(&host(bad));
            assert_eq!(e.input.as_str(), "swarm-host", "{bad}: {e}");
        }
        // ssh:// needs the key and the pinned host key, as compose-ssh does.
        assert_eq!(err(&host("ssh://deploy@vm.example:2222")).input, "ssh-key");
        let ssh = TargetArgs { swarm_host: "ssh://deploy@vm.example:2222".into(), ..ssh_args() };
        let ssh = TargetArgs { target: Some(TargetKind::Swarm), ..ssh };
        let AnyTarget::Swarm(t) = ssh.target(&EnvMap::default(), &Runner::cli()).unwrap() else { panic!() };
        let tunnel = t.tunnel.unwrap();
        assert_eq!(
            (tunnel.destination().as_str(), tunnel.socket.as_str()),
            ("deploy@vm.example:2222", "/var/run/docker.sock")
        );
        let kh = err(&TargetArgs { ssh_known_hosts: None, ..ssh.clone() });
        assert_eq!(kh.input, "ssh-known-hosts");
        let e = err(&TargetArgs { swarm_stack: Some("-x".into()), ..swarm.clone() });
        assert_eq!(e.input, "swarm-stack");
        let e = err(&TargetArgs { swarm_services: vec!["api=a b".into()], ..swarm.clone() });
        assert_eq!(e.input, "swarm-services");
        assert!(e.rule.contains("swarm service"), "{e}");
        assert_eq!(err(&TargetArgs { swarm_timeout: 0, ..swarm.clone() }).input, "swarm-timeout");
    }
}

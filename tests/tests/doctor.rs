//! `serialctl doctor` against broken setups: each finding names what is
//! wrong and what to do, FAIL makes the exit status 1, and a working setup
//! passes (WARN alone does not fail).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serialmesh_tests::agent::toml_string;
use serialmesh_tests::net::free_port;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, AgentBuilder, Pki, ProcBuilder, TlsPaths};

const T: Duration = Duration::from_secs(30);

struct Doctor {
    code: i32,
    out: String,
}

impl Doctor {
    fn has(&self, needle: &str) -> &Self {
        assert!(
            self.out.contains(needle),
            "`{needle}` missing from:\n{}",
            self.out
        );
        self
    }
    fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.out.contains(needle),
            "`{needle}` unexpected in:\n{}",
            self.out
        );
        self
    }
    fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit status; output:\n{}", self.out);
        self
    }
    /// The line of `level` about `topic`, and the fix below it.
    fn finding(&self, level: &str, topic: &str) -> String {
        let lines: Vec<&str> = self.out.lines().collect();
        let prefix = format!("{level:<4}  {topic}: ");
        let i = lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", self.out));
        let more = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with("      "));
        std::iter::once(&lines[i])
            .chain(more)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn doctor(faketime: Option<&str>, args: &[OsString]) -> Doctor {
    let (code, stdout, stderr) = ProcBuilder::new(bins::serialctl())
        .arg("doctor")
        .args(args)
        .faketime(faketime)
        .label("doctor")
        .run_to_end(T);
    assert!(!stderr.contains("panicked"), "{stderr}");
    Doctor { code, out: stdout }
}

fn tls_args(tls: &TlsPaths) -> Vec<OsString> {
    vec![
        "--cert".into(),
        tls.cert.clone().into(),
        "--key".into(),
        tls.key.clone().into(),
        "--ca".into(),
        tls.ca.clone().into(),
    ]
}

fn with_agent(tls: &TlsPaths, agent: &str) -> Vec<OsString> {
    let mut v = tls_args(tls);
    v.extend(["--agent".into(), agent.into()]);
    v
}

fn config_args(path: &Path) -> Vec<OsString> {
    vec!["--config".into(), path.into()]
}

#[test]
fn all_good_passes_with_every_check_ok_and_the_agent_named() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").zone("garden").start();
    let client = pki.client("gw");
    // By host name: the name goes through the resolver like any --agent.
    let addr = format!("localhost:{}", agent.addr.port());
    let d = doctor(None, &with_agent(&client, &addr));
    d.code(0).has("\n0 FAIL, ").lacks("FAIL  ");
    let cert = client.cert.display().to_string();
    assert!(d
        .finding("OK", &format!("certificate {cert}"))
        .contains("client 'gw', chains to the CA"));
    d.finding("INFO", &format!("certificate {cert}"));
    assert!(d
        .finding("OK", &format!("key {}", client.key.display()))
        .contains("mode 0600"));
    let a = d.finding("OK", &format!("agent {addr}"));
    assert!(
        a.contains("TCP, mutual TLS and hello OK: agent 'shed' in zone 'garden'"),
        "{a}"
    );
    assert!(d.finding("OK", "clock of agent shed").contains("s apart"));
    d.finding("OK", "clock");
}

#[test]
fn config_seeds_are_checked_and_its_summary_shown() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let client = pki.client("gw");
    let dir = temp_dir();
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "seeds = [{}]\n[tls]\ncert = {}\nkey = {}\nca = {}\n[[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5000\"\n",
            toml_string(&agent.addr.to_string()),
            toml_string(&client.cert.to_string_lossy()),
            toml_string(&client.key.to_string_lossy()),
            toml_string(&client.ca.to_string_lossy()),
        ),
    )
    .unwrap();
    let d = doctor(None, &config_args(&config));
    d.code(0);
    assert!(d
        .finding("OK", &format!("config {}", config.display()))
        .contains("parses: 1 endpoints, 1 seeds"));
    d.finding("OK", &format!("agent {}", agent.addr));
}

/// An agent `shed`, a client `gw`, and a revoked file (in `dir`) that
/// lists the agent's key.
struct RevokedAgent {
    agent: serialmesh_tests::RunningAgent,
    client: serialmesh_tests::TlsPaths,
    dir: serialmesh_tests::util::TempDir,
    revoked: std::path::PathBuf,
    _pki: Pki,
}

fn revoked_agent() -> RevokedAgent {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let client = pki.client("gw");
    let dir = temp_dir();
    let revoked = dir.path().join("revoked.txt");
    std::fs::write(&revoked, format!("{}\n", Pki::fingerprint(&agent.tls.cert))).unwrap();
    RevokedAgent {
        agent,
        client,
        dir,
        revoked,
        _pki: pki,
    }
}

#[test]
fn a_revoked_agent_in_the_config_fails_its_check_and_a_missing_revoked_file_is_named() {
    let RevokedAgent {
        agent,
        client,
        dir,
        revoked,
        _pki,
    } = revoked_agent();
    let write = |file: &Path| {
        let config = dir.path().join("client.toml");
        std::fs::write(
            &config,
            format!(
                "seeds = [{}]\nrevoked_file = {}\n[tls]\ncert = {}\nkey = {}\nca = {}\n",
                toml_string(&agent.addr.to_string()),
                toml_string(&file.to_string_lossy()),
                toml_string(&client.cert.to_string_lossy()),
                toml_string(&client.key.to_string_lossy()),
                toml_string(&client.ca.to_string_lossy()),
            ),
        )
        .unwrap();
        config
    };
    let config = write(&revoked);
    let d = doctor(None, &config_args(&config));
    d.code(1);
    assert!(d
        .finding("INFO", &format!("config {}", config.display()))
        .contains("1 agent certificate(s) revoked"));
    let a = d.finding("FAIL", &format!("agent {}", agent.addr));
    assert!(
        a.contains("the agent's certificate is revoked by this client"),
        "{a}"
    );
    assert!(a.contains("if the host was given a new certificate"), "{a}");

    let config = write(&dir.path().join("gone.txt"));
    let d = doctor(None, &config_args(&config));
    d.code(1);
    let f = d.finding("FAIL", &format!("config {}", config.display()));
    assert!(f.contains("cannot read revoked file"), "{f}");
    assert!(f.contains("an empty one revokes nothing"), "{f}");
}

#[test]
fn a_revoked_agent_given_with_revoked_file_fails_its_check_and_a_missing_file_is_named() {
    let RevokedAgent {
        agent,
        client,
        dir,
        revoked,
        _pki,
    } = revoked_agent();
    let args = |file: &Path| {
        let mut a = with_agent(&client, &agent.addr.to_string());
        a.push("--revoked-file".into());
        a.push(file.into());
        a
    };
    let d = doctor(None, &args(&revoked));
    d.code(1);
    let a = d.finding("FAIL", &format!("agent {}", agent.addr));
    assert!(
        a.contains("the agent's certificate is revoked by this client"),
        "{a}"
    );

    let d = doctor(None, &args(&dir.path().join("gone.txt")));
    d.code(1);
    let f = d.finding("FAIL", "revoked file");
    assert!(f.contains("cannot read revoked file"), "{f}");
    assert!(f.contains("an empty file revokes nothing"), "{f}");
}

#[test]
fn config_syntax_error_fails_with_line_and_column() {
    let dir = temp_dir();
    let config = dir.path().join("client.toml");
    std::fs::write(&config, "[tls]\ncert = \"a.pem\"\nkye = \"a.key\"\n").unwrap();
    let d = doctor(None, &config_args(&config));
    d.code(1);
    let f = d.finding("FAIL", &format!("config {}", config.display()));
    assert!(f.contains(":3:1") && f.contains("kye"), "{f}");
    assert!(f.contains("\n        hint: did you mean `key`?"), "{f}");
    assert!(
        f.contains("fix: correct the file at the line and column shown"),
        "{f}"
    );
    // The checks that do not need the config still ran.
    d.finding("OK", "clock");
    d.has("mDNS: ");
}

#[test]
fn wrong_ca_fails_the_certificate_and_skips_the_agents() {
    let pki = Pki::new();
    let other = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let mut client = pki.client("gw");
    client.ca = other.ca_cert();
    let addr = agent.addr.to_string();
    let d = doctor(None, &with_agent(&client, &addr));
    d.code(1);
    let f = d.finding("FAIL", &format!("certificate {}", client.cert.display()));
    assert!(f.contains("not issued by the pinned CA"), "{f}");
    assert!(
        f.contains("fix: use the CA that issued this certificate"),
        "{f}"
    );
    let a = d.finding("WARN", "agents");
    assert!(
        a.contains(&addr) && a.contains("no usable client certificate"),
        "{a}"
    );
}

#[test]
fn agent_of_another_ca_fails_the_handshake_with_advice() {
    let pki = Pki::new();
    let other = Pki::new();
    let agent = AgentBuilder::new(&other, "shed").start();
    let client = pki.client("gw");
    let addr = agent.addr.to_string();
    let d = doctor(None, &with_agent(&client, &addr));
    d.code(1);
    let f = d.finding("FAIL", &format!("agent {addr}"));
    assert!(f.contains("TLS handshake with agent"), "{f}");
    assert!(f.contains("from the same CA"), "{f}");
}

#[test]
fn agent_certificate_used_as_client_fails_with_how_to_issue_one() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let wrong = pki.agent("gw", "garden");
    let addr = agent.addr.to_string();
    let d = doctor(None, &with_agent(&wrong, &addr));
    d.code(1);
    let f = d.finding("FAIL", &format!("certificate {}", wrong.cert.display()));
    assert!(f.contains("it is an agent certificate (gw)"), "{f}");
    assert!(f.contains("--role client"), "{f}");
}

#[test]
fn key_readable_by_others_fails_with_chmod() {
    let pki = Pki::new();
    let client = pki.client("gw");
    std::fs::set_permissions(&client.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = doctor(None, &tls_args(&client));
    d.code(1);
    let key = client.key.display();
    let f = d.finding("FAIL", &format!("key {key}"));
    assert!(f.contains("(mode 0644)"), "{f}");
    assert!(f.ends_with(&format!("fix: chmod 600 {key}")), "{f}");
    // The certificate itself is fine, and said so.
    d.finding("OK", &format!("certificate {}", client.cert.display()));
}

#[test]
fn unreachable_agent_fails_with_what_to_check() {
    let pki = Pki::new();
    let client = pki.client("gw");
    let addr = format!("127.0.0.1:{}", free_port());
    let d = doctor(None, &with_agent(&client, &addr));
    d.code(1);
    let f = d.finding("FAIL", &format!("agent {addr}"));
    assert!(
        f.contains("cannot connect to agent") && f.contains("refused"),
        "{f}"
    );
    assert!(f.contains("fix: check that seriald runs there"), "{f}");
}

#[test]
fn a_clock_in_the_past_warns_but_does_not_fail() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let client = pki.client("gw");
    let addr = agent.addr.to_string();
    let d = doctor(Some("2016-03-01 12:00:00"), &with_agent(&client, &addr));
    d.code(0);
    let f = d.finding("WARN", "clock");
    assert!(
        f.contains("2016-03-01T12:00") && f.contains("cannot be right"),
        "{f}"
    );
    assert!(
        f.contains("serialmesh does not check certificate dates"),
        "{f}"
    );
    let f = d.finding("WARN", "clock of agent shed");
    assert!(f.contains("s apart"), "{f}");
    d.finding("OK", &format!("agent {addr}"));
}

#[test]
fn missing_certificate_is_a_fail_not_a_usage_error() {
    let d = doctor(None, &[]);
    d.code(1);
    let f = d.finding("FAIL", "certificate");
    assert!(f.contains("--config FILE"), "{f}");
}

/// Without --agent or a config naming agents, the agents that answer on
/// mDNS are listed and checked. Network namespaces: needs root.
#[test]
fn mdns_lists_the_agents_that_answer_and_checks_them() {
    use serialmesh_tests::mesh::{seed, tls_args as ns_tls, NsAgent};
    use serialmesh_tests::netns::Lan;
    let lan = Lan::new(2);
    let pki = Pki::new();
    let _agent = NsAgent::start(&lan, 0, &pki, "shed", "garden", &[], &[]).announced();
    let client = pki.client("gw");
    // doctor listens for about a second, as it should; on a loaded 2-core
    // machine (measured: a release build beside it) the agent's responder
    // may miss that, so up to three runs are allowed.
    let run = || {
        let (code, out, err) = lan
            .command(1, bins::serialctl())
            .arg("doctor")
            .args(ns_tls(&client))
            .label("doctor")
            .run_to_end(T);
        assert!(!err.contains("panicked"), "{err}");
        Doctor { code, out }
    };
    let mut d = run();
    for _ in 0..2 {
        if !d.out.contains("WARN  mDNS: no agent answered") {
            break;
        }
        d = run();
    }
    d.code(0);
    let addr = seed(&lan, 0);
    let m = d.finding("OK", "mDNS");
    assert!(
        m.contains("1 agents answered: shed (zone garden) at ") && m.contains(&addr),
        "{m}"
    );
    assert!(d
        .finding("OK", &format!("agent {addr}"))
        .contains("agent 'shed' in zone 'garden'"));
}

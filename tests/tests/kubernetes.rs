//! The Kubernetes files in deploy/kubernetes, as a cluster would take them
//! (`kubectl apply -k`, on Talos with kube-prometheus-stack): their
//! schema, and the properties a schema cannot see: which namespaces allow
//! privileged pods, which port the probes hit, what a sidecar's readiness
//! means for its pod, what the PodMonitors select, that the PrometheusRule
//! carries the alert rules promtool proves, which node may read
//! which key. The configs they embed are run by the real binaries in
//! deploy.rs; the sidecar's readiness path here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use serialmesh_tests::http::http_get;
use serialmesh_tests::manifests::{
    config_of, container, containers, documents, kustomize, namespace, needs_privileged, of_kind,
    pod_etc, pod_template, port_number, selects, text, toml_address_port, yaml_files,
};
use serialmesh_tests::netns::Lan;
use serialmesh_tests::tools::{configmap_block, repo_root, require};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, eventually, run_to_end, Pki};

const T: Duration = Duration::from_secs(60);

fn dir(rel: &str) -> PathBuf {
    repo_root().join("deploy/kubernetes").join(rel)
}

/// What `kubectl apply -k deploy/kubernetes` applies (the agents).
fn agents() -> Vec<Value> {
    kustomize(&dir(""))
}

/// What `kubectl apply -k deploy/kubernetes/zwave-js-ui` applies.
fn gateway() -> Vec<Value> {
    kustomize(&dir("zwave-js-ui"))
}

/// Ports that exporters and node services of a Talos cluster with
/// kube-prometheus-stack may hold on the host network: Prometheus' own
/// (9090-9093), the whole range Prometheus allocates to exporters
/// (9100-9999; node-exporter is 9100, Cilium 9962-9965), etcd, the
/// kubelet and kube-proxy, Talos' apid and trustd.
fn taken_on_a_node(port: u16) -> bool {
    (9090..=9093).contains(&port)
        || (9100..=9999).contains(&port)
        || (2379..=2381).contains(&port)
        || [6443, 10249, 10250, 10256, 10257, 10259, 50000, 50001].contains(&port)
}

fn kube_validate(files: &[PathBuf]) -> (i32, String, String) {
    let tool = require(
        "kubernetes-validate",
        "python3 -m pip install kubernetes-validate",
    );
    let mut args = vec!["--strict".into()];
    args.extend(files.iter().map(|f| f.as_os_str().to_owned()));
    run_to_end(tool, args, T)
}

#[test]
fn kubernetes_manifests_pass_strict_schema_validation() {
    let out_dir = temp_dir();
    let mut files = Vec::new();
    for (i, doc) in agents().iter().chain(gateway().iter()).enumerate() {
        // kubernetes-validate knows the built-in kinds only. PodMonitors
        // and the PrometheusRule (CRDs of the Prometheus Operator) are left
        // out on purpose and checked by
        // podmonitors_select_the_pods_and_name_their_admin_port and
        // the_prometheus_rule_is_the_rules_file_and_is_picked_up_like_the_podmonitor.
        if text(doc, "/apiVersion").starts_with("monitoring.coreos.com/") {
            continue;
        }
        let file = out_dir.path().join(format!(
            "{i:02}-{}-{}.yaml",
            text(doc, "/kind"),
            text(doc, "/metadata/name")
        ));
        std::fs::write(&file, doc.to_string()).unwrap();
        files.push(file);
    }
    assert!(files.len() >= 5, "manifests missing: {files:?}");
    let (code, out, err) = kube_validate(&files);
    assert_eq!(code, 0, "kubernetes-validate:\n{out}{err}");
    for f in &files {
        assert!(
            out.contains(&format!("{} passed", f.display())),
            "{} not reported as passed:\n{out}{err}",
            f.display()
        );
    }
    // The validator does reject what Kubernetes would: a misspelt field,
    // in a copy of the agent DaemonSet.
    let copy = out_dir.path().join("broken.yaml");
    std::fs::write(
        &copy,
        std::fs::read_to_string(dir("agent/agent-daemonset.yaml"))
            .unwrap()
            .replace(
                "hostNetwork: true",
                "hostNetwork: true\n      hostNetworking: true",
            ),
    )
    .unwrap();
    let (code, out, err) = kube_validate(&[copy]);
    assert_ne!(code, 0, "a misspelt field passed:\n{out}{err}");
}

#[test]
fn kustomizations_list_every_manifest_and_every_listed_resource_exists() {
    let root = dir("");
    let files = yaml_files(&root);
    let mut listed = BTreeSet::new();
    let mut reached = BTreeSet::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(k_dir) = todo.pop() {
        let k_file = k_dir.join("kustomization.yaml");
        listed.insert(k_file.clone());
        let k = &documents(&root.join(&k_file))[0];
        assert_eq!(text(k, "/kind"), "Kustomization", "{}", k_file.display());
        for r in k["resources"].as_array().expect("resources") {
            let rel = k_dir.join(r.as_str().unwrap());
            let path = root.join(&rel);
            if path.is_dir() {
                assert!(
                    path.join("kustomization.yaml").is_file(),
                    "{} lists {} with no kustomization.yaml",
                    k_file.display(),
                    rel.display()
                );
                // ../../agent and friends: normalise to a path under root.
                let norm = path.canonicalize().unwrap();
                let norm = norm.strip_prefix(root.canonicalize().unwrap()).unwrap();
                if reached.insert(norm.to_path_buf()) {
                    todo.push(norm.to_path_buf());
                }
            } else {
                assert!(
                    path.is_file(),
                    "{} lists missing {}",
                    k_file.display(),
                    rel.display()
                );
                listed.insert(rel);
            }
        }
    }
    // What the top kustomization does not reach it names in a comment,
    // and that is applied with its own kustomization.
    let top = std::fs::read_to_string(root.join("kustomization.yaml")).unwrap();
    for file in &files {
        if listed.contains(file) {
            continue;
        }
        let parent = file.parent().unwrap();
        let named = format!("# - {}/", parent.display());
        assert!(
            !parent.as_os_str().is_empty() && top.contains(&named),
            "{} is neither listed nor excluded (`{named}`) in kustomization.yaml",
            file.display()
        );
        let k = documents(&root.join(parent).join("kustomization.yaml"));
        let names: Vec<&str> = k[0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let here = file.strip_prefix(parent).unwrap().to_str().unwrap();
        assert!(
            here == "kustomization.yaml" || names.contains(&here),
            "{} not listed in {}/kustomization.yaml",
            file.display(),
            parent.display()
        );
    }
    // All build, as `kubectl apply -k` would build them.
    assert!(of_kind(&agents(), "DaemonSet").len() >= 2);
    assert_eq!(of_kind(&gateway(), "Deployment").len(), 1);
    assert!(!of_kind(&kustomize(&dir("cert-manager")), "Certificate").is_empty());
}

#[test]
fn privileged_and_host_network_pods_run_only_in_namespaces_labelled_privileged() {
    let docs = agents();
    let privileged: BTreeSet<&str> = of_kind(&docs, "Namespace")
        .iter()
        .filter(|ns| {
            text(ns, "/metadata/labels/pod-security.kubernetes.io~1enforce") == "privileged"
        })
        .map(|ns| text(ns, "/metadata/name"))
        .collect();
    let mut agent_pods = 0;
    for doc in &docs {
        let Some((_, pod)) = pod_template(doc) else {
            continue;
        };
        if needs_privileged(pod) {
            agent_pods += 1;
            assert!(
                privileged.contains(namespace(doc)),
                "{} needs privileged but namespace {} is not labelled \
                 pod-security.kubernetes.io/enforce: privileged (Talos enforces baseline)",
                text(doc, "/metadata/name"),
                namespace(doc)
            );
        }
    }
    assert!(agent_pods >= 2, "no privileged agent pods found");
    // The gateway goes into the user's namespace, which Talos holds to
    // baseline: nothing in it may need more.
    for doc in &gateway() {
        if let Some((_, pod)) = pod_template(doc) {
            assert!(!needs_privileged(pod), "{doc}");
        }
    }
}

#[test]
fn sidecar_meets_pod_security_restricted() {
    let docs = gateway();
    let (_, pod) = pod_template(of_kind(&docs, "Deployment")[0]).unwrap();
    let sidecar = container(pod, "serialctl");
    let sc = &sidecar["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_ne!(sc["runAsUser"], 0);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"].get("add").is_none(), "{sc}");
    assert!(sc.get("privileged").is_none_or(|p| p == false), "{sc}");
    let seccomp = sc["seccompProfile"]["type"]
        .as_str()
        .or(pod["securityContext"]["seccompProfile"]["type"].as_str());
    assert!(
        matches!(seccomp, Some("RuntimeDefault" | "Localhost")),
        "restricted needs a seccomp profile: {sc}"
    );
    // Volumes of the kinds restricted allows.
    for v in pod["volumes"].as_array().unwrap() {
        assert!(
            [
                "configMap",
                "secret",
                "persistentVolumeClaim",
                "emptyDir",
                "projected",
                "csi"
            ]
            .iter()
            .any(|k| v.get(k).is_some()),
            "{v}"
        );
    }
}

#[test]
fn agent_probes_hit_the_admin_address_of_its_config_which_no_exporter_uses() {
    let docs = agents();
    let config = config_of(&docs, "seriald-config", "seriald.toml");
    let admin = toml_address_port(&config, "admin");
    assert!(
        !taken_on_a_node(admin),
        "admin port {admin} collides with an exporter or node service"
    );
    let listen = toml_address_port(&config, "listen");
    for ds in of_kind(&docs, "DaemonSet") {
        let (_, pod) = pod_template(ds).unwrap();
        assert_eq!(pod["hostNetwork"], true);
        let c = container(pod, "seriald");
        for probe in ["livenessProbe", "readinessProbe"] {
            let port = port_number(c, &c[probe]["httpGet"]["port"]);
            assert_eq!(
                port,
                Some(admin),
                "{probe} of {}",
                text(ds, "/metadata/name")
            );
        }
        assert_eq!(port_number(c, &"admin".into()), Some(admin));
        assert_eq!(port_number(c, &"serialmesh".into()), Some(listen));
    }
}

#[test]
fn sidecar_readiness_does_not_follow_the_tunnel() {
    let docs = gateway();
    let config = config_of(&docs, "zwave-js-ui-serialctl", "client.toml");
    let admin = toml_address_port(&config, "admin");
    let (_, pod) = pod_template(of_kind(&docs, "Deployment")[0]).unwrap();
    let sidecar = container(pod, "serialctl");
    // A native sidecar: its readiness is the pod's.
    assert_eq!(sidecar["restartPolicy"], "Always");
    let ready = &sidecar["readinessProbe"]["httpGet"];
    assert_eq!(
        ready["path"], "/healthz",
        "readiness must not be /readyz: {ready}"
    );
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let port = port_number(sidecar, &sidecar[probe]["httpGet"]["port"]);
        assert_eq!(port, Some(admin), "{probe}");
    }
}

#[test]
fn sidecar_readiness_path_answers_while_no_agent_is_reachable() {
    let docs = gateway();
    let (_, pod) = pod_template(of_kind(&docs, "Deployment")[0]).unwrap();
    let path = text(container(pod, "serialctl"), "/readinessProbe/httpGet/path").to_string();
    // The ConfigMap's config as it is, in a network namespace of its own
    // (standing in for the pod's): its seeds, LAN addresses, are
    // unreachable from there, as while the agents restart.
    let config = config_of(&docs, "zwave-js-ui-serialctl", "client.toml");
    let admin = toml_address_port(&config, "admin");
    let pki = Pki::new();
    let (_etc, config_path) = pod_etc(
        "client.toml",
        &config,
        &pki.client("zwave-js-ui"),
        ["client.pem", "client.key", "ca.pem"],
    );
    let lan = Lan::new(1);
    let sidecar = lan
        .command(0, bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config_path)
        .spawn();
    let get = |p: &str| {
        let p = p.to_string();
        lan.run_in(0, move || http_get(admin, &p))
    };
    // Once it has tried the agents and failed, the tunnel is down...
    assert!(
        eventually(T, || sidecar.output().contains("admin on http")
            && get("/metrics").1.contains("serialmesh_endpoint_last_error")),
        "{}",
        sidecar.output()
    );
    assert_eq!(get("/readyz").0, 503);
    // ...and the pod stays Ready.
    assert_eq!(get(&path), (200, "ok\n".to_string()));
}

#[test]
fn podmonitors_select_the_pods_and_name_their_admin_port() {
    for docs in [agents(), gateway()] {
        let monitors = of_kind(&docs, "PodMonitor");
        assert_eq!(monitors.len(), 1, "one PodMonitor per kustomization");
        let pm = monitors[0];
        assert_eq!(text(pm, "/apiVersion"), "monitoring.coreos.com/v1");
        let mut selected = 0;
        for doc in &docs {
            let Some((meta, pod)) = pod_template(doc) else {
                continue;
            };
            if namespace(doc) != namespace(pm) || !selects(&pm["spec"]["selector"], &meta["labels"])
            {
                continue;
            }
            selected += 1;
            for ep in pm["spec"]["podMetricsEndpoints"].as_array().unwrap() {
                assert_eq!(ep["path"], "/metrics");
                let port = &ep["port"];
                let on = containers(pod)
                    .into_iter()
                    .find(|c| port_number(c, port).is_some());
                let c = on.unwrap_or_else(|| panic!("no container of {doc} names port {port}"));
                // The port scraped is the one the probes check.
                let probed = port_number(c, &c["livenessProbe"]["httpGet"]["port"]);
                assert_eq!(port_number(c, port), probed);
            }
        }
        assert!(
            selected >= 1,
            "{} selects no pod",
            text(pm, "/metadata/name")
        );
    }
}

#[test]
fn each_agent_pod_mounts_only_its_own_nodes_secret() {
    let docs = agents();
    let daemonsets = of_kind(&docs, "DaemonSet");
    let mut secrets = BTreeSet::new();
    for ds in &daemonsets {
        let (_, pod) = pod_template(ds).unwrap();
        let node = text(pod, "/nodeSelector/kubernetes.io~1hostname");
        assert!(
            !node.is_empty() && node != "NODE",
            "{ds} not pinned to a node"
        );
        let mounted: Vec<&str> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["secret"]["secretName"].as_str())
            .collect();
        assert_eq!(mounted, [format!("serialmesh-agent-{node}")], "{node}");
        assert!(
            secrets.insert(mounted[0].to_string()),
            "{} twice",
            mounted[0]
        );
        // No other DaemonSet claims this one's pods.
        for other in &daemonsets {
            let (meta, _) = pod_template(other).unwrap();
            let same = text(other, "/metadata/name") == text(ds, "/metadata/name");
            assert_eq!(selects(&ds["spec"]["selector"], &meta["labels"]), same);
        }
    }
    assert!(daemonsets.len() >= 2);
    // The one config serves every node: identity is in the certificate.
    let config = config_of(&docs, "seriald-config", "seriald.toml");
    assert!(
        !config
            .lines()
            .any(|l| l.starts_with("name") || l.starts_with("zone")),
        "{config}"
    );
    let config_map = configmap_block(
        &std::fs::read_to_string(dir("agent-configmap.yaml")).unwrap(),
        "seriald.toml",
    );
    assert_eq!(config, config_map);
}

#[test]
fn configs_and_keys_are_mounted_as_directories_so_kubelet_updates_reach_the_pod() {
    for docs in [agents(), gateway()] {
        for doc in &docs {
            let Some((_, pod)) = pod_template(doc) else {
                continue;
            };
            let projected: BTreeSet<&str> = pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v.get("configMap").is_some() || v.get("secret").is_some())
                .map(|v| text(v, "/name"))
                .collect();
            for c in containers(pod) {
                let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
                let mut config_dirs = Vec::new();
                for m in &mounts {
                    if !projected.contains(text(m, "/name")) {
                        continue;
                    }
                    // The kubelet never updates a subPath mount: a revoked
                    // key or a removed [[allow]] would wait for a restart.
                    assert!(
                        m.get("subPath").is_none() && m.get("subPathExpr").is_none(),
                        "{} mounts {} with subPath: {m}",
                        text(c, "/name"),
                        text(m, "/name")
                    );
                    config_dirs.push(text(m, "/mountPath").to_string());
                }
                let command: Vec<&str> = c["command"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if let Some(at) = command.iter().position(|a| *a == "--config") {
                    let config = command[at + 1];
                    assert!(
                        config_dirs
                            .iter()
                            .any(|d| config.starts_with(&format!("{d}/"))),
                        "--config {config} is not in a mounted ConfigMap directory {config_dirs:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_prometheus_rule_is_the_rules_file_and_is_picked_up_like_the_podmonitor() {
    let docs = agents();
    let rules = of_kind(&docs, "PrometheusRule");
    assert_eq!(
        rules.len(),
        1,
        "one PrometheusRule in the agents' kustomization"
    );
    let pr = rules[0];
    assert_eq!(text(pr, "/apiVersion"), "monitoring.coreos.com/v1");
    // kube-prometheus-stack selects rules by its release label, as it
    // does PodMonitors.
    let pm = of_kind(&docs, "PodMonitor")[0];
    assert_eq!(
        pr["metadata"]["labels"]["release"],
        pm["metadata"]["labels"]["release"]
    );
    assert!(pr["metadata"]["labels"]["release"].is_string());
    // The same groups as the plain rules file, which promtool proves
    // (tests/tests/alert_rules.rs).
    let plain = &documents(&repo_root().join("deploy/prometheus/serialmesh-rules.yaml"))[0];
    assert_eq!(pr["spec"]["groups"], plain["groups"]);
    // And promtool accepts what the Operator would load.
    let dir = temp_dir();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, pr["spec"].to_string()).unwrap();
    let (code, out) =
        serialmesh_tests::scrape::promtool_run(&["check", "rules", spec.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}");
    // The agent alerts match the job the PodMonitor gives its targets,
    // NAMESPACE/NAME (it sets no jobLabel).
    assert!(pm["spec"]["jobLabel"].is_null());
    let job = format!("{}/{}", namespace(pm), text(pm, "/metadata/name"));
    assert_eq!(job, "serialmesh/seriald");
    let agent_down = pr["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "SerialmeshAgentDown")
        .expect("SerialmeshAgentDown");
    assert!(
        text(agent_down, "/expr").contains(r#"job=~"(.*/)?seriald""#),
        "{agent_down}"
    );
}

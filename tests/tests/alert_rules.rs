//! The Prometheus alert rules in deploy/prometheus: promtool accepts them,
//! their unit tests (series in, alerts out) pass and would catch a weaker
//! rule, and every metric they query is one the real binaries export.

use std::path::PathBuf;

use serialmesh_tests::exported::exported_by_real_binaries;
use serialmesh_tests::manifests::documents;
use serialmesh_tests::scrape::{promql_metrics, promtool_run};
use serialmesh_tests::tools::repo_root;
use serialmesh_tests::util::temp_dir;

fn rules_dir() -> PathBuf {
    repo_root().join("deploy/prometheus")
}

fn rules_text() -> String {
    std::fs::read_to_string(rules_dir().join("serialmesh-rules.yaml")).unwrap()
}

/// `promtool test rules` on the shipped unit tests, run against `rules`.
fn unit_tests_against(rules: &str) -> (i32, String) {
    let dir = temp_dir();
    std::fs::write(dir.path().join("serialmesh-rules.yaml"), rules).unwrap();
    let tests = dir.path().join("serialmesh-rules.test.yaml");
    std::fs::copy(rules_dir().join("serialmesh-rules.test.yaml"), &tests).unwrap();
    promtool_run(&["test", "rules", tests.to_str().unwrap()], "")
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let path = rules_dir().join("serialmesh-rules.yaml");
    let (code, out) = promtool_run(&["check", "rules", path.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    // And rejects a broken expression.
    let dir = temp_dir();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        rules_text().replace(
            "serialmesh_endpoint_ready == 0",
            "serialmesh_endpoint_ready ==",
        ),
    )
    .unwrap();
    let (code, out) = promtool_run(&["check", "rules", broken.to_str().unwrap()], "");
    assert_ne!(code, 0, "{out}");
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    let (code, out) = unit_tests_against(&rules_text());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Only looking for a 0 misses a stick that vanished across an agent
/// restart (a discovered device is not listed until seen again).
#[test]
fn a_device_gone_rule_that_only_looks_for_0_fails_the_unit_tests() {
    let weaker = rules_text().replace(
        "(max_over_time(serialmesh_agent_device_present[1d]) == 1)\n          unless on (instance, device) (serialmesh_agent_device_present == 1)",
        "serialmesh_agent_device_present == 0",
    );
    assert_ne!(weaker, rules_text());
    let (code, out) = unit_tests_against(&weaker);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("SerialmeshDeviceGone"), "{out}");
}

#[test]
fn alert_rules_query_only_metrics_the_binaries_export() {
    let exported = exported_by_real_binaries();
    let rules = &documents(&rules_dir().join("serialmesh-rules.yaml"))[0];
    let mut checked = 0;
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            for name in promql_metrics(expr) {
                // `up` is Prometheus' own, per scrape target.
                assert!(
                    name == "up" || exported.contains(&name),
                    "{}: {name} is not exported; exported: {exported:?}",
                    rule["alert"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5);
}

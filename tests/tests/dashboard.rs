//! The Grafana dashboard in deploy/grafana: valid JSON that Grafana can
//! import, and every query in it names metrics the real binaries export
//! (or Prometheus' own `up` and `ALERTS`), so no panel stays empty because
//! of a typo or a renamed metric.

use serde_json::Value;
use serialmesh_tests::exported::exported_by_real_binaries;
use serialmesh_tests::scrape::promql_metrics;
use serialmesh_tests::tools::repo_root;

fn dashboard() -> Value {
    let path = repo_root().join("deploy/grafana/serialmesh.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `expr` of every panel, rows' nested panels included.
fn exprs(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo: Vec<&Value> = dash["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = todo.pop() {
        if let Some(nested) = p["panels"].as_array() {
            todo.extend(nested);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("").to_owned(),
                t["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    out
}

#[test]
fn the_dashboard_is_json_grafana_can_import() {
    let dash = dashboard();
    assert_eq!(dash["uid"], "serialmesh");
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 30);
    // Imported into any Grafana: the datasource is a variable, not a UID
    // from the machine it was made on.
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars
        .iter()
        .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"));
    let mut ids: Vec<u64> = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        ids.push(p["id"].as_u64().unwrap());
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "panel ids repeat");
    assert!(exprs(&dash).len() >= 20);
}

#[test]
fn every_dashboard_query_names_only_metrics_the_binaries_export() {
    let exported = exported_by_real_binaries();
    for (panel, expr) in exprs(&dashboard()) {
        let names = promql_metrics(&expr);
        assert!(!names.is_empty(), "{panel}: {expr} queries no metric");
        for name in names {
            assert!(
                ["up", "ALERTS"].contains(&name.as_str()) || exported.contains(&name),
                "{panel}: {name} in {expr} is not exported by seriald or serialctl"
            );
        }
    }
}

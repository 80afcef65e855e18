//! Unit tests of the registry (observe/src/metrics.rs).
use super::*;

#[test]
fn metric_and_label_names_follow_prometheus_rules() {
    assert!(valid_metric_name("serialmesh_bytes_total"));
    assert!(valid_metric_name("ns:rule_total"));
    assert!(!valid_metric_name(""));
    assert!(!valid_metric_name("1st"));
    assert!(!valid_metric_name("bytes-total"));
    assert!(valid_label_name("endpoint"));
    assert!(!valid_label_name("__name__"));
    assert!(!valid_label_name("a:b"));
}

#[test]
fn labels_in_any_order_name_the_same_series() {
    let m = Metrics::default();
    m.counter("c_total", &[("a", "1"), ("b", "2")]).inc();
    m.counter("c_total", &[("b", "2"), ("a", "1")]).inc();
    assert_eq!(m.counter("c_total", &[("a", "1"), ("b", "2")]).get(), 2);
}

#[test]
fn a_family_stops_growing_at_the_series_cap_but_keeps_its_series() {
    let m = Metrics::default();
    for i in 0..MAX_SERIES_PER_FAMILY + 10 {
        m.counter("c_total", &[("n", &i.to_string())]).inc();
    }
    let rendered = m.render();
    assert_eq!(
        rendered
            .lines()
            .filter(|l| l.starts_with("c_total{"))
            .count(),
        MAX_SERIES_PER_FAMILY
    );
    // An existing series still counts.
    m.counter("c_total", &[("n", "0")]).inc();
    assert_eq!(m.counter("c_total", &[("n", "0")]).get(), 2);
    assert_eq!(m.counter("c_total", &[("n", "99999")]).get(), 0);
}

#[test]
fn collectors_run_before_each_render() {
    let m = Metrics::default();
    let g = m.gauge("g", &[]);
    m.on_render(move |_| g.add(1));
    assert!(m.render().contains("g 1\n"));
    assert!(m.render().contains("g 2\n"));
}

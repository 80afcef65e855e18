//! The registry as a scraper sees it: the text `render()` produces.

use serialmesh_observe::{Kind, Metrics};

#[test]
fn help_and_type_appear_once_per_family_before_its_series() {
    let m = Metrics::default();
    m.describe(
        "serialmesh_relay_bytes_total",
        Kind::Counter,
        "Bytes relayed, by endpoint and direction.",
    );
    m.counter(
        "serialmesh_relay_bytes_total",
        &[("endpoint", "zwave@shed"), ("direction", "to_net")],
    )
    .add(7);
    m.counter(
        "serialmesh_relay_bytes_total",
        &[("endpoint", "zwave@shed"), ("direction", "to_device")],
    )
    .add(3);
    assert_eq!(
        m.render(),
        "# HELP serialmesh_relay_bytes_total Bytes relayed, by endpoint and direction.\n\
         # TYPE serialmesh_relay_bytes_total counter\n\
         serialmesh_relay_bytes_total{direction=\"to_device\",endpoint=\"zwave@shed\"} 3\n\
         serialmesh_relay_bytes_total{direction=\"to_net\",endpoint=\"zwave@shed\"} 7\n"
    );
}

#[test]
fn families_render_in_name_order_whatever_the_creation_order() {
    let m = Metrics::default();
    m.gauge("zz_sessions", &[]).set(-2);
    m.counter("aa_total", &[("k", "b")]).inc();
    m.counter("aa_total", &[("k", "a")]).inc();
    assert_eq!(
        m.render(),
        "# TYPE aa_total counter\n\
         aa_total{k=\"a\"} 1\n\
         aa_total{k=\"b\"} 1\n\
         # TYPE zz_sessions gauge\n\
         zz_sessions -2\n"
    );
}

#[test]
fn label_values_and_help_are_escaped() {
    let m = Metrics::default();
    m.describe("e_total", Kind::Counter, "line one\nback\\slash \"quoted\"");
    m.counter("e_total", &[("path", "C:\\dev\n\"x\"")]).inc();
    assert_eq!(
        m.render(),
        "# HELP e_total line one\\nback\\\\slash \"quoted\"\n\
         # TYPE e_total counter\n\
         e_total{path=\"C:\\\\dev\\n\\\"x\\\"\"} 1\n"
    );
}

#[test]
fn counters_bumped_from_many_threads_add_up_exactly() {
    let m = Metrics::default();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                // Each thread creates-or-finds the series itself, racing the others.
                let c = m.counter("hits_total", &[("endpoint", "gps@roof")]);
                for _ in 0..10_000 {
                    c.inc();
                }
                c.add(5);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        m.counter("hits_total", &[("endpoint", "gps@roof")]).get(),
        80_040
    );
    assert!(m
        .render()
        .contains("hits_total{endpoint=\"gps@roof\"} 80040\n"));
}

#[test]
fn gauge_goes_up_and_down() {
    let m = Metrics::default();
    let g = m.gauge("open_sessions", &[]);
    g.add(3);
    g.sub(1);
    assert_eq!(m.gauge("open_sessions", &[]).get(), 2);
    g.set(10);
    assert!(m.render().ends_with("open_sessions 10\n"));
}

#[test]
fn set_info_replaces_the_previous_value_of_the_same_series() {
    let m = Metrics::default();
    m.describe(
        "serialmesh_last_error",
        Kind::Gauge,
        "Last error per endpoint.",
    );
    let ep = [("endpoint", "zwave@shed")];
    m.set_info("serialmesh_last_error", &ep, &[("error", "timed out")]);
    m.set_info(
        "serialmesh_last_error",
        &ep,
        &[("error", "connection refused")],
    );
    m.set_info(
        "serialmesh_last_error",
        &[("endpoint", "gps@roof")],
        &[("error", "tls")],
    );
    assert_eq!(
        m.render(),
        "# HELP serialmesh_last_error Last error per endpoint.\n\
         # TYPE serialmesh_last_error gauge\n\
         serialmesh_last_error{endpoint=\"gps@roof\",error=\"tls\"} 1\n\
         serialmesh_last_error{endpoint=\"zwave@shed\",error=\"connection refused\"} 1\n"
    );
}

#[test]
fn remove_drops_one_series_and_an_empty_family() {
    let m = Metrics::default();
    m.describe("dev_open", Kind::Gauge, "Device open.");
    m.gauge("dev_open", &[("device", "a")]).set(1);
    let b = m.gauge("dev_open", &[("device", "b")]);
    b.set(1);
    m.remove("dev_open", &[("device", "b")]);
    assert!(!m.render().contains("device=\"b\""));
    assert!(m.render().contains("dev_open{device=\"a\"} 1\n"));

    // A handle kept across removal still works but is no longer exported.
    b.set(5);
    assert!(!m.render().contains("device=\"b\""));

    m.remove("dev_open", &[("device", "a")]);
    assert_eq!(m.render(), "");
    m.set_info("info", &[("device", "a")], &[("path", "/dev/ttyUSB0")]);
    m.remove("info", &[("device", "a")]);
    assert_eq!(m.render(), "");
}

#[test]
fn kind_clash_gives_a_detached_handle_instead_of_corrupting_output() {
    let m = Metrics::default();
    m.counter("x", &[]).add(2);
    let g = m.gauge("x", &[]);
    g.set(99);
    m.set_info("x", &[], &[("v", "1")]);
    m.counter("bad-name", &[]).inc();
    m.counter("ok_total", &[("__reserved", "v")]).inc();
    assert_eq!(m.render(), "# TYPE x counter\nx 2\n");
}

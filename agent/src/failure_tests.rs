use std::io;

use super::*;

fn io(message: &str) -> io::Error {
    io::Error::other(message.to_string())
}

#[test]
fn configuration_problems_exit_2_and_runtime_failures_exit_1() {
    let usage = [
        Failure::ManDir(io("x")),
        Failure::DemoNameTaken,
        Failure::Devices("x".into()),
        Failure::Start(StartError::Revoked(ConfigError::Revoked {
            path: "revoked.txt".into(),
            source: io("x"),
        })),
    ];
    for f in usage {
        assert_eq!(f.exit_status(), 2, "{f}");
    }
    let runtime = [
        Failure::Demo(io("x")),
        Failure::Runtime(io("x")),
        Failure::Start(StartError::LocalAddr(io("x"))),
        Failure::Start(StartError::Admin(io("x"))),
        Failure::Start(StartError::Listen {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: io("x"),
        }),
    ];
    for f in runtime {
        assert_eq!(f.exit_status(), 1, "{f}");
    }
}

#[test]
fn a_start_failure_prints_its_cause_once() {
    let f = Failure::Start(StartError::LocalAddr(io("Bad file descriptor")));
    assert_eq!(
        f.to_string(),
        "listener has no local address: Bad file descriptor"
    );
    let f = Failure::Start(StartError::Listen {
        addr: "127.0.0.1:21317".parse().unwrap(),
        source: io::Error::from(io::ErrorKind::AddrInUse),
    });
    assert_eq!(
        f.to_string(),
        "cannot listen on 127.0.0.1:21317: address in use; is another seriald running? change `listen` in the config"
    );
}

#[test]
fn the_cause_stays_reachable_as_the_source() {
    let f = Failure::Demo(io::Error::from(io::ErrorKind::PermissionDenied));
    let source = std::error::Error::source(&f).expect("a source");
    assert_eq!(
        source.downcast_ref::<io::Error>().map(io::Error::kind),
        Some(io::ErrorKind::PermissionDenied)
    );
}

//! Checks that the test-support helpers drive the real binaries: one CA,
//! one agent with an echo device, one `serialctl connect`, bytes both ways.
//! If this fails, look here before blaming the product tests.

use std::io::Write;
use std::time::Duration;

use serialmesh_tests::net::read_exact_within;
use serialmesh_tests::util::assert_same_bytes;
use serialmesh_tests::{
    random_bytes, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ScriptedDevice,
};

const T: Duration = Duration::from_secs(20);

#[test]
fn helpers_carry_bytes_through_agent_and_client_to_an_echo_device() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("laptop")).start();

    let mut stream = client.connect();
    let data = random_bytes(64 * 1024, 1);
    let reader = stream.try_clone().unwrap();
    let echoed = std::thread::scope(|s| {
        s.spawn(|| stream.write_all(&data).unwrap());
        let mut reader = reader;
        read_exact_within(&mut reader, data.len(), T)
    });
    assert_same_bytes(&echoed, &data, "echo through serialmesh");
    assert!(agent.is_running() && client.is_running());
}

#[test]
fn helpers_reach_a_scripted_device_both_ways() {
    let pki = Pki::new();
    let device = ScriptedDevice::start();
    let agent = AgentBuilder::new(&pki, "lab")
        .device("gen", device.path())
        .start();
    let client = ConnectBuilder::new("gen@lab", agent.addr, &pki.client("ops")).start();

    let mut stream = client.connect();
    stream.write_all(b"status?\r\n").unwrap();
    assert_eq!(device.read_exact_timeout(9, T), b"status?\r\n");
    device.write(b"OK\x00\x11\x13\xff\r\n");
    assert_eq!(
        read_exact_within(&mut stream, 8, T),
        b"OK\x00\x11\x13\xff\r\n"
    );
}

#[test]
fn agent_with_broken_config_exits_and_says_why() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "bad")
        .device_toml("[[device]]\nname = \"x\"\npath = 42\n")
        .spawn();
    let status = agent
        .wait_exit(T)
        .unwrap_or_else(|| panic!("{}", agent.failure("still running")));
    assert_eq!(status.code(), Some(2), "{}", agent.output());
}

#[test]
fn restarted_agent_listens_on_the_same_port_again() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let mut agent = AgentBuilder::new(&pki, "barn")
        .device("zwave", device.path())
        .start();
    let (addr, old_pid) = (agent.addr, agent.pid());
    agent.restart();
    assert_eq!(agent.addr, addr);
    assert_ne!(agent.pid(), old_pid);
    let client = ConnectBuilder::new("zwave@barn", agent.addr, &pki.client("c")).start();
    let mut stream = client.connect();
    stream.write_all(b"again").unwrap();
    assert_eq!(read_exact_within(&mut stream, 5, T), b"again");
}

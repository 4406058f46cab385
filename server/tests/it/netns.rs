//! The scientist on another machine, as near as one machine gets: `veil serve` runs in one network
//! namespace and the scientist's client in another, joined by a veth pair, so the client shares no
//! loopback with the datasite and reaches it only over the link (and uses no file of it). Needs root
//! and iproute2, as CI has; elsewhere the test says it did not run and why.
//!
//! The client side is this test binary again, run inside the scientist's namespace with
//! `VEIL_NETNS_CLIENT` naming the server's address.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ndarray::array;
use veil::prelude::*;

const TEST: &str = "netns::a_scientist_in_another_network_namespace_works_over_a_veth_pair";
const OWNER_PW: &str = "a-long-owner-password";
const SERVER_IP: &str = "10.231.7.1";
const CLIENT_IP: &str = "10.231.7.2";

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces and the veth pair between them; deleted on drop (which removes the pair too).
struct Namespaces {
    server: String,
    client: String,
}

impl Namespaces {
    fn make() -> Namespaces {
        let id = std::process::id() % 100_000;
        let ns = Namespaces {
            server: format!("veil-srv-{id}"),
            client: format!("veil-cli-{id}"),
        };
        let (a, b) = (format!("vsrv{id}"), format!("vcli{id}"));
        ip(&["netns", "add", &ns.server]);
        ip(&["netns", "add", &ns.client]);
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &ns.server]);
        ip(&["link", "set", &b, "netns", &ns.client]);
        for (n, dev, addr) in [(&ns.server, &a, SERVER_IP), (&ns.client, &b, CLIENT_IP)] {
            ip(&["-n", n, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip(&["-n", n, "link", "set", dev, "up"]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn can_make_namespaces() -> Result<(), String> {
    crate::serve::as_root()?;
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("iproute2's `ip` is not installed".into()),
    }
}

#[test]
fn a_scientist_in_another_network_namespace_works_over_a_veth_pair() {
    if let Ok(url) = std::env::var("VEIL_NETNS_CLIENT") {
        return scientist(&url);
    }
    if let Err(why) = can_make_namespaces() {
        eprintln!("{TEST}: did not run ({why}); it needs root and iproute2, as CI has");
        return;
    }
    // The owner prepares the datasite and changes the default password: no server listens beyond
    // loopback before that.
    let dir = tempfile::tempdir().unwrap();
    let site = LaunchOptions::new("netns-site")
        .dir(dir.path())
        .reset(true)
        .launch()
        .unwrap();
    let owner = site.login("info@openmined.org", "changethis").unwrap();
    owner.change_password("changethis", OWNER_PW).unwrap();
    owner
        .upload_dataset(
            Dataset::new("my dataset").asset(
                Asset::new("my asset")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123def"))
        .unwrap();
    site.land().unwrap();

    let ns = Namespaces::make();
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.server,
            env!("CARGO_BIN_EXE_veil"),
            "serve",
        ])
        .args([
            "--name",
            "netns-site",
            "--host",
            SERVER_IP,
            "--port",
            "8083",
        ])
        .args(["--log-level", "warn", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(&format!("http://{SERVER_IP}:8083")), "{line}");

    let client = Command::new("ip")
        .args(["netns", "exec", &ns.client])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
        .env("VEIL_NETNS_CLIENT", format!("http://{SERVER_IP}:8083"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = String::from_utf8_lossy(&client.stdout);
    let err = String::from_utf8_lossy(&client.stderr);
    assert!(client.status.success(), "{out}\n{err}");
    assert!(out.contains("real result: [5.0, 7.0, 9.0]"), "{out}\n{err}");
    assert!(out.contains("no datasite on this loopback"), "{out}\n{err}");
}

/// Jane's side, inside the client namespace: seed 003's pointer flow over the link, the owner
/// approving from the same far side.
fn scientist(url: &str) {
    let nothing_here = veil::connect("http://127.0.0.1:8083").unwrap_err();
    assert_eq!(nothing_here.kind(), veil::api::call::ErrorKind::Unavailable);
    println!("no datasite on this loopback: {nothing_here}");
    let site = veil::connect(url).unwrap();
    let jane = site.login("jane@caltech.edu", "abc123def").unwrap();
    let asset = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap();
    assert_eq!(
        asset.data().unwrap_err().kind(),
        veil::api::call::ErrorKind::PermissionDenied
    );
    let pointer = asset.pointer().unwrap();
    let mine = jane.array(array![4.0, 5.0, 6.0]).unwrap();
    let added = (&pointer + &mine).unwrap();
    let request = added.request("over the link").unwrap();
    let owner = site.login("info@openmined.org", OWNER_PW).unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("the seed's toy data")
        .unwrap();
    let real: Vec<f64> = added
        .get()
        .unwrap()
        .as_f64()
        .unwrap()
        .iter()
        .copied()
        .collect();
    println!("real result: {real:?}");
}

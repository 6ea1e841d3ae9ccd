//! Hosts on one machine for tests and benches: network namespaces joined by veth pairs on
//! a bridge, the root namespace on it too (`ip netns`, which needs root and iproute2).
//! Everything made, and every process started in it, goes on drop.

use std::process::{Child, Command, Stdio};

/// Namespaces `<tag>h0..` on a bridge in `<tag>br`, the root namespace on it too; all
/// removed on drop, with every process started in them.
pub struct Hosts {
    tag: String,
    pub subnet: u32,
    hosts: usize,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("the ip command (Debian's iproute2)");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

impl Hosts {
    pub fn new(hosts: usize) -> Hosts {
        let pid = std::process::id();
        let tag = format!("rk{}", pid % 100_000);
        let subnet = 20 + pid % 200;
        let mut net = Hosts { tag, subnet, hosts: 0, children: Vec::new() };
        let bridge = net.bridge_ns();
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for i in 0..hosts {
            let (ns, here, there) = (net.ns(i), format!("{}v{i}", net.tag), format!("{}b{i}", net.tag));
            ip(&["netns", "add", &ns]);
            net.hosts += 1;
            ip(&["link", "add", &here, "type", "veth", "peer", "name", &there]);
            ip(&["link", "set", &here, "netns", &ns]);
            ip(&["link", "set", &there, "netns", &bridge]);
            ip(&["-n", &bridge, "link", "set", &there, "master", "br0", "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", net.addr(i)), "dev", &here]);
            ip(&["-n", &ns, "link", "set", &here, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        let (root, there) = (format!("{}vr", net.tag), format!("{}br", net.tag));
        ip(&["link", "add", &root, "type", "veth", "peer", "name", &there]);
        ip(&["link", "set", &there, "netns", &bridge]);
        ip(&["-n", &bridge, "link", "set", &there, "master", "br0", "up"]);
        ip(&["addr", "add", &format!("10.77.{}.254/24", net.subnet), "dev", &root]);
        ip(&["link", "set", &root, "up"]);
        net
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.tag)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.tag)
    }

    pub fn addr(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.subnet, i + 1)
    }

    /// Starts `program` with `args` on host `i`.
    pub fn spawn(&mut self, i: usize, program: &str, args: &[&str], token: &str) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), program])
            .args(args)
            .env("RASK_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Takes host `i`'s link down: nothing reaches it, nothing leaves it, no connection
    /// closes.
    #[allow(dead_code)]
    pub fn cut(&self, i: usize) {
        ip(&["-n", &self.ns(i), "link", "set", &format!("{}v{i}", self.tag), "down"]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &format!("{}vr", self.tag)]).output();
        for i in 0..self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(i)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.bridge_ns()]).output();
    }
}

//! The trial platform across hosts, with etcd discovery: etcd, three `trial-rpc` replicas and
//! `trial-api` each on a host of its own, made here as Linux network namespaces joined by veth
//! pairs to one bridge (iproute2, as root). A load driver on a host of its own calls trial-api
//! throughout, while replicas are killed, stopped and started, and etcd goes away and comes
//! back. A second lab finds the replicas by name (`dns:///`) and changes what the name resolves
//! to while calls run: `ip netns exec` gives trial-api's host its own `/etc/hosts`
//! (`/etc/netns/<ns>/hosts`), read by the system resolver as a headless service's DNS would be.
//!
//! Needs root, `ip` (iproute2), `etcd` and `etcdctl` (Debian's etcd-server and etcd-client, as
//! `.ci/run` installs them) and the `trial-rpc` binary (`cargo test --workspace` builds it).
//! Every namespace and process is removed when the test ends, passed or failed. The numbers it
//! measures are printed (run with `--nocapture`) and recorded in docs/bench.md.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Namespaces of this test are named `r16-<pid>-<lab>-<host>`; a run killed before cleaning up
/// leaves some (and their `/etc/netns/` directories), removed by the next run.
const PREFIX: &str = "r16-";
const ETCD_IP: &str = "10.216.0.2";
const API_IP: &str = "10.216.0.3";
const DRIVER_IP: &str = "10.216.0.4";

/// Runs a command; panics with its stderr when it fails.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{cmd}` cannot run ({e}): apt-get install iproute2"));
    assert!(
        out.status.success(),
        "`{cmd} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes the namespaces of earlier runs whose process is gone.
fn remove_stale_namespaces() {
    let list = run("ip", &["netns", "list"]);
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
        }
    }
}

/// `trial-rpc`'s binary, next to the directory holding this test binary.
fn trial_rpc_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("trial-rpc{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p trial-rpc` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// The hosts (one namespace each, on one bridge in the `lan` namespace) and what runs on them.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    procs: Vec<(String, Child)>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(ns));
        }
    }
}

impl Lab {
    /// A lab of its own: `name` keeps two labs of one run apart.
    fn new(name: &str) -> Lab {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the cross-host test makes network namespaces (ip netns): run it as root, as CI does"
        );
        remove_stale_namespaces();
        let mut lab = Lab {
            prefix: format!("{PREFIX}{}-{name}", std::process::id()),
            namespaces: Vec::new(),
            procs: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let lan = lab.ns("lan");
        run("ip", &["netns", "add", &lan]);
        lab.namespaces.push(lan.clone());
        run("ip", &["-n", &lan, "link", "add", "br0", "type", "bridge"]);
        run("ip", &["-n", &lan, "link", "set", "br0", "up"]);
        lab
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// A new host with address `ip`/24 on the bridge.
    fn host(&mut self, host: &str, ip: &str) {
        let ns = self.ns(host);
        let lan = self.ns("lan");
        run("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        let port = format!("p-{host}");
        run(
            "ip",
            &[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &lan,
            ],
        );
        run("ip", &["-n", &lan, "link", "set", &port, "master", "br0"]);
        run("ip", &["-n", &lan, "link", "set", &port, "up"]);
        run(
            "ip",
            &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
        );
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
    }

    /// Writes `host`'s own `/etc/hosts` (in place, so a process already running there sees the
    /// change: `ip netns exec` bind-mounts the file itself).
    fn hosts_file(&self, host: &str, lines: &str) {
        let dir = Path::new("/etc/netns").join(self.ns(host));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hosts"),
            format!("127.0.0.1 localhost\n::1 localhost\n{lines}"),
        )
        .unwrap();
    }

    /// Starts `program` on `host`, its output in `<dir>/<name>.log`.
    fn spawn(&mut self, name: &str, host: &str, program: &Path, args: &[&str]) {
        let log = File::create(self.log_path(name)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .arg(program)
            .args(args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.procs.push((name.to_owned(), child));
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    /// Sends `signal` to process `name` and waits for it to exit.
    fn signal(&mut self, name: &str, signal: Signal) {
        let i = self.procs.iter().position(|(n, _)| n == name).unwrap();
        let (_, mut child) = self.procs.remove(i);
        // `ip netns exec` execs the program: the child's pid is the program's.
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        child.wait().unwrap();
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start_etcd(&mut self) {
        let data = self.dir.path().join("etcd-data");
        let client = format!("http://{ETCD_IP}:2379");
        let peer = format!("http://{ETCD_IP}:2380");
        let args = [
            "--name",
            "lab",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("lab={peer}"),
        ];
        self.spawn("etcd", "etcd", Path::new("/usr/bin/etcd"), &args);
        for _ in 0..200 {
            if self.etcdctl(&["endpoint", "health"]).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("etcd never became healthy:\n{}", self.log("etcd"));
    }

    fn etcdctl(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns("etcd"), "etcdctl"])
            .arg(format!("--endpoints={ETCD_IP}:2379"))
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl is needed: apt-get install etcd-client (as .ci/run does)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The addresses registered under `trial.rpc/`.
    fn registered(&self) -> Vec<String> {
        let out = self
            .etcdctl(&["get", "--prefix", "trial.rpc/", "--print-value-only"])
            .unwrap_or_default();
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(Into::into)
            .collect();
        v.sort();
        v
    }

    fn start_replica(&mut self, name: &str, ip: &str) {
        self.start_replica_with(
            name,
            ip,
            &format!("Etcd: {{Hosts: ['{ETCD_IP}:2379'], Key: trial.rpc}}\n"),
        );
    }

    /// A replica on a new host, its config ending with `extra`.
    fn start_replica_with(&mut self, name: &str, ip: &str, extra: &str) {
        self.host(name, ip);
        let conf = self.write(
            &format!("{name}.yaml"),
            &format!(
                "Name: trial.rpc\nListenOn: 0.0.0.0:8080\nTimeout: 2000\nMode: dev\n\
                 Log: {{Encoding: plain, Level: info}}\nDevServer: {{Enabled: false}}\n\
                 Shutdown: {{WrapUpTime: 1s, WaitTime: 3s}}\n{extra}"
            ),
        );
        let conf = conf.to_str().unwrap().to_owned();
        self.spawn(name, name, &trial_rpc_binary(), &["-f", &conf]);
    }

    /// trial-api on the `api` host, its `TrialRpc` section starting with `finds` (how it finds
    /// the replicas); a driver calling it from the `driver` host, returned once a call answered.
    fn start_api(&mut self, finds: &str) -> Driver {
        let conf = self.write(
            "trial-api.yaml",
            &format!(
                "Name: trial-api\nHost: 0.0.0.0\nPort: 8888\nTimeout: 3000\nMode: dev\n\
                 Log: {{Encoding: plain, Level: info}}\nDevServer: {{Enabled: false}}\n\
                 TrialRpc:\n{finds}  Timeout: 2000\n"
            ),
        );
        let conf = conf.to_str().unwrap().to_owned();
        self.spawn(
            "api",
            "api",
            Path::new(env!("CARGO_BIN_EXE_trial-api")),
            &["-f", &conf],
        );
        let driver = Driver::start(&self.ns("driver"));
        wait_for("trial-api answers", Duration::from_secs(15), || {
            driver.outcomes.lock().unwrap().iter().any(|(_, ok)| *ok)
        });
        driver
    }

    /// Calls `trial.rpc` logged by replica `name`.
    fn calls(&self, name: &str) -> usize {
        self.log(name)
            .lines()
            .filter(|l| l.contains("[RPC]") && l.contains("/trial."))
            .count()
    }
}

/// One call through trial-api: when it started and whether it answered 200.
type Outcome = (Instant, bool);

/// Calls trial-api from the driver host, four at a time, until stopped: a thread that enters
/// the driver's namespace (setns affects only the calling thread) and runs its own runtime.
struct Driver {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn start(ns: &str) -> Driver {
        let netns = File::open(format!("/run/netns/{ns}")).unwrap();
        let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (o, s) = (outcomes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns into the driver host");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let url = format!("http://{API_IP}:8888/trial/NCT045148");
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let (client, url, o, s) =
                            (client.clone(), url.clone(), o.clone(), s.clone());
                        tokio::spawn(async move {
                            while !s.load(Ordering::Relaxed) {
                                let at = Instant::now();
                                let ok = client
                                    .get(&url)
                                    .send()
                                    .await
                                    .is_ok_and(|r| r.status() == 200);
                                o.lock().unwrap().push((at, ok));
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        Driver {
            outcomes,
            stop,
            thread: Some(thread),
        }
    }

    /// Calls started at or after `from` (and before `to`): (total, failed).
    fn between(&self, from: Instant, to: Instant) -> (usize, usize) {
        let o = self.outcomes.lock().unwrap();
        let window: Vec<_> = o.iter().filter(|(at, _)| *at >= from && *at < to).collect();
        (window.len(), window.iter().filter(|(_, ok)| !ok).count())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits up to `limit` for `cond`; how long it took.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn replicas_come_and_go_behind_etcd_across_hosts() {
    // Every service runs in `Mode: dev` (no load shedding): the machine's CPU, busy with other
    // jobs, must not refuse calls this test counts.
    let mut lab = Lab::new("etcd");
    lab.host("etcd", ETCD_IP);
    lab.host("api", API_IP);
    lab.host("driver", DRIVER_IP);
    lab.start_etcd();
    let replicas = [
        ("rpc1", "10.216.0.11"),
        ("rpc2", "10.216.0.12"),
        ("rpc3", "10.216.0.13"),
    ];
    for (name, ip) in replicas {
        lab.start_replica(name, ip);
    }
    let all: Vec<String> = replicas
        .iter()
        .map(|(_, ip)| format!("{ip}:8080"))
        .collect();
    // Each advertises the address its host reaches etcd from (ListenOn is 0.0.0.0).
    wait_for("three replicas registered", Duration::from_secs(15), || {
        lab.registered() == all
    });

    let driver = lab.start_api(&format!(
        "  Etcd: {{Hosts: ['{ETCD_IP}:2379'], Key: trial.rpc}}\n"
    ));
    let warm = Instant::now();
    wait_for(
        "all three replicas get calls",
        Duration::from_secs(10),
        || replicas.iter().all(|(name, _)| lab.calls(name) > 0),
    );

    // SIGKILL: calls to the dead replica fail until its lease runs out (10 s at most), then
    // none do.
    let killed = Instant::now();
    lab.signal("rpc1", Signal::SIGKILL);
    let noticed = wait_for("rpc1's lease expired", Duration::from_secs(15), || {
        !lab.registered().contains(&all[0])
    });
    std::thread::sleep(Duration::from_millis(500));
    let settled = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let (kill_total, kill_failed) = driver.between(killed, settled);
    let (after_total, after_failed) = driver.between(settled, Instant::now());
    assert!(after_total > 0, "the driver stopped calling");
    assert_eq!(
        after_failed, 0,
        "calls still failed once rpc1 was out of etcd"
    );

    // SIGTERM: deregistered before its listener closes; not one call fails.
    let termed = Instant::now();
    lab.signal("rpc2", Signal::SIGTERM);
    let term_gone = termed.elapsed();
    assert!(
        !lab.registered().contains(&all[1]),
        "rpc2 left etcd as it stopped"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (term_total, term_failed) = driver.between(termed, Instant::now());
    assert!(term_total > 0, "the driver stopped calling");
    assert_eq!(term_failed, 0, "a graceful stop failed calls");

    // A new replica gets calls within seconds, without restarting trial-api.
    let started = Instant::now();
    lab.start_replica("rpc4", "10.216.0.14");
    wait_for("rpc4 gets calls", Duration::from_secs(10), || {
        lab.calls("rpc4") > 0
    });
    let new_calls = started.elapsed();

    // etcd stopped: calls go on to the known replicas.
    let registrations = |lab: &Lab, name: &str| {
        lab.log(name)
            .lines()
            .filter(|l| l.contains("registered in etcd"))
            .count()
    };
    let before = [registrations(&lab, "rpc3"), registrations(&lab, "rpc4")];
    let down = Instant::now();
    lab.signal("etcd", Signal::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    let (down_total, down_failed) = driver.between(down, Instant::now());
    assert!(down_total > 0, "the driver stopped calling");
    assert_eq!(down_failed, 0, "calls failed while etcd was down");

    // etcd back: the replicas register again (their keep-alive streams broke).
    let back = Instant::now();
    lab.start_etcd();
    wait_for(
        "rpc3 and rpc4 register again",
        Duration::from_secs(15),
        || registrations(&lab, "rpc3") > before[0] && registrations(&lab, "rpc4") > before[1],
    );
    let reregistered = back.elapsed();
    let want: Vec<String> = vec![all[2].clone(), "10.216.0.14:8080".into()];
    assert_eq!(lab.registered(), want);
    std::thread::sleep(Duration::from_secs(1));
    let (back_total, back_failed) = driver.between(back, Instant::now());
    assert_eq!(back_failed, 0, "calls failed while etcd came back");
    let (total, failed) = driver.between(warm, Instant::now());
    drop(driver);

    println!("cross-host numbers (calls through trial-api, 4 at a time):");
    println!(
        "  SIGKILL rpc1: {kill_failed} of {kill_total} calls failed; out of etcd after {} ms; \
         0 of {after_total} failed after",
        ms(noticed)
    );
    println!(
        "  SIGTERM rpc2: {term_failed} of {term_total} calls failed; stop (deregister, wrap-up, \
         drain) took {} ms",
        ms(term_gone)
    );
    println!(
        "  rpc4 started: first call after {} ms (process start included)",
        ms(new_calls)
    );
    println!("  etcd down 2 s: {down_failed} of {down_total} calls failed");
    println!(
        "  etcd back: replicas registered again {} ms after its start; {back_failed} of \
         {back_total} failed",
        ms(reregistered)
    );
    println!("  whole run: {failed} of {total} calls failed");
}

/// `TrialRpc.Target: dns:///trial-rpc.lab:8080`, the name resolved on trial-api's host: a
/// replica added to the name gets calls and a replica taken out of it gets none, without a
/// restart and without a failed call (the name is looked up again every 30 s).
#[test]
fn replicas_behind_a_name_are_followed_as_it_changes() {
    let mut lab = Lab::new("dns");
    lab.host("api", API_IP);
    lab.host("driver", DRIVER_IP);
    let (one, two) = ("10.216.0.21", "10.216.0.22");
    lab.start_replica_with("rpc1", one, "");
    lab.start_replica_with("rpc2", two, "");
    lab.hosts_file("api", &format!("{one} trial-rpc.lab\n"));
    let driver = lab.start_api("  Target: dns:///trial-rpc.lab:8080\n");
    let start = Instant::now();
    wait_for("rpc1 gets calls", Duration::from_secs(10), || {
        lab.calls("rpc1") > 20
    });
    assert_eq!(lab.calls("rpc2"), 0, "rpc2 is not behind the name yet");

    // The name gains rpc2.
    lab.hosts_file(
        "api",
        &format!("{one} trial-rpc.lab\n{two} trial-rpc.lab\n"),
    );
    let to_add = wait_for("rpc2 gets calls", Duration::from_secs(45), || {
        lab.calls("rpc2") > 0
    });
    wait_for("both get calls", Duration::from_secs(10), || {
        let before = (lab.calls("rpc1"), lab.calls("rpc2"));
        std::thread::sleep(Duration::from_millis(500));
        lab.calls("rpc1") > before.0 && lab.calls("rpc2") > before.1
    });

    // The name loses rpc1 (still running): it gets no more calls.
    lab.hosts_file("api", &format!("{two} trial-rpc.lab\n"));
    let to_remove = wait_for("rpc1 gets no more calls", Duration::from_secs(45), || {
        let before = lab.calls("rpc1");
        std::thread::sleep(Duration::from_secs(1));
        lab.calls("rpc1") == before
    });
    let quiet = lab.calls("rpc1");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.calls("rpc1"), quiet, "rpc1 is out of the name");
    let (total, failed) = driver.between(start, Instant::now());
    assert!(lab.calls("rpc2") > 0 && total > 0);
    assert_eq!(failed, 0, "calls failed while the name changed");
    drop(driver);
    println!("dns numbers (calls through trial-api, 4 at a time, lookups every 30 s):");
    println!(
        "  added to the name: calls after {} ms; removed: no calls after {} ms (less the 1 s \
         it takes to see none); {failed} of {total} calls failed",
        ms(to_add),
        ms(to_remove)
    );
}

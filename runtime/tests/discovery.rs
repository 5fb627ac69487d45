//! Registration and discovery through a real etcd (Debian's `etcd-server`, one started per
//! test on free loopback ports): servers register, a client follows them as they start, stop
//! and come back, and keeps calling while etcd is away; over TLS with client certificates too.

use std::convert::Infallible;
use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustctl_runtime::config::{DevServerConf, Mode, ShutdownConf};
use rustctl_runtime::rpc::{
    EtcdConf, RpcClient, RpcClientConf, RpcServer, RpcServerConf, RunningRpc,
};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic_prost::ProstCodec;
use tower::Service;

/// An etcd server of this test's own, on free loopback ports, in a temporary directory.
struct Etcd {
    child: Child,
    /// `user:password` once authentication is on.
    user: Option<String>,
    /// Where the CA and the certificates are when etcd serves TLS.
    tls: Option<std::path::PathBuf>,
    client_port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
}

/// A CA of the test's own, etcd's server certificate for 127.0.0.1 and a client certificate,
/// signed by it: `ca.pem`, `server.pem` + `server-key.pem`, `client.pem` + `client-key.pem`.
struct Pki(tempfile::TempDir);

impl Pki {
    fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.distinguished_name
            .push(DnType::CommonName, "rustctl test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        for (name, purpose) in [
            ("server", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(
                dir.path().join(format!("{name}-key.pem")),
                key.serialize_pem(),
            )
            .unwrap();
        }
        Pki(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.path().join(file).to_str().unwrap().to_owned()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    fn start() -> Etcd {
        Etcd::start_with(None)
    }

    /// etcd serving TLS with `pki`'s server certificate, asking clients for a certificate
    /// signed by `pki`'s CA (`--client-cert-auth`).
    fn start_tls(pki: &Pki) -> Etcd {
        Etcd::start_with(Some(pki.0.path().to_owned()))
    }

    fn start_with(tls: Option<std::path::PathBuf>) -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let (client_port, peer_port) = (free_port(), free_port());
        let child = spawn_etcd(dir.path(), client_port, peer_port, tls.as_deref());
        let etcd = Etcd {
            child,
            user: None,
            tls,
            client_port,
            peer_port,
            dir,
        };
        etcd.wait_healthy();
        etcd
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn wait_healthy(&self) {
        for _ in 0..200 {
            if self.ctl(&["endpoint", "health"]).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("etcd on {} did not become healthy", self.host());
    }

    /// `etcdctl` against this server; its stdout, or `None` when it failed.
    fn ctl(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("etcdctl");
        if let Some(user) = &self.user {
            cmd.arg(format!("--user={user}"));
        }
        let mut endpoint = format!("http://{}", self.host());
        if let Some(pki) = &self.tls {
            endpoint = format!("https://{}", self.host());
            cmd.arg("--cacert")
                .arg(pki.join("ca.pem"))
                .arg("--cert")
                .arg(pki.join("client.pem"))
                .arg("--key")
                .arg(pki.join("client-key.pem"));
        }
        let out = cmd
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .args(args)
            .output()
            .expect(
                "etcdctl (Debian's etcd-client package) is needed: apt-get install etcd-client",
            );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The values registered under `key/`, sorted.
    fn registered(&self, key: &str) -> Vec<String> {
        let out = self
            .ctl(&["get", "--prefix", &format!("{key}/"), "--print-value-only"])
            .unwrap_or_default();
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    }

    /// Turns authentication on with user `root` (password `pw`), who alone may do anything.
    fn enable_auth(&mut self) {
        self.ctl(&["user", "add", "root:pw"])
            .expect("etcdctl user add");
        self.ctl(&["auth", "enable"]).expect("etcdctl auth enable");
        self.user = Some("root:pw".into());
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same ports; `wipe` first deletes its data (every lease and key).
    fn restart(&mut self, wipe: bool) {
        if wipe {
            std::fs::remove_dir_all(self.dir.path()).unwrap();
            std::fs::create_dir_all(self.dir.path()).unwrap();
        }
        self.child = spawn_etcd(
            self.dir.path(),
            self.client_port,
            self.peer_port,
            self.tls.as_deref(),
        );
        self.wait_healthy();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_etcd(dir: &Path, client_port: u16, peer_port: u16, tls: Option<&Path>) -> Child {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let client = format!("{scheme}://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let mut cmd = Command::new("etcd");
    if let Some(pki) = tls {
        cmd.arg("--cert-file")
            .arg(pki.join("server.pem"))
            .arg("--key-file")
            .arg(pki.join("server-key.pem"))
            .arg("--trusted-ca-file")
            .arg(pki.join("ca.pem"))
            .arg("--client-cert-auth");
    }
    cmd.args(["--name", "t", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("t={peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd (Debian's etcd-server package) is needed: apt-get install etcd-server, as .ci/run does")
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `test.Who/Name`: answers the replica's name (a protobuf string) to an empty request.
#[derive(Clone)]
struct Who(Arc<str>);

impl NamedService for Who {
    const NAME: &'static str = "test.Who";
}

struct Name(Arc<str>);

impl tonic::server::UnaryService<()> for Name {
    type Response = String;
    type Future = BoxFut<Result<tonic::Response<String>, tonic::Status>>;
    fn call(&mut self, _req: tonic::Request<()>) -> Self::Future {
        let name = self.0.to_string();
        Box::pin(async move { Ok(tonic::Response::new(name)) })
    }
}

impl Service<http::Request<Body>> for Who {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<http::Response<Body>, Infallible>>;
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let name = self.0.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<String, ()>::default());
            Ok(grpc.unary(Name(name), req).await)
        })
    }
}

async fn who(client: &RpcClient) -> Result<String, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/test.Who/Name");
    grpc.unary(
        tonic::Request::new(()),
        path,
        ProstCodec::<(), String>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// The replicas that answer 200 calls made 8 at a time (p2c spreads concurrent calls; one
/// call at a time always goes to the fastest replica).
async fn answering(client: &RpcClient) -> Vec<String> {
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..25 {
                    seen.push(who(&client).await.unwrap());
                }
                seen
            })
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for c in callers {
        seen.extend(c.await.unwrap());
    }
    seen.into_iter().collect()
}

fn etcd_conf(etcd: &Etcd) -> EtcdConf {
    EtcdConf {
        hosts: vec![etcd.host()],
        key: "who.rpc".into(),
        ..EtcdConf::default()
    }
}

async fn replica(name: &str, etcd: &Etcd) -> RunningRpc {
    replica_with(name, etcd_conf(etcd)).await
}

async fn replica_with(name: &str, etcd: EtcdConf) -> RunningRpc {
    let conf = RpcServerConf {
        name: name.into(),
        listen_on: "127.0.0.1:0".into(),
        mode: Mode::Dev,
        etcd,
        dev_server: DevServerConf {
            enabled: false,
            ..DevServerConf::default()
        },
        shutdown: ShutdownConf {
            wrap_up_time: 500,
            wait_time: 2000,
        },
        ..RpcServerConf::default()
    };
    let mut server = RpcServer::new(conf);
    server.add_service(Who(Arc::from(name)));
    server.listen().await.unwrap()
}

/// Waits (up to 15 s, the lease TTL and then some) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn addr(r: &RunningRpc) -> String {
    format!("http://{}", r.addr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_follow_replicas_as_they_come_and_go() {
    let etcd = Etcd::start();
    let a = replica("a", &etcd).await;
    let b = replica("b", &etcd).await;
    let section = RpcClientConf {
        etcd: etcd_conf(&etcd),
        ..RpcClientConf::default()
    };
    let client = RpcClient::connect(&section).await.unwrap();
    // The same replicas through the `Target` form.
    let by_target = RpcClient::connect_lazy(&RpcClientConf {
        target: Some(format!("etcd://{}/who.rpc", etcd.host())),
        ..RpcClientConf::default()
    })
    .unwrap();
    let both = vec![addr(&a), addr(&b)];
    let mut sorted = both.clone();
    sorted.sort();
    until("both replicas discovered", || client.endpoints() == sorted).await;
    until("both replicas discovered by target", || {
        by_target.endpoints() == sorted
    })
    .await;
    assert_eq!(
        etcd.registered("who.rpc"),
        sorted
            .iter()
            .map(|a| a.trim_start_matches("http://").to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(answering(&client).await, ["a", "b"]);

    // A graceful stop: out of etcd and of the client's rotation before the listener closes,
    // so calls running meanwhile never fail.
    let caller = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for _ in 0..200 {
                if let Err(e) = who(&client).await {
                    failed.push(e);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failed
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b_addr = addr(&b);
    b.shutdown();
    b.wait().await.unwrap();
    assert_eq!(
        client.endpoints(),
        [addr(&a)],
        "removed before b stopped serving"
    );
    assert!(!etcd.registered("who.rpc").contains(&b_addr[7..].to_owned()));
    let failed = caller.await.unwrap();
    assert!(
        failed.is_empty(),
        "calls failed during a graceful stop: {failed:?}"
    );

    // A new replica is called without restarting the client.
    let c = replica("c", &etcd).await;
    until("the new replica discovered", || {
        client.endpoints().len() == 2
    })
    .await;
    assert_eq!(answering(&client).await, ["a", "c"]);
    a.shutdown();
    c.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_without_etcd_and_replicas_register_again() {
    let mut etcd = Etcd::start();
    let a = replica("a", &etcd).await;
    let client = RpcClient::connect_lazy(&RpcClientConf {
        etcd: etcd_conf(&etcd),
        ..RpcClientConf::default()
    })
    .unwrap();
    until("replica discovered", || client.endpoints() == [addr(&a)]).await;

    etcd.stop();
    for _ in 0..20 {
        assert_eq!(
            who(&client).await.unwrap(),
            "a",
            "etcd is down, the replica is not"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        client.endpoints(),
        [addr(&a)],
        "the last known endpoints stay"
    );

    // Back empty (data wiped, every lease gone): the replica registers again by itself.
    etcd.restart(true);
    let want = vec![addr(&a)[7..].to_owned()];
    until("replica registered again", || {
        etcd.registered("who.rpc") == want
    })
    .await;
    assert_eq!(who(&client).await.unwrap(), "a");

    // And a replica started now is discovered through the reconnected watch.
    let b = replica("b", &etcd).await;
    until("new replica discovered after etcd came back", || {
        client.endpoints().len() == 2
    })
    .await;
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_pass_authenticate_both_sides() {
    let mut etcd = Etcd::start();
    etcd.enable_auth();
    let with_user = EtcdConf {
        user: "root".into(),
        pass: "pw".into(),
        ..etcd_conf(&etcd)
    };
    let a = replica_with("a", with_user.clone()).await;
    let want = vec![addr(&a)[7..].to_owned()];
    until("registered with credentials", || {
        etcd.registered("who.rpc") == want
    })
    .await;
    let client = RpcClient::connect_lazy(&RpcClientConf {
        etcd: with_user.clone(),
        ..RpcClientConf::default()
    })
    .unwrap();
    until("discovered with credentials", || {
        client.endpoints() == [addr(&a)]
    })
    .await;
    assert_eq!(who(&client).await.unwrap(), "a");
    // Without them etcd refuses to list: the client learns no endpoint.
    let anonymous = RpcClient::connect_lazy(&RpcClientConf {
        etcd: etcd_conf(&etcd),
        ..RpcClientConf::default()
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(anonymous.endpoints().is_empty());
    a.shutdown();
}

#[tokio::test]
async fn unusable_sections_are_refused_naming_the_key() {
    let conf = RpcServerConf {
        name: "x".into(),
        listen_on: "127.0.0.1:0".into(),
        etcd: EtcdConf {
            hosts: vec!["127.0.0.1:2379".into()],
            ..EtcdConf::default()
        },
        ..RpcServerConf::default()
    };
    let Err(err) = RpcServer::new(conf).listen().await else {
        panic!("a section without Key was accepted");
    };
    assert!(err.to_string().contains("Etcd.Key is empty"), "{err}");
    let err = RpcClient::connect_lazy(&RpcClientConf {
        target: Some("etcd://127.0.0.1:2379".into()),
        ..RpcClientConf::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("etcd://host:port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_discovery_over_tls_with_client_certificates() {
    let pki = Pki::new();
    let etcd = Etcd::start_tls(&pki);
    let tls = EtcdConf {
        ca_cert_file: pki.path("ca.pem"),
        cert_file: pki.path("client.pem"),
        cert_key_file: pki.path("client-key.pem"),
        ..etcd_conf(&etcd)
    };
    let a = replica_with("a", tls.clone()).await;
    let client = RpcClient::connect_lazy(&RpcClientConf {
        etcd: tls.clone(),
        ..RpcClientConf::default()
    })
    .unwrap();
    until("discovered over TLS", || client.endpoints() == [addr(&a)]).await;
    assert_eq!(etcd.registered("who.rpc"), [addr(&a)[7..].to_owned()]);
    assert_eq!(who(&client).await.unwrap(), "a");

    // `InsecureSkipVerify`: no CA named, etcd's certificate is taken as it is.
    let skip = RpcClient::connect_lazy(&RpcClientConf {
        etcd: EtcdConf {
            ca_cert_file: String::new(),
            insecure_skip_verify: true,
            ..tls.clone()
        },
        ..RpcClientConf::default()
    })
    .unwrap();
    until("discovered without verifying", || {
        skip.endpoints() == [addr(&a)]
    })
    .await;

    // Verification is on: a CA that did not sign etcd's certificate, no client certificate
    // (etcd asks for one), or plain gRPC: nothing registers, while a replica with the right
    // keys started at the same moment does.
    let stranger = Pki::new();
    let refused = [
        (
            "who.wrongca",
            EtcdConf {
                ca_cert_file: stranger.path("ca.pem"),
                ..tls.clone()
            },
        ),
        (
            "who.nocert",
            EtcdConf {
                cert_file: String::new(),
                cert_key_file: String::new(),
                ..tls.clone()
            },
        ),
        (
            "who.plain",
            EtcdConf {
                ca_cert_file: String::new(),
                cert_file: String::new(),
                cert_key_file: String::new(),
                ..tls.clone()
            },
        ),
        ("who.control", tls.clone()),
    ];
    let mut replicas = Vec::new();
    for (key, conf) in refused {
        let conf = EtcdConf {
            key: key.into(),
            ..conf
        };
        replicas.push(replica_with(key, conf).await);
    }
    until("the control replica registered", || {
        etcd.registered("who.control").len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for key in ["who.wrongca", "who.nocert", "who.plain"] {
        assert_eq!(etcd.registered(key), Vec::<String>::new(), "{key}");
    }
    for r in replicas {
        r.shutdown();
    }
    a.shutdown();
}

#[tokio::test]
async fn unreadable_tls_files_stop_the_start_naming_the_key() {
    let pki = Pki::new();
    for (conf, want) in [
        (
            EtcdConf {
                ca_cert_file: "/nonexistent/ca.pem".into(),
                ..EtcdConf::default()
            },
            "Etcd.CACertFile: `/nonexistent/ca.pem`",
        ),
        (
            EtcdConf {
                ca_cert_file: pki.path("ca.pem"),
                cert_file: pki.path("client.pem"),
                cert_key_file: pki.path("server-key.pem"),
                ..EtcdConf::default()
            },
            "do not make a key pair",
        ),
        (
            EtcdConf {
                cert_file: pki.path("client.pem"),
                ..EtcdConf::default()
            },
            "Etcd.CertFile and Etcd.CertKeyFile go together",
        ),
    ] {
        let etcd = EtcdConf {
            hosts: vec!["127.0.0.1:2379".into()],
            key: "who.rpc".into(),
            ..conf
        };
        let server = RpcServerConf {
            name: "x".into(),
            listen_on: "127.0.0.1:0".into(),
            etcd: etcd.clone(),
            ..RpcServerConf::default()
        };
        let Err(err) = RpcServer::new(server).listen().await else {
            panic!("started with {etcd:?}");
        };
        assert!(err.to_string().contains(want), "{err}");
        let Err(err) = RpcClient::connect_lazy(&RpcClientConf {
            etcd,
            ..RpcClientConf::default()
        }) else {
            panic!("a client with an unusable Etcd section was built");
        };
        assert!(err.to_string().contains(want), "{err}");
    }
}

//! Server-streaming load for ../stream-vs-bare.sh: opens C concurrent `feed.Feed/Watch` streams
//! (each on its own HTTP/2 connection unless `--one-connection`), each asking for N events, and
//! counts the events received in D seconds. A stream that ends is replaced by a new one until D
//! has passed (`--once`: each stream runs once, and the count stops when all have ended, if that
//! is before D), so the figure is a steady state. Every event's `seq` is checked (0, 1, ...) and
//! every stream's end is tallied (complete, short, or its gRPC error code).
//!
//! Prints one line, the rate first: `812345 msgs/s (4061725 msgs in 5.00 s; streams: ...)`.
//! One tokio thread: the script pins the client to one core.
//!
//! usage: stream-client URL [-c C=8] [-n N=200000] [-d SECS=5] [--once] [--one-connection]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

pub mod feed {
    tonic::include_proto!("feed");
}
use feed::feed_client::FeedClient;
use feed::WatchRequest;

struct Args {
    url: String,
    streams: usize,
    count: i32,
    secs: f64,
    once: bool,
    one_connection: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        streams: 8,
        count: 200_000,
        secs: 5.0,
        once: false,
        one_connection: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-c" => a.streams = value("-c")?.parse().map_err(|e| format!("-c: {e}"))?,
            "-n" => a.count = value("-n")?.parse().map_err(|e| format!("-n: {e}"))?,
            "-d" => a.secs = value("-d")?.parse().map_err(|e| format!("-d: {e}"))?,
            "--once" => a.once = true,
            "--one-connection" => a.one_connection = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if a.url.is_empty() => a.url = s.to_owned(),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    if a.url.is_empty() || a.streams == 0 || a.count <= 0 || a.secs.is_nan() || a.secs <= 0.0 {
        return Err("a URL, C > 0, N > 0 and SECS > 0 are needed".into());
    }
    Ok(a)
}

/// How streams ended.
#[derive(Default)]
struct Ends {
    complete: u64,
    /// Ended OK with fewer events than asked for.
    short: u64,
    /// An event whose `seq` was not the next one.
    bad_seq: u64,
    /// Ended with an error: code -> streams.
    errors: BTreeMap<String, u64>,
}

impl Ends {
    /// Counts a stream that ended (or was refused) with `status`.
    fn error(&mut self, status: &tonic::Status) {
        *self
            .errors
            .entry(format!("{:?}", status.code()))
            .or_default() += 1;
    }
}

/// Reads streams on `client` until `--once`'s single stream has ended (or forever: the caller
/// stops counting at the deadline).
async fn reader(
    mut client: FeedClient<Channel>,
    count: i32,
    once: bool,
    msgs: Arc<AtomicU64>,
    ends: Arc<Mutex<Ends>>,
) {
    loop {
        let mut stream = match client.watch(WatchRequest { count }).await {
            Ok(resp) => resp.into_inner(),
            Err(status) => {
                ends.lock().unwrap().error(&status);
                // A refused call: don't spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
                if once {
                    return;
                }
                continue;
            }
        };
        let mut next = 0i64;
        let mut bad = false;
        loop {
            match stream.message().await {
                Ok(Some(ev)) => {
                    bad |= ev.seq != next;
                    next += 1;
                    msgs.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => {
                    let mut e = ends.lock().unwrap();
                    if bad {
                        e.bad_seq += 1;
                    } else if next == i64::from(count) {
                        e.complete += 1;
                    } else {
                        e.short += 1;
                    }
                    break;
                }
                Err(status) => {
                    ends.lock().unwrap().error(&status);
                    break;
                }
            }
        }
        if once {
            return;
        }
    }
}

/// CPU time (user + system) this process has used, from /proc (USER_HZ is 100 on Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

async fn run(a: Args) -> Result<(), String> {
    let endpoint = Endpoint::from_shared(a.url.clone())
        .map_err(|e| format!("{}: {e}", a.url))?
        .tcp_nodelay(true);
    let mut channels = Vec::new();
    for _ in 0..(if a.one_connection { 1 } else { a.streams }) {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| format!("connecting to {}: {e:?}", a.url))?,
        );
    }
    let msgs = Arc::new(AtomicU64::new(0));
    let ends = Arc::new(Mutex::new(Ends::default()));
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.streams {
        let client = FeedClient::new(channels[i % channels.len()].clone());
        tasks.spawn(reader(client, a.count, a.once, msgs.clone(), ends.clone()));
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs_f64(a.secs), all_done).await;
    let received = msgs.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    let cpu = cpu0.zip(cpu_time()).map(|(a, b)| b - a);
    let open = tasks.len();
    tasks.abort_all();

    let e = ends.lock().unwrap();
    let mut how = format!("{} complete", e.complete);
    if open > 0 {
        how += &format!(", {open} open at the end");
    }
    if e.short > 0 {
        how += &format!(", {} short", e.short);
    }
    if e.bad_seq > 0 {
        how += &format!(", {} out of sequence", e.bad_seq);
    }
    for (code, n) in &e.errors {
        how += &format!(", {n} {code}");
    }
    let cpu = cpu.map_or(String::new(), |c| {
        format!(
            "; client cpu {:.0}%",
            100.0 * c.as_secs_f64() / elapsed.as_secs_f64()
        )
    });
    println!(
        "{:.0} msgs/s ({received} msgs in {:.2} s; streams: {how}{cpu})",
        received as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    if e.bad_seq > 0 || e.short > 0 {
        return Err("some streams were wrong (out of sequence or short)".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("stream-client: {e}");
            }
            eprintln!("usage: stream-client URL [-c C=8] [-n N=200000] [-d SECS=5] [--once] [--one-connection]");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream-client: {e}");
            ExitCode::FAILURE
        }
    }
}

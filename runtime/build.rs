//! Compiles the vendored etcd v3 API (`proto/`) into a tonic client, in-process with protox:
//! a machine without `protoc` builds the runtime (the `etcd-client` crate's build script would
//! need `protoc` on PATH).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["etcd/api/etcdserverpb/rpc.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)?;
    Ok(())
}

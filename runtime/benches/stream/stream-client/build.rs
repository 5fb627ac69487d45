fn main() {
    // No protoc needed: protox parses the proto in-process, as the unary bare-tonic server does.
    let fds = protox::compile(["stream.proto"], [".."]).expect("../stream.proto");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(fds)
        .expect("codegen");
    println!("cargo:rerun-if-changed=../stream.proto");
}

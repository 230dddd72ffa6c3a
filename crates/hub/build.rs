//! Compiles the Yandex-compatible `.proto` files under `proto/` with protox (no `protoc`
//! needed) into tonic servers and prost messages.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/yandex/cloud/containerregistry/v1/scanner_service.proto",
        "proto/yandex/cloud/containerregistry/v1/image_service.proto",
        "proto/yandex/cloud/operation/operation_service.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

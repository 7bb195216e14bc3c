//! Compiles every .proto under `yiwang/` with protox (pure Rust, no system protoc) and
//! writes the descriptor set next to the generated code for gRPC reflection.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    collect(&root.join("yiwang"), &mut files)?;
    files.sort();
    // The directory too, so that a new .proto file is noticed.
    println!("cargo:rerun-if-changed={}", root.join("yiwang").display());
    println!("cargo:rerun-if-changed={}", root.join("google").display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let fds = compiler.file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Encoded by protox itself: prost's `FileDescriptorSet` drops unknown fields, and the
    // options' extensions (`google.api.http`, `yiwang.api.v1.rest`) are exactly those.
    std::fs::write(
        out.join("yiwang_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    // One JSON convention for every package: the proto3 mapping the gateway applies through
    // the descriptors (prost-reflect), so the generated Rust types carry no serde of their own.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}

fn collect(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

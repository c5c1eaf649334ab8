//! Link-time set-up for libtorch (see README "Building" and shared DESIGN.md §2).
//!
//! torch-sys (`links = "tch"`) tells dependants where libtorch's shared libraries are through
//! `DEP_TCH_LIBTORCH_LIB`. We embed that folder as an rpath so `cargo run`, `cargo test` and the
//! built binaries find libtorch without `LD_LIBRARY_PATH`. When the folder holds the CUDA build
//! (`libtorch_cuda.so`), we link `libtorch.so` with `--no-as-needed`: rustc links with `--as-needed`,
//! which would drop the CUDA libraries (nothing references them by symbol) and `tch::Cuda::is_available()`
//! would then be false even on a machine with a GPU.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=torch-sys did not report libtorch's folder; binaries may need LD_LIBRARY_PATH"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

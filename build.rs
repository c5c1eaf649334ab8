//! Link-time set-up for libtorch (see README "Building" and shared DESIGN.md §2).
//!
//! torch-sys (`links = "tch"`) tells dependants where libtorch's shared libraries are through
//! `DEP_TCH_LIBTORCH_LIB`. We embed that folder as an rpath so `cargo run`, `cargo test` and the
//! built binaries find libtorch without `LD_LIBRARY_PATH`, and pass it to the code as
//! `VITSCOPE_LIBTORCH_LIB`.
//!
//! The CUDA part of libtorch (`libtorch_cuda.so`, which maps cuBLAS, cuDNN and NCCL: ~0.5 s and ~450 MB at
//! every start) is deliberately *not* linked: rustc's `--as-needed` drops it anyway, and
//! `model::device` loads it with `dlopen(RTLD_GLOBAL)` only when CUDA is asked for or a GPU driver is present,
//! before the first CUDA call (as pytorch/pytorch#148770 does). A CPU machine never maps the CUDA stack.
use std::path::Path;

/// A digest of every file under src/, so the `vitscope` launcher can tell when the `vitscope-engine` next to it
/// was built from other sources (`cargo run` rebuilds only the launcher).
fn source_id() -> u64 {
    use std::hash::{Hash, Hasher};
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, files);
            } else {
                files.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new("src"), &mut files);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=VITSCOPE_SOURCE_ID={:016x}", source_id());
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=torch-sys did not report libtorch's folder; binaries may need LD_LIBRARY_PATH"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=VITSCOPE_LIBTORCH_LIB={lib}");
    if !Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!(
            "cargo:warning=libtorch at {lib} has no CUDA part: vitscope will run on the CPU only"
        );
    }
}

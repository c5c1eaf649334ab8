//! The fuzz binaries link libtorch (checkpoints become tensors); an rpath lets them run without
//! LD_LIBRARY_PATH, as the main crate's build.rs does for its own binaries.
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}

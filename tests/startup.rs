//! Start-up: the CUDA part of libtorch is loaded only when CUDA is asked for or a GPU driver is present, so a
//! CPU machine never maps the CUDA stack (cuBLAS, cuDNN, NCCL); on a GPU machine `auto` finds the GPU.
mod common;

use vitscope::model::device::{gpu_driver_present, library_mapped};
use vitscope::model::{Checkpoint, DeviceChoice, Vit};

#[test]
fn the_cuda_stack_is_mapped_only_where_there_is_a_gpu() {
    let device = DeviceChoice::Auto.resolve().unwrap();
    // a whole forward pass on the resolved device
    let ckpt = Checkpoint::read(&common::fixture("dinov2_tiny")).unwrap();
    let vit = Vit::from_checkpoint(&ckpt, device).unwrap();
    let img = image::RgbImage::from_pixel(24, 24, image::Rgb([120, 60, 30]));
    let run =
        vitscope::engine::forward(&vit, &img, vitscope::model::InputSize::Shorter(24)).unwrap();
    assert_eq!(run.capture.attentions.len(), 3);
    if gpu_driver_present() {
        assert!(
            library_mapped("libtorch_cuda"),
            "a GPU machine must load CUDA"
        );
        assert!(
            matches!(device, tch::Device::Cuda(_)),
            "auto chose {device:?}"
        );
    } else {
        assert_eq!(device, tch::Device::Cpu);
        for lib in ["libtorch_cuda", "libcublas", "libcudnn", "libnccl"] {
            assert!(
                !library_mapped(lib),
                "{lib} is mapped on a machine without a GPU"
            );
        }
        assert!(library_mapped("libtorch_cpu"), "the maps are read");
    }
}

/// `vitscope doctor` runs the app's worker headless and says what the machine has. On a CPU machine the
/// CUDA stack stays unmapped under `auto`, and `--device cuda` loads libtorch's CUDA part (the first half of
/// the GPU path, provable here) before saying there is no GPU.
#[test]
fn doctor_reports_the_devices_and_runs_the_worker() {
    let tiny = common::fixture("dinov2_tiny").display().to_string();
    let r = common::vitscope(&["doctor", "--model", &tiny, "--size", "24"]);
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{e}");
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["worker"]["input_hw"], serde_json::json!([24, 36]));
    assert!(v["worker"]["forward_ms"].as_f64().unwrap() > 0.0);
    if gpu_driver_present() {
        assert_eq!(v["worker"]["device"], "cuda:0", "{v}");
        return;
    }
    assert_eq!(v["worker"]["device"], "cpu");
    assert_eq!(v["cuda_stack_mapped"], false, "{v}");
    let r = common::vitscope(&[
        "doctor", "--model", &tiny, "--size", "24", "--device", "cuda",
    ]);
    assert!(!r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["libtorch_cuda_loaded"], true, "{v}");
    assert_eq!(v["cuda_available"], false);
    assert!(
        v["worker"]["error"]
            .as_str()
            .unwrap()
            .contains("CUDA was requested")
    );
}

/// `vitscope` is a launcher that links no libtorch: help, version and usage errors come back in
/// milliseconds, with the engine's own texts; everything else runs in `vitscope-engine`.
#[test]
fn the_launcher_answers_help_without_libtorch() {
    let launcher = env!("CARGO_BIN_EXE_vitscope");
    let engine = env!("CARGO_BIN_EXE_vitscope-engine");
    // the dynamic loader lists what each binary maps, without running it
    let libs = |bin: &str| {
        let out = std::process::Command::new(bin)
            .env("LD_TRACE_LOADED_OBJECTS", "1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (l, e) = (libs(launcher), libs(engine));
    assert!(e.contains("libtorch_cpu"), "the engine links libtorch: {e}");
    assert!(!l.contains("libtorch") && !l.contains("libc10"), "{l}");
    for args in [
        vec!["--help"],
        vec!["export", "--help"],
        vec!["distance", "-h"],
        vec!["--version"],
        vec!["export", "--bogus"],
        vec!["dump", "--size", "abc", "--out", "x"],
    ] {
        let run = |bin: &str| {
            std::process::Command::new(bin)
                .args(&args)
                .output()
                .unwrap()
        };
        let (a, b) = (run(launcher), run(engine));
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        assert_eq!(text(&a.stdout), text(&b.stdout), "{args:?}");
        assert_eq!(text(&a.stderr), text(&b.stderr), "{args:?}");
    }
    let bad = common::vitscope(&["dump", "--size", "abc", "--out", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid input size"));
}

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
    let run = vitscope::engine::forward(&vit, &img, vitscope::model::InputSize::Shorter(24)).unwrap();
    assert_eq!(run.capture.attentions.len(), 3);
    if gpu_driver_present() {
        assert!(library_mapped("libtorch_cuda"), "a GPU machine must load CUDA");
        assert!(matches!(device, tch::Device::Cuda(_)), "auto chose {device:?}");
    } else {
        assert_eq!(device, tch::Device::Cpu);
        for lib in ["libtorch_cuda", "libcublas", "libcudnn", "libnccl"] {
            assert!(!library_mapped(lib), "{lib} is mapped on a machine without a GPU");
        }
        assert!(library_mapped("libtorch_cpu"), "the maps are read");
    }
}

//! Which device the model runs on.
use serde::{Deserialize, Serialize};
use tch::Device;

use super::error::{ModelError, Result};

/// The user's device choice: CUDA when available (default), or forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto if gpu_driver_present() && load_cuda() => {
                Ok(Device::cuda_if_available())
            }
            DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if load_cuda() && tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => Err(ModelError::NoCuda),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        }
    }
}

/// Whether an NVIDIA driver is loaded (the cheap check made before any CUDA library is touched).
pub fn gpu_driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
}

/// Load libtorch's CUDA part once (`dlopen` with `RTLD_GLOBAL`, so its kernels and hooks register with
/// libtorch), from the library search path (`LD_LIBRARY_PATH`, the binary's rpath) or the libtorch folder
/// vitscope was built against. Returns whether it is loaded. Called only when CUDA is asked for or a GPU
/// driver is present: a CPU machine never maps the CUDA stack.
pub fn load_cuda() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        let built = option_env!("VITSCOPE_LIBTORCH_LIB")
            .map(|d| format!("{d}/libtorch_cuda.so"))
            .unwrap_or_default();
        ["libtorch_cuda.so".to_string(), built]
            .iter()
            .filter(|p| !p.is_empty())
            .any(|p| {
                let Ok(name) = std::ffi::CString::new(p.as_str()) else {
                    return false;
                };
                // SAFETY: dlopen with a valid C string; the handle is kept for the life of the process.
                !unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) }
                    .is_null()
            })
    })
}

/// Whether a library whose file name contains `needle` is mapped into this process.
pub fn library_mapped(needle: &str) -> bool {
    std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains(needle))
}

/// A short name of a device: `cpu`, `cuda:0`.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The precision weights and activations are kept in. Softmax is always computed in f32 and attention is
/// always captured as f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
}

impl Precision {
    pub fn kind(self) -> tch::Kind {
        match self {
            Precision::F32 => tch::Kind::Float,
            Precision::F16 => tch::Kind::Half,
            Precision::Bf16 => tch::Kind::BFloat16,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Bf16];
}

/// Memory the system can give without swapping (`MemAvailable` in /proc/meminfo), in bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

//! The model layer: tch only, never egui. Checkpoint reading and validation, configuration, the
//! ViT forward pass with attention capture, preprocessing, device choice.
pub mod checkpoint;
pub mod config;
mod config_files;
pub mod device;
pub mod error;
pub mod hub;
mod infer;
pub mod input_size;
pub mod intervention;
pub mod layout;
pub mod naming;
pub mod preprocess;
pub mod source;
pub mod store;
pub mod swin;
pub mod vit;
mod weights_file;

pub use checkpoint::Checkpoint;
pub use config::{Activation, Family, Pool, VitConfig};
pub use device::{DeviceChoice, Precision, device_name};
pub use error::{ModelError, Result};
pub use intervention::{Ablation, Fill, Intervention};
pub use layout::{PrefixToken, TokenLayout};
pub use preprocess::InputSize;
pub use source::ModelSource;
pub use store::{AttentionStore, QueryKeys};
pub use vit::{Capture, GradTarget, Vit};

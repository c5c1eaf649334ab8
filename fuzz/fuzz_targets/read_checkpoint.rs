//! Checkpoint reading: any bytes must parse and validate into a model configuration or give an error;
//! never panic, hang or allocate more than the file's tensors.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vitscope::model::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(ckpt) = Checkpoint::from_bytes(data, std::path::Path::new("fuzz.safetensors")) else {
        return;
    };
    if let Ok(cfg) = ckpt.unvalidated_config() {
        if ckpt.validate(&cfg).is_ok() {
            // A checkpoint that validates must also build (shapes agree with the config).
            let _ = vitscope::model::Vit::from_checkpoint(&ckpt, tch::Device::Cpu);
        }
    }
});

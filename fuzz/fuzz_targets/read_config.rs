//! config.json: any text must give a configuration or an error for the tiny DINOv2 weights; never panic
//! (an overflow on a huge number included), hang or wrap a value silently.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vitscope::model::Checkpoint;
use vitscope::model::checkpoint::parse_json;

static WEIGHTS: &[u8] = include_bytes!("../../tests/fixtures/dinov2_tiny/model.safetensors");

fuzz_target!(|data: &[u8]| {
    static CKPT: OnceLock<std::sync::Mutex<Checkpoint>> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(json) = parse_json(text) else {
        return;
    };
    let ckpt = CKPT.get_or_init(|| {
        std::sync::Mutex::new(
            Checkpoint::from_bytes(WEIGHTS, std::path::Path::new("tiny/model.safetensors")).unwrap(),
        )
    });
    let mut ckpt = ckpt.lock().unwrap();
    ckpt.config = Some(json);
    if let Ok(cfg) = ckpt.unvalidated_config() {
        // what the config says and the weights hold must agree, or validation says so
        let _ = ckpt.validate(&cfg);
        assert!(cfg.num_attention_heads >= 1 && cfg.hidden_size % cfg.num_attention_heads == 0);
    }
});

//! A sharded checkpoint's index (model.safetensors.index.json): any text gives shards of plain file names
//! or an error; never a path outside the index's folder, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vitscope::model::checkpoint::parse_index;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(shards) = parse_index(text) {
        for (file, names) in &shards {
            assert!(!file.contains('/') && !file.contains('\\') && file != ".." && !names.is_empty());
        }
    }
});

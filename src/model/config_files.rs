//! The JSON files next to the weights: `config.json`, `preprocessor_config.json`, and a sharded checkpoint's
//! `model.safetensors.index.json`. Only regular files are read; one that is there but unreadable is an error.
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::error::{ModelError, Result};

/// Largest config file read.
pub(super) const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// A JSON config file next to the weights: `None` when there is none; an error naming it when something is
/// there but cannot be read (a folder, a FIFO, a link to a missing blob in a Hugging Face cache) — a config that
/// is silently skipped would leave the head count to a guess.
pub(super) fn read_json(path: &Path) -> Result<Option<Value>> {
    if !crate::files::is_present(path) {
        return Ok(None);
    }
    let text = crate::files::read_regular_text(path, MAX_CONFIG_BYTES).map_err(|source| {
        ModelError::Io {
            path: path.into(),
            source,
        }
    })?;
    parse_json(&text)
        .map(Some)
        .map_err(|reason| ModelError::Config {
            path: path.into(),
            reason,
        })
}

/// Parse a config file's text (the fuzz target's entry point): JSON, and an object at the top.
pub fn parse_json(text: &str) -> std::result::Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("the top level is not a JSON object".into());
    }
    Ok(v)
}

/// The index of a sharded checkpoint, as the Hugging Face hub stores every large model.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Whether a file is named like a shard (`model-00001-of-00003.safetensors`).
pub(super) fn is_shard_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.strip_suffix(".safetensors")
        .and_then(|s| s.rsplit_once("-of-"))
        .is_some_and(|(a, b)| {
            b.chars().all(|c| c.is_ascii_digit())
                && a.rsplit_once('-')
                    .is_some_and(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
        })
}

/// Which shard holds each tensor, read from a sharded checkpoint's index (`weight_map`), grouped by shard
/// (shards in name order, tensors sorted). Shard names must be plain file names in the index's folder.
pub fn parse_index(text: &str) -> std::result::Result<BTreeMap<String, Vec<String>>, String> {
    let v = parse_json(text)?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or("there is no \"weight_map\" object naming each tensor's shard")?;
    if map.is_empty() {
        return Err("its weight_map names no tensor".into());
    }
    let mut shards: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| format!("the shard of {name} is not a file name"))?;
        let plain = !file.is_empty()
            && file != "."
            && file != ".."
            && !file.contains(['/', '\\', '\0'])
            && file.ends_with(".safetensors");
        if !plain {
            return Err(format!(
                "the shard of {name} is {file:?}; shards must be .safetensors files in the index's own folder"
            ));
        }
        shards
            .entry(file.to_string())
            .or_default()
            .push(name.clone());
    }
    for names in shards.values_mut() {
        names.sort();
    }
    Ok(shards)
}

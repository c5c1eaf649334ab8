#![allow(dead_code)]
//! Shared helpers for integration tests.
pub mod corpus;
pub mod hub;
pub mod ui;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use tch::{Device, Kind, Tensor};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The built-in model folder; the test command's set-up installs it. Failing (not skipping) when it is
/// absent keeps the parity test honest.
pub fn builtin_model() -> PathBuf {
    let p = root().join("models/dinov2-small-imgfocus");
    assert!(
        p.join("model.safetensors").is_file(),
        "built-in model missing: run scripts/setup.sh (the README's test command does)"
    );
    p
}

/// All tensors of a safetensors file as (shape, f32 values), and its metadata.
pub fn read_f32(
    path: &Path,
) -> (
    HashMap<String, (Vec<usize>, Vec<f32>)>,
    HashMap<String, String>,
) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(name, (view.shape().to_vec(), v));
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).expect("metadata");
    (out, meta.metadata().clone().unwrap_or_default())
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A CPU tensor of `shape` from row-major values.
pub fn tensor(shape: &[usize], v: &[f32]) -> Tensor {
    let s: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(v).reshape(s)
}

/// A tensor's values as row-major f32.
pub fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .flatten(0, -1),
    )
    .unwrap()
}

/// Read a `.npy` file: (descr, shape, values as f32).
pub fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "{}", path.display());
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    let descr = header
        .split("'descr': '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    let dims = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = dims
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = &b[10 + hlen..];
    let values: Vec<f32> = match descr.as_str() {
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        "|u1" => data.iter().map(|v| *v as f32).collect(),
        d => panic!("unexpected dtype {d}"),
    };
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (descr, shape, values)
}

/// Run the vitscope binary with `args`.
pub fn vitscope(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vitscope"))
        .args(args)
        .output()
        .expect("run vitscope")
}

/// A clean failure: non-zero exit, one stderr line naming `needle`, no panic text.
pub fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    assert_clean_failure_of(out, "", needle)
}

/// [`assert_clean_failure`], naming `what` failed in the messages.
pub fn assert_clean_failure_of(out: &std::process::Output, what: &str, needle: &str) {
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} should fail: {e}");
    assert!(e.contains(needle), "{what}: stderr lacks {needle:?}: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("RUST_BACKTRACE"),
        "{what}: panic: {e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{what}: one line: {e}");
}

/// The tiny DINOv2 fixture as a sharded checkpoint in `sharded`: its config.json, three shards
/// `model-0000N-of-00003.safetensors` and `model.safetensors.index.json`.
pub fn shard_tiny(sharded: &Path) {
    let (tensors, _) = read_f32(&fixture("dinov2_tiny/model.safetensors"));
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    std::fs::create_dir_all(sharded).unwrap();
    std::fs::copy(
        fixture("dinov2_tiny/config.json"),
        sharded.join("config.json"),
    )
    .unwrap();
    let mut weight_map = serde_json::Map::new();
    for (i, chunk) in names.chunks(names.len().div_ceil(3)).enumerate() {
        let file = format!("model-{:05}-of-00003.safetensors", i + 1);
        let part: Vec<(String, Vec<usize>, Vec<f32>)> = chunk
            .iter()
            .map(|n| {
                let (shape, v) = &tensors[*n];
                ((*n).clone(), shape.clone(), v.clone())
            })
            .collect();
        write_f32(&sharded.join(&file), &part);
        for n in chunk {
            weight_map.insert((*n).clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
}

/// Write f32 tensors `(name, shape, values)` as a safetensors file.
pub fn write_f32(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// The first PNG an SVG embeds (`xlink:href="data:image/png;base64,…"`), decoded.
#[allow(dead_code)]
pub fn first_embedded_png(svg: &str) -> image::RgbImage {
    use base64::Engine as _;
    let b64 = svg
        .split("base64,")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an embedded PNG");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    image::load_from_memory(&bytes).expect("a PNG").to_rgb8()
}

//! vitscope's side of the end-to-end benchmark (`bash scripts/bench.sh` runs it against
//! benches/python_reference.py and prints the table). One case per process:
//!
//! ```text
//! cargo bench --bench end_to_end -- CASE MODEL_DIR IMAGE OUT_DIR RUNS [STORE]
//! ```
//! CASE is `dinov2-S` or `vitb16-S` (S: the square input side). Each run, timed from the image file to the
//! last PNG, does what the Python pipeline does: decode; preprocess and forward with every layer's
//! attention captured; every layer × head CLS map; rollout from CLS (head mean, residual 0.5); mean
//! attention distance and entropy per layer and head; every layer × head map as a PNG over the photo
//! (viridis, opacity 0.6, at the photo's resolution; PNGs are encoded on all cores). The model is loaded
//! once, before timing (as in Python). Prints one JSON line with the median of each stage and peak RSS.
//! STORE is how the capture keeps the attention (`f32`, the default, `f16`, `bf16` or `query-keys`; see
//! `vitscope::model::AttentionStore`); the last run's CLS rows, rollout, distances and entropies are written
//! to OUT_DIR/values-STORE.f32 (little-endian f32, in that order) so that stores can be compared.
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::ValueEnum;
use vitscope::analysis::{
    HeadSel, PrefixConvention, QueryRows, RolloutOptions, head_stats, rollout,
};
use vitscope::engine::forward_stored;
use vitscope::export::png_file::write_png;
use vitscope::model::preprocess::load_image;
use vitscope::model::{AttentionStore, Checkpoint, InputSize, Vit};
use vitscope::render::{Colormap, Upsample, overlay};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Peak resident memory of this process (VmHWM), MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn write_all(photo: &image::RgbImage, rows: &QueryRows, out: &Path) {
    let jobs: Vec<(usize, usize)> = (0..rows.layers)
        .flat_map(|l| (0..rows.heads).map(move |h| (l, h)))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for chunk in jobs.chunks(jobs.len().div_ceil(threads)) {
            s.spawn(move || {
                for &(l, h) in chunk {
                    let map = rows.patch_map(l, HeadSel::Head(h));
                    let img = overlay(photo, &map, Colormap::Viridis, 0.6, Upsample::Bilinear);
                    let path = out.join(format!("L{l:02}_h{h}.png"));
                    write_png(&path, &img, &[], true).expect("write png");
                }
            });
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (store, args) = match &args[..] {
        [a @ .., s] if a.len() == 5 => (
            AttentionStore::from(vitscope::cli::AttentionArg::from_str(s, true).expect("STORE")),
            a,
        ),
        a => (AttentionStore::F32, a),
    };
    let [case, model_dir, image, out_dir, runs] = args else {
        eprintln!("usage: end_to_end CASE MODEL_DIR IMAGE OUT_DIR RUNS [STORE]");
        std::process::exit(2);
    };
    let side: usize = case
        .split('-')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("CASE like dinov2-224");
    let runs: usize = runs.parse().expect("RUNS");
    let out = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out).unwrap();
    let ckpt = Checkpoint::read(Path::new(model_dir)).expect("model");
    let vit = Vit::from_checkpoint(&ckpt, tch::Device::Cpu).expect("model");
    let size = InputSize::Exact { h: side, w: side };
    let names = [
        "total", "decode", "forward", "maps", "rollout", "distance", "png",
    ];
    let mut stages: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut tokens = 0;
    let mut values: Vec<f32> = Vec::new();
    let mut parts = String::new();
    for i in 0..=runs {
        let t0 = Instant::now();
        let photo = load_image(Path::new(image)).expect("image").rgb;
        let t1 = Instant::now();
        let run = forward_stored(&vit, &photo, size, store).expect("forward");
        let t2 = Instant::now();
        let cap = &run.capture;
        let cls = cap.layout.default_query();
        let rows = QueryRows::from_attentions(cap.source(), &cap.layout, cls).expect("rows");
        let t3 = Instant::now();
        let roll = rollout(cap.source(), &cap.layout, cls, &RolloutOptions::default()).unwrap();
        let t4 = Instant::now();
        let stats = head_stats(cap.source(), &cap.layout, PrefixConvention::Renormalise).unwrap();
        let t5 = Instant::now();
        write_all(&photo, &rows, &out);
        let t6 = Instant::now();
        tokens = cap.layout.num_tokens();
        let f = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<_>>();
        let all = [
            ("rows", rows.data.clone()),
            ("rollout", roll.values.clone()),
            ("distance", f(&stats.distance_px)),
            ("entropy", f(&stats.entropy)),
        ];
        parts = all
            .iter()
            .map(|(k, v)| format!("\"{k}\": {}", v.len()))
            .collect::<Vec<_>>()
            .join(", ");
        values = all.into_iter().flat_map(|(_, v)| v).collect();
        if i == 0 {
            continue; // warm-up
        }
        let marks = [t0, t1, t2, t3, t4, t5, t6];
        stages[0].push((t6 - t0).as_secs_f64() * 1e3);
        for k in 1..names.len() {
            stages[k].push((marks[k] - marks[k - 1]).as_secs_f64() * 1e3);
        }
    }
    let mut json = String::from("{");
    for (name, v) in names.iter().zip(&mut stages) {
        json.push_str(&format!("\"{name}\": {:.3}, ", median(v)));
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let values_file = out.join(format!("values-{}.f32", store.label()));
    std::fs::write(&values_file, bytes).expect("write values");
    json.push_str(&format!(
        "\"peak_rss_mb\": {:.1}, \"threads\": {}, \"tokens\": {tokens}, \"store\": \"{}\", \"values\": {:?}, \"parts\": {{{parts}}}}}",
        peak_rss_mb(),
        tch::get_num_threads(),
        store.label(),
        values_file.display().to_string(),
    ));
    println!("{json}");
}

//! Timings of every analysis method on the built-in DINOv2 ViT-S/14 (12 layers, 6 heads), on the CPU and on
//! CUDA when libtorch sees a GPU:
//!
//! ```text
//! cargo bench --bench analysis                    # 224×224 (257 tokens) and 518×518 (1370 tokens)
//! VITSCOPE_BENCH_IMAGE=path cargo bench --bench analysis
//! ```
//! Attention flow is also timed at 196×196, where the model has 197 tokens and 12 layers: the size of a
//! ViT-B/16 at 224 (the ≤ 10 s target). At 518 one max-flow per input token is too slow to run in full, so
//! flow is timed on 16 input tokens and extrapolated (stated in the output).
//! Each figure is the median of several runs after one warm-up run; CUDA timings synchronise the device.
use std::path::PathBuf;
use std::time::Instant;

use tch::Device;
use vitscope::analysis::*;
use vitscope::engine::forward;
use vitscope::model::{Checkpoint, GradTarget, InputSize, Precision, Vit, preprocess::load_image};

fn sync(d: Device) {
    if let Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Median wall time of `runs` runs after a warm-up, in milliseconds.
fn time<T>(d: Device, runs: usize, mut f: impl FnMut() -> T) -> f64 {
    f();
    sync(d);
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            sync(d);
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let image = std::env::var("VITSCOPE_BENCH_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("assets/chelsea.png"));
    let img = load_image(&image).expect("bench image").rgb;
    let ckpt = Checkpoint::read(&root.join("models/dinov2-small-imgfocus"))
        .expect("built-in model: run scripts/setup.sh");
    let mut devices = vec![Device::Cpu];
    if vitscope::model::device::load_cuda() && tch::Cuda::is_available() {
        devices.push(Device::Cuda(0));
    }
    println!(
        "vitscope analysis bench: built-in DINOv2 ViT-S/14, image {}, {} CPU threads (libtorch {})",
        image.display(),
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        tch::get_num_threads()
    );
    println!("| device | input | tokens | method | ms |");
    println!("|---|---|---|---|---|");
    for &dev in &devices {
        let vit = Vit::load(&ckpt, dev, Precision::F32).expect("load");
        for side in [196usize, 224, 518] {
            let size = InputSize::Exact { h: side, w: side };
            let run = forward(&vit, &img, size).expect("forward");
            let cap = &run.capture;
            let lay = &cap.layout;
            let n = lay.num_tokens();
            let row = |m: &str, ms: f64| {
                println!(
                    "| {} | {side}x{side} | {n} | {m} | {ms:.1} |",
                    vitscope::model::device_name(dev)
                )
            };
            let o = RolloutOptions::default();
            if side == 196 {
                row(
                    "attention flow, CLS, all 197 input tokens (ViT-B/16-sized graph)",
                    time(dev, 3, || {
                        attention_flow(&cap.attentions, lay, 0, &o).unwrap()
                    }),
                );
                continue;
            }
            let runs = if side == 518 { 3 } else { 7 };
            row(
                "forward (capture all attention)",
                time(dev, runs, || forward(&vit, &img, size).unwrap()),
            );
            row(
                "attention rows of one query",
                time(dev, runs, || {
                    QueryRows::from_attentions(&cap.attentions, lay, 0).unwrap()
                }),
            );
            row(
                "rollout (mean, alpha 0.5)",
                time(dev, runs, || rollout(&cap.attentions, lay, 0, &o).unwrap()),
            );
            let od = RolloutOptions {
                fusion: HeadFusion::Max,
                discard_ratio: 0.9,
                ..o
            };
            row(
                "rollout (max, discard 0.9)",
                time(dev, runs, || rollout(&cap.attentions, lay, 0, &od).unwrap()),
            );
            if side == 224 {
                row(
                    "attention flow (CLS, every input token)",
                    time(dev, 1, || {
                        attention_flow(&cap.attentions, lay, 0, &o).unwrap()
                    }),
                );
            } else {
                // Time the transitions plus 16 max-flows, extrapolate the max-flows to every token.
                let mats: Vec<Vec<f64>> = rollout::transitions(&cap.attentions, &o)
                    .unwrap()
                    .iter()
                    .map(|t| {
                        rollout::to_vec_f32(t)
                            .unwrap()
                            .into_iter()
                            .map(f64::from)
                            .collect()
                    })
                    .collect();
                let g = flow::LayeredGraph::from_transitions(&mats, n).unwrap();
                let s = Instant::now();
                for j in 0..16 {
                    std::hint::black_box(g.max_flow(j * (n / 16), 0));
                }
                let per = s.elapsed().as_secs_f64() * 1e3 / 16.0;
                let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
                row(
                    &format!(
                        "attention flow (ESTIMATE: {per:.0} ms per max-flow x {n} tokens / {threads} threads)"
                    ),
                    per * n as f64 / threads as f64,
                );
            }
            let target =
                GradTarget::Similarity(lay.token_of_patch(lay.grid_h / 2, lay.grid_w / 2).unwrap());
            row(
                "forward + backward for gradients",
                time(dev, runs, || {
                    vit.forward_with_gradients(&run.input, &target, &Default::default())
                        .unwrap()
                }),
            );
            let (gcap, grads, _) = vit
                .forward_with_gradients(&run.input, &target, &Default::default())
                .unwrap();
            row(
                "relevance (Chefer), after gradients",
                time(dev, runs, || {
                    relevance(&gcap.attentions, &grads, lay, 0).unwrap()
                }),
            );
            row(
                "gradient rollout, after gradients",
                time(dev, runs, || {
                    grad_rollout(&gcap.attentions, &grads, lay, 0, &o).unwrap()
                }),
            );
            drop((gcap, grads));
            row(
                "mean attention distance + entropy",
                time(dev, runs, || {
                    head_stats(&cap.attentions, lay, PrefixConvention::Renormalise).unwrap()
                }),
            );
            row(
                "DINO masks (last layer, tau 0.6)",
                time(dev, runs, || {
                    dino_masks(&cap.attentions[11], lay, 0, 0.6).unwrap()
                }),
            );
            row(
                "token norms + prefix mass",
                time(dev, runs, || {
                    (
                        token_norms(&cap.hidden_states, lay).unwrap(),
                        prefix_mass(&cap.attentions, lay).unwrap(),
                    )
                }),
            );
            let p = lay.num_prefix() as i64;
            let feats = cap.last_hidden_state.narrow(0, p, lay.num_patches() as i64);
            row(
                "feature PCA (last layer, fg 0.5)",
                time(dev, runs, || {
                    feature_pca(
                        &[(feats.shallow_clone(), lay.grid_h, lay.grid_w)],
                        Some(0.5),
                    )
                    .unwrap()
                }),
            );
            row(
                "position-embedding similarity (input grid)",
                time(dev, runs, || {
                    position_similarity(&vit, Some((lay.grid_h, lay.grid_w))).unwrap()
                }),
            );
            if side == 224 {
                row(
                    "patch-embedding PCA (28 components)",
                    time(dev, runs, || patch_filter_components(&vit, 28).unwrap()),
                );
            }
        }
    }
}

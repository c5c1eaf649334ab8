//! Numerical parity with PyTorch (transformers 4.57.1, eager attention); fixtures from
//! tests/fixtures/generate.py.
mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use vitscope::model::{Checkpoint, InputSize, Vit, preprocess};

#[test]
fn tiny_dinov2_matches_transformers_at_a_non_square_interpolated_input() {
    let ckpt = Checkpoint::read(&fixture("dinov2_tiny")).unwrap();
    let vit = Vit::from_checkpoint(&ckpt, Device::Cpu).unwrap();
    assert_eq!(vit.config.pos_grid, (6, 6));
    assert_eq!(
        vit.config.num_attention_heads, 4,
        "heads come from config.json"
    );
    assert!(vit.config.inferred.iter().all(|s| !s.contains("heads")));
    let (r, _) = read_f32(&fixture("dinov2_tiny/reference.safetensors"));
    let (shape, input) = &r["input"];
    assert_eq!(shape, &vec![1, 3, 20, 32]);
    let cap = vit.forward(&tensor(shape, input)).unwrap();
    assert_eq!(
        (cap.layout.grid_h, cap.layout.grid_w),
        (5, 8),
        "5x8 grid interpolated from 6x6"
    );
    assert_eq!(cap.attentions.len(), 3);
    for (l, a) in cap.attentions.iter().enumerate() {
        let (ref_shape, reference) = &r[&format!("attention.{l}")];
        assert_eq!(
            a.size(),
            ref_shape.iter().map(|&d| d as i64).collect::<Vec<_>>()
        );
        let d = max_abs_diff(&to_vec(a), reference);
        assert!(d <= 1e-5, "layer {l}: max |diff| = {d}");
    }
    let (_, hidden) = &r["last_hidden_state"];
    let d = max_abs_diff(&to_vec(&cap.last_hidden_state), hidden);
    assert!(d <= 1e-4, "last hidden state: max |diff| = {d}");
}

#[test]
fn attention_rows_sum_to_one_and_shapes_follow_the_layout() {
    let ckpt = Checkpoint::read(&fixture("dinov2_tiny")).unwrap();
    let vit = Vit::from_checkpoint(&ckpt, Device::Cpu).unwrap();
    for (h, w) in [(24, 24), (8, 44), (40, 12)] {
        let x = Tensor::randn([1, 3, h, w], (Kind::Float, Device::Cpu));
        let cap = vit.forward(&x).unwrap();
        let n = 1 + (h / 4) * (w / 4);
        assert_eq!(cap.layout.num_tokens() as i64, n);
        for a in &cap.attentions {
            assert_eq!(a.size(), vec![4, n, n]);
            let sums = to_vec(&a.sum_dim_intlist([-1i64].as_slice(), false, Kind::Float));
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
            assert!(to_vec(a).iter().all(|&p| (0.0..=1.0).contains(&p)));
        }
    }
}

#[test]
fn builtin_dinov2_matches_transformers_on_chelsea() {
    let ckpt = Checkpoint::read(&builtin_model()).unwrap();
    let vit = Vit::from_checkpoint(&ckpt, Device::Cpu).unwrap();
    assert_eq!(
        vit.num_parameters, 22_056_192,
        "DINOv2 ViT-S/14 without the unused mask token"
    );
    assert_eq!(
        (
            vit.config.num_hidden_layers,
            vit.config.num_attention_heads,
            vit.config.hidden_size
        ),
        (12, 6, 384)
    );
    let img = preprocess::load_image(&fixture("builtin/chelsea_224x336.png"))
        .unwrap()
        .rgb;
    let (h, w) = InputSize::Shorter(224)
        .resolve(img.width(), img.height(), 14)
        .unwrap();
    assert_eq!(
        (h, w),
        (224, 336),
        "the fixture is already at the input size: no resampling"
    );
    let x = preprocess::normalize(&img, vit.config.image_mean, vit.config.image_std);
    let cap = vit
        .forward(&Tensor::from_slice(&x).reshape([1, 3, 224, 336]))
        .unwrap();
    let (r, _) = read_f32(&fixture("builtin/reference.safetensors"));
    let (cls_shape, cls_ref) = &r["cls_attention"];
    assert_eq!(cls_shape, &vec![12, 6, 385]);
    let cls: Vec<f32> = cap
        .attentions
        .iter()
        .flat_map(|a| to_vec(&a.select(1, 0)))
        .collect();
    let d = max_abs_diff(&cls, cls_ref);
    assert!(d <= 1e-5, "CLS rows: max |diff| = {d}");
    let d = max_abs_diff(
        &to_vec(&cap.attentions[11].select(1, 200)),
        &r["attention.11.row200"].1,
    );
    assert!(d <= 1e-5, "layer 11 row 200: max |diff| = {d}");
    let d = max_abs_diff(
        &to_vec(&cap.last_hidden_state.select(0, 0)),
        &r["last_hidden_state_cls"].1,
    );
    assert!(d <= 1e-3, "final CLS feature: max |diff| = {d}");
}

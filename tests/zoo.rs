//! The model zoo: one small random-initialised model per family and naming, saved by timm 1.0.31 or
//! transformers 4.57.1 exactly as they publish checkpoints, run at a non-square input (position embeddings
//! interpolated), and matched against PyTorch's own outputs. Fixtures: tests/fixtures/generate_zoo.py.
mod common;

use common::*;
use tch::{Device, Kind, Tensor};
use vitscope::model::{Activation, Checkpoint, Family, Pool, Precision, Vit};

/// What each fixture must be recognised as.
struct Case {
    name: &'static str,
    family: Family,
    prefix: &'static [&'static str],
    pos_prefix: usize,
    activation: Activation,
    pool: Pool,
    classes: Option<usize>,
    heads: usize,
    /// The training grid (for RoPE-only models: the training resolution's).
    grid: (usize, usize),
    /// The input the reference was computed at (pixels).
    input: (usize, usize),
}

const fn case(
    name: &'static str,
    family: Family,
    prefix: &'static [&'static str],
    pos_prefix: usize,
    activation: Activation,
    pool: Pool,
    classes: Option<usize>,
) -> Case {
    Case {
        name,
        family,
        prefix,
        pos_prefix,
        activation,
        pool,
        classes,
        heads: 4,
        grid: (6, 6),
        input: (20, 32),
    }
}

use Activation::*;
use Family::*;
const CLS: &[&str] = &["CLS"];
const CLS_REG4: &[&str] = &["CLS", "REG0", "REG1", "REG2", "REG3"];

const CASES: &[Case] = &[
    case("timm_vit", Timm, CLS, 1, Gelu, Pool::Cls, Some(10)),
    Case {
        heads: 2, // width 128 / 64: no model_args in config.json, so the head count is inferred
        ..case(
            "timm_vit_classic_config",
            Timm,
            CLS,
            1,
            Gelu,
            Pool::Cls,
            Some(1000),
        )
    },
    case("timm_vit_dino", Timm, CLS, 1, Gelu, Pool::Cls, None),
    case("timm_vit_gap", Timm, &[], 0, Gelu, Pool::Avg, Some(6)),
    case(
        "timm_vit_reg_pos",
        Timm,
        &["CLS", "REG0", "REG1"],
        3,
        Gelu,
        Pool::Cls,
        None,
    ),
    case(
        "timm_dinov2_reg4",
        Timm,
        &["CLS", "REG0", "REG1", "REG2", "REG3"],
        0,
        Gelu,
        Pool::Cls,
        None,
    ),
    case("timm_dinov2_swiglu", Timm, CLS, 1, SwiGlu, Pool::Cls, None),
    case(
        "timm_deit_distilled",
        Timm,
        &["CLS", "DIST"],
        2,
        Gelu,
        Pool::ClsDist,
        Some(5),
    ),
    case(
        "timm_clip_quickgelu",
        Timm,
        CLS,
        1,
        QuickGelu,
        Pool::Cls,
        Some(16),
    ),
    case("timm_clip", Timm, CLS, 1, Gelu, Pool::Cls, None),
    case("hf_vit", HfVit, CLS, 1, Gelu, Pool::Cls, Some(5)),
    Case {
        heads: 6,
        ..case("hf_vit_model", HfVit, CLS, 1, Gelu, Pool::Cls, None)
    },
    case(
        "hf_deit_distilled",
        HfVit,
        &["CLS", "DIST"],
        2,
        Gelu,
        Pool::ClsDist,
        Some(7),
    ),
    case(
        "hf_dinov2_swiglu_cls",
        HfDinov2,
        CLS,
        1,
        SwiGlu,
        Pool::ClsAndAvg,
        Some(3),
    ),
    case(
        "hf_dinov2_registers",
        HfDinov2,
        &["CLS", "REG0", "REG1", "REG2"],
        1,
        Gelu,
        Pool::Cls,
        None,
    ),
    case("hf_clip_vision", HfClip, CLS, 1, QuickGelu, Pool::Cls, None),
    case("hf_clip_model", HfClip, CLS, 1, Gelu, Pool::Cls, None),
    // MAE encoders are plain ViTs (HF ViTMAEModel run unmasked, timm vit_*.mae).
    case("hf_vit_mae", HfVit, CLS, 1, Gelu, Pool::Cls, None),
    case("timm_vit_mae", Timm, CLS, 1, Gelu, Pool::Cls, None),
    // DINOv3: RoPE, no position embedding, 4 storage tokens, in three namings.
    case(
        "timm_dinov3",
        TimmEva,
        CLS_REG4,
        0,
        Gelu,
        Pool::Avg,
        Some(3),
    ),
    case(
        "timm_dinov3_plus",
        TimmEva,
        CLS_REG4,
        0,
        SwiGlu,
        Pool::Cls,
        None,
    ),
    case("hf_dinov3", HfDinov3, CLS_REG4, 0, Gelu, Pool::Cls, None),
    case(
        "hf_dinov3_swiglu",
        HfDinov3,
        CLS_REG4,
        0,
        SwiGlu,
        Pool::Cls,
        None,
    ),
    Case {
        // no config.json, as Meta publishes them: 224 px at patch 4
        grid: (56, 56),
        ..case(
            "dinov3_official",
            Dinov3,
            CLS_REG4,
            0,
            SwiGlu,
            Pool::Cls,
            None,
        )
    },
    // EVA-02: position embedding + interleaved RoPE.
    case("timm_eva02", TimmEva, CLS, 1, SwiGlu, Pool::Avg, Some(4)),
    case(
        "timm_eva02_attn_norm",
        TimmEva,
        CLS,
        1,
        SwiGlu,
        Pool::Cls,
        None,
    ),
    // BEiT: relative position bias per block or shared (timm has no dynamic input size: its own 24x24; HF's
    // table is resized for the 5x8 grid).
    Case {
        input: (24, 24),
        ..case("timm_beit", TimmBeit, CLS, 0, Gelu, Pool::Avg, Some(5))
    },
    Case {
        input: (24, 24),
        ..case("timm_beit_shared", TimmBeit, CLS, 1, Gelu, Pool::Cls, None)
    },
    case("hf_beit", HfBeit, CLS, 0, Gelu, Pool::Avg, Some(3)),
    case("hf_beit_shared", HfBeit, CLS, 1, Gelu, Pool::Cls, None),
    // SigLIP: no class token; the attention-pooling head's probe attention is compared too.
    case("timm_siglip", Timm, &[], 0, GeluTanh, Pool::Map, None),
    case(
        "hf_siglip_vision",
        HfSiglip,
        &[],
        0,
        GeluTanh,
        Pool::Map,
        None,
    ),
    case(
        "hf_siglip_model",
        HfSiglip,
        &[],
        0,
        GeluTanh,
        Pool::Map,
        None,
    ),
];

/// max |a − b| relative to the reference's scale (at least 1).
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
    max_abs_diff(a, b) / scale
}

#[test]
fn every_family_matches_pytorch_layer_by_layer() {
    let mut report = Vec::new();
    for c in CASES {
        let dir = fixture(&format!("zoo/{}", c.name));
        let ckpt = Checkpoint::read(&dir).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let vit =
            Vit::from_checkpoint(&ckpt, Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let cfg = &vit.config;
        let prefix: Vec<String> = cfg.prefix.iter().map(|p| p.label()).collect();
        assert_eq!(cfg.family, c.family, "{}", c.name);
        assert_eq!(prefix, c.prefix, "{}", c.name);
        assert_eq!(
            cfg.pos_prefix, c.pos_prefix,
            "{}: prefix tokens with a position embedding",
            c.name
        );
        assert_eq!(cfg.activation, c.activation, "{}", c.name);
        assert_eq!(cfg.pool, c.pool, "{}", c.name);
        assert_eq!(cfg.num_classes, c.classes, "{}", c.name);
        assert_eq!(cfg.num_attention_heads, c.heads, "{}", c.name);
        assert_eq!(cfg.pos_grid, c.grid, "{}", c.name);

        let (r, _) = read_f32(&dir.join("reference.safetensors"));
        let (shape, input) = &r["input"];
        assert_eq!(shape, &vec![1, 3, c.input.0, c.input.1], "{}", c.name);
        let cap = vit
            .forward(&tensor(shape, input))
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(
            (cap.layout.grid_h * 4, cap.layout.grid_w * 4),
            c.input,
            "{}",
            c.name
        );
        let layers = r.keys().filter(|k| k.starts_with("attention.")).count();
        assert_eq!(cap.attentions.len(), layers, "{}", c.name);
        let mut worst_attn = 0f32;
        for (l, a) in cap.attentions.iter().enumerate() {
            let (ref_shape, reference) = &r[&format!("attention.{l}")];
            assert_eq!(
                a.size(),
                ref_shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                "{} layer {l}",
                c.name
            );
            let d = max_abs_diff(&to_vec(a), reference);
            assert!(d <= 1e-5, "{} layer {l}: max |diff| = {d}", c.name);
            worst_attn = worst_attn.max(d);
        }
        let outputs = [
            ("last_hidden_state", Some(&cap.last_hidden_state)),
            ("pooled", Some(&cap.pooled)),
            ("logits", cap.logits.as_ref()),
            ("image_embeds", cap.image_embeds.as_ref()),
            ("pool_attention", cap.pool_attention.as_ref()),
        ];
        let mut line = format!("{:24} attention {worst_attn:.1e}", c.name);
        for (name, mine) in outputs {
            match (r.get(name), mine) {
                (Some((_, reference)), Some(mine)) => {
                    let d = rel_diff(&to_vec(mine), reference);
                    assert!(d <= 1e-5, "{} {name}: max |diff| / scale = {d}", c.name);
                    line.push_str(&format!(", {name} {d:.1e}"));
                }
                (Some(_), None) => panic!(
                    "{}: the reference has {name}, vitscope computed none",
                    c.name
                ),
                (None, Some(_)) if name != "last_hidden_state" && name != "pooled" => {
                    panic!(
                        "{}: vitscope computed {name} the reference does not have",
                        c.name
                    )
                }
                _ => {}
            }
        }
        report.push(line);
    }
    println!("{}", report.join("\n"));
}

#[test]
fn class_names_come_from_the_config_or_the_shipped_imagenet_list() {
    let names = |case: &str| {
        let ckpt = Checkpoint::read(&fixture(&format!("zoo/{case}"))).unwrap();
        ckpt.config().unwrap()
    };
    let hf = names("hf_vit");
    assert_eq!(hf.class_names[0], "tabby cat", "id2label from config.json");
    assert_eq!(hf.class_names.len(), 5);
    let timm = names("timm_vit_classic_config");
    assert_eq!(timm.class_names.len(), 1000);
    assert_eq!(timm.class_names[281], "tabby, tabby cat");
    assert!(timm.inferred.iter().any(|s| s.contains("ImageNet-1k")));
    assert!(
        timm.inferred.iter().any(|s| s.contains("2 heads")),
        "{:?}",
        timm.inferred
    );
    let deit = names("hf_deit_distilled");
    assert!(
        deit.class_names.is_empty(),
        "generic LABEL_i names are no names"
    );
    assert!(
        deit.inferred
            .iter()
            .any(|s| s.contains("no names for the 7 classes"))
    );
}

#[test]
fn clip_model_ignores_the_text_tower_and_counts_vision_parameters_only() {
    let ckpt = Checkpoint::read(&fixture("zoo/hf_clip_model")).unwrap();
    let vit = Vit::from_checkpoint(&ckpt, Device::Cpu).unwrap();
    assert_eq!(vit.config.projection_dim, Some(16));
    assert!(
        vit.ignored.iter().any(|s| s.starts_with("CLIP text tower")),
        "{:?}",
        vit.ignored
    );
    let vision: usize = ckpt
        .tensors
        .iter()
        .filter(|(k, _)| k.starts_with("vision_model.") || k.starts_with("visual_projection"))
        .map(|(_, t)| t.numel())
        .sum();
    assert_eq!(vit.num_parameters, vision);
}

#[test]
fn reduced_precision_stays_close_to_f32() {
    let dir = fixture("zoo/timm_vit");
    let ckpt = Checkpoint::read(&dir).unwrap();
    let (r, _) = read_f32(&dir.join("reference.safetensors"));
    let (shape, input) = &r["input"];
    let vit = Vit::load(&ckpt, Device::Cpu, Precision::Bf16).unwrap();
    let cap = vit.forward(&tensor(shape, input)).unwrap();
    for (l, a) in cap.attentions.iter().enumerate() {
        assert_eq!(a.kind(), Kind::Float, "captured attention is f32");
        let d = max_abs_diff(&to_vec(a), &r[&format!("attention.{l}")].1);
        assert!(d < 0.1, "bf16 layer {l}: {d}");
        assert!(d > 0.0, "bf16 must actually run in bf16");
    }
}

#[test]
fn query_key_storage_recomputes_biased_and_rotated_attention_exactly() {
    // BEiT's relative bias (resized to the 5x8 grid) and DINOv3's RoPE must be part of the rows the
    // queries-and-keys store recomputes, and of the fused forward pass it runs.
    for case in ["hf_beit", "hf_beit_shared", "hf_dinov3", "timm_eva02"] {
        let dir = fixture(&format!("zoo/{case}"));
        let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu).unwrap();
        let (r, _) = read_f32(&dir.join("reference.safetensors"));
        let (shape, input) = &r["input"];
        let x = tensor(shape, input);
        let full = vit.forward(&x).unwrap();
        let qk = vit
            .forward_stored(&x, vitscope::model::AttentionStore::QueryKeys)
            .unwrap();
        let keys = qk.query_keys.as_ref().unwrap();
        let n = full.layout.num_tokens() as i64;
        for (l, a) in full.attentions.iter().enumerate() {
            let rows = keys.rows(l, 3, n - 3).unwrap();
            let d = max_abs_diff(&to_vec(&rows), &to_vec(&a.narrow(1, 3, n - 3)));
            assert!(d < 1e-5, "{case} layer {l}: {d}");
        }
        let d = rel_diff(
            &to_vec(&qk.last_hidden_state),
            &to_vec(&full.last_hidden_state),
        );
        assert!(d < 1e-5, "{case}: fused forward differs by {d}");
    }
}

#[test]
fn the_attention_pooling_probe_is_a_query_of_the_command_line() {
    // SigLIP has no CLS: `auto` and `map` query the pooling head's probe. Its attention over the 5x8 patches
    // sums to 1 in every head, the mean file is the mean of the head files, and rollout from it keeps
    // mass 1; other methods and models without the head refuse it in one line.
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("zoo/hf_siglip_vision").display().to_string();
    let image = root().join("assets/chelsea.png").display().to_string();
    let run = |extra: &[&str]| {
        let out = dir.path().to_str().unwrap().to_string();
        let mut args = vec![
            "export", "--model", &model, "--image", &image, "--size", "20x32", "--format", "npy",
            "--force", "--out", &out,
        ];
        args.extend_from_slice(extra);
        vitscope(&args)
    };
    let npy = |name: &str| read_npy(&dir.path().join(name));
    assert!(run(&["--query", "auto"]).status.success());
    let (_, shape, mean) = npy("chelsea_hf-siglip-vision_map_attention.npy");
    assert_eq!(shape, vec![5, 8]);
    assert!((mean.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let r = run(&["--query", "map", "--head", "all"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let heads: Vec<Vec<f32>> = (0..4)
        .map(|h| npy(&format!("chelsea_hf-siglip-vision_map_h{h}_attention.npy")).2)
        .collect();
    for h in &heads {
        assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    for (i, m) in mean.iter().enumerate() {
        let avg = heads.iter().map(|h| h[i]).sum::<f32>() / 4.0;
        assert!((m - avg).abs() < 1e-6);
    }
    assert!(
        run(&["--query", "map", "--method", "rollout"])
            .status
            .success()
    );
    let (_, _, roll) = npy("chelsea_hf-siglip-vision_map_rollout.npy");
    assert!(
        (roll.iter().sum::<f32>() - 1.0).abs() < 1e-4,
        "{}",
        roll.iter().sum::<f32>()
    );
    assert_clean_failure(
        &run(&["--query", "map", "--method", "flow"]),
        "attention and rollout",
    );
    assert_clean_failure(
        &run(&["--query", "map", "--layer", "0"]),
        "after the last block",
    );
    let cls_model = fixture("zoo/hf_vit").display().to_string();
    let out = dir.path().to_str().unwrap().to_string();
    let r = vitscope(&[
        "export", "--model", &cls_model, "--image", &image, "--query", "map", "--out", &out,
    ]);
    assert_clean_failure(&r, "no attention-pooling head");
}

#[test]
fn swin_matches_pytorch_block_by_block_with_padding_and_shifted_windows() {
    // 20x28 px at patch 2: a 10x14 stem grid in 3x3 windows (padded to 12x15, 20 windows), shifted by 1 in
    // every second block; merged to 5x7 (padded to 6x9, 6 windows). timm rolls then pads, Hugging Face pads
    // then rolls: each naming is computed its own way.
    // Swin V2 (cosine attention, continuous position bias with stage 0 scaled to a pre-training window of 4,
    // post-norm) in both namings too.
    for (case, family) in [
        ("timm_swin", TimmSwin),
        ("hf_swin", HfSwin),
        ("timm_swinv2", TimmSwin),
        ("hf_swinv2", HfSwin),
    ] {
        let dir = fixture(&format!("zoo/{case}"));
        let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let arch = vit.config.swin.clone().expect("a Swin");
        assert_eq!(vit.config.family, family);
        assert_eq!(
            (
                arch.depths.clone(),
                arch.heads.clone(),
                arch.dims.clone(),
                arch.window
            ),
            (vec![2, 2], vec![2, 4], vec![16, 32], 3),
            "{case}"
        );
        assert_eq!(vit.config.num_classes, Some(3));
        assert_eq!(arch.v2, case.ends_with("v2").then(|| vec![4, 0]), "{case}");
        let (r, _) = read_f32(&dir.join("reference.safetensors"));
        let (shape, input) = &r["input"];
        let cap = vit.forward(&tensor(shape, input)).unwrap();
        assert!(cap.attentions.is_empty(), "no global attention for a Swin");
        assert_eq!(cap.window_attentions.len(), 4);
        assert_eq!((cap.layout.grid_h, cap.layout.grid_w), (5, 7));
        for (l, a) in cap.window_attentions.iter().enumerate() {
            let (ref_shape, reference) = &r[&format!("attention.{l}")];
            assert_eq!(
                a.size(),
                ref_shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                "{case} block {l}"
            );
            let d = max_abs_diff(&to_vec(a), reference);
            assert!(d <= 1e-5, "{case} block {l}: {d}");
            let m = &cap.windows[l];
            assert_eq!(
                m.shift,
                if l % 2 == 1 { (1, 1) } else { (0, 0) },
                "{case} {l}"
            );
        }
        for (name, mine) in [
            ("last_hidden_state", &cap.last_hidden_state),
            ("pooled", &cap.pooled),
            ("logits", cap.logits.as_ref().unwrap()),
        ] {
            let d = rel_diff(&to_vec(mine), &r[name].1);
            assert!(d <= 1e-5, "{case} {name}: {d}");
        }
    }
}

#[test]
fn a_swin_window_places_every_image_cell_exactly_once() {
    // Every cell of a stage's grid is token t of exactly one window, and cell_of inverts locate, for both
    // orders of padding and rolling.
    use vitscope::model::swin::WindowMeta;
    for pad_then_roll in [false, true] {
        let m = WindowMeta {
            stage: 0,
            grid: (10, 14),
            padded: (12, 15),
            window: (3, 3),
            shift: (1, 1),
            cell_px: 2,
            pad_then_roll,
        };
        let mut seen = std::collections::HashSet::new();
        for r in 0..10 {
            for c in 0..14 {
                let (k, t) = m.locate(r, c).unwrap();
                assert!(
                    seen.insert((k, t)),
                    "{pad_then_roll}: ({r}, {c}) shares a slot"
                );
                assert_eq!(m.cell_of(k, t), Some((r, c)), "{pad_then_roll}");
            }
        }
        let padding = (0..20)
            .flat_map(|k| (0..9).map(move |t| (k, t)))
            .filter(|&(k, t)| m.cell_of(k, t).is_none())
            .count();
        assert_eq!(padding, 12 * 15 - 10 * 14, "{pad_then_roll}");
        // The drawn window grid: a row (column) starts a window exactly where the window changes.
        let nw = 5;
        let starts = m.window_starts(0);
        for r in 1..10 {
            let changes = m.locate(r, 0).unwrap().0 / nw != m.locate(r - 1, 0).unwrap().0 / nw;
            assert_eq!(changes, starts.contains(&r), "{pad_then_roll}: row {r}");
        }
        let starts = m.window_starts(1);
        for c in 1..14 {
            let changes = m.locate(0, c).unwrap().0 % nw != m.locate(0, c - 1).unwrap().0 % nw;
            assert_eq!(changes, starts.contains(&c), "{pad_then_roll}: col {c}");
        }
    }
}

#[test]
fn swin_from_the_command_line_shows_windows_dumps_them_and_refuses_global_methods() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("zoo/hf_swin").display().to_string();
    let image = root().join("assets/chelsea.png").display().to_string();
    let out = dir.path().to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "export", "--model", &model, "--image", &image, "--size", "20x28", "--format", "npy",
            "--force", "--out", &out,
        ];
        args.extend_from_slice(extra);
        vitscope(&args)
    };
    // Patch (2, 3) of the 5x7 output grid: its window in every block, on that block's stage grid.
    let r = run(&["--query", "2,3"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for (l, (h, w)) in [(0, (10, 14)), (1, (10, 14)), (2, (5, 7)), (3, (5, 7))] {
        let (_, shape, v) = read_npy(
            &dir.path()
                .join(format!("chelsea_hf-swin_p2-3_l0{l}_mean_attention.npy")),
        );
        assert_eq!(shape, vec![h, w], "block {l}");
        let nonzero = v.iter().filter(|x| **x > 0.0).count();
        assert!(
            nonzero > 0 && nonzero <= 9,
            "block {l}: {nonzero} cells, a 3x3 window at most"
        );
        let sum: f32 = v.iter().sum();
        assert!(sum <= 1.0 + 1e-5 && sum > 0.5, "block {l}: mass {sum}");
    }
    // --head all: each block's own heads (2 in stage 0, 4 in stage 1); their mean is the mean map.
    let r = run(&["--query", "2,3", "--head", "all"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for (l, heads) in [(0, 2), (1, 2), (2, 4), (3, 4)] {
        let name = |h: &str| {
            dir.path()
                .join(format!("chelsea_hf-swin_p2-3_l0{l}_{h}_attention.npy"))
        };
        assert!(
            !name(&format!("h{heads}")).exists(),
            "block {l} has {heads} heads"
        );
        let per_head: Vec<Vec<f32>> = (0..heads)
            .map(|h| read_npy(&name(&format!("h{h}"))).2)
            .collect();
        let mean = read_npy(&name("mean")).2;
        for (i, m) in mean.iter().enumerate() {
            let avg = per_head.iter().map(|v| v[i]).sum::<f32>() / heads as f32;
            assert!((m - avg).abs() < 1e-6, "block {l} cell {i}");
        }
    }
    for method in ["rollout", "flow", "dino-mask", "token-norm"] {
        let r = run(&["--method", method]);
        assert!(!r.status.success(), "{method} must refuse a Swin");
        let e = String::from_utf8_lossy(&r.stderr);
        assert!(
            e.contains("Swin") && e.lines().count() == 1,
            "{method}: {e}"
        );
    }
    let dump = dir.path().join("swin.safetensors");
    let r = vitscope(&[
        "dump",
        "--model",
        &model,
        "--image",
        &image,
        "--size",
        "20x28",
        "--out",
        dump.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (tensors, meta) = read_f32(&dump);
    assert_eq!(tensors["attention.0"].0, vec![20, 2, 9, 9]);
    assert_eq!(tensors["attention.3"].0, vec![6, 4, 9, 9]);
    let windows: serde_json::Value = serde_json::from_str(&meta["windows"]).unwrap();
    assert_eq!(windows[1]["shift"], serde_json::json!([1, 1]));
    assert_eq!(windows[2]["grid"], serde_json::json!([5, 7]));
    assert_eq!(windows[0]["pad_then_roll"], serde_json::json!(true));
}

#[test]
fn relative_position_bias_exports_are_the_checkpoint_s_tables() {
    // rel-bias L00 of HF Swin is its first block's table, laid out [heads, 2M-1, 2M-1]; a plain ViT refuses.
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("zoo/hf_swin");
    let out = dir.path().to_str().unwrap().to_string();
    let r = vitscope(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--method",
        "rel-bias",
        "--format",
        "npy",
        "--out",
        &out,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (_, shape, v) = read_npy(&dir.path().join("hf_swin_L00_rel-bias.npy"));
    assert_eq!(shape, vec![2, 5, 5]);
    let ckpt = Checkpoint::read(&model).unwrap();
    let t =
        &ckpt.tensors["swin.encoder.layers.0.blocks.0.attention.self.relative_position_bias_table"];
    assert_eq!(t.size(), vec![25, 2]);
    let table = to_vec(t);
    for h in 0..2 {
        for k in 0..25 {
            assert_eq!(v[h * 25 + k], table[k * 2 + h]);
        }
    }
    assert_eq!(
        read_npy(&dir.path().join("hf_swin_L03_rel-bias.npy")).1,
        vec![4, 5, 5]
    );
    let r = vitscope(&[
        "export",
        "--model",
        fixture("zoo/hf_vit").to_str().unwrap(),
        "--method",
        "rel-bias",
        "--out",
        &out,
    ]);
    assert_clean_failure(&r, "no learned relative position bias");
}

#[test]
fn a_swin_v1_refuses_an_input_whose_stage_is_smaller_than_its_window_and_v2_adapts() {
    // 8x12 px at patch 2: stage 1 is 2x3 cells, smaller than the 3x3 window. V1's table would have to be
    // resized (timm and transformers each do it their own way): refused with the size that works. V2's
    // continuous bias is computed for the smaller window, as both libraries do.
    let x = Tensor::randn([1, 3, 8, 12], (Kind::Float, Device::Cpu));
    let v1 = Vit::from_checkpoint(
        &Checkpoint::read(&fixture("zoo/timm_swin")).unwrap(),
        Device::Cpu,
    )
    .unwrap();
    let e = v1.forward(&x).err().expect("refused").to_string();
    assert!(
        e.contains("smaller than the 3x3 window") && e.contains("12 px"),
        "{e}"
    );
    let v2 = Vit::from_checkpoint(
        &Checkpoint::read(&fixture("zoo/hf_swinv2")).unwrap(),
        Device::Cpu,
    )
    .unwrap();
    let cap = v2.forward(&x).unwrap();
    assert_eq!(cap.windows[3].window, (2, 3));
}

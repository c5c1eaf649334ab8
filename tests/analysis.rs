//! Golden tests of the analysis suite against Python references written from the papers' definitions
//! (tests/fixtures/generate_analysis.py: NumPy in float64, PyTorch autograd for the gradients, networkx for
//! max-flow). Two small random timm models run at 20×32 (a 5×8 grid resized from 6×6): `vit_head` (CLS,
//! classifier, 4 layers) and `dinov2_reg` (CLS + 4 registers, no head, 3 layers). The Rust side reruns the
//! model on the reference input and computes every method itself.
mod common;

use std::collections::HashMap;

use common::*;
use tch::{Device, Tensor};
use vitscope::analysis::*;
use vitscope::model::{AttentionStore, Capture, Checkpoint, GradTarget, Vit};

struct Case {
    vit: Vit,
    cap: Capture,
    refs: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Case {
    fn load(name: &str) -> Case {
        let dir = fixture(&format!("analysis/{name}"));
        let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu).unwrap();
        let (refs, _) = read_f32(&dir.join("reference.safetensors"));
        let cap = vit.forward(&Case::input(&refs, "input")).unwrap();
        Case { vit, cap, refs }
    }
    fn input(refs: &HashMap<String, (Vec<usize>, Vec<f32>)>, key: &str) -> Tensor {
        let (s, v) = &refs[key];
        tensor(s, v)
    }
    fn r(&self, key: &str) -> &[f32] {
        &self
            .refs
            .get(key)
            .unwrap_or_else(|| panic!("no reference {key}"))
            .1
    }
    fn npre(&self) -> usize {
        self.cap.layout.num_prefix()
    }
    /// Patch (2, 5): the query the reference uses for patch queries.
    fn q_patch(&self) -> usize {
        self.cap.layout.token_of_patch(2, 5).unwrap()
    }
}

/// Max |a − b| relative to the largest |b| (absolute below 1).
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let d = max_abs_diff(got, want);
    assert!(d <= tol * scale, "{what}: max |diff| {d:e} (scale {scale})");
}

fn both() -> [Case; 2] {
    [Case::load("vit_head"), Case::load("dinov2_reg")]
}

#[test]
fn rollout_matches_the_reference_for_every_variant() {
    for c in both() {
        let l = c.cap.attentions.len();
        let variants = [
            ("rollout.mean", 0, RolloutOptions::default()),
            (
                "rollout.max_discard",
                c.q_patch(),
                RolloutOptions {
                    fusion: HeadFusion::Max,
                    residual: 0.3,
                    discard_ratio: 0.5,
                    start_layer: 1,
                    end_layer: Some(l - 1),
                },
            ),
            (
                "rollout.min_range",
                0,
                RolloutOptions {
                    fusion: HeadFusion::Min,
                    residual: 0.6,
                    discard_ratio: 0.2,
                    start_layer: 0,
                    end_layer: Some(l - 2),
                },
            ),
        ];
        for (key, q, o) in variants {
            let m = rollout(&c.cap.attentions, &c.cap.layout, q, &o).unwrap();
            close(key, &m.values, c.r(key), 1e-5);
            // Every transition is row-stochastic, so the rolled-out row sums to 1.
            assert!((m.values.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{key}");
        }
    }
}

#[test]
fn every_attention_store_reproduces_the_references() {
    // Query/key storage recomputes rows exactly; half storage is close, and measurably not exact.
    for c in both() {
        let input = Case::input(&c.refs, "input");
        let cls = QueryRows::from_attentions(&c.cap.attentions, &c.cap.layout, 0).unwrap();
        for (store, tol) in [
            (AttentionStore::QueryKeys, 1e-5),
            (AttentionStore::F16, 2e-3),
            (AttentionStore::Bf16, 2e-2),
        ] {
            let cap = c.vit.forward_stored(&input, store).unwrap();
            let src = cap.source();
            assert_eq!(src.layers(), c.cap.attentions.len());
            match store.matrix_kind() {
                Some(kind) => assert!(cap.attentions.iter().all(|a| a.kind() == kind)),
                None => assert!(cap.attentions.is_empty() && cap.query_keys.is_some()),
            }
            let what = |k: &str| format!("{} {k}", store.label());
            let rows = QueryRows::from_attentions(src, &cap.layout, 0).unwrap();
            close(&what("rows"), &rows.data, &cls.data, tol);
            let diff = max_abs_diff(&rows.data, &cls.data);
            if store != AttentionStore::QueryKeys {
                assert!(diff > 0.0, "{} must round", store.label());
            }
            let m = rollout(src, &cap.layout, 0, &RolloutOptions::default()).unwrap();
            close(&what("rollout"), &m.values, c.r("rollout.mean"), tol);
            let s = head_stats(src, &cap.layout, PrefixConvention::Renormalise).unwrap();
            let d: Vec<f32> = s.distance_px.iter().map(|v| *v as f32).collect();
            close(&what("distance"), &d, c.r("distance.renormalise"), tol);
            let e: Vec<f32> = s.entropy.iter().map(|v| *v as f32).collect();
            close(&what("entropy"), &e, c.r("entropy"), 10.0 * tol);
            let pm = prefix_mass(src, &cap.layout).unwrap().concat();
            close(&what("prefix mass"), &pm, c.r("prefix_mass"), tol);
        }
    }
}

#[test]
fn attention_flow_equals_networkx_max_flow() {
    for c in both() {
        let m = attention_flow(
            &c.cap.attentions,
            &c.cap.layout,
            0,
            &RolloutOptions::default(),
        )
        .unwrap();
        close("flow.mean", &m.values, c.r("flow.mean"), 1e-5);
        let o = RolloutOptions {
            fusion: HeadFusion::Max,
            residual: 0.4,
            ..Default::default()
        };
        let m = attention_flow(&c.cap.attentions, &c.cap.layout, c.q_patch(), &o).unwrap();
        close("flow.max_patch", &m.values, c.r("flow.max_patch"), 1e-5);
        // A max-flow never exceeds the sink's capacity (its row sums to 1).
        assert!(m.values.iter().all(|v| *v <= 1.0 + 1e-5));
    }
}

#[test]
fn gradient_methods_match_pytorch_autograd() {
    for c in both() {
        let ids = c.r("target_ids").to_vec();
        let targets: Vec<(&str, GradTarget)> = if c.cap.logits.is_some() {
            vec![
                ("logit_top", GradTarget::Logit(ids[0] as usize)),
                (
                    "diff",
                    GradTarget::LogitDiff(ids[0] as usize, ids[1] as usize),
                ),
            ]
        } else {
            vec![("sim", GradTarget::Similarity(ids[0] as usize))]
        };
        let input = Case::input(&c.refs, "input");
        for (key, target) in targets {
            let (gcap, grads, value) = c
                .vit
                .forward_with_gradients(&input, &target, &Default::default())
                .unwrap();
            assert!(
                (value as f32 - c.r(&format!("{key}.value"))[0]).abs() < 1e-4,
                "{key}: value {value}"
            );
            assert_eq!(grads.len(), gcap.attentions.len());
            // The gradient pass captures the same attention as the plain forward pass.
            close(
                "attention",
                &to_vec(&gcap.attentions[0]),
                &to_vec(&c.cap.attentions[0]),
                1e-6,
            );
            for q in [0, c.npre() + 9] {
                let r = relevance(&gcap.attentions, &grads, &c.cap.layout, q).unwrap();
                close(
                    &format!("{key} relevance q{q}"),
                    &r.values,
                    c.r(&format!("{key}.relevance.q{q}")),
                    1e-4,
                );
                let g = grad_rollout(
                    &gcap.attentions,
                    &grads,
                    &c.cap.layout,
                    q,
                    &RolloutOptions::default(),
                )
                .unwrap();
                close(
                    &format!("{key} grad rollout q{q}"),
                    &g.values,
                    c.r(&format!("{key}.grad_rollout.q{q}")),
                    1e-4,
                );
            }
            let o = RolloutOptions {
                residual: 0.3,
                discard_ratio: 0.4,
                ..Default::default()
            };
            let g = grad_rollout(&gcap.attentions, &grads, &c.cap.layout, 0, &o).unwrap();
            close(
                "grad rollout discard",
                &g.values,
                c.r(&format!("{key}.grad_rollout.discard")),
                1e-4,
            );
        }
    }
}

#[test]
fn a_class_target_differs_from_its_contrast() {
    // Explaining "top − other" is not the same map as explaining "top": the target reaches the gradients.
    let c = Case::load("vit_head");
    let ids = c.r("target_ids").to_vec();
    let input = Case::input(&c.refs, "input");
    let map = |t: GradTarget| {
        let (g, grads, _) = c
            .vit
            .forward_with_gradients(&input, &t, &Default::default())
            .unwrap();
        relevance(&g.attentions, &grads, &c.cap.layout, 0)
            .unwrap()
            .values
    };
    let a = map(GradTarget::Logit(ids[0] as usize));
    let b = map(GradTarget::LogitDiff(ids[0] as usize, ids[1] as usize));
    assert!(max_abs_diff(&a, &b) > 1e-3);
    let err = c
        .vit
        .forward_with_gradients(&input, &GradTarget::Logit(10), &Default::default())
        .err()
        .expect("class 10 of 10");
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn attention_distance_and_entropy_match_both_conventions() {
    for c in both() {
        for (conv, key) in [
            (PrefixConvention::Renormalise, "distance.renormalise"),
            (PrefixConvention::Drop, "distance.drop"),
        ] {
            let s = head_stats(&c.cap.attentions, &c.cap.layout, conv).unwrap();
            let d: Vec<f32> = s.distance_px.iter().map(|v| *v as f32).collect();
            close(key, &d, c.r(key), 1e-5);
            let e: Vec<f32> = s.entropy.iter().map(|v| *v as f32).collect();
            close("entropy", &e, c.r("entropy"), 1e-5);
        }
        // Dropping the prefix mass can only shorten distances.
        let r = head_stats(
            &c.cap.attentions,
            &c.cap.layout,
            PrefixConvention::Renormalise,
        )
        .unwrap();
        let d = head_stats(&c.cap.attentions, &c.cap.layout, PrefixConvention::Drop).unwrap();
        assert!(
            r.distance_px
                .iter()
                .zip(&d.distance_px)
                .all(|(r, d)| d <= r)
        );
    }
}

#[test]
fn dino_masks_match() {
    for c in both() {
        let last = c.cap.attentions.len() - 1;
        let m = dino_masks(&c.cap.attentions[last], &c.cap.layout, 0, 0.6).unwrap();
        let got: Vec<f32> = m.masks.iter().flatten().map(|b| *b as u8 as f32).collect();
        assert_eq!(got, c.r("dino_mask.tau0.6"));
        assert!(m.mass.iter().all(|v| *v >= 0.6 - 1e-6));
        let m = dino_masks(&c.cap.attentions[1], &c.cap.layout, c.q_patch(), 0.3).unwrap();
        let got: Vec<f32> = m.masks.iter().flatten().map(|b| *b as u8 as f32).collect();
        assert_eq!(got, c.r("dino_mask.tau0.3.layer1.patch"));
    }
}

#[test]
fn token_norms_and_prefix_mass_match() {
    for c in both() {
        let n = token_norms(&c.cap.hidden_states, &c.cap.layout).unwrap();
        close("token norms", &n.norms, c.r("token_norms"), 1e-5);
        let mut flags = vec![0f32; n.norms.len()];
        for (l, t) in &n.outliers {
            flags[l * n.tokens + t] = 1.0;
        }
        assert_eq!(flags, c.r("token_norm_flags"));
        let pm: Vec<f32> = prefix_mass(&c.cap.attentions, &c.cap.layout)
            .unwrap()
            .concat();
        close("prefix mass", &pm, c.r("prefix_mass"), 1e-5);
    }
}

#[test]
fn feature_pca_matches_alone_by_layer_and_jointly() {
    for c in both() {
        let p = c.npre() as i64;
        let np = c.cap.layout.num_patches() as i64;
        let (gh, gw) = (c.cap.layout.grid_h, c.cap.layout.grid_w);
        let patches = |t: &Tensor| t.narrow(0, p, np);
        let last = feature_pca(&[(patches(&c.cap.last_hidden_state), gh, gw)], Some(0.5)).unwrap();
        close(
            "feature pca last",
            &last[0].rgb,
            c.r("feature_pca.last"),
            1e-3,
        );
        close(
            "first component",
            &last[0].first,
            c.r("feature_pca.last.first"),
            1e-4,
        );
        let fg = last[0].foreground.iter().filter(|f| **f).count();
        assert!(
            fg > 1 && fg < last[0].foreground.len(),
            "{fg} foreground patches"
        );
        let l1 = feature_pca(&[(patches(&c.cap.hidden_states[1]), gh, gw)], None).unwrap();
        close(
            "feature pca layer 1",
            &l1[0].rgb,
            c.r("feature_pca.layer1.nomask"),
            1e-3,
        );
        let cap2 = c.vit.forward(&Case::input(&c.refs, "input2")).unwrap();
        let joint = feature_pca(
            &[
                (patches(&c.cap.last_hidden_state), gh, gw),
                (patches(&cap2.last_hidden_state), gh, gw),
            ],
            Some(0.4),
        )
        .unwrap();
        let got: Vec<f32> = joint.iter().flat_map(|i| i.rgb.clone()).collect();
        close("feature pca joint", &got, c.r("feature_pca.joint"), 1e-3);
    }
}

#[test]
fn embedding_views_match() {
    for c in both() {
        let s = position_similarity(&c.vit, None).unwrap();
        assert_eq!((s.grid_h, s.grid_w), (6, 6));
        close("pos sim trained", &s.data, c.r("pos_sim.trained"), 1e-5);
        let s = position_similarity(&c.vit, Some((5, 8))).unwrap();
        close("pos sim input", &s.data, c.r("pos_sim.input"), 1e-5);
        // Every patch is most similar to itself.
        let t = s.tile(2, 3);
        let best = t.data.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(t.get(2, 3), best);
        let f = patch_filter_components(&c.vit, 28).unwrap();
        assert_eq!((f.count, f.patch), (28, 4));
        close("patch pca", &f.components, c.r("patch_pca"), 1e-4);
        assert!(f.explained.windows(2).all(|w| w[0] >= w[1]));
    }
}

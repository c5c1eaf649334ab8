//! Interventions against PyTorch: head ablation (zero and mean), tokens dropped from the keys, and patch
//! occlusion (mean, black, blur) on the zoo's timm ViT with a classifier, each matched to timm run with the
//! same intervention made by timm's and PyTorch's own means (tests/fixtures/generate_interventions.py).
mod common;

use common::*;
use tch::Device;
use vitscope::model::{Ablation, AttentionStore, Checkpoint, Fill, Intervention, Vit};

/// The zoo's timm ViT with a classifier, its reference input and the intervention references.
struct Fixture {
    vit: Vit,
    x: tch::Tensor,
    want: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
}

fn timm_vit() -> Fixture {
    let dir = fixture("zoo/timm_vit");
    let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu).unwrap();
    let (r, _) = read_f32(&dir.join("reference.safetensors"));
    let (want, _) = read_f32(&dir.join("interventions.safetensors"));
    let (shape, input) = &r["input"];
    Fixture {
        vit,
        x: tensor(shape, input),
        want,
    }
}

fn set<T: Ord + Copy>(v: &[T]) -> std::collections::BTreeSet<T> {
    v.iter().copied().collect()
}

#[test]
fn interventions_match_pytorch_attention_and_logits() {
    let Fixture { vit, x, want } = timm_vit();
    let occluded = set(&[3, 9, 10, 17]);
    let cases = [
        (
            "ablate_zero_drop",
            Intervention {
                ablated: set(&[(0, 1), (1, 3)]),
                dropped: set(&[0, 7]),
                ..Default::default()
            },
        ),
        (
            "ablate_mean",
            Intervention {
                ablated: set(&[(1, 0)]),
                ablation: Ablation::Mean,
                ..Default::default()
            },
        ),
        (
            "occlude_mean",
            Intervention {
                occluded: occluded.clone(),
                ..Default::default()
            },
        ),
        (
            "occlude_zero",
            Intervention {
                occluded: occluded.clone(),
                fill: Fill::Zero,
                ..Default::default()
            },
        ),
        (
            "occlude_blur",
            Intervention {
                occluded: occluded.clone(),
                fill: Fill::Blur,
                ..Default::default()
            },
        ),
    ];
    let plain = vit.forward(&x).unwrap();
    let plain_logits = to_vec(plain.logits.as_ref().unwrap());
    for (name, iv) in &cases {
        for store in [AttentionStore::F32, AttentionStore::QueryKeys] {
            let cap = vit.forward_intervened(&x, store, iv).unwrap();
            let logits = to_vec(cap.logits.as_ref().unwrap());
            let d = max_abs_diff(&logits, &want[&format!("{name}.logits")].1);
            assert!(d < 1e-5, "{name} {store:?}: logits differ by {d}");
            assert!(
                max_abs_diff(&logits, &plain_logits) > 1e-3,
                "{name}: the intervention changes the output"
            );
            for l in 0..2 {
                let n = cap.layout.num_tokens() as i64;
                let got = to_vec(&cap.source().rows(l, 0, n).unwrap());
                let d = max_abs_diff(&got, &want[&format!("{name}.attention.{l}")].1);
                assert!(
                    d < 1e-5,
                    "{name} {store:?} layer {l}: attention differs by {d}"
                );
            }
        }
    }
    // a dropped token gets no attention from anyone, in every layer
    let cap = vit
        .forward_intervened(&x, AttentionStore::F32, &cases[0].1)
        .unwrap();
    for l in 0..2 {
        let a = to_vec(&cap.attentions[l]); // [heads, N, N]
        let n = cap.layout.num_tokens();
        for (i, v) in a.iter().enumerate() {
            if i % n == 0 || i % n == 7 {
                assert_eq!(*v, 0.0);
            }
        }
    }
}

#[test]
fn interventions_that_do_not_fit_are_refused_by_name() {
    let Fixture { vit, x, .. } = timm_vit();
    let refuse = |iv: Intervention| {
        vit.forward_intervened(&x, AttentionStore::F32, &iv)
            .err()
            .expect("refused")
            .to_string()
    };
    assert!(
        refuse(Intervention {
            ablated: set(&[(2, 0)]),
            ..Default::default()
        })
        .contains("L2h0 does not exist")
    );
    assert!(
        refuse(Intervention {
            occluded: set(&[40]),
            ..Default::default()
        })
        .contains("occluded patch 40 does not exist (the input has 40 patches)")
    );
    assert!(
        refuse(Intervention {
            dropped: (0..41).collect(),
            ..Default::default()
        })
        .contains("every token would be dropped")
    );
}

/// The deletion and insertion curves of a fixed ranking, and their areas, against a PyTorch reference
/// written from the definition (4 steps, mean fill, the clean top class's probability).
#[test]
fn deletion_and_insertion_curves_match_the_reference() {
    use vitscope::analysis::Progress;
    use vitscope::methods::faithfulness::{Perturb, Score, curves};
    let Fixture { vit, x, want } = timm_vit();
    let order: Vec<usize> = want["curve.order"].1.iter().map(|v| *v as usize).collect();
    let clean = vit.forward(&x).unwrap();
    let score = Score::natural(clean.logits.as_ref(), &clean.pooled).unwrap();
    let progress = Progress::default();
    let how = |batch| Perturb {
        steps: 4,
        fill: Fill::Mean,
        batch,
    };
    let c = curves(&vit, &x, &order, &score, how(1), &progress, 0)
        .unwrap()
        .expect("not cancelled");
    // batched forward passes give the same curves (rounding apart), whatever the batch size
    for batch in [3, 16] {
        let b = curves(
            &vit,
            &x,
            &order,
            &score,
            how(batch),
            &Progress::default(),
            0,
        )
        .unwrap()
        .unwrap();
        for (got, want) in [(&b.deletion, &c.deletion), (&b.insertion, &c.insertion)] {
            let d = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(d < 1e-6, "batch {batch}: {d}");
        }
    }
    let as_f32 = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<_>>();
    assert!(max_abs_diff(&as_f32(&c.deletion), &want["curve.deletion"].1) < 1e-5);
    assert!(max_abs_diff(&as_f32(&c.insertion), &want["curve.insertion"].1) < 1e-5);
    let auc = &want["curve.auc"].1;
    assert!((c.deletion_auc() as f32 - auc[0]).abs() < 1e-5);
    assert!((c.insertion_auc() as f32 - auc[1]).abs() < 1e-5);
    assert_eq!(progress.done.load(std::sync::atomic::Ordering::Relaxed), 10);
    // the ends: nothing removed is the clean score, everything removed is the same image both ways
    assert_eq!(c.deletion[0], c.insertion[4]);
    assert_eq!(c.deletion[4], c.insertion[0]);
    // a cancel stops at once
    progress
        .cancel
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        curves(&vit, &x, &order, &score, how(1), &progress, 0)
            .unwrap()
            .is_none()
    );
}

/// `vitscope faithfulness`: one row per method plus random with areas in [0, 1] that follow from the curves
/// file, the curves file itself, a plot that decodes, the same numbers on a second run, and clean refusals.
#[test]
fn the_faithfulness_command_writes_its_table_curves_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table.csv");
    let plot = dir.path().join("curves.png");
    let model = fixture("zoo/timm_vit").display().to_string();
    let images = [
        root().join("assets/chelsea.png"),
        root().join("assets/coffee.png"),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec![
            "faithfulness",
            "--model",
            &model,
            "--size",
            "20x32",
            "--steps",
            "4",
            "--force",
            "--images",
        ];
        let imgs: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
        args.extend(imgs.iter().map(String::as_str));
        args.extend_from_slice(extra);
        vitscope(&args)
    };
    let (o, p) = (out.display().to_string(), plot.display().to_string());
    let r = run(&["--methods", "attention,rollout", "--out", &o, "--plot", &p]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let table = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "method,deletion_auc,insertion_auc,images");
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(names, ["attention", "rollout", "random"]);
    let curves = std::fs::read_to_string(dir.path().join("table_curves.csv")).unwrap();
    assert_eq!(curves.lines().next(), Some("method,curve,fraction,score"));
    assert_eq!(curves.lines().count(), 1 + 3 * 2 * 5);
    for line in &lines[1..] {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[3], "2", "two images");
        // the area is the trapezoid rule over the curve written next to it
        for (col, curve) in [(1, "deletion"), (2, "insertion")] {
            let auc: f64 = f[col].parse().unwrap();
            assert!((0.0..=1.0).contains(&auc), "{line}");
            let ys: Vec<f64> = curves
                .lines()
                .filter(|l| l.starts_with(&format!("{},{curve},", f[0])))
                .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(ys.len(), 5);
            let trap: f64 = ys.windows(2).map(|w| 0.25 * (w[0] + w[1]) / 2.0).sum();
            assert!((trap - auc).abs() < 2e-6, "{line}: {trap}");
        }
    }
    let img = image::open(&plot).unwrap();
    assert!(img.width() >= 1000 && img.height() >= 400);
    let text = vitscope::export::png_file::read_png_text(&plot).unwrap();
    assert!(
        text.iter()
            .any(|(k, v)| k == "vitscope.method" && v == "faithfulness")
    );
    // the same numbers on a second run
    let again = dir.path().join("again.csv");
    let a = again.display().to_string();
    assert!(
        run(&["--methods", "attention,rollout", "--out", &a])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), table);
    // batched forward passes: the same areas, rounding apart
    let batched = dir.path().join("batched.csv");
    let b = batched.display().to_string();
    let r = run(&[
        "--methods",
        "attention,rollout",
        "--out",
        &b,
        "--batch",
        "7",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let numbers = |t: &str| -> Vec<f64> {
        t.lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .skip(1)
                    .take(2)
                    .map(|v| v.parse().unwrap())
                    .collect::<Vec<f64>>()
            })
            .collect()
    };
    let (one, many) = (
        numbers(&table),
        numbers(&std::fs::read_to_string(&batched).unwrap()),
    );
    assert_eq!(one.len(), many.len());
    assert!(
        one.iter().zip(&many).all(|(a, b)| (a - b).abs() < 1e-5),
        "{one:?} vs {many:?}"
    );
    // removal from the sequence: other numbers than the mean fill's
    let r = run(&["--methods", "attention", "--out", &b, "--fill", "remove"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let removed = numbers(&std::fs::read_to_string(&batched).unwrap());
    assert!((removed[0] - one[0]).abs() > 1e-4, "{removed:?} vs {one:?}");

    assert_clean_failure(
        &run(&["--methods", "attention,saliency", "--out", &o]),
        "unknown method \"saliency\"",
    );
    assert_clean_failure(
        &run(&["--target", "12", "--out", &o]),
        "class 12 does not exist",
    );
    assert_clean_failure(&run(&["--out", &o, "--plot", &o]), "named twice");
    let gap = fixture("zoo/timm_vit_gap").display().to_string();
    let r = vitscope(&[
        "faithfulness",
        "--model",
        &gap,
        "--size",
        "20x32",
        "--steps",
        "2",
        "--fill",
        "remove",
        "--images",
        &images[0].display().to_string(),
        "--out",
        &o,
        "--force",
    ]);
    assert_clean_failure(&r, "use a pixel fill");
    let swin = fixture("zoo/timm_swin").display().to_string();
    let r = vitscope(&[
        "faithfulness",
        "--model",
        &swin,
        "--size",
        "20x28",
        "--images",
        &images[0].display().to_string(),
        "--out",
        &o,
        "--force",
    ]);
    assert_clean_failure(&r, "Swin");
}

/// The logit lens: each layer's tokens through the final norm and the head, as timm computes it; the last
/// layer is the model's own output; the CLI writes the table.
#[test]
fn the_logit_lens_matches_pytorch_layer_by_layer() {
    let Fixture { vit, x, want } = timm_vit();
    let dir = fixture("zoo/timm_vit");
    let cap = vit.forward(&x).unwrap();
    let lens = vit.logit_lens(&cap).unwrap();
    assert_eq!(lens.len(), 2);
    for (l, (_, logits)) in lens.iter().enumerate() {
        let got = to_vec(logits.as_ref().unwrap());
        let d = max_abs_diff(&got, &want[&format!("lens.logits.{l}")].1);
        assert!(d < 1e-5, "layer {l}: {d}");
    }
    assert_eq!(
        to_vec(lens[1].1.as_ref().unwrap()),
        to_vec(cap.logits.as_ref().unwrap())
    );

    let model = dir.display().to_string();
    let image = root().join("assets/chelsea.png").display().to_string();
    let r = vitscope(&[
        "lens", "--model", &model, "--image", &image, "--size", "20x32", "--top", "3",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = String::from_utf8(r.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "layer,rank,class,name,probability,cosine_to_final"
    );
    assert_eq!(lines.len(), 1 + 2 * 3);
    assert!(lines[4].starts_with("1,1,"), "{}", lines[4]);
    assert!(
        lines[4].ends_with(",1.000000"),
        "the last layer is the output"
    );
    // a model without a classifier: one row per layer, the cosine only
    let r = vitscope(&["lens", "--image", &image]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = String::from_utf8(r.stdout).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12);
    assert!(csv.lines().last().unwrap().starts_with("11,,,,,1.0000"));
}

/// The command line's interventions: `dump` and `export` run under them, name them in their metadata, and
/// give what the library gives for the same input; specs that do not fit are refused by name.
#[test]
fn the_command_line_runs_and_names_interventions() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("zoo/timm_vit").display().to_string();
    let image = root().join("assets/chelsea.png").display().to_string();
    let dump = dir.path().join("d.safetensors");
    let iv_args = [
        "--ablate",
        "0:1",
        "1:all",
        "--ablation",
        "mean",
        "--occlude",
        "1-2,3-4",
        "0,0",
        "--fill",
        "blur",
        "--drop",
        "cls",
        "4,7",
    ];
    let mut args = vec![
        "dump",
        "--model",
        &model,
        "--image",
        &image,
        "--size",
        "20x32",
        "--out",
        dump.to_str().unwrap(),
    ];
    args.extend_from_slice(&iv_args);
    let r = vitscope(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (t, meta) = read_f32(&dump);
    let described: String = serde_json::from_str(&meta["intervention"]).unwrap();
    assert_eq!(
        described,
        "occluded 5 patches (0,11-12,19-20) filled with blur; ablated heads L0h1,L1h0,L1h1,L1h2,L1h3 \
         (output set to its mean over tokens); dropped tokens 0,40 from every layer's keys"
    );
    let vit = Vit::from_checkpoint(
        &Checkpoint::read(&fixture("zoo/timm_vit")).unwrap(),
        Device::Cpu,
    )
    .unwrap();
    let iv = Intervention {
        occluded: set(&[0, 11, 12, 19, 20]),
        fill: Fill::Blur,
        ablated: set(&[(0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]),
        ablation: Ablation::Mean,
        dropped: set(&[0, 40]),
    };
    let (shape, input) = &t["input"];
    let cap = vit
        .forward_intervened(&tensor(shape, input), AttentionStore::F32, &iv)
        .unwrap();
    assert_eq!(to_vec(cap.logits.as_ref().unwrap()), t["logits"].1);
    assert_eq!(to_vec(&cap.attentions[1]), t["attention.1"].1);

    let out = dir.path().display().to_string();
    let mut args = vec![
        "export", "--model", &model, "--image", &image, "--size", "20x32", "--layer", "1", "--out",
        &out,
    ];
    args.extend_from_slice(&iv_args);
    let r = vitscope(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let png = dir.path().join("chelsea_timm-vit_cls_L01_mean.png");
    let text = vitscope::export::png_file::read_png_text(&png).unwrap();
    assert!(
        text.iter()
            .any(|(k, v)| k == "vitscope.intervention" && *v == described),
        "{text:?}"
    );

    let refuse = |extra: &[&str], needle: &str| {
        let mut args = vec![
            "dump",
            "--model",
            &model,
            "--image",
            &image,
            "--size",
            "20x32",
            "--force",
            "--out",
            dump.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        assert_clean_failure(&vitscope(&args), needle);
    };
    refuse(&["--occlude", "5,0"], "the input's patch grid is 5x8");
    refuse(&["--ablate", "2:0"], "L2h0 does not exist");
    refuse(&["--ablate", "1"], "give LAYER:HEAD");
    refuse(&["--drop", "reg0"], "no register 0");
}

/// Curves under an intervention keep it at every step: nothing removed is the intervened run's score.
#[test]
fn curves_under_an_intervention_keep_it() {
    use vitscope::analysis::Progress;
    use vitscope::methods::faithfulness::{Perturb, Score, curves_under};
    let Fixture { vit, x, .. } = timm_vit();
    let base = Intervention {
        ablated: set(&[(1, 0), (1, 1)]),
        ..Default::default()
    };
    let ablated = vit
        .forward_intervened(&x, AttentionStore::F32, &base)
        .unwrap();
    let score = Score::natural(ablated.logits.as_ref(), &ablated.pooled).unwrap();
    let Score::Class(top) = score else {
        panic!("a classifier")
    };
    let p = ablated
        .logits
        .as_ref()
        .unwrap()
        .softmax(-1, tch::Kind::Double)
        .double_value(&[top as i64]);
    let order: Vec<usize> = (0..40).collect();
    let c = curves_under(
        &vit,
        &x,
        &order,
        &score,
        Perturb {
            steps: 2,
            fill: Fill::Mean,
            batch: 2,
        },
        &base,
        &Progress::default(),
        0,
    )
    .unwrap()
    .unwrap();
    // the curves run the fused kernel, the reference the f32 matrices: rounding apart
    assert!((c.deletion[0] - p).abs() < 1e-5, "{} vs {p}", c.deletion[0]);
    let plain = vit.forward(&x).unwrap();
    let q = plain
        .logits
        .as_ref()
        .unwrap()
        .softmax(-1, tch::Kind::Double)
        .double_value(&[top as i64]);
    assert!(
        (c.deletion[0] - q).abs() > 1e-3,
        "not the untouched model's"
    );
}

/// Patches removed from the token sequence, against timm run on the really shorter sequence (learned
/// positions with CLS; no prefix token and mean pooling; DINOv3's RoPE with registers and mean pooling):
/// logits and the kept tokens' attention within 1e-5, no attention to a removed token, under both stores.
#[test]
fn removing_patches_from_the_sequence_matches_pytorch() {
    for case in ["timm_vit", "timm_vit_gap", "timm_dinov3"] {
        let dir = fixture(&format!("zoo/{case}"));
        let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu).unwrap();
        let (r, _) = read_f32(&dir.join("reference.safetensors"));
        let (want, _) = read_f32(&dir.join("removal.safetensors"));
        let x = tensor(&r["input"].0, &r["input"].1);
        let kept: Vec<usize> = want["remove.kept"].1.iter().map(|v| *v as usize).collect();
        let iv = Intervention {
            occluded: set(&[3, 9, 10, 17]),
            fill: Fill::Remove,
            ..Default::default()
        };
        assert_eq!(
            iv.describe(),
            "removed 4 patches (3,9-10,17) from the token sequence"
        );
        for store in [AttentionStore::F32, AttentionStore::QueryKeys] {
            let cap = vit.forward_intervened(&x, store, &iv).unwrap();
            let n = cap.layout.num_tokens();
            assert_eq!(n - kept.len(), 4, "{case}");
            let d = max_abs_diff(
                &to_vec(cap.logits.as_ref().unwrap()),
                &want["remove.logits"].1,
            );
            assert!(d < 1e-5, "{case} {store:?}: logits differ by {d}");
            for l in 0..2 {
                let a = to_vec(&cap.source().rows(l, 0, n as i64).unwrap()); // [heads, N, N]
                let heads = a.len() / (n * n);
                let mut sub = Vec::new();
                for h in 0..heads {
                    for &i in &kept {
                        for &j in &kept {
                            sub.push(a[(h * n + i) * n + j]);
                        }
                    }
                    for i in 0..n {
                        for j in (0..n).filter(|j| !kept.contains(j)) {
                            assert_eq!(a[(h * n + i) * n + j], 0.0, "{case}: key {j} removed");
                        }
                    }
                }
                let d = max_abs_diff(&sub, &want[&format!("remove.attention.{l}")].1);
                assert!(
                    d < 1e-5,
                    "{case} {store:?} layer {l}: attention differs by {d}"
                );
            }
            // the lens reads the layers through the same pooling: its last layer is the output
            let lens = vit.logit_lens(&cap).unwrap();
            let last = to_vec(lens[1].1.as_ref().unwrap());
            assert!(max_abs_diff(&last, &to_vec(cap.logits.as_ref().unwrap())) < 1e-6);
        }
    }
}

/// Batched scores equal one forward pass per intervention, for pixel fills and for removal, and a batch
/// whose interventions differ in more than their patches is refused.
#[test]
fn batched_scores_equal_single_runs() {
    let dir = fixture("zoo/timm_vit_gap");
    let vit = Vit::from_checkpoint(&Checkpoint::read(&dir).unwrap(), Device::Cpu).unwrap();
    let (r, _) = read_f32(&dir.join("reference.safetensors"));
    let x = tensor(&r["input"].0, &r["input"].1);
    for fill in [Fill::Blur, Fill::Remove] {
        let ivs: Vec<Intervention> = [vec![], vec![0, 1, 2], vec![5, 39], (0..30).collect()]
            .into_iter()
            .map(|p| Intervention {
                occluded: p.into_iter().collect(),
                fill,
                ablated: set(&[(1, 2)]),
                ..Default::default()
            })
            .collect();
        let batched = vit.scores(&x, &ivs, 3).unwrap();
        assert_eq!(batched.len(), 4);
        let mut logits = Vec::new();
        for (iv, (pooled, l)) in ivs.iter().zip(&batched) {
            let one = vit.forward_intervened(&x, AttentionStore::F32, iv).unwrap();
            let d = max_abs_diff(
                &to_vec(l.as_ref().unwrap()),
                &to_vec(one.logits.as_ref().unwrap()),
            );
            assert!(d < 1e-5, "{fill:?} {}: logits differ by {d}", iv.describe());
            assert!(max_abs_diff(&to_vec(pooled), &to_vec(&one.pooled)) < 1e-5);
            logits.push(to_vec(l.as_ref().unwrap()));
        }
        assert!(
            max_abs_diff(&logits[0], &logits[3]) > 1e-3,
            "{fill:?} changes the output"
        );
    }
    let mixed = [
        Intervention::default(),
        Intervention {
            dropped: set(&[1]),
            ..Default::default()
        },
    ];
    let e = vit
        .scores(&x, &mixed, 2)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("differ only in their occluded patches"), "{e}");
    // a model with no prefix token: removing every patch is refused by name
    let all = Intervention {
        occluded: (0..40).collect(),
        fill: Fill::Remove,
        ..Default::default()
    };
    let e = vit
        .forward_intervened(&x, AttentionStore::F32, &all)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("nothing would be left"), "{e}");
}

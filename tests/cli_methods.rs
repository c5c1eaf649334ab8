//! `vitscope export --method …` and `vitscope distance`, run as a user would, on a small registers model
//! (tests/fixtures/analysis/dinov2_reg: CLS + 4 registers, 3 layers, 4 heads, patch 4, trained on a 6×6 grid)
//! at 20×32, i.e. a 5×8 grid and 45 tokens: every method writes the documented NPY shape, values agree
//! with the library, PNGs decode and state their definition, and bad options fail in one clear line.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use vitscope::analysis::{RolloutOptions, rollout};
use vitscope::engine::Engine;
use vitscope::model::{DeviceChoice, InputSize, ModelSource, Precision};

fn model() -> String {
    fixture("analysis/dinov2_reg").display().to_string()
}

fn chelsea() -> String {
    root().join("assets/chelsea.png").display().to_string()
}

fn vitscope(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_vitscope"))
        .args(args)
        .output()
        .expect("run vitscope");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "panic: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `export` with `extra` options; returns the files it printed.
fn export(dir: &Path, method: &str, format: &str, extra: &[&str]) -> Vec<PathBuf> {
    let (m, img) = (model(), chelsea());
    let mut args = vec![
        "export", "--model", &m, "--image", &img, "--size", "20x32", "--device", "cpu", "--out",
    ];
    let d = dir.display().to_string();
    args.extend([d.as_str(), "--method", method, "--format", format]);
    args.extend(extra);
    let out = vitscope(&args);
    assert!(
        out.status.success(),
        "{method} {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn shape_of(dir: &Path, method: &str, extra: &[&str]) -> (String, Vec<usize>, Vec<f32>) {
    let files = export(dir, method, "npy", extra);
    let npy = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "npy"))
        .unwrap_or_else(|| panic!("{method}: no npy in {files:?}"));
    read_npy(npy)
}

#[test]
fn every_method_writes_the_documented_npy_shape() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &[&str], &[usize])] = &[
        (
            "attention",
            &["--layer", "all", "--head", "all"],
            &[3, 4, 5, 8],
        ),
        ("attention", &["--layer", "1", "--head", "2"], &[5, 8]),
        ("attention", &["--layer", "all"], &[3, 5, 8]),
        (
            "attention",
            &["--layer", "last", "--head", "all"],
            &[4, 5, 8],
        ),
        ("rollout", &["--fusion", "max", "--discard", "0.5"], &[5, 8]),
        ("flow", &["--query", "reg1"], &[5, 8]),
        ("grad-rollout", &["--target", "sim:2,3"], &[5, 8]),
        ("relevance", &[], &[5, 8]),
        ("dino-mask", &["--tau", "0.5"], &[4, 5, 8]),
        ("token-norm", &[], &[3, 45]),
        ("feature-pca", &["--layer", "1"], &[5, 8, 3]),
        (
            "feature-pca",
            &["--joint", "assets/coffee.png", "--fg-threshold", "none"],
            &[2, 5, 8, 3],
        ),
        ("pos-sim", &[], &[6, 6, 6, 6]),
        ("pos-sim", &["--pos-grid", "input"], &[5, 8, 5, 8]),
        ("patch-pca", &["--components", "12"], &[12, 4, 4, 3]),
    ];
    let joint = root().join("assets/coffee.png").display().to_string();
    for (method, extra, shape) in cases {
        let extra: Vec<&str> = extra
            .iter()
            .map(|e| {
                if *e == "assets/coffee.png" {
                    joint.as_str()
                } else {
                    e
                }
            })
            .collect();
        let (descr, got, values) = shape_of(d, method, &[&extra[..], &["--force"]].concat());
        assert_eq!(&got, shape, "{method} {extra:?}");
        assert!(values.iter().all(|v| v.is_finite()), "{method}");
        match *method {
            "dino-mask" => {
                assert_eq!(descr, "|u1");
                assert!(values.chunks(40).all(|h| h.iter().any(|v| *v == 1.0)));
            }
            "flow" => assert!(values.iter().all(|v| (0.0..=1.0 + 1e-5).contains(v))),
            "feature-pca" => assert!(values.iter().all(|v| (0.0..=1.0).contains(v))),
            "pos-sim" => assert!(
                values
                    .iter()
                    .all(|v| (-1.0 - 1e-5..=1.0 + 1e-5).contains(v))
            ),
            _ => assert_eq!(descr, "<f4"),
        }
    }
    // token-norm also wrote the prefix mass: 3 layers × 5 prefix tokens.
    let csv = std::fs::read_to_string(d.join("chelsea_dinov2-reg_prefix-mass.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 15);
    assert!(csv.lines().nth(5).unwrap().starts_with("0,REG3,"));
}

#[test]
fn exported_rollout_is_the_library_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shape, values) = shape_of(
        dir.path(),
        "rollout",
        &["--query", "3,4", "--residual", "0.3", "--start-layer", "1"],
    );
    assert_eq!(shape, [5, 8]);
    let mut e = Engine {
        size: InputSize::Exact { h: 20, w: 32 },
        ..Engine::default()
    };
    e.load_model(
        &ModelSource::Path(model().into()),
        DeviceChoice::Cpu,
        Precision::F32,
    )
    .unwrap();
    e.load_image(Path::new(&chelsea())).unwrap();
    let run = e.run.as_ref().unwrap();
    let o = RolloutOptions {
        residual: 0.3,
        start_layer: 1,
        ..Default::default()
    };
    let q = run.capture.layout.token_of_patch(3, 4).unwrap();
    let m = rollout(&run.capture.attentions, &run.capture.layout, q, &o).unwrap();
    assert!(max_abs_diff(&values, &m.patch_grid().data) < 1e-7);
    // The default (residual 0.5, all layers) is a different map.
    let (_, _, default) = shape_of(dir.path(), "rollout", &["--query", "3,4", "--force"]);
    assert!(max_abs_diff(&values, &default) > 1e-4);
}

#[test]
fn every_attention_store_exports_what_f32_exports() {
    // Row methods (attention, rollout) read the store in blocks; whole-matrix ones (flow, DINO masks)
    // have the matrices rebuilt. Query/key storage is exact to rounding; half storage is close.
    let dir = tempfile::tempdir().unwrap();
    for method in ["attention", "rollout", "flow", "dino-mask"] {
        let extra = |store: &'static str| {
            [
                "--query",
                "2,5",
                "--layer",
                "1",
                "--attention",
                store,
                "--force",
            ]
        };
        let (_, shape, want) = shape_of(dir.path(), method, &extra("f32"));
        for (store, tol) in [("query-keys", 1e-5), ("f16", 2e-3), ("bf16", 2e-2)] {
            let (_, s, got) = shape_of(dir.path(), method, &extra(store));
            assert_eq!(s, shape, "{method} {store}");
            let top = want.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
            let d = max_abs_diff(&got, &want);
            assert!(
                d <= tol * top,
                "{method} {store}: max |diff| {d:e}, largest value {top}"
            );
        }
    }
}

#[test]
fn method_pngs_decode_and_state_their_definition() {
    let dir = tempfile::tempdir().unwrap();
    for (method, needle, size) in [
        ("rollout", "residual alpha = 0.5", (451, 300)),
        ("flow", "max-flow", (451, 300)),
        ("relevance", "cosine(pooled feature", (451, 300)),
        ("dino-mask", "tau = 0.6", (451, 300)),
        ("token-norm", "MAD", (0, 0)),
        ("feature-pca", "foreground", (0, 0)),
    ] {
        let files = export(dir.path(), method, "png", &[]);
        let png = files
            .iter()
            .find(|f| f.extension().unwrap() == "png")
            .unwrap();
        let img = image::open(png).unwrap().to_rgb8();
        if size != (0, 0) {
            assert_eq!(img.dimensions(), size, "{method}");
        }
        let text = vitscope::export::png_file::read_png_text(png).unwrap();
        let get = |k: &str| {
            text.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("vitscope.method"), method);
        let all: String = text.iter().map(|(_, v)| v.as_str()).collect();
        assert!(all.contains(needle), "{method}: {text:?}");
    }
}

#[test]
fn distance_averages_a_folder_and_skips_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for f in ["chelsea.png", "coffee.png"] {
        std::fs::copy(root().join("assets").join(f), imgs.join(f)).unwrap();
    }
    std::fs::write(imgs.join("broken.png"), b"not a png").unwrap();
    std::fs::write(imgs.join("notes.txt"), b"ignored").unwrap();
    let m = model();
    let run = |images: &[&Path], name: &str| -> Vec<Vec<f64>> {
        let csv = dir.path().join(format!("{name}.csv"));
        let plot = dir.path().join(format!("{name}.png"));
        let mut args = vec![
            "distance".to_string(),
            "--model".into(),
            m.clone(),
            "--size".into(),
            "20x32".into(),
            "--out".into(),
            csv.display().to_string(),
            "--plot".into(),
            plot.display().to_string(),
            "--images".into(),
        ];
        args.extend(images.iter().map(|p| p.display().to_string()));
        let out = vitscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (w, h) = image::image_dimensions(&plot).unwrap();
        assert_eq!((w, h), (1120, 428));
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("layer,head,mean_distance_px,entropy"));
        lines
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    let folder = run(&[&imgs], "folder");
    assert_eq!(folder.len(), 3 * 4);
    let a = run(&[&imgs.join("chelsea.png")], "a");
    let b = run(&[&imgs.join("coffee.png")], "b");
    for ((f, a), b) in folder.iter().zip(&a).zip(&b) {
        assert_eq!(f[..2], a[..2]);
        for k in 2..4 {
            assert!(
                (f[k] - (a[k] + b[k]) / 2.0).abs() < 2e-6,
                "{f:?} {a:?} {b:?}"
            );
        }
        // Distances on a 5×8 grid of 4 px patches lie within its diagonal.
        assert!(f[2] > 0.0 && f[2] < 4.0 * (16.0f64 + 49.0).sqrt());
    }
}

#[test]
fn bad_method_options_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (m, img) = (model(), chelsea());
    let base = [
        "export", "--model", &m, "--image", &img, "--size", "20x32", "--out", &d,
    ];
    for (extra, needle) in [
        (
            &["--method", "rollout", "--discard", "1"][..],
            "discard ratio",
        ),
        (
            &["--method", "rollout", "--end-layer", "3"][..],
            "layer range",
        ),
        (
            &["--method", "dino-mask", "--layer", "3"][..],
            "layer 3 does not exist",
        ),
        (
            &["--method", "relevance", "--target", "3"][..],
            "no classifier head",
        ),
        (
            &["--method", "feature-pca", "--fg-threshold", "1"][..],
            "foreground",
        ),
    ] {
        let out = vitscope(&[&base[..], extra].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn folder_statistics_report_progress_and_can_be_cancelled() {
    let m = vitscope::engine::load_model(
        &ModelSource::Path(model().into()),
        DeviceChoice::Cpu,
        Precision::F32,
    )
    .unwrap();
    let files = vitscope::engine::image_files(&[root().join("assets")]).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    let size = InputSize::Exact { h: 20, w: 32 };
    let mut seen = Vec::new();
    let run = vitscope::engine::head_stats_over(
        &m.vit,
        &files,
        size,
        vitscope::model::AttentionStore::F32,
        vitscope::analysis::PrefixConvention::Drop,
        |i, n, _| {
            seen.push((i, n));
            i < 2
        },
    )
    .unwrap();
    assert_eq!(seen, vec![(1, files.len()), (2, files.len())]);
    assert!(run.cancelled);
    assert_eq!(run.stats.unwrap().images, 2);
    let all = vitscope::engine::head_stats_over(
        &m.vit,
        &files,
        size,
        vitscope::model::AttentionStore::F32,
        vitscope::analysis::PrefixConvention::Drop,
        |_, _, _| true,
    )
    .unwrap();
    assert!(!all.cancelled && all.skipped.is_empty());
    assert_eq!(all.stats.unwrap().images, files.len());
}

/// `--long-side` resizes single maps (chelsea is 451×300) and leaves the head grid at the input size.
#[test]
fn long_side_resizes_single_maps() {
    let dir = tempfile::tempdir().unwrap();
    let files = export(
        dir.path(),
        "attention",
        "png",
        &["--head", "all", "--long-side", "200"],
    );
    let single = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with("_h0.png"))
        .unwrap();
    assert_eq!(image::image_dimensions(single).unwrap(), (200, 133));
    let grid = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with("_heads.png"))
        .unwrap();
    assert_ne!(image::image_dimensions(grid).unwrap().0, 200);
    let out = vitscope(&[
        "export",
        "--model",
        &model(),
        "--image",
        &chelsea(),
        "--out",
        "x",
        "--long-side",
        "3",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--long-side"));
}

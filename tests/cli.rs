//! The command line, run as a user would: files decode with the right shapes; bad input gives a
//! non-zero exit and one clear line, never a panic.
mod common;

use std::process::Command;

use common::*;

#[test]
fn dump_writes_input_attention_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.safetensors");
    let model = fixture("dinov2_tiny");
    let r = vitscope(&[
        "dump",
        "--model",
        model.to_str().unwrap(),
        "--image",
        "assets/coffee.png",
        "--size",
        "20x32",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (t, meta) = read_f32(&out);
    assert_eq!(t["input"].0, vec![1, 3, 20, 32]);
    assert_eq!(
        t.len(),
        1 + 3 + 2,
        "input, 3 attentions, last_hidden_state, pooled"
    );
    assert_eq!(t["last_hidden_state"].0, vec![41, 48]);
    assert_eq!(t["pooled"].0, vec![48]);
    for l in 0..3 {
        let (shape, v) = &t[&format!("attention.{l}")];
        assert_eq!(shape, &vec![4, 41, 41]);
        for row in v.chunks(41) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
    let j = |k: &str| serde_json::from_str::<serde_json::Value>(&meta[k]).unwrap();
    assert_eq!(j("num_layers"), 3);
    assert_eq!(j("num_heads"), 4);
    assert_eq!(j("num_prefix_tokens"), 1);
    assert_eq!(
        (j("grid_h"), j("grid_w"), j("patch_size")),
        (5.into(), 8.into(), 4.into())
    );
    assert_eq!(j("family"), "hf-dinov2");
    // coffee.png is 600x400 and was resized to 32x20, normalised with ImageNet mean/std
    let input = &t["input"].1;
    assert!(
        input
            .iter()
            .all(|v| v.is_finite() && (-2.2..=2.7).contains(v))
    );

    // the dump is the model's own output: same input through the library gives the same attention
    let refuse = vitscope(&[
        "dump",
        "--model",
        model.to_str().unwrap(),
        "--image",
        "assets/coffee.png",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&refuse, "already exists");
}

#[test]
fn builtin_dump_matches_the_pytorch_reference() {
    builtin_model();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.safetensors");
    let img = fixture("builtin/chelsea_224x336.png");
    let r = vitscope(&[
        "dump",
        "--image",
        img.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (t, meta) = read_f32(&out);
    assert_eq!(meta["grid_h"], "16");
    assert_eq!(meta["grid_w"], "24");
    let (reference, _) = read_f32(&fixture("builtin/reference.safetensors"));
    let cls: Vec<f32> = (0..12)
        .flat_map(|l| {
            let (_, v) = &t[&format!("attention.{l}")];
            (0..6)
                .flat_map(move |h| v[h * 385 * 385..h * 385 * 385 + 385].to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    let d = max_abs_diff(&cls, &reference["cls_attention"].1);
    assert!(d <= 1e-5, "max |diff| {d}");
}

#[test]
fn export_writes_each_head_and_a_grid() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("dinov2_tiny");
    let r = vitscope(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--image",
        "assets/rocket.jpg",
        "--size",
        "24",
        "--out",
        dir.path().to_str().unwrap(),
        "--layer",
        "1",
        "--head",
        "all",
        "--query",
        "2,3",
        "--colormap",
        "magma",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let listed: Vec<String> = String::from_utf8_lossy(&r.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(listed.len(), 5);
    for h in 0..4 {
        let p = dir
            .path()
            .join(format!("rocket_dinov2-tiny_p2-3_L01_h{h}.png"));
        let img = image::open(&p).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (640, 427),
            "overlay at the photo's resolution"
        );
    }
    let grid = image::open(dir.path().join("rocket_dinov2-tiny_p2-3_L01_heads.png")).unwrap();
    // rocket 640x427 at shorter side 24 -> 24 x 36 input; the head mean and 4 heads: 3x2 tiles with 4 px gaps
    assert_eq!((grid.width(), grid.height()), (3 * 36 + 16, 2 * 24 + 12));

    let raw = vitscope(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--image",
        "assets/rocket.jpg",
        "--size",
        "24",
        "--out",
        dir.path().to_str().unwrap(),
        "--layer",
        "all",
        "--head",
        "mean",
        "--raw",
    ]);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    for l in 0..3 {
        let img = image::open(
            dir.path()
                .join(format!("rocket_dinov2-tiny_cls_L{l:02}_mean.png")),
        )
        .unwrap()
        .to_rgb8();
        assert_eq!(
            img.dimensions(),
            (36, 24),
            "raw maps at the model input size"
        );
        // each 4x4 patch is one solid colour
        assert_eq!(img.get_pixel(0, 0), img.get_pixel(3, 3));
    }
}

#[test]
fn bad_inputs_fail_with_one_clear_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    let model = fixture("dinov2_tiny");
    let m = model.to_str().unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.path().join("t.safetensors");
    let bytes = std::fs::read(model.join("model.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let pickle = dir.path().join("pytorch_model.bin");
    std::fs::write(&pickle, b"PK\x03\x04 zip pickle").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["export", "--model", m, "--image", "no/such.png", "--out", o],
            "no/such.png",
        ),
        (
            vec![
                "export",
                "--model",
                m,
                "--image",
                empty.to_str().unwrap(),
                "--out",
                o,
            ],
            "cannot decode image",
        ),
        (
            vec![
                "export",
                "--model",
                truncated.to_str().unwrap(),
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
            ],
            "not a readable safetensors file",
        ),
        (
            vec![
                "export",
                "--model",
                pickle.to_str().unwrap(),
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
            ],
            "pickle",
        ),
        (
            vec![
                "export",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
                "--layer",
                "7",
            ],
            "layer 7 does not exist",
        ),
        (
            vec![
                "export",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
                "--head",
                "9",
            ],
            "head 9 does not exist",
        ),
        (
            vec![
                "export",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
                "--query",
                "99,0",
            ],
            "outside the",
        ),
        (
            vec![
                "export",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
                "--query",
                "reg0",
            ],
            "no register 0",
        ),
        (
            vec![
                "dump",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                "/proc/nope/x.safetensors",
            ],
            "cannot",
        ),
        (
            vec![
                "dump",
                "--model",
                m,
                "--image",
                "assets/chelsea.png",
                "--out",
                o,
                "--size",
                "0",
            ],
            "invalid",
        ),
    ];
    for (args, needle) in cases {
        let r = vitscope(&args);
        assert_clean_failure(&r, needle);
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{args:?} wrote files"
        );
    }
}

#[test]
fn a_mismatched_checkpoint_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    // drop one tensor, rename one, reshape one
    let (t, _) = read_f32(&fixture("dinov2_tiny/model.safetensors"));
    let mut owned: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, (shape, v)) in t {
        if name == "encoder.layer.1.mlp.fc2.bias" {
            continue;
        }
        let name = if name == "layernorm.weight" {
            "layernorm.gamma".to_string()
        } else {
            name
        };
        let (shape, v) = if name == "encoder.layer.0.norm1.weight" {
            (vec![47], v[..47].to_vec())
        } else {
            (shape, v)
        };
        owned.push((name, shape, v));
    }
    let path = dir.path().join("model.safetensors");
    write_f32(&path, &owned);
    std::fs::copy(
        fixture("dinov2_tiny/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let r = vitscope(&[
        "dump",
        "--model",
        dir.path().to_str().unwrap(),
        "--image",
        "assets/chelsea.png",
        "--out",
        dir.path().join("x.safetensors").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    for needle in [
        "2 missing",
        "encoder.layer.1.mlp.fc2.bias",
        "layernorm.weight",
        "1 unexpected: layernorm.gamma",
        "encoder.layer.0.norm1.weight: file has [47], model needs [48]",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
}

/// `vitscope dump` keeps one contract for every family: timm, HF DeiT, HF CLIP in a full CLIPModel, and a
/// model without a class token (whose default query is the centre patch).
#[test]
fn dump_and_export_work_for_every_naming() {
    let dir = tempfile::tempdir().unwrap();
    for (case, prefix, outputs) in [
        ("timm_deit_distilled", 2, &["logits"][..]),
        ("hf_clip_model", 1, &["image_embeds"][..]),
        ("timm_vit_gap", 0, &["logits"][..]),
        ("hf_dinov2_registers", 4, &[][..]),
    ] {
        let out = dir.path().join(format!("{case}.safetensors"));
        let model = fixture(&format!("zoo/{case}"));
        let model = model.to_str().unwrap();
        let common = [
            "--model",
            model,
            "--image",
            "assets/rocket.jpg",
            "--size",
            "24x40",
            "--device",
            "cpu",
        ];
        let r = vitscope(&[&["dump", "--out", out.to_str().unwrap()][..], &common].concat());
        assert!(
            r.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let (t, meta) = read_f32(&out);
        let n = prefix + 6 * 10;
        assert_eq!(t["attention.1"].0, vec![4, n, n], "{case}");
        assert_eq!(t["last_hidden_state"].0, vec![n, 48], "{case}");
        for o in outputs {
            assert!(t.contains_key(*o), "{case}: no {o}");
        }
        let j = |k: &str| serde_json::from_str::<serde_json::Value>(&meta[k]).unwrap();
        assert_eq!(j("num_prefix_tokens"), prefix, "{case}");
        let png_dir = dir.path().join(case);
        let r = vitscope(
            &[
                &["export", "--out", png_dir.to_str().unwrap(), "--layer", "1"][..],
                &common,
            ]
            .concat(),
        );
        assert!(
            r.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let files: Vec<_> = std::fs::read_dir(&png_dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "{case}");
        let text = vitscope::export::png_file::read_png_text(&files[0].path()).unwrap();
        let query = &text.iter().find(|(k, _)| k == "vitscope.query").unwrap().1;
        let expected = if prefix == 0 {
            "patch row 3, col 5"
        } else {
            "CLS"
        };
        assert_eq!(query, expected, "{case}: default query");
    }
}

/// A repo id resolves through the local Hugging Face cache (HF_HUB_CACHE, then HF_HOME/hub), offline, and
/// `vitscope info` reports the model and its top classes with names from config.json.
#[test]
fn repo_ids_open_from_the_hf_cache_and_info_names_the_top_classes() {
    let home = tempfile::tempdir().unwrap();
    let snap = home
        .path()
        .join("hub/models--acme--tiny-vit/snapshots/0123abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(home.path().join("hub/models--acme--tiny-vit/refs")).unwrap();
    std::fs::write(
        home.path().join("hub/models--acme--tiny-vit/refs/main"),
        "0123abc",
    )
    .unwrap();
    for f in [
        "model.safetensors",
        "config.json",
        "preprocessor_config.json",
    ] {
        std::fs::copy(fixture(&format!("zoo/hf_vit/{f}")), snap.join(f)).unwrap();
    }
    let run = |envs: &[(&str, &std::path::Path)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vitscope"));
        c.args([
            "info",
            "--model",
            "acme/tiny-vit",
            "--image",
            "assets/chelsea.png",
            "--size",
            "24",
        ]);
        c.env_remove("HF_HUB_CACHE").env_remove("HF_HOME");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let r = run(&[("HF_HOME", home.path())]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["description"], "Hugging Face ViTForImageClassification");
    assert_eq!(v["path"], snap.join("model.safetensors").to_str().unwrap());
    assert_eq!(v["num_classes"], 5);
    let top = v["top_classes"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let names: Vec<&str> = top.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in ["tabby cat", "coffee mug", "astronaut", "rocket", "teapot"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let p: f64 = top.iter().map(|c| c["probability"].as_f64().unwrap()).sum();
    assert!(
        (p - 1.0).abs() < 1e-5,
        "all 5 classes: probabilities sum to 1, got {p}"
    );
    assert!(
        top.windows(2)
            .all(|w| w[0]["logit"].as_f64() >= w[1]["logit"].as_f64())
    );

    let r = run(&[("HF_HUB_CACHE", &home.path().join("hub"))]);
    assert!(
        r.status.success(),
        "HF_HUB_CACHE: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let r = run(&[("HF_HOME", &home.path().join("elsewhere"))]);
    assert_clean_failure(&r, "downloads only when asked: add --download");
}

/// `--svg`: each single map also as SVG, the map embedded (the same pixels as the PNG), the colour bar's
/// gradient, ticks and what it measures as vectors, the provenance as metadata; the app's "SVG too" and
/// the overwrite question count the SVGs as files of the export.
#[test]
fn export_writes_an_svg_next_to_each_single_map() {
    const STEM: &str = "chelsea_dinov2-tiny";
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("dinov2_tiny");
    let out = dir.path().to_str().unwrap().to_string();
    let export = || {
        vitscope(&[
            "export",
            "--model",
            model.to_str().unwrap(),
            "--image",
            "assets/chelsea.png",
            "--size",
            "24",
            "--out",
            &out,
            "--layer",
            "2",
            "--svg",
        ])
    };
    let r = export();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let png = dir.path().join(format!("{STEM}_cls_L02_mean.png"));
    let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("attention weight (softmax probability)"));
    assert!(svg.contains("vitscope.layer: 2"));
    assert_eq!(svg.matches("<stop ").count(), 33);
    assert!(svg.matches("<line ").count() >= 2, "ticks");
    let embedded = common::first_embedded_png(&svg);
    assert_eq!(embedded, image::open(&png).unwrap().to_rgb8());
    // a second export without --force refuses: its files exist
    let again = export();
    assert!(!again.status.success());

    // the head grid and the mosaic too: plain tiles embedded (the PNG's without the baked-in names), each
    // tile's name as text, the bar's ends named
    let r = vitscope(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--image",
        "assets/chelsea.png",
        "--size",
        "112",
        "--out",
        &out,
        "--layer",
        "all",
        "--head",
        "all",
        "--svg",
        "--force",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for (name, tiles) in [("L01_heads", 1 + 4), ("mosaic", 3 * (1 + 4))] {
        let png = dir.path().join(format!("{STEM}_cls_{name}.png"));
        let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
        assert_eq!(
            svg.matches("fill-opacity=\"0.65\"").count(),
            tiles,
            "{name}: one name box per tile"
        );
        assert!(
            svg.contains(">L1 mean</text>") && svg.contains(">L1 h1</text>"),
            "{name}"
        );
        assert!(
            svg.contains(">low</text>") && svg.contains(">high</text>"),
            "{name}"
        );
        let embedded = common::first_embedded_png(&svg);
        let shown = image::open(&png).unwrap().to_rgb8();
        assert_eq!(embedded.dimensions(), shown.dimensions(), "{name}");
        assert_ne!(
            embedded, shown,
            "{name}: the SVG's tiles carry no raster text"
        );
    }
}

/// `--colour-bar` also puts a bar under the query maps (rollout here), the map above it unchanged.
#[test]
fn query_maps_take_a_colour_bar_too() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("dinov2_tiny");
    let export = |sub: &str, bar: bool| {
        let out = dir.path().join(sub);
        let mut args = vec![
            "export",
            "--model",
            model.to_str().unwrap(),
            "--image",
            "assets/chelsea.png",
            "--size",
            "24",
            "--method",
            "rollout",
            "--out",
            out.to_str().unwrap(),
        ];
        if bar {
            args.push("--colour-bar");
        }
        let r = vitscope(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        image::open(out.join("chelsea_dinov2-tiny_cls_rollout.png"))
            .unwrap()
            .to_rgb8()
    };
    let plain = export("plain", false);
    let barred = export("bar", true);
    assert_eq!(plain.dimensions(), (451, 300));
    assert_eq!(
        barred.dimensions(),
        (451, 300 + vitscope::export::maps::colour_bar_height(451))
    );
    let top = image::imageops::crop_imm(&barred, 0, 0, 451, 300).to_image();
    assert_eq!(top, plain, "the map itself is unchanged");
}

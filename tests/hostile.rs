//! "Nothing breaks it, part two": each reproduction of the hostile afternoon, through the command line (and
//! the app where it applies). Every test here failed on the main branch before the fixes.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::corpus::{same, tiny_variant};
use common::{assert_clean_failure_of, fixture, read_f32, root, vitscope};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn tiny() -> String {
    fixture("dinov2_tiny").display().to_string()
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Run the CLI with a deadline: a hang is a failure, not a stuck test.
fn vitscope_within(args: &[&str], env: &[(&str, &Path)], limit: Duration) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vitscope"));
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("vitscope {args:?} hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

// 2, 6: special files and unreadable configs

#[test]
fn special_files_are_refused_at_once_and_never_read_forever() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let o = out.to_str().unwrap();
    let fifo = d.join("photo.png");
    mkfifo(&fifo);
    let limit = Duration::from_secs(60);
    for (image, needle) in [
        (fifo.to_str().unwrap(), "named pipe (FIFO)"),
        ("/dev/zero", "character device"),
        ("/dev/urandom", "character device"),
    ] {
        let r = vitscope_within(
            &[
                "export",
                "--model",
                &tiny(),
                "--image",
                image,
                "--out",
                o,
                "--size",
                "24",
            ],
            &[],
            limit,
        );
        assert_clean_failure_of(&r, image, needle);
    }
    // a FIFO as the weights file
    let model = d.join("fifo_model");
    std::fs::create_dir(&model).unwrap();
    std::fs::copy(
        fixture("dinov2_tiny/config.json"),
        model.join("config.json"),
    )
    .unwrap();
    mkfifo(&model.join("model.safetensors"));
    let r = vitscope_within(&["info", "--model", model.to_str().unwrap()], &[], limit);
    assert_clean_failure_of(&r, "FIFO weights", "named pipe (FIFO)");
    assert!(entries(&out).is_empty());
}

#[test]
fn a_config_that_exists_but_cannot_be_read_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // a Hugging Face cache whose config.json is a link to a missing blob
    let cache = dir.path().join("hub");
    let repo = cache.join("models--org--tiny");
    let snap = repo.join("snapshots/abc123");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    std::fs::copy(
        fixture("dinov2_tiny/model.safetensors"),
        snap.join("model.safetensors"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../blobs/0123456789abcdef", snap.join("config.json")).unwrap();
    let r = vitscope_within(
        &["info", "--model", "org/tiny"],
        &[("HF_HUB_CACHE", &cache)],
        Duration::from_secs(60),
    );
    assert_clean_failure_of(&r, "broken link", "config.json");
    assert!(stderr(&r).contains("does not exist"), "{}", stderr(&r));
    // a folder and a FIFO named config.json
    for (name, make) in [
        (
            "dir_config",
            (|p: &Path| std::fs::create_dir(p).unwrap()) as fn(&Path),
        ),
        ("fifo_config", |p: &Path| mkfifo(p)),
    ] {
        let m = dir.path().join(name);
        std::fs::create_dir(&m).unwrap();
        std::fs::copy(
            fixture("dinov2_tiny/model.safetensors"),
            m.join("model.safetensors"),
        )
        .unwrap();
        make(&m.join("config.json"));
        let r = vitscope_within(
            &["info", "--model", m.to_str().unwrap()],
            &[],
            Duration::from_secs(60),
        );
        assert_clean_failure_of(&r, name, "config.json");
    }
    // without any config.json the model still opens (the head count is then inferred and said)
    let m = dir.path().join("no_config");
    std::fs::create_dir(&m).unwrap();
    std::fs::copy(
        fixture("dinov2_tiny/model.safetensors"),
        m.join("model.safetensors"),
    )
    .unwrap();
    let r = vitscope(&["info", "--model", m.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
}

// 1: truncated JPEGs (the corpus holds baseline and progressive cuts; tests/bad_inputs.rs runs them all)

#[test]
fn a_truncated_jpeg_is_refused_by_the_cli_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let progressive = std::fs::read(fixture("images/progressive.jpg")).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &progressive[..progressive.len() * 3 / 10]).unwrap();
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--size",
        "24",
    ]);
    assert_clean_failure_of(&r, "30 % progressive", "part of the picture is missing");
    assert!(entries(&out).is_empty());
    // the whole file opens
    let whole = dir.path().join("whole.jpg");
    std::fs::write(&whole, &progressive).unwrap();
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        whole.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--size",
        "24",
        "--head",
        "mean",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
}

// 3: wide images keep their aspect

#[test]
fn a_size_that_would_squash_a_wide_image_is_refused_with_one_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.png");
    image::RgbImage::from_pixel(900, 100, image::Rgb([90, 120, 30]))
        .save(&wide)
        .unwrap();
    let r = vitscope(&[
        "info",
        "--model",
        &tiny(),
        "--image",
        wide.to_str().unwrap(),
        "--size",
        "2000",
    ]);
    assert_clean_failure_of(&r, "9:1 at 2000", "use size 452 or less");
    assert!(stderr(&r).contains("never squashed"), "{}", stderr(&r));
    let r = vitscope(&[
        "info",
        "--model",
        &tiny(),
        "--image",
        wide.to_str().unwrap(),
        "--size",
        "40",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["input_hw"], serde_json::json!([40, 360]));
}

// 4, 15: config values are checked, never truncated, wrapped or overridden

#[test]
fn config_values_that_contradict_the_weights_or_are_not_whole_numbers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, serde_json::Value, &str, &str)> = vec![
        (
            "layers12",
            12.into(),
            "num_hidden_layers",
            "says the number of layers is 12",
        ),
        (
            "heads49",
            serde_json::json!(4.9),
            "num_attention_heads",
            "num_attention_heads = 4.9 is not a whole number",
        ),
        (
            "size1e20",
            serde_json::json!(1e20),
            "image_size",
            "image_size = 1e+20 is not a size",
        ),
        ("width64", 64.into(), "hidden_size", "says the width is 64"),
        ("patch8", 8.into(), "patch_size", "says the patch size is 8"),
        (
            "regs4",
            4.into(),
            "num_register_tokens",
            "says 4 register tokens",
        ),
        (
            "eps",
            serde_json::json!(-1.0),
            "layer_norm_eps",
            "layer_norm_eps = -1",
        ),
    ];
    for (name, value, key, needle) in cases {
        let m = tiny_variant(dir.path(), name, same, |c| {
            c[key] = value.clone();
        });
        let r = vitscope(&["info", "--model", m.to_str().unwrap()]);
        assert_clean_failure_of(&r, name, needle);
    }
    // whole numbers written as floats are fine
    let m = tiny_variant(dir.path(), "float_ints", same, |c| {
        c["num_attention_heads"] = serde_json::json!(4.0);
        c["num_hidden_layers"] = serde_json::json!(3.0);
    });
    let r = vitscope(&["info", "--model", m.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
}

// 5: a target that explains a constant

#[test]
fn relevance_of_the_cls_to_itself_is_refused_instead_of_a_blank_map() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for method in ["relevance", "grad-rollout"] {
        let r = vitscope(&[
            "export",
            "--model",
            &tiny(),
            "--image",
            "assets/chelsea.png",
            "--out",
            out.to_str().unwrap(),
            "--size",
            "24",
            "--method",
            method,
            "--target",
            "sim:cls",
        ]);
        assert_clean_failure_of(&r, method, "always 1");
    }
    assert!(entries(&out).is_empty());
    // a patch target still works
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        "assets/chelsea.png",
        "--out",
        out.to_str().unwrap(),
        "--size",
        "24",
        "--method",
        "relevance",
        "--target",
        "sim:2,3",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
}

// 7, 16: the dump is streamed, its metadata sorted, its bytes reproducible

#[test]
fn dumps_are_bit_identical_and_every_storage_dumps_the_same_maps() {
    let dir = tempfile::tempdir().unwrap();
    let dump = |name: &str, store: &str| -> PathBuf {
        let p = dir.path().join(name);
        let r = vitscope(&[
            "dump",
            "--model",
            &tiny(),
            "--image",
            "assets/coffee.png",
            "--out",
            p.to_str().unwrap(),
            "--size",
            "28",
            "--attention",
            store,
        ]);
        assert!(r.status.success(), "{store}: {}", stderr(&r));
        p
    };
    let a = dump("a.safetensors", "f32");
    let b = dump("b.safetensors", "f32");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "two runs differ"
    );
    // the header's metadata keys come sorted
    let bytes = std::fs::read(&a).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let meta_at = header.find("__metadata__").unwrap();
    let keys: Vec<usize> = [
        "description",
        "device",
        "family",
        "grid_h",
        "num_heads",
        "vitscope_version",
    ]
    .iter()
    .map(|k| header[meta_at..].find(&format!("\"{k}\"")).unwrap())
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{header}");
    let (f32_maps, meta) = read_f32(&a);
    assert_eq!(meta["num_layers"], "3");
    for store in ["query-keys", "bf16"] {
        let (other, _) = read_f32(&dump(&format!("{store}.safetensors"), store));
        for l in 0..3 {
            let k = format!("attention.{l}");
            let (s1, v1) = &f32_maps[&k];
            let (s2, v2) = &other[&k];
            assert_eq!(s1, s2);
            let tol = if store == "bf16" { 1e-2 } else { 1e-5 };
            assert!(common::max_abs_diff(v1, v2) < tol, "{store} {k}");
        }
    }
}

#[test]
fn npy_exports_distance_tables_and_dumps_are_bit_identical_run_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |tag: &str| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let out = dir.path().join(tag);
        let r = vitscope(&[
            "export",
            "--model",
            &tiny(),
            "--image",
            "assets/astronaut.png",
            "--out",
            out.to_str().unwrap(),
            "--size",
            "32",
            "--format",
            "npy",
            "--method",
            "rollout",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        let npy = entries(&out)
            .into_iter()
            .find(|f| f.ends_with(".npy"))
            .unwrap();
        let csv = dir.path().join(format!("{tag}.csv"));
        let r = vitscope(&[
            "distance",
            "--model",
            &tiny(),
            "--images",
            "assets",
            "--out",
            csv.to_str().unwrap(),
            "--size",
            "32",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        let dump = dir.path().join(format!("{tag}.safetensors"));
        let r = vitscope(&[
            "dump",
            "--model",
            &tiny(),
            "--image",
            "assets/astronaut.png",
            "--out",
            dump.to_str().unwrap(),
            "--size",
            "32",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        (
            std::fs::read(out.join(npy)).unwrap(),
            std::fs::read(csv).unwrap(),
            std::fs::read(dump).unwrap(),
        )
    };
    let first = run("one");
    let second = run("two");
    assert_eq!(first.0, second.0, "npy differs");
    assert_eq!(first.1, second.1, "distance CSV differs");
    assert!(first.2 == second.2, "dump differs");
}

// 8: distance honours --attention

#[test]
fn distance_uses_the_attention_storage_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let table = |store: &str| -> String {
        let csv = dir.path().join(format!("{store}.csv"));
        let r = vitscope(&[
            "distance",
            "--model",
            &tiny(),
            "--images",
            "assets/chelsea.png",
            "--out",
            csv.to_str().unwrap(),
            "--size",
            "40",
            "--attention",
            store,
        ]);
        assert!(r.status.success(), "{store}: {}", stderr(&r));
        std::fs::read_to_string(csv).unwrap()
    };
    let (exact, qk, half) = (table("f32"), table("query-keys"), table("f16"));
    let values = |t: &str| -> Vec<f64> {
        t.lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .skip(2)
                    .map(|v| v.parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (e, h, q) = (values(&exact), values(&half), values(&qk));
    assert_ne!(
        exact, half,
        "f16 storage gave the f32 table: --attention was ignored"
    );
    let worst = |other: &[f64]| {
        other
            .iter()
            .zip(&e)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f64::max)
    };
    // half maps round (~1e-3); queries and keys recompute the same maps to f32 rounding
    assert!(
        worst(&h) < 1e-2,
        "f16: {}\n{half}\nf32:\n{exact}",
        worst(&h)
    );
    assert!(
        worst(&q) < 1e-3,
        "query-keys: {}\n{qk}\nf32:\n{exact}",
        worst(&q)
    );
}

// 9, 11: all-or-nothing exports, no rename over special files

#[test]
fn multi_file_exports_write_everything_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let args = [
        "export",
        "--model",
        &tiny(),
        "--image",
        "assets/chelsea.png",
        "--out",
        o,
        "--size",
        "24",
        "--head",
        "all",
    ];
    let r = vitscope(&args);
    assert!(r.status.success(), "{}", stderr(&r));
    let all = entries(&out);
    assert!(all.len() >= 5, "{all:?}");
    // keep one file of the set, remove the rest: the second run refuses and writes none of the others
    let keep = all[all.len() / 2].clone();
    for f in &all {
        if *f != keep {
            std::fs::remove_file(out.join(f)).unwrap();
        }
    }
    let r = vitscope(&args);
    assert_clean_failure_of(&r, "one file exists", "already exists");
    assert_eq!(
        entries(&out),
        vec![keep.clone()],
        "a failed export left files"
    );
    assert!(String::from_utf8_lossy(&r.stdout).trim().is_empty());

    // distance: a plot that cannot be written takes the table with it
    let file = dir.path().join("plain_file");
    std::fs::write(&file, b"x").unwrap();
    let csv = dir.path().join("a.csv");
    let r = vitscope(&[
        "distance",
        "--model",
        &tiny(),
        "--images",
        "assets/chelsea.png",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        file.join("p.png").to_str().unwrap(),
        "--size",
        "24",
    ]);
    assert_clean_failure_of(&r, "bad plot folder", "not a folder");
    assert!(!csv.exists(), "the CSV was left behind");
    // the same path twice is refused, even with --force
    let r = vitscope(&[
        "distance",
        "--model",
        &tiny(),
        "--images",
        "assets/chelsea.png",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        csv.to_str().unwrap(),
        "--size",
        "24",
        "--force",
    ]);
    assert_clean_failure_of(&r, "same path", "same file");
    assert!(!csv.exists());
    // nothing is ever renamed over a device
    let model = tiny();
    for cmd in [
        vec!["dump", "--out", "/dev/null"],
        vec![
            "distance",
            "--images",
            "assets/chelsea.png",
            "--out",
            "/dev/null",
        ],
    ] {
        let mut a = cmd.clone();
        a.extend(["--model", &model, "--size", "24", "--force"]);
        if cmd[0] == "dump" {
            a.extend(["--image", "assets/chelsea.png"]);
        }
        let r = vitscope(&a);
        assert_clean_failure_of(&r, cmd[0], "character device, not a regular file");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

// 10: signals and stale temporary files

#[test]
fn a_stopped_export_leaves_no_temporary_file_and_stale_ones_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(".old.png.tmp-4194304"), b"left by a killed run").unwrap();
    // the built-in model: 85 files, whose writing takes about 2 s in a debug build, so the signals below land
    // before, during and after the export stage
    let builtin = common::builtin_model().display().to_string();
    let args = |to: &Path| -> Vec<String> {
        [
            "export",
            "--model",
            &builtin,
            "--image",
            "assets/astronaut.png",
            "--out",
            to.to_str().unwrap(),
            "--layer",
            "all",
            "--head",
            "all",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let full = dir.path().join("full");
    let r = Command::new(env!("CARGO_BIN_EXE_vitscope"))
        .args(args(&full))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let complete = entries(&full).len();
    let mut stopped_mid_way = 0;
    for (i, delay_ms) in [300u64, 1000, 1400, 1800, 2200, 4000].iter().enumerate() {
        let sub = out.join(format!("run{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vitscope"))
            .args(args(&sub))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*delay_ms));
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        let left: Vec<String> = entries(&sub)
            .into_iter()
            .filter(|f| f.contains(".tmp-"))
            .collect();
        assert!(
            left.is_empty(),
            "after SIGTERM at {delay_ms} ms ({status:?}): {left:?}"
        );
        // all or nothing: a stopped export wrote no map or all of them
        let pngs = entries(&sub).len();
        assert!(
            pngs == 0 || pngs == complete,
            "{pngs} of {complete} files ({status:?})"
        );
        stopped_mid_way += usize::from(!status.success() && pngs == 0 && delay_ms >= &1000);
    }
    assert!(stopped_mid_way > 0, "no signal landed while the export ran");
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        "assets/chelsea.png",
        "--out",
        out.to_str().unwrap(),
        "--size",
        "24",
        "--head",
        "mean",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(
        !out.join(".old.png.tmp-4194304").exists(),
        "stale temporary file kept"
    );
}

// 12: the app keeps a start-up error

#[test]
fn the_app_keeps_a_start_up_error_until_that_thing_succeeds() {
    use vitscope::model::{InputSize, ModelSource};
    use vitscope::ui::{App, StartOptions};
    let dir = tempfile::tempdir().unwrap();
    let start = StartOptions {
        model: Some(ModelSource::Path(dir.path().join("no_such_model"))),
        image: Some(root().join("assets/chelsea.png")),
        size: InputSize::Shorter(24),
        export_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(|cc| App::new(cc, start));
    common::ui::settle(&mut h);
    let err = h
        .state()
        .state
        .error
        .clone()
        .expect("the start-up error is shown");
    assert!(err.contains("no_such_model"), "{err}");
    assert!(h.state().state.image.is_some(), "the image still loaded");
    // loading the model that works clears it
    h.state_mut()
        .apply(vitscope::ui::app::UiCommand::LoadModel(ModelSource::Path(
            fixture("dinov2_tiny"),
        )));
    common::ui::settle(&mut h);
    assert!(
        h.state().state.error.is_none(),
        "{:?}",
        h.state().state.error
    );
}

// 13: sharded checkpoints

#[test]
fn a_sharded_checkpoint_loads_bit_for_bit_like_the_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let sharded = dir.path().join("sharded");
    common::shard_tiny(&sharded);
    let dump = |model: &Path, name: &str| -> Vec<u8> {
        let p = dir.path().join(name);
        let r = vitscope(&[
            "dump",
            "--model",
            model.to_str().unwrap(),
            "--image",
            "assets/chelsea.png",
            "--out",
            p.to_str().unwrap(),
            "--size",
            "24",
        ]);
        assert!(r.status.success(), "{}", stderr(&r));
        std::fs::read(p).unwrap()
    };
    let single = dump(&fixture("dinov2_tiny"), "single.safetensors");
    let from_shards = dump(&sharded, "sharded.safetensors");
    // the metadata names the model path; the tensors must be the same bytes
    let (a, _) = read_f32(&dir.path().join("single.safetensors"));
    let (b, _) = read_f32(&dir.path().join("sharded.safetensors"));
    assert!(!single.is_empty() && !from_shards.is_empty());
    assert_eq!(a.len(), b.len());
    for (k, (s, v)) in &a {
        assert_eq!(&b[k].0, s, "{k}");
        assert!(
            v.iter()
                .zip(&b[k].1)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{k}"
        );
    }
    // the index file itself opens too
    let r = vitscope(&[
        "info",
        "--model",
        sharded
            .join("model.safetensors.index.json")
            .to_str()
            .unwrap(),
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    // a missing shard and a missing index are named
    std::fs::remove_file(sharded.join("model-00002-of-00003.safetensors")).unwrap();
    let r = vitscope(&["info", "--model", sharded.to_str().unwrap()]);
    assert_clean_failure_of(&r, "missing shard", "1 of its 3 shards are not in");
    std::fs::remove_file(sharded.join("model.safetensors.index.json")).unwrap();
    let r = vitscope(&["info", "--model", sharded.to_str().unwrap()]);
    assert_clean_failure_of(&r, "no index", "model.safetensors.index.json");
}

// 14: FP8 and other dtypes are named

#[test]
fn an_fp8_tensor_is_named_with_its_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_variant(
        dir.path(),
        "fp8",
        |n, s, v| {
            if n == "encoder.layer.0.norm1.weight" {
                vec![(
                    n.into(),
                    safetensors::Dtype::F8_E4M3,
                    s.to_vec(),
                    vec![0x38; v.len()],
                )]
            } else {
                same(n, s, v)
            }
        },
        |_| {},
    );
    let r = vitscope(&["info", "--model", m.to_str().unwrap()]);
    assert_clean_failure_of(
        &r,
        "fp8",
        "encoder.layer.0.norm1.weight (F8_E4M3, 8-bit float",
    );
}

// 16: messages

#[test]
fn messages_say_each_thing_once_in_words_and_in_bounded_length() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    // a folder as the image: the cause once
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        "assets",
        "--out",
        o,
    ]);
    assert_clean_failure_of(&r, "folder image", "a folder, not a regular file");
    assert_eq!(
        stderr(&r).matches("regular file").count(),
        1,
        "{}",
        stderr(&r)
    );
    // a mismatch report: no ":;" and a bounded list
    let m = tiny_variant(
        dir.path(),
        "many_extra",
        |n, s, v| {
            let mut t = same(n, s, v);
            if n == "layernorm.bias" {
                for i in 0..5000 {
                    t.push((
                        format!("extra.{i:05}"),
                        safetensors::Dtype::F32,
                        vec![1],
                        vec![0; 4],
                    ));
                }
            }
            t
        },
        |_| {},
    );
    let r = vitscope(&["info", "--model", m.to_str().unwrap()]);
    let e = stderr(&r);
    assert_clean_failure_of(&r, "5000 extra", "5000 unexpected");
    assert!(e.contains("and 4988 more"), "{e}");
    assert!(e.len() < 2000, "{} bytes", e.len());
    assert!(!e.contains(":;"), "{e}");
    // usage errors in words
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--method",
        "patch-pca",
        "--components",
        "0",
        "--out",
        o,
    ]);
    assert_clean_failure_of(&r, "--components 0", "not a whole number of 1 or more");
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        "assets/chelsea.png",
        "--out",
        o,
        "--size",
        "24",
        "--query",
        "1,2,3",
    ]);
    assert_clean_failure_of(&r, "--query 1,2,3", "two whole numbers");
    // a newline in a file name does not split the one-path-per-line output
    let odd = dir.path().join("two\nlines.png");
    std::fs::copy(root().join("assets/chelsea.png"), &odd).unwrap();
    let r = vitscope(&[
        "export",
        "--model",
        &tiny(),
        "--image",
        odd.to_str().unwrap(),
        "--out",
        o,
        "--size",
        "24",
        "--head",
        "mean",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        stdout.lines().count(),
        4,
        "three layers and the mosaic: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with('"') && l.contains("two\\nlines")),
        "{stdout}"
    );
}

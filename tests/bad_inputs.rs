//! Nothing breaks it: a generated corpus of awkward and broken images and checkpoints, run through the
//! decoder, the command line and the app. Bad input gives one clear line (CLI) or a message on screen
//! (app), writes nothing, and leaves the previous model and image loaded.
mod common;

use std::path::Path;
use std::process::Command;

use common::corpus::*;
use common::ui::settle;
use common::*;
use egui_kittest::kittest::Queryable;
use vitscope::model::preprocess::{decode_image, load_image};
use vitscope::ui::settings::View;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(r) => r
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

#[test]
fn odd_images_decode_to_what_they_show_and_say_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    for case in odd_images(dir.path()) {
        let name = case.name();
        let got = load_image(&case.path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got.rgb.dimensions(),
            case.expected.dimensions(),
            "{name}: size"
        );
        let worst = got
            .rgb
            .pixels()
            .zip(case.expected.pixels())
            .flat_map(|(a, b)| (0..3).map(move |c| a.0[c].abs_diff(b.0[c])))
            .max()
            .unwrap();
        assert!(
            worst <= case.tolerance,
            "{name}: pixels differ by {worst} > {}",
            case.tolerance
        );
        let notes = got.notes.join("; ");
        if case.note.is_empty() {
            assert!(got.notes.is_empty(), "{name}: unexpected notes {notes}");
        } else {
            assert!(
                notes.contains(case.note),
                "{name}: {notes:?} lacks {:?}",
                case.note
            );
        }
    }
}

#[test]
fn bad_images_are_refused_from_the_header_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (path, needle) in bad_images(dir.path()) {
        let e = load_image(&path).unwrap_err().to_string();
        assert!(e.contains(needle), "{}: {e}", path.display());
        assert!(
            e.contains(&path.display().to_string()),
            "names the file: {e}"
        );
    }
    // the same bytes in memory (the fuzz target's entry point) fail the same way
    let bomb = std::fs::read(dir.path().join("bomb.png")).unwrap();
    assert!(
        decode_image(&bomb)
            .unwrap_err()
            .contains("decompression bomb")
    );
}

#[test]
fn the_cli_refuses_every_bad_input_in_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let tiny_model = fixture("dinov2_tiny");
    let m = tiny_model.to_str().unwrap();
    let mut cases: Vec<(String, String, &str)> = bad_images(dir.path())
        .into_iter()
        .map(|(p, n)| (m.to_string(), p.display().to_string(), n))
        .collect();
    cases.push((
        m.into(),
        tiny_image(dir.path()).display().to_string(),
        "smaller than one 4 × 4 patch",
    ));
    let photo = root().join("assets/chelsea.png").display().to_string();
    for (p, n) in bad_checkpoints(dir.path()) {
        cases.push((p.display().to_string(), photo.clone(), n));
    }
    for (model, image, needle) in &cases {
        let r = vitscope(&[
            "export", "--model", model, "--image", image, "--out", o, "--size", "24",
        ]);
        assert_clean_failure_of(&r, &format!("{model} + {image}"), needle);
        assert!(entries(&out).is_empty(), "{model} + {image} wrote files");
    }
}

#[test]
fn the_cli_opens_odd_images_and_prints_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m = fixture("dinov2_tiny");
    for case in odd_images(dir.path()) {
        let name = case.name();
        let r = vitscope(&[
            "export",
            "--model",
            m.to_str().unwrap(),
            "--image",
            case.path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--size",
            "24",
            "--head",
            "mean",
        ]);
        let e = stderr(&r);
        assert!(r.status.success(), "{name}: {e}");
        if !case.note.is_empty() {
            assert!(e.contains("note: ") && e.contains(case.note), "{name}: {e}");
        }
    }
    assert!(entries(&out).iter().any(|f| f.starts_with("rgba")));
}

#[test]
fn nan_weights_load_with_a_warning_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let model = nan_checkpoint(dir.path());
    let r = vitscope(&["info", "--model", model.to_str().unwrap()]);
    let e = stderr(&r);
    assert!(r.status.success(), "{e}");
    assert!(
        e.contains("warning: 1 tensor hold")
            && e.contains("encoder.layer.2.mlp.fc1.weight (2 NaN, 1 Inf)"),
        "{e}"
    );
}

#[test]
fn an_input_too_large_for_memory_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.safetensors");
    let r = vitscope(&[
        "dump",
        "--model",
        fixture("dinov2_tiny").to_str().unwrap(),
        "--image",
        "assets/chelsea.png",
        "--out",
        out.to_str().unwrap(),
        "--size",
        "2700",
    ]);
    assert_clean_failure_of(&r, "2700 px", "GiB for the attention maps");
    assert!(stderr(&r).contains("--size "), "suggests a size");
    assert!(!out.exists());
}

/// A full disk, made real with a file-size limit (`ulimit -f`, SIGXFSZ ignored so writes fail with
/// EFBIG): the export fails in one line and leaves neither a partial PNG nor a temporary file.
#[test]
fn a_full_disk_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let script = format!(
        "trap '' XFSZ; ulimit -f 2; exec '{}' export --model '{}' --image assets/astronaut.png --out '{}' --size 24",
        env!("CARGO_BIN_EXE_vitscope"),
        fixture("dinov2_tiny").display(),
        out.display()
    );
    let r = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_clean_failure_of(&r, "full disk", "File too large");
    assert!(entries(&out).is_empty(), "left {:?}", entries(&out));
}

/// The app: each bad image and each bad checkpoint shows its error on screen; the model, the image
/// and the shown map stay as they were. An odd image loads and its note is shown.
#[test]
fn the_app_shows_each_error_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let mut h = common::ui::harness(&export, View::Attention);
    let photo = root().join("assets/chelsea.png");
    let map = h.state().shown_map().unwrap();
    let check_kept = |h: &egui_kittest::Harness<'static, vitscope::ui::App>, what: &str| {
        let s = &h.state().state;
        assert_eq!(s.image_path.as_deref(), Some(photo.as_path()), "{what}");
        assert_eq!(s.model.as_ref().map(|m| m.layers), Some(3), "{what}");
        assert!(
            s.model
                .as_ref()
                .unwrap()
                .path
                .starts_with(fixture("dinov2_tiny")),
            "{what}"
        );
        assert_eq!(h.state().shown_map().unwrap(), map, "{what}");
    };
    let mut bad: Vec<(std::path::PathBuf, &str)> = bad_images(dir.path());
    bad.push((tiny_image(dir.path()), "smaller than one"));
    for (path, needle) in bad {
        h.state_mut().state.image_field = path.display().to_string();
        h.get_by_label("Load image").click();
        settle(&mut h);
        let err = h.state().state.error.clone().unwrap_or_default();
        assert!(err.contains(needle), "{}: {err}", path.display());
        assert!(h.query_by_label_contains(needle).is_some(), "on screen");
        check_kept(&h, &path.display().to_string());
    }
    for (path, needle) in bad_checkpoints(dir.path()) {
        h.state_mut().state.model_field = path.display().to_string();
        h.get_by_label("Load model").click();
        settle(&mut h);
        let err = h.state().state.error.clone().unwrap_or_default();
        assert!(err.contains(needle), "{}: {err}", path.display());
        check_kept(&h, &path.display().to_string());
    }
    assert!(entries(&export).is_empty());

    // an odd image loads, and what was done to it is said
    let rgba = odd_images(dir.path())
        .into_iter()
        .find(|c| c.path.ends_with("rgba.png"))
        .unwrap();
    h.state_mut().state.image_field = rgba.path.display().to_string();
    h.get_by_label("Load image").click();
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(s.image_path.as_deref(), Some(rgba.path.as_path()));
    assert_eq!(s.image.as_ref().unwrap().as_ref(), &rgba.expected);
    let notes = s.image_notes.join("; ");
    assert!(notes.contains("composited over white"), "{notes}");
    assert!(h.query_by_label_contains("composited over white").is_some());

    // NaN weights: the model loads and the warning is on screen
    let nan = nan_checkpoint(dir.path());
    h.state_mut().state.model_field = nan.display().to_string();
    h.get_by_label("Load model").click();
    settle(&mut h);
    let s = &h.state().state;
    assert!(s.model.as_ref().unwrap().path.starts_with(&nan));
    assert!(h.query_by_label_contains("2 NaN, 1 Inf").is_some());
}

/// The app never replaces a file without asking: a second export of the same map asks; Cancel writes
/// nothing, Keep both writes under a numbered stem, Replace rewrites the file in place.
#[test]
fn the_app_asks_before_replacing_an_exported_file() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let mut h = common::ui::harness(&export, View::Attention);
    let names = || {
        let mut v = entries(&export);
        v.sort();
        v
    };
    h.get_by_label("Export map").click();
    settle(&mut h);
    let first = names();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(h.state().state.overwrite_prompt.is_none());

    h.get_by_label("Export map").click();
    settle(&mut h);
    let (_, existing) = h.state().state.overwrite_prompt.clone().expect("asks");
    assert_eq!(existing, first);
    assert!(h.query_by_label("Replace existing files?").is_some());
    h.get_by_label("Cancel export").click();
    settle(&mut h);
    assert!(h.state().state.overwrite_prompt.is_none());
    assert_eq!(names(), first, "cancel writes nothing");

    h.get_by_label("Export map").click();
    settle(&mut h);
    h.get_by_label("Keep both").click();
    settle(&mut h);
    let both = names();
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both.iter().any(|n| n.starts_with("chelsea_dinov2-tiny-2_")),
        "{both:?}"
    );

    let original = export.join(&first[0]);
    std::fs::write(&original, b"not a png any more").unwrap();
    h.get_by_label("Export map").click();
    settle(&mut h);
    h.get_by_label("Replace").click();
    settle(&mut h);
    assert_eq!(names(), both, "replaced in place");
    assert!(image::open(&original).is_ok(), "the file was rewritten");
}

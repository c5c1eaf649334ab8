//! The command line. `vitscope` opens the app; `dump` and `export` run headless through the same
//! engine the app's worker uses.
use anyhow::{Context, Result, bail};

use crate::analysis::{HeadFusion, HeadSel, PrefixConvention};
use crate::engine::Engine;
use crate::export::maps::{HeadSpec, LayerSpec, Style};
use crate::export::methods::{Format, Method, Output};
use crate::model::{AttentionStore, DeviceChoice, ModelSource, Precision};
use crate::render::Colormap;

mod args;
mod distance;
mod faithfulness;
mod intervention;
mod method_export;
pub use crate::spec::{parse_query, parse_target};
pub use args::*;
pub use method_export::{MethodRequest, export_method};

/// The command line's values onto the domain types (variants of the same names).
macro_rules! same_variants {
    ($($arg:ident => $dom:ty { $($v:ident),+ })+) => {$(
        impl From<$arg> for $dom {
            fn from(a: $arg) -> $dom {
                match a {
                    $($arg::$v => <$dom>::$v,)+
                }
            }
        }
    )+};
}

same_variants! {
    DeviceArg => DeviceChoice { Auto, Cpu, Cuda }
    PrecisionArg => Precision { F32, F16, Bf16 }
    AttentionArg => AttentionStore { F32, F16, Bf16, QueryKeys }
    FusionArg => HeadFusion { Mean, Max, Min }
    PrefixArg => PrefixConvention { Renormalise, Drop }
    MethodArg => Method {
        Attention, Rollout, Flow, GradRollout, Relevance, DinoMask, TokenNorm, FeaturePca, PosSim, PatchPca,
        RelBias
    }
    FormatArg => Format { Png, Npy }
    ColormapArg => Colormap { Viridis, Magma, Inferno, Turbo, Gray }
    FillArg => crate::model::Fill { Mean, Zero, Blur, Remove }
    AblationArg => crate::model::Ablation { Zero, Mean }
}

impl ModelArgs {
    /// The model asked for.
    pub fn source(&self) -> ModelSource {
        match self.model.parse() {
            Ok(s) => s,
            Err(never) => match never {},
        }
    }
}

fn parse_layer(s: &str) -> Result<LayerSpec> {
    match s {
        "all" => Ok(LayerSpec::All),
        n => Ok(LayerSpec::One(n.parse().with_context(|| {
            format!("bad --layer {n:?}: use a number, last or all")
        })?)),
    }
}

fn parse_head(s: &str) -> Result<HeadSpec> {
    match s {
        "all" => Ok(HeadSpec::All),
        "mean" => Ok(HeadSpec::One(HeadSel::Mean)),
        n => Ok(HeadSpec::One(HeadSel::Head(n.parse().with_context(
            || format!("bad --head {n:?}: use a number, mean or all"),
        )?))),
    }
}

/// An engine with the model of `a` loaded and, when given, its image run.
fn engine_with(a: &ModelImageArgs) -> Result<Engine> {
    let mut engine = Engine {
        size: a.model.size,
        store: a.model.attention.into(),
        ..Engine::default()
    };
    engine
        .load_model(
            &a.model.source(),
            a.model.device.into(),
            a.model.precision.into(),
        )
        .with_context(|| format!("cannot load model {}", a.model.model))?;
    if let Some(m) = &engine.model {
        for w in &m.info.warnings {
            eprintln!("warning: {w}");
        }
    }
    if let Some(image) = &a.image {
        for note in engine.load_image(image)? {
            eprintln!("note: {}: {note}", image.display());
        }
    }
    Ok(engine)
}

/// Like [`engine_with`], for subcommands that need an image.
fn engine_for(a: &ModelImageArgs) -> Result<Engine> {
    if a.image.is_none() {
        bail!("--image is required")
    }
    engine_with(a)
}

/// `vitscope doctor`: devices, then the app's worker run headless on the chosen device.
fn doctor(common: ModelImageArgs) -> Result<()> {
    use crate::jobs::{Job, Outcome, Worker};
    use crate::model::device;
    let driver = device::gpu_driver_present();
    let wants_cuda = driver || common.model.device == DeviceArg::Cuda;
    let cuda_loaded = wants_cuda && device::load_cuda();
    let cuda = cuda_loaded && tch::Cuda::is_available();
    let mut report = serde_json::json!({
        "nvidia_driver": driver,
        "libtorch_cuda_loaded": cuda_loaded,
        "cuda_available": cuda,
        "cuda_devices": if cuda { tch::Cuda::device_count() } else { 0 },
        "cuda_stack_mapped": device::library_mapped("libcublas"),
    });
    let image = common
        .image
        .clone()
        .or_else(crate::model::source::default_image)
        .context("no image: give --image")?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut worker = Worker::spawn(move || {
        let _ = tx.send(());
    });
    worker.send(Job::SetStore(common.model.attention.into()));
    worker.send(Job::SetSize(common.model.size));
    worker.send(Job::LoadModel {
        source: common.model.source(),
        device: common.model.device.into(),
        precision: common.model.precision.into(),
    });
    let last = worker.send(Job::LoadImage(image));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut answered = serde_json::Map::new();
    let mut failure = None;
    'wait: loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            bail!("the worker did not answer within 600 s");
        }
        let _ = rx.recv_timeout(left.min(std::time::Duration::from_millis(200)));
        while let Some(reply) = worker.try_recv() {
            for outcome in reply.outcomes {
                match outcome {
                    Outcome::ModelLoaded(info) => {
                        answered.insert("model".into(), info.name.clone().into());
                        answered.insert("device".into(), info.device.clone().into());
                    }
                    Outcome::Computed(c) => {
                        answered.insert("forward_ms".into(), c.forward_ms.into());
                        answered.insert("input_hw".into(), serde_json::json!(c.input_hw));
                        answered.insert("attention_bytes".into(), c.attention_bytes.into());
                    }
                    Outcome::Failed(e) => failure = Some(e.to_string()),
                    _ => {}
                }
            }
            if reply.generation >= last
                && (answered.contains_key("forward_ms") || failure.is_some())
            {
                break 'wait;
            }
        }
    }
    if let Some(e) = &failure {
        answered.insert("error".into(), e.clone().into());
    }
    report["worker"] = serde_json::Value::Object(answered);
    println!("{}", serde_json::to_string_pretty(&report)?);
    match failure {
        Some(e) => bail!("the worker failed: {e}"),
        None => Ok(()),
    }
}

/// An error and its causes on one line: multi-line texts joined with `; ` (a line ending in `:` runs on with
/// a space), and a cause already said by the text before it (an io error repeated by its wrapper) left out.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let mut text = String::new();
        for line in cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !text.is_empty() {
                text.push_str(if text.ends_with(':') { " " } else { "; " });
            }
            text.push_str(line);
        }
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    // the command line's own way on
    if e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::export::ExportError>(),
            Some(crate::export::ExportError::Exists { .. })
        )
    }) {
        out.push_str(" (use --force to overwrite)");
    }
    out
}

/// Print a written file's path on its own line (stdout is one path per line): a path holding a newline or
/// another control character is printed quoted with escapes (`"a\nb.png"`), so a reader never splits it.
pub fn print_path(p: &std::path::Path) {
    println!("{}", path_line(p));
}

fn path_line(p: &std::path::Path) -> String {
    let text = p.to_string_lossy();
    if text.chars().any(char::is_control) || text.starts_with('"') {
        format!("{text:?}")
    } else {
        text.into_owned()
    }
}

/// Whether two output paths name the same file (the same folder and name, or one file through links).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let abs = |p: &std::path::Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    abs(a) == abs(b)
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `--download`: make the hub cache hold the repo's current files before anything loads.
pub fn download_if_asked(m: &ModelArgs) -> Result<()> {
    use crate::model::hub;
    use std::io::IsTerminal;
    if !m.download {
        return Ok(());
    }
    let ModelSource::Path(p) = &m.source() else {
        bail!(
            "--download needs --model with a Hugging Face repo id (org/name); the built-in model is installed by scripts/setup.sh"
        )
    };
    let Some(repo) = p.to_str().filter(|s| hub::is_repo_id(s) && !p.exists()) else {
        bail!(
            "--download needs --model with a Hugging Face repo id (org/name), not a local path: {}",
            p.display()
        )
    };
    let (cache, endpoint) = (hub::cache_dir(), hub::endpoint());
    eprintln!(
        "downloading {repo} from {endpoint} into {}",
        cache.display()
    );
    let tty = std::io::stderr().is_terminal();
    let mut last = std::time::Instant::now();
    let mut shown = (0, 0u64);
    let start = std::time::Instant::now();
    let snapshot = hub::download(repo, &cache, &endpoint, &mut |p: &hub::DownloadProgress| {
        let done = p.total > 0 && p.done >= p.total;
        let step = (p.index, p.done);
        if step != shown && (done || last.elapsed().as_millis() >= 250) {
            let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
            let line = format!(
                "[{}/{}] {} {:.1} / {:.1} MiB",
                p.index,
                p.files,
                p.file,
                mib(p.done),
                mib(p.total)
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
                if done {
                    eprintln!();
                }
            } else if done {
                eprintln!("{line}");
            }
            last = std::time::Instant::now();
            shown = step;
        }
        true
    })?;
    eprintln!(
        "downloaded {repo} in {:.1} s: {}",
        start.elapsed().as_secs_f64(),
        snapshot.display()
    );
    Ok(())
}

/// Run a headless subcommand.
pub fn run(command: Command) -> Result<()> {
    if let Some(m) = match &command {
        Command::Info { common }
        | Command::Doctor { common }
        | Command::Dump { common, .. }
        | Command::Export { common, .. }
        | Command::Lens { common, .. } => Some(&common.model),
        Command::Distance { model, .. } | Command::Faithfulness { model, .. } => Some(model),
    } {
        download_if_asked(m)?;
    }
    match command {
        Command::Info { common } => {
            let engine = engine_with(&common)?;
            let m = engine.model.as_ref().context("no model")?;
            let mut v = serde_json::to_value(&m.info)?;
            if let Some(run) = &engine.run {
                v["input_hw"] = serde_json::json!(run.capture.input_hw);
                v["top_classes"] = serde_json::to_value(engine.top_classes(5)?)?;
                v["forward_ms"] = serde_json::json!(run.capture.forward_ms);
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Command::Doctor { common } => doctor(common)?,
        Command::Lens {
            common,
            intervention,
            top,
            out,
            force,
        } => {
            if let Some(o) = &out {
                crate::export::check_target(o, force)?;
            }
            let mut engine = engine_for(&common)?;
            intervention.apply(&mut engine)?;
            let rows = crate::methods::lens::logit_lens(&engine, top.max(1))?;
            let csv = crate::methods::lens::lens_csv(&rows);
            match out {
                Some(o) => {
                    crate::export::tables::write_text(&o, &csv, force)?;
                    print_path(&o);
                }
                None => print!("{csv}"),
            }
        }
        Command::Dump {
            common,
            intervention,
            out,
            force,
        } => {
            let mut engine = engine_for(&common)?;
            let changed = intervention.apply(&mut engine)?;
            let (Some(m), Some(run), Some((img_path, _))) =
                (&engine.model, &engine.run, &engine.image)
            else {
                bail!("nothing was computed")
            };
            // Refused before anything is computed when --out is taken, a special file, or a folder.
            crate::export::check_target(&out, force)?;
            crate::export::dump::write_dump(
                &out,
                &m.vit,
                &run.input,
                &run.capture,
                &m.info.name,
                &file_name(img_path),
                changed.as_deref(),
                force,
            )?;
            let (h, w) = run.capture.input_hw;
            eprintln!(
                "wrote {} ({} layers x {} heads, {} tokens, input {h}x{w}, forward {:.1} ms on {})",
                out.display(),
                run.capture.source().layers(),
                m.info.heads,
                run.capture.layout.num_tokens(),
                run.capture.forward_ms,
                m.info.device
            );
        }
        Command::Export {
            common,
            intervention,
            out,
            method,
            format,
            layer,
            head,
            query,
            method_args,
            colormap,
            overlay: _,
            raw,
            opacity,
            force,
        } => {
            let (method, format, colormap) = (
                Method::from(method),
                Format::from(format),
                Colormap::from(colormap),
            );
            if !(0.0..=1.0).contains(&opacity) {
                bail!("--opacity must be between 0 and 1");
            }
            let mut engine = if method.needs_image() {
                engine_for(&common)?
            } else {
                engine_with(&common)?
            };
            let changed = intervention.apply(&mut engine)?;
            let m = engine.model.as_ref().context("no model")?;
            // Files are named after the image and the model (`chelsea_dinov2-vit-s-14_…`), or after the model
            // alone for weight-only methods (its folder when the file is the usual model.safetensors).
            let stem_of =
                |p: &std::path::Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
            let stem = match &engine.image {
                Some((p, _)) => stem_of(p).map(|s| crate::export::export_stem(&s, &m.info.name)),
                None => match stem_of(&m.info.path) {
                    Some(s) if s == "model" => m
                        .info
                        .path
                        .parent()
                        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned())),
                    s => s,
                },
            }
            .unwrap_or_else(|| "vitscope".into());
            crate::export::check_folder(&out)?;
            let output = Output {
                out_dir: out,
                stem,
                format,
                colormap,
                style: if raw {
                    Style::Raw
                } else {
                    Style::Overlay { opacity }
                },
                overwrite: force,
                model_name: m.info.name.clone(),
                image_name: engine
                    .image
                    .as_ref()
                    .map(|(p, _)| file_name(p))
                    .unwrap_or_default(),
                intervention: changed,
                colour_bar: method_args.colour_bar,
            };
            let req = MethodRequest {
                layer: layer.as_deref(),
                head: &head,
                query: &query,
                args: &method_args,
            };
            let start = std::time::Instant::now();
            // Every file of the export, or none: a failure half-way leaves the folder as it was.
            let files =
                crate::export::all_or_nothing(|| export_method(&engine, method, &output, &req))?;
            for f in &files {
                print_path(f);
            }
            eprintln!(
                "{}: wrote {} file(s) in {:.0} ms on {}",
                method.name(),
                files.len(),
                start.elapsed().as_secs_f64() * 1e3,
                m.info.device
            );
        }
        Command::Distance {
            model,
            images,
            out,
            plot,
            dpi,
            prefix,
            force,
        } => distance::distance(
            &model,
            &images,
            &out,
            plot.as_deref(),
            dpi,
            prefix.into(),
            force,
        )?,
        Command::Faithfulness {
            model,
            images,
            methods,
            steps,
            out,
            plot,
            dpi,
            target,
            fill,
            batch,
            query,
            force,
        } => faithfulness::faithfulness(&faithfulness::Request {
            model: &model,
            images: &images,
            methods: &methods,
            steps,
            out: &out,
            plot: plot.as_deref(),
            dpi,
            target: &target,
            fill: fill.into(),
            batch,
            query: &query,
            force,
        })?,
    }
    Ok(())
}

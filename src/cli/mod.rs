//! The command line. `vitscope` opens the app; `dump` and `export` run headless through the same
//! engine the app's worker uses.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::analysis::{HeadFusion, HeadSel, PrefixConvention};
use crate::engine::Engine;
use crate::export::maps::{HeadSpec, LayerSpec, Style};
use crate::export::methods::{Format, Method, Output};
use crate::model::{AttentionStore, DeviceChoice, InputSize, ModelSource, Precision};
use crate::render::Colormap;

mod method_export;
pub use crate::spec::{parse_query, parse_target};
pub use method_export::{MethodRequest, export_method};

#[derive(Parser, Debug)]
#[command(
    name = "vitscope",
    version,
    about = "Look inside Vision Transformers: attention maps through libtorch."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub open: ModelImageArgs,
    /// The view the app opens on (default: the one used last).
    #[arg(long, value_enum)]
    pub view: Option<crate::ui::settings::View>,
}

#[derive(Args, Debug, Clone)]
pub struct ModelImageArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Image file (PNG, JPEG, GIF, WebP, TIFF or BMP; recognised by content). The app opens a sample photo when none is given.
    #[arg(long)]
    pub image: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the model input and every layer's attention to a safetensors file.
    Dump {
        #[command(flatten)]
        common: ModelImageArgs,
        /// Output .safetensors file.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Describe a model (family, layout, preprocessing, what was inferred) as JSON; with --image, also the
    /// classifier's top 5 classes and the forward time.
    Info {
        #[command(flatten)]
        common: ModelImageArgs,
    },
    /// Check this machine: which devices libtorch sees (CUDA loaded only when asked for or a GPU driver is
    /// present), then run the app's worker thread — the same code the app uses — on the chosen device with the
    /// model and image, and print what it answered, as JSON.
    Doctor {
        #[command(flatten)]
        common: ModelImageArgs,
    },
    /// Write a method's maps as PNG (for people) or NPY (raw values, for code).
    ///
    /// NPY shapes (f32 unless said): attention [gh, gw] for one layer and head, with a leading layer axis for
    /// --layer all and a head axis for --head all ([L, H, gh, gw] at most); rollout, flow, grad-rollout,
    /// relevance [gh, gw] (patch tokens; prefix-token values go in the PNG text and on stderr); dino-mask
    /// [heads, gh, gw] u8; token-norm [L, N] (every token, prefix first) plus prefix-mass.csv; feature-pca
    /// [gh, gw, 3] ([images, gh, gw, 3] with --joint); pos-sim [gh, gw, gh, gw]; patch-pca [k, P, P, 3].
    #[command(verbatim_doc_comment)]
    Export {
        #[command(flatten)]
        common: ModelImageArgs,
        /// Output folder (created if needed).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "attention")]
        method: Method,
        #[arg(long, value_enum, default_value = "png")]
        format: Format,
        /// Layer (0-based), `last` or `all`. Default: all for attention and token-norm, last otherwise
        /// (feature-pca: `last` is the model's output tokens after the final norm; a number is that block's
        /// output).
        #[arg(long)]
        layer: Option<String>,
        /// Head (0-based), `mean` or `all` (each head plus a grid of all heads).
        #[arg(long, default_value = "mean")]
        head: String,
        /// Query token: `cls`, `dist`, `regN`, a patch `ROW,COL` (0-based), or `auto` (CLS, else the first
        /// prefix token, else the centre patch).
        #[arg(long, default_value = "auto")]
        query: String,
        #[command(flatten)]
        method_args: MethodArgs,
        #[arg(long, value_enum, default_value = "viridis")]
        colormap: Colormap,
        /// Blend the map over the photo (default).
        #[arg(long, conflicts_with = "raw")]
        overlay: bool,
        /// Write the coloured map alone, each patch a solid block at the model's input resolution.
        #[arg(long)]
        raw: bool,
        /// Opacity of the map in overlays, 0..1.
        #[arg(long, default_value_t = 0.6)]
        opacity: f32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Mean attention distance and entropy per layer and head, for one image or averaged over many.
    Distance {
        #[command(flatten)]
        model: ModelArgs,
        /// Image files and folders (every image directly inside a folder).
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// Output CSV: layer,head,mean_distance_px,entropy.
        #[arg(long)]
        out: PathBuf,
        /// Also draw the ViT paper's plot (distance and entropy against depth, one dot per head).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// How attention to prefix tokens (CLS, registers) counts: renormalise over the patches, or drop it.
        #[arg(long, value_enum, default_value = "renormalise")]
        prefix: PrefixConvention,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Model options (commands that take many images use these without `--image`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: `default` (built-in DINOv2 ViT-S/14), a .safetensors file, a folder holding one, or a Hugging Face
    /// repo id (`org/name`) in the local hub cache ($HF_HUB_CACHE or $HF_HOME/hub; downloaded only with --download).
    #[arg(long, default_value = "default")]
    pub model: ModelSource,
    /// Download the --model repo id from the hub ($HF_ENDPOINT, else huggingface.co; token in HF_TOKEN) into
    /// the local cache first: config, preprocessing and safetensors weights only, with progress; files
    /// already cached at the repo's current commit are kept. Ctrl-C stops it; the next download resumes.
    #[arg(long)]
    pub download: bool,
    /// Input size: N (shorter side to N px, aspect kept) or HxW; rounded to whole patches.
    #[arg(long, default_value = "224")]
    pub size: InputSize,
    /// Where the model runs: auto (CUDA if available), cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Precision of weights and activations (softmax is always computed in f32).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
    /// How the attention is kept: f32 (exact), f16 or bf16 (half the memory, rounded), or query-keys (each
    /// layer's queries and keys; rows recomputed when needed: linear memory, for very large inputs).
    #[arg(long, value_enum, default_value = "f32")]
    pub attention: AttentionStore,
}

/// Options of the aggregate methods.
#[derive(Args, Debug, Clone)]
pub struct MethodArgs {
    /// rollout, flow: how heads are fused.
    #[arg(long, value_enum, default_value = "mean")]
    pub fusion: HeadFusion,
    /// rollout, flow, grad-rollout: weight α of the identity (residual), 0..1.
    #[arg(long, default_value_t = 0.5)]
    pub residual: f64,
    /// rollout, flow, grad-rollout: fraction of each row's smallest entries set to zero before the residual
    /// (the row's largest entry is always kept), 0..1.
    #[arg(long, default_value_t = 0.0)]
    pub discard: f64,
    /// rollout, flow, grad-rollout: first layer of the product (0-based).
    #[arg(long, default_value_t = 0)]
    pub start_layer: usize,
    /// rollout, flow, grad-rollout: last layer of the product (0-based, inclusive; default the last).
    #[arg(long)]
    pub end_layer: Option<usize>,
    /// grad-rollout, relevance: the scalar explained. `top` (the top class; for models without a head, the
    /// cosine similarity of the pooled feature to the centre patch's final feature), a class index `N`,
    /// `A-B` (logit A minus logit B), or `sim:ROW,COL` / `sim:cls` (similarity of the pooled feature to
    /// that token's final feature).
    #[arg(long, default_value = "top")]
    pub target: String,
    /// dino-mask: fraction τ of the attention mass each head's mask holds.
    #[arg(long, default_value_t = 0.6)]
    pub tau: f64,
    /// feature-pca: foreground threshold on the first component (scaled 0..1), or `none`.
    #[arg(long, default_value = "0.5")]
    pub fg_threshold: String,
    /// feature-pca: more images analysed jointly with --image (resized to the same input size).
    #[arg(long, num_args = 1..)]
    pub joint: Vec<PathBuf>,
    /// pos-sim: the grid the model was trained for, or the current input's (embeddings resized).
    #[arg(long, value_enum, default_value = "trained")]
    pub pos_grid: PosGrid,
    /// patch-pca: number of principal components (1 or more).
    #[arg(long, default_value_t = 28, value_parser = at_least_one)]
    pub components: usize,
    /// attention: add a colour bar with each map's value range under single-map PNGs.
    #[arg(long)]
    pub colour_bar: bool,
    /// attention: resize single-map PNGs so their longer side is PX pixels (default: the photo's size).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(16..=16384))]
    pub long_side: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PosGrid {
    Trained,
    Input,
}

/// A count that must be 1 or more, in words when it is not.
fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of 1 or more")),
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
        store: a.model.attention,
        ..Engine::default()
    };
    engine
        .load_model(&a.model.model, a.model.device, a.model.precision)
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
    let wants_cuda = driver || common.model.device == crate::model::DeviceChoice::Cuda;
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
    worker.send(Job::SetStore(common.model.attention));
    worker.send(Job::SetSize(common.model.size));
    worker.send(Job::LoadModel {
        source: common.model.model.clone(),
        device: common.model.device,
        precision: common.model.precision,
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
                    Outcome::Failed(e) => failure = Some(e),
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
    let ModelSource::Path(p) = &m.model else {
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
        | Command::Export { common, .. } => Some(&common.model),
        Command::Distance { model, .. } => Some(model),
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
        Command::Dump { common, out, force } => {
            let engine = engine_for(&common)?;
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
            if !(0.0..=1.0).contains(&opacity) {
                bail!("--opacity must be between 0 and 1");
            }
            let engine = if method.needs_image() {
                engine_for(&common)?
            } else {
                engine_with(&common)?
            };
            let m = engine.model.as_ref().context("no model")?;
            // Files are named after the image, or after the model for weight-only methods (its folder when
            // the file is the usual model.safetensors).
            let stem_of =
                |p: &std::path::Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
            let stem = match &engine.image {
                Some((p, _)) => stem_of(p),
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
            prefix,
            force,
        } => method_export::distance(&model, &images, &out, plot.as_deref(), prefix, force)?,
    }
    Ok(())
}

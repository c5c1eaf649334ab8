//! The command line. `vitscope` opens the app; `dump` and `export` run headless through the same
//! engine the app's worker uses.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::analysis::HeadSel;
use crate::engine::Engine;
use crate::export::maps::{HeadSpec, LayerSpec, MapExport, Style, export_maps};
use crate::model::{DeviceChoice, InputSize, ModelSource, Precision, PrefixToken, TokenLayout};
use crate::render::Colormap;

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
}

#[derive(Args, Debug, Clone)]
pub struct ModelImageArgs {
    /// Model: `default` (built-in DINOv2 ViT-S/14), a .safetensors file, a folder holding one, or a Hugging Face
    /// repo id (`org/name`) already in the local hub cache ($HF_HUB_CACHE or $HF_HOME/hub; never downloaded).
    #[arg(long, default_value = "default")]
    pub model: ModelSource,
    /// Image file (PNG or JPEG). The app opens a sample photo when none is given.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Input size: N (shorter side to N px, aspect kept) or HxW; rounded to whole patches.
    #[arg(long, default_value = "224")]
    pub size: InputSize,
    /// Where the model runs: auto (CUDA if available), cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Precision of weights and activations (softmax and captured attention are always f32).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
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
    /// classifier's top 5 classes.
    Info {
        #[command(flatten)]
        common: ModelImageArgs,
    },
    /// Write attention heatmaps as PNG files.
    Export {
        #[command(flatten)]
        common: ModelImageArgs,
        /// Output folder (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Layer (0-based) or `all`.
        #[arg(long, default_value = "all")]
        layer: String,
        /// Head (0-based), `mean` or `all` (each head plus a grid of all heads).
        #[arg(long, default_value = "mean")]
        head: String,
        /// Query token: `cls`, `dist`, `regN`, a patch `ROW,COL` (0-based), or `auto` (CLS, else the first
        /// prefix token, else the centre patch).
        #[arg(long, default_value = "auto")]
        query: String,
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
}

/// Parse `--query` against a token layout.
pub fn parse_query(s: &str, layout: &TokenLayout) -> Result<usize> {
    let s = s.trim().to_ascii_lowercase();
    let find = |t: PrefixToken| layout.prefix.iter().position(|p| *p == t);
    let token = match s.as_str() {
        "auto" => layout.default_query(),
        "cls" => find(PrefixToken::Cls).context("this model has no CLS token")?,
        "dist" => {
            find(PrefixToken::Distillation).context("this model has no distillation token")?
        }
        r if r.starts_with("reg") => {
            let i: usize = r[3..]
                .parse()
                .with_context(|| format!("bad register {s:?}: use reg0, reg1, …"))?;
            find(PrefixToken::Register(i))
                .with_context(|| format!("this model has no register {i}"))?
        }
        _ => {
            let (r, c) = s
                .split_once(',')
                .with_context(|| format!("bad query {s:?}: use cls, dist, regN or ROW,COL"))?;
            let (r, c): (usize, usize) = (r.trim().parse()?, c.trim().parse()?);
            layout.token_of_patch(r, c).with_context(|| {
                format!(
                    "patch ({r}, {c}) is outside the {}x{} patch grid",
                    layout.grid_h, layout.grid_w
                )
            })?
        }
    };
    Ok(token)
}

fn parse_layer(s: &str) -> Result<LayerSpec> {
    match s {
        "all" => Ok(LayerSpec::All),
        n => Ok(LayerSpec::One(n.parse().with_context(|| {
            format!("bad --layer {n:?}: use a number or all")
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
        size: a.size,
        ..Engine::default()
    };
    engine
        .load_model(&a.model, a.device, a.precision)
        .with_context(|| format!("cannot load model {}", a.model))?;
    if let Some(image) = &a.image {
        engine.load_image(image)?;
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

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Run a headless subcommand.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Info { common } => {
            let engine = engine_with(&common)?;
            let m = engine.model.as_ref().context("no model")?;
            let mut v = serde_json::to_value(&m.info)?;
            if let Some(run) = &engine.run {
                v["input_hw"] = serde_json::json!(run.capture.input_hw);
                v["top_classes"] = serde_json::to_value(engine.top_classes(5)?)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Command::Dump { common, out, force } => {
            let engine = engine_for(&common)?;
            let (Some(m), Some(run), Some((img_path, _))) =
                (&engine.model, &engine.run, &engine.image)
            else {
                bail!("nothing was computed")
            };
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
                run.capture.attentions.len(),
                m.info.heads,
                run.capture.layout.num_tokens(),
                run.capture.forward_ms,
                m.info.device
            );
        }
        Command::Export {
            common,
            out,
            layer,
            head,
            query,
            colormap,
            overlay: _,
            raw,
            opacity,
            force,
        } => {
            let layers = parse_layer(&layer)?;
            let heads = parse_head(&head)?;
            if !(0.0..=1.0).contains(&opacity) {
                bail!("--opacity must be between 0 and 1");
            }
            let engine = engine_for(&common)?;
            let (Some(m), Some(run), Some((img_path, img))) =
                (&engine.model, &engine.run, &engine.image)
            else {
                bail!("nothing was computed")
            };
            let token = parse_query(&query, &run.capture.layout)?;
            let rows = crate::analysis::QueryRows::from_attentions(
                &run.capture.attentions,
                &run.capture.layout,
                token,
            )?;
            let req = MapExport {
                out_dir: out,
                stem: img_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "image".into()),
                layers,
                heads,
                colormap,
                style: if raw {
                    Style::Raw
                } else {
                    Style::Overlay { opacity }
                },
                overwrite: force,
                model_name: m.info.name.clone(),
                image_name: file_name(img_path),
            };
            let files = export_maps(&rows, img, run.capture.input_hw, &req)?;
            for f in &files {
                println!("{}", f.display());
            }
            eprintln!("wrote {} PNG file(s)", files.len());
        }
    }
    Ok(())
}

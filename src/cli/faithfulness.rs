//! `vitscope faithfulness`: deletion and insertion curves of each method's patch ranking over images,
//! averaged per method, as a table a paper can cite, the curves themselves, and a plot (definitions in
//! [`crate::methods::faithfulness`]).
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::ModelArgs;
use crate::analysis::{Progress, RolloutOptions};
use crate::engine::Engine;
use crate::methods::faithfulness::{Curves, Perturb, Ranker, Score, all_curves};
use crate::methods::{QueryMethod, QueryParams, Start};
use crate::model::Fill;

pub(super) struct Request<'a> {
    pub model: &'a ModelArgs,
    pub images: &'a [PathBuf],
    pub methods: &'a str,
    pub steps: usize,
    pub out: &'a Path,
    pub plot: Option<&'a Path>,
    /// The plot's dots per inch.
    pub dpi: u32,
    pub target: &'a str,
    pub fill: Fill,
    /// Forward passes per batch; `None`: the device's default.
    pub batch: Option<u64>,
    pub query: &'a str,
    pub force: bool,
}

/// The `--methods` list, `random` last.
struct Rankers;

impl Rankers {
    fn parse_list(s: &str) -> Result<Vec<Ranker>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let r = match name {
                "attention" => Ranker::Attention,
                "random" => continue, // always there, last
                n => QueryMethod::ALL
                    .into_iter()
                    .find(|q| q.method().name() == n)
                    .map(Ranker::Query)
                    .with_context(|| {
                        format!(
                            "unknown method {n:?}: use attention, rollout, flow, grad-rollout or relevance"
                        )
                    })?,
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out.push(Ranker::Random);
        Ok(out)
    }
}

/// The `_curves.csv` next to `out`.
fn curves_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "faithfulness".into());
    out.with_file_name(format!("{stem}_curves.csv"))
}

pub(super) fn faithfulness(req: &Request) -> Result<()> {
    let rankers = Rankers::parse_list(req.methods)?;
    if req.steps == 0 || req.steps > 1000 {
        bail!("--steps {}: give 1 to 1000 steps", req.steps);
    }
    let files = crate::engine::image_files(req.images).context("cannot list the images")?;
    if files.is_empty() {
        bail!(
            "no images (PNG, JPEG, GIF, WebP, TIFF, BMP) found in {:?}",
            req.images
        );
    }
    let curves_out = curves_path(req.out);
    let outputs: Vec<&Path> = [Some(req.out), Some(curves_out.as_path()), req.plot]
        .into_iter()
        .flatten()
        .collect();
    for (i, a) in outputs.iter().enumerate() {
        if outputs[..i].iter().any(|b| crate::cli::same_file(a, b)) {
            bail!(
                "{} is named twice; give each output its own name",
                a.display()
            );
        }
        crate::export::check_target(a, req.force)?;
    }
    let m = req.model;
    let mut engine = Engine {
        size: m.size,
        ..Engine::default()
    };
    engine
        .load_model(&m.source(), m.device.into(), m.precision.into())
        .with_context(|| format!("cannot load model {}", m.model))?;
    let model = engine.model.as_ref().context("no model")?;
    if model.vit.config.swin.is_some() {
        bail!(
            "{} (faithfulness ranks patches by one global map)",
            crate::analysis::source::WINDOWED
        );
    }
    let ps = model.vit.config.patch_size;
    if req.fill == Fill::Remove && model.vit.config.layout_for(ps, ps).num_prefix() == 0 {
        bail!(
            "--fill remove: this model has no class or register token, so the step with every patch removed \
             would leave it nothing to run on; use a pixel fill (mean, zero or blur)"
        );
    }
    let name = model.info.name.clone();
    let class_names = model.vit.config.class_names.clone();
    let has_head = model.vit.config.num_classes.is_some();
    let fixed_class = match req.target.trim() {
        "top" => None,
        n => {
            let c: usize = n
                .parse()
                .with_context(|| format!("bad --target {n:?}: use top or a class number"))?;
            match model.vit.config.num_classes {
                Some(k) if c < k => Some(c),
                Some(k) => bail!(
                    "class {c} does not exist (the classifier has {k}: 0..{})",
                    k - 1
                ),
                None => bail!(
                    "--target {c}: this model has no classifier; use top (the similarity to the unchanged image's \
                     pooled feature)"
                ),
            }
        }
    };
    let start = std::time::Instant::now();
    let mut per: Vec<Vec<Curves>> = vec![Vec::new(); rankers.len()];
    let mut skipped = 0;
    for (i, file) in files.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, files.len(), file.display());
        let done = (|| -> Result<Vec<Curves>> {
            engine.load_image(file)?;
            one_image(&engine, req, &rankers, fixed_class, i as u64)
        })();
        match done {
            Ok(c) => {
                for (slot, c) in per.iter_mut().zip(c) {
                    slot.push(c);
                }
            }
            Err(e) if files.len() > 1 => {
                eprintln!("skipped {}: {e:#}", file.display());
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    let images = per[0].len();
    if images == 0 {
        bail!("no image could be analysed");
    }
    let means: Vec<Curves> = per
        .iter()
        .map(|c| Curves::mean(c).expect("one per image"))
        .collect();
    let score_label = if has_head && fixed_class.is_none() {
        "softmax probability of each image's top class".to_string()
    } else if let Some(c) = fixed_class {
        Score::Class(c).describe(&class_names)
    } else {
        "cosine similarity of the pooled feature to the unchanged image's".to_string()
    };
    let named: Vec<(String, Curves)> = rankers
        .iter()
        .map(|r| r.name().to_string())
        .zip(means)
        .collect();
    let results = crate::export::tables::Faithfulness {
        curves: &named,
        images,
        score: &score_label,
        title: format!(
            "{name} - {images} image(s), {} fill, {} steps",
            req.fill.name(),
            req.steps
        ),
        model: &name,
    };
    crate::export::tables::write_faithfulness(
        &results,
        req.out,
        &curves_out,
        req.plot.as_slice(),
        req.dpi,
        req.force,
    )?;
    for p in [Some(req.out), Some(curves_out.as_path()), req.plot]
        .into_iter()
        .flatten()
    {
        crate::cli::print_path(p);
    }
    eprintln!(
        "{images} image(s), {} methods + random, {} forward passes each, in {:.1} s{}; score: {score_label}",
        rankers.len() - 1,
        2 * (req.steps + 1),
        start.elapsed().as_secs_f64(),
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Every ranker's curves for the engine's current image.
fn one_image(
    engine: &Engine,
    req: &Request,
    rankers: &[Ranker],
    fixed_class: Option<usize>,
    index: u64,
) -> Result<Vec<Curves>> {
    let Some(run) = &engine.run else {
        bail!("nothing was computed")
    };
    let cap = &run.capture;
    let layout = &cap.layout;
    let q = req.query.trim().to_ascii_lowercase();
    let no_cls = !layout.prefix.contains(&crate::model::PrefixToken::Cls);
    let probe =
        cap.pool_attention.is_some() && (q == "map" || q == "probe" || (q == "auto" && no_cls));
    let start = if probe {
        Start::Probe
    } else {
        Start::Token(crate::spec::parse_query(&q, layout)?)
    };
    let score = match fixed_class {
        Some(c) => crate::methods::faithfulness::Score::Class(c),
        None => Score::natural(cap.logits.as_ref(), &cap.pooled)?,
    };
    let target = match (&score, fixed_class) {
        (Score::Class(c), _) => c.to_string(),
        _ => req.target.to_string(),
    };
    let params = QueryParams {
        opts: RolloutOptions::default(),
        target,
    };
    all_curves(
        engine,
        rankers,
        start,
        &score,
        &params,
        Perturb {
            steps: req.steps,
            fill: req.fill,
            batch: req.batch.map_or_else(
                || Perturb::default_batch(engine.device(), layout.num_tokens()),
                |b| b as usize,
            ),
        },
        0x5EED ^ index,
        &Progress::default(),
    )?
    .context("cancelled")
}

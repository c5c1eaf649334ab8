//! `vitscope export --method …` and `vitscope distance`: every analysis method, headless.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use tch::Tensor;

use super::{MethodArgs, PosGrid, parse_head, parse_layer};
use crate::analysis::{
    HeadSel, QueryRows, RolloutOptions, TokenMap, dino_masks, feature_pca, patch_filter_components,
    position_similarity, prefix_mass, relative_bias, token_norms,
};
use crate::engine::Engine;
use crate::export::maps::{HeadSpec, LayerSpec, MapExport, export_maps};
use crate::export::methods::{self, Format, Method, Output};
use crate::methods::{QueryMethod, QueryParams, Start, compute};
use crate::model::{Capture, InputSize};
use crate::spec::parse_query;

/// The per-method options of `export`, as given.
pub struct MethodRequest<'a> {
    pub layer: Option<&'a str>,
    pub head: &'a str,
    pub query: &'a str,
    pub args: &'a MethodArgs,
}

/// `--layer` for one layer: a number or `last`.
fn one_layer(s: Option<&str>, layers: usize) -> Result<usize> {
    match s.unwrap_or("last") {
        "last" => Ok(layers - 1),
        "all" => bail!("this method shows one layer: give a number or last"),
        n => {
            let l: usize = n
                .parse()
                .with_context(|| format!("bad --layer {n:?}: use a number or last"))?;
            if l >= layers {
                bail!(
                    "layer {l} does not exist (the model has {layers} layers: 0..{})",
                    layers - 1
                );
            }
            Ok(l)
        }
    }
}

/// The attention-pooling probe's attention `[heads, N]` when the query names it (`map`, `probe`), or when it is
/// `auto` on a model that pools by attention and has no class token (SigLIP: the probe is what summarises
/// the image).
fn probe_query<'c>(query: &str, cap: &'c Capture) -> Result<Option<&'c Tensor>> {
    let q = query.trim().to_ascii_lowercase();
    let named = q == "map" || q == "probe";
    let auto = q == "auto" && !cap.layout.prefix.contains(&crate::model::PrefixToken::Cls);
    match (&cap.pool_attention, named) {
        (Some(p), true) => Ok(Some(p)),
        (Some(p), false) if auto => Ok(Some(p)),
        (None, true) => bail!(
            "this model has no attention-pooling head (MAP probe): query cls, a prefix token or a patch"
        ),
        _ => Ok(None),
    }
}

/// Exports from the attention-pooling probe: its own attention over the final tokens (per head or their
/// mean; it attends once, after the last block, so `--layer` does not apply) and rollout from it (the probe's
/// head-mean row times the encoder's rollout).
fn probe_export(
    method: Method,
    out: &Output,
    req: &MethodRequest,
    engine: &Engine,
    pool: &Tensor,
    rollout_opts: &RolloutOptions,
    photo: &image::RgbImage,
) -> Result<Vec<PathBuf>> {
    let cap = &engine.run.as_ref().context("nothing was computed")?.capture;
    let layout = &cap.layout;
    let heads = pool.size()[0] as usize;
    let write = |map: TokenMap, label: &str, definition: String| -> Result<PathBuf> {
        Ok(methods::token_map(
            out,
            method,
            &map,
            label,
            &definition,
            photo,
            cap.input_hw,
        )?)
    };
    match method {
        Method::Attention => {
            if let Some(l) = req.layer.filter(|l| *l != "last") {
                bail!(
                    "--layer {l}: the attention-pooling probe attends once, after the last block; leave \
                     --layer out (or give last)"
                );
            }
            let picks: Vec<(String, Tensor)> = match parse_head(req.head)? {
                HeadSpec::One(HeadSel::Mean) => {
                    vec![("MAP".into(), pool.f_mean_dim(0, false, None)?)]
                }
                HeadSpec::One(HeadSel::Head(h)) if h < heads => {
                    vec![(format!("MAP h{h}"), pool.f_get(h as i64)?)]
                }
                HeadSpec::One(HeadSel::Head(h)) => bail!(
                    "head {h} does not exist (the pooling head has {heads} heads: 0..{})",
                    heads - 1
                ),
                _ => (0..heads)
                    .map(|h| Ok((format!("MAP h{h}"), pool.f_get(h as i64)?)))
                    .collect::<Result<_>>()?,
            };
            picks
                .into_iter()
                .map(|(label, row)| {
                    write(
                        TokenMap::from_tensor(&row, layout)?,
                        &label,
                        "attention of the attention-pooling probe over the final tokens: \
                         softmax(q_probe k^T / sqrt(d)), after the last block"
                            .into(),
                    )
                })
                .collect()
        }
        Method::Rollout => {
            let params = QueryParams {
                opts: *rollout_opts,
                target: String::new(),
            };
            compute(
                engine,
                &[QueryMethod::Rollout],
                Start::Probe,
                &params,
                &Default::default(),
            )?
            .into_iter()
            .map(|o| write(o.map, "MAP", o.definition))
            .collect()
        }
        m => bail!(
            "--query map (the attention-pooling probe) works with --method attention and rollout, not {}",
            m.name()
        ),
    }
}

/// Swin: for the query patch, each block's window attention placed on that block's stage grid (zero outside
/// the query's window), one file per block.
fn window_export(
    out: &Output,
    req: &MethodRequest,
    cap: &Capture,
    token: usize,
    photo: &image::RgbImage,
) -> Result<Vec<PathBuf>> {
    let layout = &cap.layout;
    let Some((r, c)) = layout.patch_of_token(token) else {
        bail!("a Swin has no prefix tokens: query a patch ROW,COL")
    };
    let blocks = cap.window_attentions.len();
    let picked: Vec<usize> = match req.layer.unwrap_or("all") {
        "all" => (0..blocks).collect(),
        l => vec![one_layer(Some(l), blocks)?],
    };
    // one head, the mean, or every head of each block (the stages have different head counts)
    let spec = parse_head(req.head)?;
    if matches!(spec, HeadSpec::GridOnly) {
        bail!("for a Swin give --head mean, a number or all: a head grid is not drawn per window")
    }
    // The query patch's centre, in input pixels.
    let p = layout.patch_size as f64;
    let (py, px) = ((r as f64 + 0.5) * p, (c as f64 + 0.5) * p);
    let mut files = Vec::new();
    for l in picked {
        let meta = &cap.windows[l];
        let heads: Vec<HeadSel> = match spec {
            HeadSpec::One(h) => vec![h],
            _ => (0..cap.window_attentions[l].size()[1] as usize)
                .map(HeadSel::Head)
                .collect(),
        };
        let cell = |v: f64, n: usize| ((v / meta.cell_px as f64) as usize).min(n - 1);
        let (cr, cc) = (cell(py, meta.grid.0), cell(px, meta.grid.1));
        for head in heads {
            let crate::analysis::window::WindowRow {
                values,
                padding,
                window: k,
            } = crate::analysis::window::window_row(cap, l, (cr, cc), head)?;
            let (h, w) = meta.grid;
            let stage_layout = crate::model::TokenLayout {
                prefix: Vec::new(),
                grid_h: h,
                grid_w: w,
                patch_size: meta.cell_px,
            };
            let definition = format!(
                "window attention of block {l} (stage {}, {}x{} grid of {} px cells, {}x{} windows, shift {:?}): \
                 the row of cell ({cr}, {cc}) in window {k}, {}; zero outside the window; mass on padding \
                 {padding:.6}",
                meta.stage,
                h,
                w,
                meta.cell_px,
                meta.window.0,
                meta.window.1,
                meta.shift,
                head.label()
            );
            files.push(methods::token_map(
                out,
                Method::Attention,
                &TokenMap {
                    layout: stage_layout,
                    values,
                },
                &format!("p{r}-{c} L{l:02} {}", head.label()),
                &definition,
                photo,
                cap.input_hw,
            )?);
        }
    }
    Ok(files)
}

/// Compute `method` on the engine's current model and image and write its file(s).
pub fn export_method(
    engine: &Engine,
    method: Method,
    out: &Output,
    req: &MethodRequest,
) -> Result<Vec<PathBuf>> {
    let m = engine.model.as_ref().context("no model")?;
    if method == Method::RelBias {
        let Some(bias) = relative_bias(&m.vit)? else {
            bail!(
                "this model has no learned relative position bias (Swin and BEiT have one; its positions are: {})",
                m.vit.config.position_scheme()
            )
        };
        let layers = bias.tables.len();
        let picked: Vec<usize> = match req.layer.unwrap_or("all") {
            "all" => (0..layers).collect(),
            l => vec![one_layer(Some(l), layers)?],
        };
        return picked
            .into_iter()
            .map(|l| Ok(methods::rel_bias(out, l, &bias.tables[l])?))
            .collect();
    }
    if !method.needs_image() {
        return Ok(vec![match method {
            Method::PatchPca => {
                methods::patch_pca(out, &patch_filter_components(&m.vit, req.args.components)?)?
            }
            _ => {
                let (grid, source) = match req.args.pos_grid {
                    PosGrid::Trained => (None, "trained grid"),
                    PosGrid::Input => {
                        let l = engine.layout().context(
                            "--pos-grid input needs --image (the input decides the grid)",
                        )?;
                        (Some((l.grid_h, l.grid_w)), "resized to the input grid")
                    }
                };
                methods::pos_sim(out, &position_similarity(&m.vit, grid)?, source)?
            }
        }]);
    }
    let (Some(run), Some((_, photo))) = (&engine.run, &engine.image) else {
        bail!("nothing was computed")
    };
    let cap = &run.capture;
    let layout = &cap.layout;
    let layers = cap.source().layers();
    let a = req.args;
    let rollout_opts = RolloutOptions {
        fusion: a.fusion.into(),
        residual: a.residual,
        discard_ratio: a.discard,
        start_layer: a.start_layer,
        end_layer: a.end_layer,
    };
    if let Some(pool) = probe_query(req.query, cap)? {
        return probe_export(method, out, req, engine, pool, &rollout_opts, photo);
    }
    let token = parse_query(req.query, layout)?;
    let qlabel = layout.token_label(token);
    let query_map = |map: TokenMap, definition: String| -> Result<Vec<PathBuf>> {
        let prefix = map.prefix();
        if !prefix.is_empty() {
            eprintln!(
                "values on prefix tokens: {}",
                prefix
                    .iter()
                    .map(|(l, v)| format!("{l} {v:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(vec![methods::token_map(
            out,
            method,
            &map,
            &qlabel,
            &definition,
            photo,
            cap.input_hw,
        )?])
    };
    Ok(match method {
        Method::Attention if !cap.windows.is_empty() => window_export(out, req, cap, token, photo)?,
        Method::Attention => {
            let rows = QueryRows::from_attentions(cap.source(), layout, token)?;
            let layers = match req.layer {
                Some("last") => LayerSpec::One(rows.layers - 1),
                l => parse_layer(l.unwrap_or("all"))?,
            };
            let heads = parse_head(req.head)?;
            match out.format {
                Format::Npy => {
                    let (all, one) = match heads {
                        HeadSpec::One(h) => (None, h),
                        _ => (Some(()), HeadSel::Mean),
                    };
                    vec![methods::attention_npy(
                        out, &rows, layers, all, one, &qlabel,
                    )?]
                }
                Format::Png => {
                    let req = MapExport {
                        out_dir: out.out_dir.clone(),
                        stem: out.stem.clone(),
                        layers,
                        heads,
                        colormap: out.colormap,
                        style: out.style,
                        overwrite: out.overwrite,
                        model_name: out.model_name.clone(),
                        intervention: out.intervention.clone(),
                        image_name: out.image_name.clone(),
                        colour_bar: req.args.colour_bar,
                        npy: false,
                        svg: req.args.svg,
                        mosaic: layers == LayerSpec::All,
                        long_side: req.args.long_side,
                    };
                    export_maps(&rows, photo, cap.input_hw, &req)?
                }
            }
        }
        Method::Rollout | Method::Flow | Method::GradRollout | Method::Relevance => {
            let q = QueryMethod::of(method).expect("a query method");
            if q == QueryMethod::Flow && layout.num_tokens() > 600 {
                eprintln!(
                    "attention flow over {} tokens: one exact max-flow per token, this can take minutes",
                    layout.num_tokens()
                );
            }
            let params = QueryParams {
                opts: rollout_opts,
                target: a.target.clone(),
            };
            let mut done = compute(
                engine,
                &[q],
                Start::Token(token),
                &params,
                &Default::default(),
            )?;
            let o = done.remove(0);
            if let Some(t) = &o.target {
                eprintln!("target: {t}");
            }
            query_map(o.map, o.definition)?
        }
        Method::DinoMask => {
            let l = one_layer(req.layer, layers)?;
            let n = layout.num_tokens() as i64;
            let masks = dino_masks(&cap.source().rows(l, 0, n)?, layout, token, a.tau)?;
            vec![methods::dino_masks(out, &masks, l, &qlabel, a.tau, photo)?]
        }
        Method::TokenNorm => {
            let norms = token_norms(&cap.hidden_states, layout)?;
            let mass = prefix_mass(cap.source(), layout)?;
            eprintln!(
                "{} high-norm outlier(s){}",
                norms.outliers.len(),
                if norms.outliers.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        norms
                            .outliers
                            .iter()
                            .map(|(l, t)| format!("L{l} {}", layout.token_label(*t)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
            methods::token_norms(out, &norms, &mass, cap.input_hw)?
        }
        Method::FeaturePca => {
            // `last`: the model's output tokens (after the final norm); a number: that block's output.
            let layer = match req.layer.unwrap_or("last") {
                "last" => None,
                s => Some(one_layer(Some(s), layers)?),
            };
            let label = layer.map_or("last".to_string(), |l| format!("L{l:02}"));
            let pick = |c: &Capture| -> Result<Tensor> {
                Ok(match layer {
                    None => c.last_hidden_state.shallow_clone(),
                    Some(l) => c.hidden_states[l].shallow_clone(),
                })
            };
            let patches = |c: &Capture| -> Result<(Tensor, usize, usize)> {
                let p = c.layout.num_prefix() as i64;
                Ok((
                    pick(c)?.f_narrow(0, p, c.layout.num_patches() as i64)?,
                    c.layout.grid_h,
                    c.layout.grid_w,
                ))
            };
            let mut feats = vec![patches(cap)?];
            let (h, w) = cap.input_hw;
            for path in &a.joint {
                let img = crate::model::preprocess::load_image(path)?.rgb;
                let r = crate::engine::forward(&m.vit, &img, InputSize::Exact { h, w })?;
                feats.push(patches(&r.capture)?);
            }
            let threshold = match a.fg_threshold.trim() {
                "none" => None,
                t => Some(t.parse::<f64>().with_context(|| {
                    format!("bad --fg-threshold {t:?}: use a number in 0..1 or none")
                })?),
            };
            let images = feature_pca(&feats, threshold)?;
            vec![methods::feature_pca(
                out,
                &images,
                &label,
                threshold,
                cap.input_hw,
            )?]
        }
        Method::PosSim | Method::PatchPca | Method::RelBias => unreachable!("handled above"),
    })
}

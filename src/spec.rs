//! The text forms of a query token (`cls`, `dist`, `regN`, `ROW,COL`, `auto`) and of a gradient target
//! (`top`, `N`, `A-B`, `sim:…`), shared by the command line and the app.
use anyhow::{Context, Result, bail};

use crate::model::{GradTarget, PrefixToken, TokenLayout};

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
            let number = |t: &str| t.trim().parse::<usize>().ok();
            let (Some(r), Some(c)) = (number(r), number(c)) else {
                bail!(
                    "bad query {s:?}: a patch is ROW,COL, two whole numbers counted from 0 (e.g. 8,12); \
                     or use cls, dist, regN"
                );
            };
            layout.token_of_patch(r, c).with_context(|| {
                format!(
                    "patch row {r}, col {c} is outside the {}x{} patch grid (rows x columns)",
                    layout.grid_h, layout.grid_w
                )
            })?
        }
    };
    Ok(token)
}

/// Parse `--target` against the layout and the model's head.
pub fn parse_target(s: &str, layout: &TokenLayout, logits: Option<&[f32]>) -> Result<GradTarget> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(tok) = s.strip_prefix("sim:") {
        return Ok(GradTarget::Similarity(parse_query(tok, layout)?));
    }
    if s == "top" {
        return Ok(match logits {
            Some(l) => GradTarget::Logit(
                l.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i)
                    .context("empty head")?,
            ),
            None => GradTarget::Similarity(parse_query(
                &format!("{},{}", layout.grid_h / 2, layout.grid_w / 2),
                layout,
            )?),
        });
    }
    if logits.is_none() {
        bail!("this model has no classifier head: use --target sim:ROW,COL (or top)");
    }
    match s.split_once('-') {
        Some((a, b)) => Ok(GradTarget::LogitDiff(
            a.trim()
                .parse()
                .with_context(|| format!("bad --target {s:?}"))?,
            b.trim()
                .parse()
                .with_context(|| format!("bad --target {s:?}"))?,
        )),
        None => Ok(GradTarget::Logit(s.parse().with_context(|| {
            format!("bad --target {s:?}: use top, N, A-B or sim:ROW,COL")
        })?)),
    }
}

//! The command line's interventions (`--occlude`, `--ablate`, `--drop`, …): parsed on the run they apply to,
//! then the engine re-runs under them.
use anyhow::{Context, Result, bail};

use super::{InterventionArgs, parse_query};
use crate::engine::Engine;

/// `a..=b` or `a` as an inclusive range.
fn span(s: &str) -> Result<(usize, usize)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let n = |t: &str| -> Result<usize> {
        t.trim()
            .parse()
            .with_context(|| format!("bad number {t:?}"))
    };
    let (a, b) = (n(a)?, n(b)?);
    if a > b {
        bail!("the range {s} runs backwards");
    }
    Ok((a, b))
}

impl InterventionArgs {
    /// The intervention asked for, on the engine's current run (its grid, tokens and model); `None` when
    /// nothing is asked.
    fn build(&self, engine: &Engine) -> Result<Option<crate::model::Intervention>> {
        if self.occlude.is_empty() && self.ablate.is_empty() && self.drop.is_empty() {
            return Ok(None);
        }
        let (Some(m), Some(run)) = (&engine.model, &engine.run) else {
            bail!("an intervention needs --image")
        };
        let c = &m.vit.config;
        let (h, w) = run.capture.input_hw;
        let (gh, gw) = (h / c.patch_size, w / c.patch_size);
        let mut iv = crate::model::Intervention {
            fill: self.fill.into(),
            ablation: self.ablation.into(),
            ..Default::default()
        };
        for o in &self.occlude {
            let (rows, cols) = o
                .split_once(',')
                .with_context(|| format!("bad --occlude {o:?}: give ROW,COL or R0-R1,C0-C1"))?;
            let ((r0, r1), (c0, c1)) = (span(rows)?, span(cols)?);
            if r1 >= gh || c1 >= gw {
                bail!(
                    "--occlude {o}: the input's patch grid is {gh}x{gw} (rows 0..{}, columns 0..{})",
                    gh - 1,
                    gw - 1
                );
            }
            iv.occluded
                .extend((r0..=r1).flat_map(|r| (c0..=c1).map(move |c| r * gw + c)));
        }
        for a in &self.ablate {
            let (l, hd) = a
                .split_once(':')
                .with_context(|| format!("bad --ablate {a:?}: give LAYER:HEAD or LAYER:all"))?;
            let l: usize = l
                .trim()
                .parse()
                .with_context(|| format!("bad layer in --ablate {a:?}"))?;
            let heads: Vec<usize> = match hd.trim() {
                "all" => (0..c.num_attention_heads).collect(),
                h => vec![
                    h.parse()
                        .with_context(|| format!("bad head in --ablate {a:?}"))?,
                ],
            };
            iv.ablated.extend(heads.into_iter().map(|h| (l, h)));
        }
        for d in &self.drop {
            iv.dropped.insert(parse_query(d, &run.capture.layout)?);
        }
        Ok(Some(iv))
    }

    /// Re-run the engine's input under the intervention asked for; returns its description.
    pub(super) fn apply(&self, engine: &mut Engine) -> Result<Option<String>> {
        let Some(iv) = self.build(engine)? else {
            return Ok(None);
        };
        let text = iv.describe();
        engine.set_intervention(iv)?;
        eprintln!("intervention: {text}");
        Ok(Some(text))
    }
}

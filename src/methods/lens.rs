//! The logit lens: at which depth does the answer form? Every layer's tokens go through the final norm, the
//! pooling and the head as if the network ended there ([`crate::model::Vit::logit_lens`]). For a model with a
//! classifier each layer gets its top classes; for every model, the cosine similarity of each layer's pooled
//! feature to the final one (1 at the last layer).
use serde::Serialize;
use tch::{Kind, Tensor};

use super::MethodError;
use crate::engine::{ClassScore, Engine, top_k};

/// One layer of the lens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LensLayer {
    pub layer: usize,
    /// The `k` most probable classes (empty for a model without a classifier).
    pub top: Vec<ClassScore>,
    /// Cosine similarity of this layer's pooled feature to the last layer's.
    pub cosine_to_final: f64,
}

/// The logit lens of the engine's current run, `k` classes per layer.
pub fn logit_lens(engine: &Engine, k: usize) -> Result<Vec<LensLayer>, MethodError> {
    let (Some(m), Some(run)) = (&engine.model, &engine.run) else {
        return Err(MethodError::NothingLoaded);
    };
    let layers = m.vit.logit_lens(&run.capture)?;
    let last = match layers.last() {
        Some((p, _)) => p.shallow_clone(),
        None => return Ok(Vec::new()),
    };
    let cosine = |a: &Tensor| -> Result<f64, tch::TchError> {
        let (a, b) = (a.f_to_kind(Kind::Double)?, last.f_to_kind(Kind::Double)?);
        let dot = a.f_dot(&b)?.f_double_value(&[])?;
        let n = a.f_norm()?.f_double_value(&[])? * b.f_norm()?.f_double_value(&[])?;
        Ok(dot / n.max(1e-300))
    };
    layers
        .iter()
        .enumerate()
        .map(|(l, (pooled, logits))| {
            let top = match logits {
                Some(t) => top_k(
                    &t.f_to_device(tch::Device::Cpu)
                        .and_then(Vec::<f32>::try_from)
                        .map_err(crate::model::ModelError::from)?,
                    &m.vit.config.class_names,
                    k,
                ),
                None => Vec::new(),
            };
            Ok(LensLayer {
                layer: l,
                top,
                cosine_to_final: cosine(pooled).map_err(crate::model::ModelError::from)?,
            })
        })
        .collect()
}

/// The lens as CSV: `layer,rank,class,name,probability,cosine_to_final` (one row per layer and rank; a model
/// without a classifier has one row per layer with rank, class, name and probability empty).
pub fn lens_csv(rows: &[LensLayer]) -> String {
    let mut out = String::from("layer,rank,class,name,probability,cosine_to_final\n");
    for r in rows {
        if r.top.is_empty() {
            out.push_str(&format!("{},,,,,{:.6}\n", r.layer, r.cosine_to_final));
        }
        for (rank, c) in r.top.iter().enumerate() {
            let name = c.name.replace('"', "\"\"");
            out.push_str(&format!(
                "{},{},{},\"{name}\",{:.6},{:.6}\n",
                r.layer,
                rank + 1,
                c.index,
                c.probability,
                r.cosine_to_final
            ));
        }
    }
    out
}

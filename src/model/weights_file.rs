//! The weights file format: what its first bytes say (safetensors, or a PyTorch pickle) and its parse errors in
//! words; then reading safetensors weights tensor by tensor: the header is read and validated first, then each tensor's
//! bytes go from the file straight into that tensor's own storage (`pread`), so loading holds one copy of the
//! weights, never the file's bytes as well. Before any tensor is read, the memory the weights will take as
//! f32 is compared with the memory available, and a checkpoint that would not fit is refused in words.
//!
//! A file whose header does not validate is left to the whole-file parser of [`super::Checkpoint::from_bytes`],
//! which says precisely what is wrong (such files are small or broken: their size is not a concern).
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use safetensors::Dtype;
use safetensors::tensor::Metadata;
use tch::{Device, Kind, Tensor};

use super::error::{ModelError, Result};

/// Largest safetensors header accepted (the format's own limit).
pub(super) const MAX_HEADER_BYTES: u64 = 100_000_000;

/// What the first bytes of a weights file say, before the file is read whole: a clear error for
/// anything that is not a safetensors file or whose header cannot fit in it.
pub(super) fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let io = |source| ModelError::Io {
        path: path.into(),
        source,
    };
    let bad = |reason: String| ModelError::Safetensors {
        path: path.into(),
        reason,
    };
    let mut file = crate::files::open_regular(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut head = [0u8; 9];
    let got = file.by_ref().take(9).read(&mut head).map_err(io)?;
    let head = &head[..got];
    if is_pickle(head) {
        return Err(ModelError::Pickle { path: path.into() });
    }
    if len < 8 {
        return Err(bad(format!(
            "the file is {len} bytes, shorter than a safetensors header (8 bytes of length, then JSON)"
        )));
    }
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "the header would be {n} bytes, over the format's limit of {MAX_HEADER_BYTES}; this is not a safetensors file or it is corrupt"
        )));
    }
    if 8 + n > len {
        return Err(bad(format!(
            "the header needs {n} bytes but the file holds only {len}; the file is truncated"
        )));
    }
    if head.get(8).is_some_and(|&b| b != b'{') {
        return Err(bad(
            "the header is not JSON; this is not a safetensors file".into(),
        ));
    }
    Ok(())
}

/// A zip archive (torch.save since 1.6) or a raw pickle (protocol 2-5: 0x80, then the protocol).
pub(super) fn is_pickle(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
        || (head.len() > 1 && head[0] == 0x80 && (2..=5).contains(&head[1]))
}

/// A safetensors parse error in words.
pub(super) fn describe_safetensors(e: safetensors::SafeTensorError, len: usize) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => format!("the file is {len} bytes, shorter than a safetensors header"),
        E::HeaderTooLarge => "the header is larger than the format's 100 MB limit".into(),
        E::InvalidHeaderLength => {
            "the header length runs past the end of the file (truncated?)".into()
        }
        E::InvalidHeaderStart | E::InvalidHeader(_) => {
            "the header is not valid safetensors JSON".into()
        }
        E::InvalidHeaderDeserialization(e) => {
            format!("the header is not valid safetensors JSON ({e})")
        }
        E::MetadataIncompleteBuffer => format!(
            "the tensors' data does not fill the file's {len} bytes exactly; the file is truncated or has trailing data"
        ),
        E::InvalidOffset(name) => format!(
            "tensor {name}'s data does not start where the previous tensor's ends (overlapping or gapped data offsets)"
        ),
        E::TensorInvalidInfo | E::ValidationOverflow => {
            "a tensor's shape does not match its data size".into()
        }
        e => format!("{e:?}"),
    }
}

/// Tensors gathered from one or more files, with what was seen on the way.
#[derive(Default)]
pub(super) struct Collected {
    pub tensors: HashMap<String, Tensor>,
    pub non_float: BTreeMap<String, (String, Vec<usize>)>,
    non_finite: Vec<String>,
}

/// The tch kind of a floating-point safetensors dtype vitscope computes with.
pub(super) fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

/// A dtype vitscope cannot compute with, in words.
pub(super) fn dtype_words(dtype: Dtype) -> String {
    let what = match dtype {
        Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::F8_E8M0 => {
            "8-bit float: a quantised checkpoint, whose scales vitscope does not apply"
        }
        Dtype::F4 | Dtype::F6_E2M3 | Dtype::F6_E3M2 => "4/6-bit float: a quantised checkpoint",
        Dtype::BOOL => "boolean",
        Dtype::C64 => "complex",
        _ => "integer",
    };
    format!("{dtype:?}, {what}")
}

impl Collected {
    /// Add tensor `name`: a float tensor is allocated with its file dtype, `fill` writes its little-endian
    /// bytes into that storage, and it is kept as f32 (NaN/Inf counted); any other dtype is only recorded.
    pub fn add(
        &mut self,
        name: String,
        dtype: Dtype,
        shape: &[usize],
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let Some(kind) = kind_of(dtype) else {
            self.non_float
                .insert(name, (dtype_words(dtype), shape.to_vec()));
            return Ok(());
        };
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let t = Tensor::f_empty(&dims, (kind, Device::Cpu))?;
        let n = t.numel() * kind.elt_size_in_bytes();
        if n > 0 {
            // SAFETY: `t` is a freshly allocated contiguous CPU tensor of exactly `n` bytes, owned here.
            let bytes = unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut u8, n) };
            fill(bytes)?;
        }
        #[cfg(not(target_endian = "little"))]
        compile_error!("safetensors data is little-endian; vitscope reads it in place");
        let t = t.f_to_kind(Kind::Float)?;
        // One pass for the usual all-finite tensor; counts only for the others.
        if t.f_isfinite()?.f_all()?.int64_value(&[]) == 0 {
            let nan = t.f_isnan()?.f_sum(Kind::Int64)?.int64_value(&[]);
            let inf = t.f_isinf()?.f_sum(Kind::Int64)?.int64_value(&[]);
            self.non_finite
                .push(format!("{name} ({nan} NaN, {inf} Inf)"));
        }
        self.tensors.insert(name, t);
        Ok(())
    }

    /// Merge another file's tensors.
    pub fn extend(&mut self, other: Collected) {
        self.tensors.extend(other.tensors);
        self.non_float.extend(other.non_float);
        self.non_finite.extend(other.non_finite);
    }

    /// Whether a tensor of this name (any dtype) was gathered.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.non_float.contains_key(name)
    }

    /// The warnings for what was seen (NaN/Inf weights).
    pub fn warnings(&mut self) -> Vec<String> {
        self.non_finite.sort();
        let n = self.non_finite.len();
        if n == 0 {
            return Vec::new();
        }
        vec![format!(
            "{n} tensor{} hold NaN or Inf values, so maps may be blank: {}",
            if n == 1 { "" } else { "s" },
            self.non_finite.join(", ")
        )]
    }
}

/// A safetensors file whose header validated: the open file, where its data starts, and its tensors.
pub(super) struct WeightsFile {
    pub path: PathBuf,
    file: File,
    data_start: u64,
    meta: Metadata,
}

impl WeightsFile {
    /// Open `path` and validate its header against the file's size. `Ok(None)`: the header does not
    /// validate, and the whole-file parser should say why.
    pub fn open(path: &Path) -> Result<Option<WeightsFile>> {
        let io = |source| ModelError::Io {
            path: path.into(),
            source,
        };
        let mut file = crate::files::open_regular(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut n8 = [0u8; 8];
        if file.read_exact(&mut n8).is_err() {
            return Ok(None);
        }
        let n = u64::from_le_bytes(n8);
        if n > MAX_HEADER_BYTES || n.saturating_add(8) > len {
            return Ok(None);
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(io)?;
        let Ok(meta) = serde_json::from_slice::<Metadata>(&header) else {
            return Ok(None);
        };
        if 8 + n + meta.data_len() as u64 != len {
            return Ok(None);
        }
        Ok(Some(WeightsFile {
            path: path.into(),
            file,
            data_start: 8 + n,
            meta,
        }))
    }

    /// Bytes the file's float tensors take once widened to f32.
    pub fn f32_bytes(&self) -> u64 {
        self.meta
            .tensors()
            .values()
            .filter(|t| kind_of(t.dtype).is_some())
            .map(|t| t.shape.iter().product::<usize>() as u64 * 4)
            .sum()
    }

    /// Read every tensor, each from the file into its own storage, in file order.
    pub fn read(self) -> Result<Collected> {
        let mut out = Collected::default();
        let mut infos: Vec<(String, _)> = self.meta.tensors().into_iter().collect();
        infos.sort_by_key(|(_, t)| t.data_offsets.0);
        for (name, info) in infos {
            let at = self.data_start + info.data_offsets.0 as u64;
            out.add(name, info.dtype, &info.shape, |buf| {
                self.file
                    .read_exact_at(buf, at)
                    .map_err(|source| ModelError::Io {
                        path: self.path.clone(),
                        source,
                    })
            })?;
        }
        Ok(out)
    }
}

/// Refuse weights that would not fit: `need` bytes as f32 against 80 % of the memory available.
pub(super) fn check_weights_fit(path: &Path, need: u64, available: Option<u64>) -> Result<()> {
    let Some(avail) = available else {
        return Ok(());
    };
    if need as f64 <= 0.8 * avail as f64 {
        return Ok(());
    }
    const GIB: f64 = (1u64 << 30) as f64;
    Err(ModelError::Invalid(format!(
        "the weights of {} take {:.1} GiB as f32 and about {:.1} GiB of memory is available: they would not \
         fit; close other programs or use a machine with more memory (nothing was loaded)",
        path.display(),
        need as f64 / GIB,
        avail as f64 / GIB
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_in_place_gives_the_files_values_bit_for_bit() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/zoo/hf_dinov2_registers/model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let f = WeightsFile::open(&path).unwrap().expect("a valid header");
        assert_eq!(
            f.f32_bytes(),
            st.tensors()
                .iter()
                .map(|(_, v)| v.data().len() as u64)
                .sum::<u64>()
        );
        let got = f.read().unwrap();
        assert_eq!(got.tensors.len(), st.len());
        for (name, view) in st.tensors() {
            let t = &got.tensors[&name];
            let v = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            let want: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            assert!(
                v.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name}"
            );
        }
        // a header that does not validate is left to the whole-file parser
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
        assert!(WeightsFile::open(&cut).unwrap().is_none());
    }

    #[test]
    fn weights_that_would_not_fit_are_refused_before_reading() {
        let p = Path::new("big/model.safetensors");
        let e = check_weights_fit(p, 10 << 30, Some(8 << 30))
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.0 GiB") && e.contains("would not fit"), "{e}");
        assert!(check_weights_fit(p, 1 << 30, Some(8 << 30)).is_ok());
        assert!(check_weights_fit(p, u64::MAX, None).is_ok());
    }
}

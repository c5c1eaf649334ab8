//! PNG writing with `tEXt` chunks (provenance: model, layer, head, query, method, vitscope version).
use std::io::Write;
use std::path::Path;

use image::RgbImage;

use super::{ExportError, write_atomic};

/// Write an RGB PNG with the given text chunks, atomically.
pub fn write_png(
    path: &Path,
    img: &RgbImage,
    text: &[(String, String)],
    overwrite: bool,
) -> Result<(), ExportError> {
    write_encoded(path, &encode_png(path, img, text)?, overwrite)
}

/// Write bytes made by [`encode_png`], atomically.
pub fn write_encoded(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), ExportError> {
    write_atomic(path, overwrite, |w| {
        w.write_all(bytes).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })
    })
}

/// An RGB PNG with the given text chunks, in memory (`path` only names the file in errors).
pub fn encode_png(
    path: &Path,
    img: &RgbImage,
    text: &[(String, String)],
) -> Result<Vec<u8>, ExportError> {
    encode_png_at(path, img, text, None)
}

/// Write an RGB PNG that says its resolution (`dpi`, in a `pHYs` chunk), atomically.
pub fn write_png_at(
    path: &Path,
    img: &RgbImage,
    text: &[(String, String)],
    dpi: u32,
    overwrite: bool,
) -> Result<(), ExportError> {
    write_encoded(path, &encode_png_at(path, img, text, Some(dpi))?, overwrite)
}

/// [`encode_png`], with the resolution in dots per inch when given.
pub fn encode_png_at(
    path: &Path,
    img: &RgbImage,
    text: &[(String, String)],
    dpi: Option<u32>,
) -> Result<Vec<u8>, ExportError> {
    let enc = |e: png::EncodingError| ExportError::Encode {
        path: path.into(),
        reason: e.to_string(),
    };
    // raw size plus the filter bytes: fast deflate rarely grows it, so one allocation is the norm
    let mut buf = Vec::with_capacity(img.as_raw().len() / 2 + 4096);
    {
        let mut encoder = png::Encoder::new(&mut buf, img.width(), img.height());
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // fdeflate's fast mode: several times faster than zlib-level compression, files a little larger.
        encoder.set_compression(png::Compression::Fast);
        if let Some(dpi) = dpi {
            // pHYs counts pixels per metre
            let ppm = (dpi as f64 / 0.0254).round() as u32;
            encoder.set_pixel_dims(Some(png::PixelDimensions {
                xppu: ppm,
                yppu: ppm,
                unit: png::Unit::Meter,
            }));
        }
        encoder
            .add_text_chunk(
                "Software".into(),
                format!("vitscope {}", env!("CARGO_PKG_VERSION")),
            )
            .map_err(enc)?;
        for (k, v) in text {
            // tEXt holds Latin-1 only; anything else (α, τ, …) goes in a UTF-8 iTXt chunk.
            if v.chars().all(|c| (c as u32) < 256) {
                encoder.add_text_chunk(k.clone(), v.clone()).map_err(enc)?;
            } else {
                encoder.add_itxt_chunk(k.clone(), v.clone()).map_err(enc)?;
            }
        }
        let mut writer = encoder.write_header().map_err(enc)?;
        writer.write_image_data(img.as_raw()).map_err(enc)?;
        writer.finish().map_err(enc)?;
    }
    Ok(buf)
}

/// `f` applied to every item, on up to one thread per core; the results in the items' order (so what
/// is made does not depend on the scheduling).
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Read the text chunks of a PNG (used by tests and by anyone checking provenance).
pub fn read_png_text(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let reader = decoder.read_info().map_err(std::io::Error::other)?;
    let info = reader.info();
    let mut out: Vec<(String, String)> = info
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    for t in &info.utf8_text {
        out.push((
            t.keyword.clone(),
            t.get_text().map_err(std::io::Error::other)?,
        ));
    }
    Ok(out)
}

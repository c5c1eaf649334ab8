//! PNG writing with `tEXt` chunks (provenance: model, layer, head, query, method, vitscope version).
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
    let enc = |e: png::EncodingError| ExportError::Encode {
        path: path.into(),
        reason: e.to_string(),
    };
    write_atomic(path, overwrite, |w| {
        let mut encoder = png::Encoder::new(w, img.width(), img.height());
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // fdeflate's fast mode: several times faster than zlib-level compression, files a little larger.
        encoder.set_compression(png::Compression::Fast);
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
        writer.finish().map_err(enc)
    })
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

//! Image decoding and preprocessing.
//!
//! What happens to a photo before the model sees it, exactly:
//! 1. decode with the `image` crate (format from the file's content, not its name), within explicit
//!    limits checked from the header before decoding ([`MAX_IMAGE_SIDE`] per side, [`MAX_IMAGE_PIXELS`],
//!    [`MAX_ASPECT`], [`MAX_DECODE_BYTES`] of decoder memory);
//! 2. convert to 8-bit RGB as [`decode_image`] states (EXIF orientation applied, transparency
//!    composited over white, grayscale replicated to three channels);
//! 3. resize the whole image, without cropping or padding, to the input size ([`InputSize::resolve`]):
//!    by default the shorter side becomes 224 and the longer side keeps the aspect ratio, both rounded to
//!    whole patches. The filter is a separable triangle (bilinear) filter whose support grows with the
//!    reduction factor, so downscaling is antialiased (like PIL's `BILINEAR`);
//! 4. scale to 0..1 and normalise each channel with the model's mean and std:
//!    `x = (v / 255 − mean[c]) / std[c]`, laid out as `[1, 3, H, W]` f32.

use std::io::Cursor;
use std::path::Path;

use image::{
    DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage, imageops::FilterType,
    metadata::Orientation,
};

use super::error::{ModelError, Result};

/// Largest accepted image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory a decoder may allocate.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;
pub use super::input_size::{InputSize, MAX_INPUT_SIDE};

/// Round `v` to the nearest positive multiple of `patch`.
fn round_to_patches(v: f64, patch: usize) -> usize {
    ((v / patch as f64).round() as usize).max(1) * patch
}

impl InputSize {
    /// The input (height, width) in pixels for an image of `img_w × img_h`, in whole patches. A shorter side
    /// whose longer side would pass [`MAX_INPUT_SIDE`] is refused with the largest size that works: the
    /// aspect ratio is never changed behind the user's back.
    pub fn resolve(&self, img_w: u32, img_h: u32, patch: usize) -> Result<(usize, usize)> {
        match *self {
            InputSize::Exact { h, w } => Ok((
                round_to_patches(h as f64, patch),
                round_to_patches(w as f64, patch),
            )),
            InputSize::Shorter(s) => {
                let short_px = round_to_patches(s as f64, patch);
                let (iw, ih) = (img_w.max(1) as f64, img_h.max(1) as f64);
                let scale = short_px as f64 / iw.min(ih);
                let (h, w) = (
                    round_to_patches(ih * scale, patch),
                    round_to_patches(iw * scale, patch),
                );
                let cap = MAX_INPUT_SIDE / patch * patch;
                if h.max(w) > cap {
                    // the largest shorter side (in whole patches) whose longer side still fits
                    let ratio = iw.max(ih) / iw.min(ih);
                    let mut fit = (cap as f64 / ratio / patch as f64).floor() as usize * patch;
                    while fit > patch && round_to_patches(fit as f64 * ratio, patch) > cap {
                        fit -= patch;
                    }
                    let suggest = fit.max(patch);
                    return Err(ModelError::SideTooLong {
                        msg: format!(
                            "at size {s} this {img_w} × {img_h} image would be {w} × {h} px, over the {MAX_INPUT_SIDE} px \
                             vitscope allows per side (the aspect ratio is kept, never squashed); use size {suggest} or \
                             less, or an exact HxW size"
                        ),
                        suggest,
                    });
                }
                Ok((h, w))
            }
        }
    }
}

/// A decoded photo in 8-bit RGB, with what was done to get there (said to the user).
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub rgb: RgbImage,
    /// One line per conversion that changed what the file holds: EXIF rotation, alpha compositing,
    /// 16-bit or CMYK or palette conversion, the first frame of an animation.
    pub notes: Vec<String>,
}

/// Largest image file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Most pixels an image may declare; checked from the header, before any pixel is decoded.
pub const MAX_IMAGE_PIXELS: u64 = 100_000_000;
/// Widest accepted aspect ratio (longer side : shorter side).
pub const MAX_ASPECT: u32 = 20;

const FORMATS: &str = "PNG, JPEG, GIF, WebP, TIFF or BMP";

/// Decode an image file to 8-bit RGB, within the limits above.
pub fn load_image(path: &Path) -> Result<DecodedImage> {
    let err = |reason: String| ModelError::Image {
        path: path.into(),
        reason,
    };
    let io = |source| ModelError::Io {
        path: path.into(),
        source,
    };
    let bytes = crate::files::read_regular(path, MAX_FILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::FileTooLarge {
            err(format!(
                "the file is over {} MiB; vitscope reads images up to that size",
                MAX_FILE_BYTES >> 20
            ))
        } else {
            io(e)
        }
    })?;
    decode_image(&bytes).map_err(err)
}

/// Decode image bytes (any of [`FORMATS`], recognised by content) to 8-bit RGB.
///
/// The header is read first and its size checked against [`MAX_IMAGE_SIDE`], [`MAX_IMAGE_PIXELS`] and
/// [`MAX_ASPECT`] before any pixel buffer is allocated; decoders are also capped at
/// [`MAX_DECODE_BYTES`]. Then: the EXIF orientation is applied; transparent pixels are composited
/// over white, `out = α·rgb + (1 − α)·255` (α in 0..1); 16-bit samples are rounded to 8 bits;
/// grayscale is repeated in R, G and B; CMYK is converted by the JPEG decoder; an animated GIF gives
/// its first frame.
pub fn decode_image(bytes: &[u8]) -> std::result::Result<DecodedImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty (0 bytes)".into());
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let Some(format) = reader.format() else {
        return Err(format!("not an image vitscope can read ({FORMATS})"));
    };
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| describe(format, e))?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    decoder
        .set_limits(limits)
        .map_err(|e| describe(format, e))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| describe(format, e))?;
    // The JPEG decoder fills missing scans with grey instead of failing: a file cut short must not pass as
    // a photo. How many rows are missing cannot be told reliably, so it is refused.
    if format == ImageFormat::Jpeg && jpeg_is_truncated(bytes) {
        return Err(format!(
            "the JPEG data ends early: its {} bytes stop before the end-of-image marker, so part of the \
             picture is missing (a truncated download or copy?); vitscope does not guess the missing rows",
            bytes.len()
        ));
    }
    let mut notes = Vec::new();
    if orientation != Orientation::NoTransforms {
        img.apply_orientation(orientation);
        notes.push(format!("EXIF orientation applied ({orientation:?})"));
    }
    let colour = img.color();
    if format == ImageFormat::Png && png_is_palette(bytes) {
        notes.push("palette colours expanded to RGB".into());
    }
    if format == ImageFormat::Jpeg && jpeg_components(bytes) == Some(4) {
        notes.push("CMYK converted to RGB".into());
    }
    if colour.bytes_per_pixel() / colour.channel_count() > 1 {
        notes.push("16-bit samples rounded to 8 bits".into());
    }
    if !colour.has_color() {
        notes.push("grayscale: the one channel is repeated in R, G and B".into());
    }
    if format == ImageFormat::Gif && gif_frames(bytes) > 1 {
        notes.push("animated GIF: the first frame is used".into());
    }
    if format == ImageFormat::Png && png_is_animated(bytes) {
        notes.push("animated PNG (APNG): the default image is used".into());
    }
    if format == ImageFormat::WebP && webp_is_animated(bytes) {
        notes.push("animated WebP: the first frame is used".into());
    }
    if format == ImageFormat::Tiff && tiff_pages(bytes) > 1 {
        notes.push("multi-page TIFF: the first page is used".into());
    }
    let rgb = if colour.has_alpha() {
        let rgba = img.to_rgba8();
        if rgba.pixels().any(|p| p.0[3] < 255) {
            notes.push("transparent pixels composited over white (α·rgb + (1 − α)·255)".into());
        }
        composite_over_white(&rgba)
    } else {
        img.to_rgb8()
    };
    Ok(DecodedImage { rgb, notes })
}

fn check_dimensions(w: u32, h: u32) -> std::result::Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("the image has no pixels ({w} × {h})"));
    }
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE || w as u64 * h as u64 > MAX_IMAGE_PIXELS {
        return Err(format!(
            "the image declares {w} × {h} pixels; vitscope opens at most {MAX_IMAGE_SIDE} per side and {} megapixels (a decompression bomb is refused before decoding)",
            MAX_IMAGE_PIXELS / 1_000_000
        ));
    }
    let (long, short) = (w.max(h), w.min(h));
    if long > short.saturating_mul(MAX_ASPECT) {
        return Err(format!(
            "the image is {w} × {h} pixels, an aspect ratio over {MAX_ASPECT}:1; crop it first"
        ));
    }
    Ok(())
}

/// A decoder error in words (the `image` crate's messages name no format when data is missing).
fn describe(format: ImageFormat, e: image::ImageError) -> String {
    let name = format!("{format:?}").to_uppercase();
    match e {
        image::ImageError::Limits(l) => format!(
            "decoding needs more memory than vitscope allows ({} MiB): {l}",
            MAX_DECODE_BYTES >> 20
        ),
        e if is_truncation(&e) => format!("the {name} data ends early (truncated file?)"),
        image::ImageError::Unsupported(u) => format!("{name}: {u}"),
        e => format!("{name}: {e}"),
    }
}

fn is_truncation(e: &image::ImageError) -> bool {
    if let image::ImageError::IoError(io) = e
        && io.kind() == std::io::ErrorKind::UnexpectedEof
    {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    [
        "not enough bytes",
        "unexpected eof",
        "unexpected end",
        "end of file",
        "no more data",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// `out = α·rgb + (1 − α)·255`, rounded, with α = a/255.
pub fn composite_over_white(rgba: &image::RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = a as u32;
        let mix = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(r), mix(g), mix(b)])
    })
}

/// Whether a PNG's IHDR declares an indexed (palette) image.
fn png_is_palette(bytes: &[u8]) -> bool {
    bytes.len() > 25 && &bytes[12..16] == b"IHDR" && bytes[25] == 3
}

/// The number of colour components in a JPEG's start-of-frame header.
fn jpeg_components(bytes: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return Some(bytes[i + 9]);
        }
        i += 2 + len;
    }
    None
}

/// Whether a JPEG stops before its end-of-image marker. The segments are walked from the start (an EXIF
/// thumbnail's own end marker inside APP1 does not count); `false` when the structure cannot be followed
/// (the decoder accepted it; nothing is claimed).
fn jpeg_is_truncated(b: &[u8]) -> bool {
    let n = b.len();
    if n < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        if i >= n {
            return true;
        }
        if b[i] != 0xFF {
            return false;
        }
        while i + 1 < n && b[i + 1] == 0xFF {
            i += 1; // fill bytes
        }
        if i + 1 >= n {
            return true;
        }
        let marker = b[i + 1];
        match marker {
            0xD9 => return false,
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                if i + 3 >= n {
                    return true;
                }
                let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
                let end = i + 2 + len;
                if end > n {
                    return true;
                }
                i = end;
                if marker == 0xDA {
                    // entropy-coded data: runs to the next marker that is not a stuffed 0 or a restart
                    loop {
                        if i + 1 >= n {
                            return true;
                        }
                        if b[i] == 0xFF && !matches!(b[i + 1], 0x00 | 0xFF | 0xD0..=0xD7) {
                            break;
                        }
                        i += 1;
                    }
                }
            }
        }
    }
}

/// PNG chunks (type, data) in file order, up to the first malformed one.
fn png_chunks(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 8;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let kind = b.get(i + 4..i + 8)?;
        i = i.checked_add(12)?.checked_add(len)?;
        Some(kind)
    })
}

/// Whether a PNG is an APNG (an `acTL` chunk before the image data).
fn png_is_animated(b: &[u8]) -> bool {
    png_chunks(b)
        .take_while(|k| *k != b"IDAT")
        .any(|k| k == b"acTL")
}

/// Whether a WebP is animated (the animation flag of its VP8X header).
fn webp_is_animated(b: &[u8]) -> bool {
    b.len() > 20 && &b[12..16] == b"VP8X" && b[20] & 0x02 != 0
}

/// How many pages (image file directories) a TIFF chains, counting up to 2.
fn tiff_pages(b: &[u8]) -> usize {
    let le = match b.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return 0,
    };
    let u32_at = |i: usize| -> Option<usize> {
        let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        } as usize)
    };
    let u16_at = |i: usize| -> Option<usize> {
        let a: [u8; 2] = b.get(i..i + 2)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        } as usize)
    };
    let next = (|| {
        let ifd = u32_at(4)?;
        let count = u16_at(ifd)?;
        u32_at(ifd.checked_add(2)?.checked_add(count.checked_mul(12)?)?)
    })();
    match next {
        None => 1,
        Some(0) => 1,
        Some(_) => 2,
    }
}

/// How many frames a GIF has, counting up to 2.
fn gif_frames(bytes: &[u8]) -> usize {
    use image::AnimationDecoder;
    match image::codecs::gif::GifDecoder::new(Cursor::new(bytes)) {
        Ok(d) => d.into_frames().take(2).filter(|f| f.is_ok()).count(),
        Err(_) => 0,
    }
}

/// Resize `img` to `h × w` (see the module docs for the filter).
pub fn resize(img: &RgbImage, h: usize, w: usize) -> RgbImage {
    if (img.width() as usize, img.height() as usize) == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, w as u32, h as u32, FilterType::Triangle)
}

/// Normalise an RGB image into CHW f32 values `(v/255 − mean) / std`.
pub fn normalize(img: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * h * w + i] = (px.0[c] as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!("224".parse::<InputSize>().unwrap(), InputSize::Shorter(224));
        assert_eq!(
            "224x336".parse::<InputSize>().unwrap(),
            InputSize::Exact { h: 224, w: 336 }
        );
        assert!("0".parse::<InputSize>().is_err());
        assert!("abc".parse::<InputSize>().is_err());
        assert!("224x".parse::<InputSize>().is_err());
        assert!("99999".parse::<InputSize>().is_err());
    }

    #[test]
    fn shorter_side_keeps_aspect_in_whole_patches() {
        // chelsea.png is 451 x 300: shorter side 300 -> 224, longer 451*224/300 = 336.7 -> 24 patches of 14.
        assert_eq!(
            InputSize::Shorter(224).resolve(451, 300, 14).unwrap(),
            (224, 336)
        );
        // portrait
        assert_eq!(
            InputSize::Shorter(224).resolve(300, 451, 14).unwrap(),
            (336, 224)
        );
        // 518 for DINOv2: 37 patches on the shorter side
        assert_eq!(
            InputSize::Shorter(518).resolve(512, 512, 14).unwrap(),
            (518, 518)
        );
        // 224 is not a multiple of 14*? it is (16 patches); 225 rounds to 224
        assert_eq!(
            InputSize::Shorter(225).resolve(100, 100, 14).unwrap(),
            (224, 224)
        );
        assert_eq!(
            InputSize::Exact { h: 30, w: 50 }.resolve(1, 1, 16).unwrap(),
            (32, 48)
        );
        // a 9:1 image at shorter side 2000 would be 18000 px long: refused with a size that fits, never squashed
        let e = InputSize::Shorter(2000)
            .resolve(9000, 1000, 16)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("use size 448 or less") && e.contains("never squashed"),
            "{e}"
        );
        let (h, w) = InputSize::Shorter(448).resolve(9000, 1000, 16).unwrap();
        assert_eq!((h, w), (448, 4032));
        assert!((w as f64 / h as f64 - 9.0).abs() < 0.01);
    }

    #[test]
    fn every_format_cut_short_is_refused() {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x * y) % 251) as u8])
        });
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::WebP,
            ImageFormat::Tiff,
            ImageFormat::Bmp,
        ] {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            assert!(decode_image(&bytes).is_ok(), "{format:?} whole");
            for pct in [30, 60, 90, 99] {
                let cut = &bytes[..bytes.len() * pct / 100];
                assert!(
                    decode_image(cut).is_err(),
                    "{format:?} cut to {pct} % of {} bytes decoded without a word",
                    bytes.len()
                );
            }
        }
        // a JPEG with an EXIF thumbnail's end marker inside APP1 is still whole only with its own end
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        assert!(!jpeg_is_truncated(&jpeg));
        let mut with_thumb = jpeg[..2].to_vec();
        with_thumb.extend([0xFF, 0xE1, 0x00, 0x08, b'E', b'x', 0xFF, 0xD9, 0, 0]);
        with_thumb.extend(&jpeg[2..jpeg.len() / 2]);
        assert!(jpeg_is_truncated(&with_thumb));
    }

    #[test]
    fn normalize_is_exact_for_a_constant_image() {
        let img = RgbImage::from_pixel(3, 2, image::Rgb([255, 0, 51]));
        let v = normalize(&img, [0.5, 0.5, 0.5], [0.5, 0.25, 0.1]);
        assert_eq!(v.len(), 18);
        assert!(v[..6].iter().all(|&x| (x - 1.0).abs() < 1e-6));
        assert!(v[6..12].iter().all(|&x| (x + 2.0).abs() < 1e-6));
        assert!(v[12..].iter().all(|&x| (x + 3.0).abs() < 1e-5));
    }
}

//! A generated corpus of awkward and broken inputs (issue "Nothing breaks it"). Images the `image` crate
//! cannot write (a CMYK JPEG, an EXIF-rotated JPEG) come from tests/fixtures/generate_images.py.
use std::path::{Path, PathBuf};

use image::{ImageBuffer, Luma, Rgb, RgbImage, Rgba};

use super::{fixture, root};

/// An image vitscope opens after a conversion it reports.
pub struct OddImage {
    pub path: PathBuf,
    /// What the decoded 8-bit RGB image must equal (within `tolerance` per channel).
    pub expected: RgbImage,
    pub tolerance: u8,
    /// A phrase of the note decoding must give ("" when none is due).
    pub note: &'static str,
}

impl OddImage {
    /// The file name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

/// The colours of the generated images: left half `A`, right half `B`.
const A: [u8; 3] = [220, 30, 30];
const B: [u8; 3] = [30, 30, 220];

fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| Rgb(if x < w / 2 { A } else { B }))
}

/// Expected RGB of a pixel `c` with alpha `a` over white: `(c·a + 255·(255 − a)) / 255`, rounded.
pub fn over_white(c: u8, a: u8) -> u8 {
    ((c as f64 * a as f64 + 255.0 * (255 - a) as f64) / 255.0).round() as u8
}

/// Images that decode, each with what it must decode to.
pub fn odd_images(dir: &Path) -> Vec<OddImage> {
    let mut out = Vec::new();
    let mut add = |name: &str, expected: RgbImage, tolerance: u8, note: &'static str| {
        out.push(OddImage {
            path: dir.join(name),
            expected,
            tolerance,
            note,
        })
    };
    let (w, h) = (20u32, 12u32);
    let plain = halves(w, h);

    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(w, h, |x, _| {
        Rgb([65535, if x < w / 2 { 32896 } else { 0 }, 257])
    });
    rgb16.save(dir.join("rgb16.png")).unwrap();
    add(
        "rgb16.png",
        RgbImage::from_fn(w, h, |x, _| Rgb([255, if x < w / 2 { 128 } else { 0 }, 1])),
        0,
        "16-bit samples",
    );

    ImageBuffer::<Luma<u8>, _>::from_pixel(w, h, Luma([77u8]))
        .save(dir.join("gray.png"))
        .unwrap();
    add(
        "gray.png",
        RgbImage::from_pixel(w, h, Rgb([77, 77, 77])),
        0,
        "grayscale",
    );

    let rgba: image::RgbaImage = ImageBuffer::from_fn(w, h, |x, _| {
        Rgba(if x < w / 2 {
            [200, 100, 0, 128]
        } else {
            [10, 20, 30, 255]
        })
    });
    rgba.save(dir.join("rgba.png")).unwrap();
    add(
        "rgba.png",
        RgbImage::from_fn(w, h, |x, _| {
            Rgb(if x < w / 2 {
                [
                    over_white(200, 128),
                    over_white(100, 128),
                    over_white(0, 128),
                ]
            } else {
                [10, 20, 30]
            })
        }),
        0,
        "composited over white",
    );

    write_palette_png(&dir.join("palette.png"), w, h);
    add("palette.png", plain.clone(), 0, "palette");

    write_animated_gif(&dir.join("animated.gif"), w, h);
    add("animated.gif", plain.clone(), 0, "first frame");

    for name in ["lossless.webp", "tiff_image.tiff", "bmp_image.bmp"] {
        plain.save(dir.join(name)).unwrap();
        add(name, plain.clone(), 0, "");
    }
    // a PNG with a JPEG's name: the content decides
    plain
        .save_with_format(dir.join("png_named.jpg"), image::ImageFormat::Png)
        .unwrap();
    add("png_named.jpg", plain.clone(), 0, "");

    for name in [
        "cmyk.jpg",
        "exif_rotated.jpg",
        "cmyk_expected.png",
        "exif_expected.png",
    ] {
        std::fs::copy(fixture(&format!("images/{name}")), dir.join(name)).unwrap();
    }
    let cmyk = image::open(dir.join("cmyk_expected.png"))
        .unwrap()
        .to_rgb8();
    add("cmyk.jpg", cmyk, 6, "CMYK");
    // stored 32 wide × 16 tall, left red / right blue, orientation 6 (rotate 90° clockwise):
    // shown 16 wide × 32 tall with red on top, as PIL shows it
    let rotated = image::open(dir.join("exif_expected.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(rotated.dimensions(), (16, 32));
    assert_eq!(rotated.get_pixel(8, 4).0, A);
    add("exif_rotated.jpg", rotated, 6, "EXIF orientation");
    // animations and pages made by PIL (generate_images.py): 32 × 16, the first frame left red / right blue
    let first = halves(32, 16);
    for (name, copy, note) in [
        ("animated.png", "apng.png", "animated PNG (APNG)"),
        ("animated.webp", "animated_webp.webp", "animated WebP"),
        ("pages.tif", "pages.tif", "multi-page TIFF"),
    ] {
        std::fs::copy(fixture(&format!("images/{name}")), dir.join(copy)).unwrap();
        add(copy, first.clone(), 0, note);
    }
    out
}

fn write_palette_png(path: &Path, w: u32, h: u32) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette([A, B].concat());
    let mut wr = enc.write_header().unwrap();
    let data: Vec<u8> = (0..h)
        .flat_map(|_| (0..w).map(|x| u8::from(x >= w / 2)))
        .collect();
    wr.write_image_data(&data).unwrap();
}

fn write_animated_gif(path: &Path, w: u32, h: u32) {
    use image::codecs::gif::GifEncoder;
    let frame = |img: RgbImage| {
        let rgba = image::DynamicImage::ImageRgb8(img).to_rgba8();
        image::Frame::new(rgba)
    };
    let second = RgbImage::from_pixel(w, h, Rgb([0, 200, 0]));
    let file = std::fs::File::create(path).unwrap();
    let mut enc = GifEncoder::new(file);
    enc.encode_frames(vec![frame(halves(w, h)), frame(second)])
        .unwrap();
}

/// Images vitscope refuses, each with a phrase its error must contain.
pub fn bad_images(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, needle: &'static str| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        out.push((p, needle));
    };
    let png = std::fs::read(root().join("assets/chelsea.png")).unwrap();
    let jpeg = std::fs::read(root().join("assets/rocket.jpg")).unwrap();
    add("empty.png", vec![], "empty");
    add("truncated.png", png[..png.len() / 2].to_vec(), "ends early");
    add("header_only.jpg", jpeg[..600].to_vec(), "ends early");
    // JPEGs cut short decode "successfully" with grey rows in the image crate: refused by their structure
    let mut baseline = Vec::new();
    image::open(root().join("assets/chelsea.png"))
        .unwrap()
        .to_rgb8()
        .write_to(
            &mut std::io::Cursor::new(&mut baseline),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    add(
        "cut30_baseline.jpg",
        baseline[..baseline.len() * 3 / 10].to_vec(),
        "JPEG data ends early",
    );
    add(
        "cut99_baseline.jpg",
        baseline[..baseline.len() - 2].to_vec(),
        "JPEG data ends early",
    );
    let progressive = std::fs::read(fixture("images/progressive.jpg")).unwrap();
    for pct in [20, 50, 90] {
        let name: &'static str = Box::leak(format!("cut{pct}_progressive.jpg").into_boxed_str());
        add(
            name,
            progressive[..progressive.len() * pct / 100].to_vec(),
            "JPEG data ends early",
        );
    }
    add(
        "text.png",
        b"just some text, not an image\n".to_vec(),
        "not an image",
    );
    add(
        "bomb.png",
        png_header(50_000, 50_000),
        "declares 50000 × 50000",
    );
    add(
        "bomb.gif",
        gif_header(50_000, 50_000),
        "declares 50000 × 50000",
    );
    let mut strip = Vec::new();
    RgbImage::from_pixel(420, 20, Rgb([9, 9, 9]))
        .write_to(
            &mut std::io::Cursor::new(&mut strip),
            image::ImageFormat::Png,
        )
        .unwrap();
    add("strip.png", strip, "aspect ratio over 20:1");
    out
}

/// An image smaller than one patch of the tiny model (4 px): it decodes, the model refuses it.
pub fn tiny_image(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.png");
    RgbImage::from_pixel(3, 3, Rgb([1, 2, 3])).save(&p).unwrap();
    p
}

/// A decompression bomb: a PNG declaring `w × h` RGB pixels whose IDAT holds the first 4 MiB of zero
/// rows, compressed to a few kilobytes (a whole 50,000² bomb would be the same, only longer).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        let mut wr = enc.write_header().unwrap();
        let mut stream = wr.stream_writer().unwrap();
        stream.write_all(&vec![0u8; 4 << 20]).unwrap();
        let _ = stream.flush();
        std::mem::forget(stream);
    }
    assert!(out.len() < 64 << 10, "{} bytes", out.len());
    out
}

/// A GIF whose logical screen and one frame declare `w × h`, with a few bytes of data.
fn gif_header(w: u16, h: u16) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b.extend([0x80, 0, 0]); // global colour table of 2 entries
    b.extend([0, 0, 0, 255, 255, 255]);
    b.push(0x2C); // image descriptor
    b.extend([0, 0, 0, 0]);
    b.extend(w.to_le_bytes());
    b.extend(h.to_le_bytes());
    b.push(0);
    b.extend([2, 2, 0x4C, 0x01, 0]); // LZW min code size 2, one tiny sub-block
    b.push(0x3B);
    b
}

/// The tiny DINOv2 fixture rewritten by `edit`, which sees each tensor's name and f32 values and
/// returns the tensors to write as (name, dtype, shape, little-endian bytes); `config` edits config.json.
pub fn tiny_variant(
    dir: &Path,
    name: &str,
    edit: impl Fn(&str, &[usize], &[f32]) -> Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>,
    config: impl Fn(&mut serde_json::Value),
) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let (t, _) = super::read_f32(&fixture("dinov2_tiny/model.safetensors"));
    let mut owned = Vec::new();
    let mut names: Vec<&String> = t.keys().collect();
    names.sort();
    for n in names {
        let (shape, v) = &t[n];
        owned.extend(edit(n, shape, v));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &folder.join("model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("dinov2_tiny/config.json")).unwrap())
            .unwrap();
    config(&mut cfg);
    std::fs::write(folder.join("config.json"), cfg.to_string()).unwrap();
    folder
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Keep a tensor as it is.
pub fn same(
    n: &str,
    s: &[usize],
    v: &[f32],
) -> Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    vec![(n.into(), safetensors::Dtype::F32, s.to_vec(), f32_bytes(v))]
}

/// The tiny model with NaN and Inf in one weight (it loads, with a warning).
pub fn nan_checkpoint(dir: &Path) -> PathBuf {
    tiny_variant(
        dir,
        "nan_weights",
        |n, s, v| {
            if n == "encoder.layer.2.mlp.fc1.weight" {
                let mut v = v.to_vec();
                v[0] = f32::NAN;
                v[1] = f32::NAN;
                v[2] = f32::INFINITY;
                same(n, s, &v)
            } else {
                same(n, s, v)
            }
        },
        |_| {},
    )
}

/// Checkpoints vitscope refuses, each with a phrase its error must contain.
pub fn bad_checkpoints(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, needle: &'static str| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        out.push((p, needle));
    };
    let good = std::fs::read(fixture("dinov2_tiny/model.safetensors")).unwrap();
    add(
        "empty.safetensors",
        vec![],
        "shorter than a safetensors header",
    );
    add(
        "truncated.safetensors",
        good[..good.len() * 2 / 3].to_vec(),
        "truncated",
    );
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend(b"{}");
    add("huge_header.safetensors", huge, "over the format's limit");
    let mut past = 5000u64.to_le_bytes().to_vec();
    past.extend(b"{\"a\":1}");
    add("header_past_end.safetensors", past, "the file holds only");
    let mut bad_json = 10u64.to_le_bytes().to_vec();
    bad_json.extend(b"{not json}");
    add(
        "bad_json.safetensors",
        bad_json,
        "not valid safetensors JSON",
    );
    let header = br#"{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4]}}"#;
    let mut lying = (header.len() as u64).to_le_bytes().to_vec();
    lying.extend(header);
    lying.extend([0, 0, 0, 0]);
    add(
        "lying_shape.safetensors",
        lying,
        "shape does not match its data size",
    );
    let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let mut overlapping = (header.len() as u64).to_le_bytes().to_vec();
    overlapping.extend(header);
    overlapping.extend([0u8; 12]);
    add(
        "overlapping.safetensors",
        overlapping,
        "overlapping or gapped data offsets",
    );
    add(
        "photo.safetensors",
        std::fs::read(root().join("assets/chelsea.png")).unwrap(),
        "not a safetensors file",
    );
    add(
        "zip.pt",
        b"PK\x03\x04 a torch.save archive".to_vec(),
        "pickle",
    );
    add(
        "raw_pickle.safetensors",
        b"\x80\x04\x95 a raw pickle stream".to_vec(),
        "pickle",
    );
    let mut unknown = Vec::new();
    {
        let w = [0u8; 16];
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &w).unwrap();
        unknown = safetensors::serialize(vec![("conv1.weight", view)], None).unwrap_or(unknown);
    }
    add("resnet.safetensors", unknown, "unknown checkpoint layout");
    std::fs::create_dir_all(dir.join("no_weights")).unwrap();
    out.push((dir.join("no_weights"), "holds no .safetensors file"));

    out.push((
        tiny_variant(
            dir,
            "int_weight",
            |n, s, v| {
                if n == "encoder.layer.0.norm1.weight" {
                    let b = v.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect();
                    vec![(n.into(), safetensors::Dtype::I64, s.to_vec(), b)]
                } else {
                    same(n, s, v)
                }
            },
            |_| {},
        ),
        "not floating point",
    ));
    out.push((
        tiny_variant(
            dir,
            "missing_and_extra",
            |n, s, v| match n {
                "encoder.layer.1.attention.attention.key.bias" => vec![],
                "layernorm.bias" => same("layernorm.beta", s, v),
                _ => same(n, s, v),
            },
            |_| {},
        ),
        "1 unexpected: layernorm.beta",
    ));
    out.push((
        tiny_variant(dir, "bad_heads", same, |c| {
            c["num_attention_heads"] = 5.into();
        }),
        "5 heads do not divide the width 48",
    ));
    out
}

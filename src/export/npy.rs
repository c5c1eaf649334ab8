//! NumPy `.npy` files (format 1.0, little-endian, C order), written atomically.
use std::io::Write;
use std::path::Path;

use super::{ExportError, write_atomic};

/// The element type and values of an array.
pub enum NpyData<'a> {
    F32(&'a [f32]),
    U8(&'a [u8]),
}

impl NpyData<'_> {
    fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::U8(v) => v.len(),
        }
    }
    fn descr(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "<f4",
            NpyData::U8(_) => "|u1",
        }
    }
}

/// The bytes of an `.npy` file holding `data` with `shape`.
pub fn npy_bytes(shape: &[usize], data: &NpyData) -> Result<Vec<u8>, String> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(format!(
            "shape {shape:?} holds {n} values, got {}",
            data.len()
        ));
    }
    let dims = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        data.descr()
    );
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::U8(v) => out.extend_from_slice(v),
    }
    Ok(out)
}

/// Write an `.npy` file atomically.
pub fn write_npy(
    path: &Path,
    shape: &[usize],
    data: NpyData,
    overwrite: bool,
) -> Result<(), ExportError> {
    let bytes = npy_bytes(shape, &data).map_err(|reason| ExportError::Encode {
        path: path.into(),
        reason,
    })?;
    write_atomic(path, overwrite, |w| {
        w.write_all(&bytes).map_err(|source| ExportError::Write {
            path: path.into(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_describes_the_array() {
        let b = npy_bytes(&[2, 3], &NpyData::F32(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])).unwrap();
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (2, 3)"));
        assert_eq!(b.len(), 10 + hlen + 24);
        assert_eq!(&b[10 + hlen + 4..10 + hlen + 8], &1f32.to_le_bytes());
        assert!(npy_bytes(&[4], &NpyData::U8(&[1, 2, 3])).is_err());
        let one = npy_bytes(&[3], &NpyData::U8(&[1, 2, 3])).unwrap();
        assert!(std::str::from_utf8(&one[10..74]).unwrap().contains("(3,)"));
    }
}

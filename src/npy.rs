//! Reading and writing NumPy `.npy` files holding little-endian `f32` arrays.
//!
//! Only what the crate needs is supported: dtype `'<f4'` in C order, format
//! versions 1.0, 2.0 and 3.0. The writer produces exactly the bytes
//! `numpy.save` writes for a C-order `float32` array (NumPy 2.x): format 1.0,
//! or 2.0 when the header does not fit the 1.0 length field.
//!
//! The reader is meant for untrusted input: every malformation is reported as
//! an [`Error`] of kind [`ErrorKind::Npy`] with a one-line message starting
//! with `npy: `, and nothing is allocated from a header number before it has
//! been checked against the actual length of the input.
//!
//! ```text
//! use crate::npy::{decode_f32, encode_f32};
//!
//! let bytes = encode_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
//! let array = decode_f32(&bytes)?;
//! assert_eq!(array.shape, vec![2, 3]);
//! assert_eq!(array.data[4], 4.0);
//! ```

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// The six bytes every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Magic plus the two version bytes.
const MAGIC_LEN: usize = 8;
/// The header (prefix included) is padded to a multiple of this.
const ARRAY_ALIGN: usize = 64;
/// NumPy leaves room for the growth axis to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// The only accepted dtype descriptor.
const DESCR_F32: &str = "<f4";
/// How many characters of a string or dimension an error message quotes.
const QUOTE_MAX_CHARS: usize = 40;
/// How many leading dimensions an error message shows before eliding.
const SHAPE_SHOW_DIMS: usize = 16;

/// A decoded .npy array of f32: shape and data in C order.
///
/// `data.len()` is the product of `shape` (1 for the empty shape `()`, which
/// is a 0-d array holding a single value).
///
/// ```text
/// use crate::npy::NpyF32;
///
/// let scalar = NpyF32 { shape: vec![], data: vec![1.5] };
/// let matrix = NpyF32 { shape: vec![2, 2], data: vec![1.0, 2.0, 3.0, 4.0] };
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NpyF32 {
    /// The dimensions, outermost first (C order).
    pub shape: Vec<usize>,
    /// The elements in C (row-major) order.
    pub data: Vec<f32>,
}

/// Decodes the bytes of a `.npy` file holding a little-endian `f32` C-order array.
///
/// Accepts format versions 1.0, 2.0 and 3.0 and only the dtype `'<f4'`. The
/// header dict may list its keys in any order, with single or double quotes
/// and an optional trailing comma, but must have exactly the keys `descr`,
/// `fortran_order` and `shape`. The data must be exactly as long as the shape
/// needs: missing and extra trailing bytes are both errors.
///
/// # Errors
///
/// [`ErrorKind::Npy`] for any malformed or unsupported input, with a one-line
/// message starting with `npy: ` that says what is wrong. Never panics.
///
/// ```text
/// use crate::npy::decode_f32;
///
/// let array = decode_f32(&std::fs::read("x.npy")?)?;
/// println!("shape {:?}, {} values", array.shape, array.data.len());
/// ```
pub fn decode_f32(bytes: &[u8]) -> Result<NpyF32> {
    let (header, data_start, version) = split_header(bytes)?;
    let text = HeaderText::new(header, version)?;
    let dict = parse_header(text)?;

    if dict.descr != DESCR_F32 {
        return Err(npy_err(format!(
            "dtype '{}' is not supported (only '<f4', little-endian float32)",
            quote(&dict.descr)
        )));
    }
    if dict.fortran_order {
        return Err(npy_err(
            "fortran_order is True: fortran order (column-major) arrays are not supported (only C order)",
        ));
    }

    let shape = dict.shape;
    let count = element_count(&shape).ok_or_else(|| {
        npy_err(format!(
            "element count overflows usize for shape {}",
            shape_display(&shape)
        ))
    })?;
    let needed = count.checked_mul(4).ok_or_else(|| {
        npy_err(format!(
            "byte length overflows usize for shape {} ({count} float32 values)",
            shape_display(&shape)
        ))
    })?;
    let payload = &bytes[data_start..];
    if payload.len() != needed {
        return Err(npy_err(format!(
            "data length {} bytes does not match shape {} which needs {needed} bytes",
            payload.len(),
            shape_display(&shape)
        )));
    }

    // `needed` equals the length of a slice we hold, so this allocation is bounded by the input.
    let mut data = Vec::with_capacity(count);
    data.extend(
        payload
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    Ok(NpyF32 { shape, data })
}

/// Encodes a C-order `f32` array as the bytes `numpy.save` would write.
///
/// The result is byte-for-byte what NumPy 2.x writes for a C-order `float32`
/// array of this shape: format version 1.0 (2.0 if the header exceeds 65535
/// bytes), the header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (...), }`,
/// NumPy's growth padding, spaces and a newline aligning the data to 64
/// bytes, then the values in little-endian order.
///
/// # Errors
///
/// [`ErrorKind::InvalidShape`] if `data.len()` is not the product of `shape`
/// (1 for `()`); [`ErrorKind::Overflow`] if that product, the byte length or
/// the header length does not fit its integer type.
///
/// ```text
/// use crate::npy::encode_f32;
///
/// let bytes = encode_f32(&[5], &[1.0, 2.0, 3.0, 4.0, 5.0])?;
/// assert_eq!(bytes.len(), 128 + 5 * 4);
/// ```
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let count = element_count(shape).ok_or_else(|| {
        Error::new(
            ErrorKind::Overflow,
            format!(
                "npy: element count overflows usize for shape {}",
                shape_display(shape)
            ),
        )
    })?;
    if data.len() != count {
        return Err(Error::new(
            ErrorKind::InvalidShape,
            format!(
                "npy: data has {} values but shape {} needs {count}",
                data.len(),
                shape_display(shape)
            ),
        ));
    }

    let mut out = encode_header(shape)?;
    // `data` exists in memory, so its byte length fits; checked anyway.
    let total = data
        .len()
        .checked_mul(4)
        .and_then(|n| n.checked_add(out.len()))
        .ok_or_else(|| Error::new(ErrorKind::Overflow, "npy: file length overflows usize"))?;
    out.reserve_exact(total - out.len());
    for value in data {
        out.extend_from_slice(&value.to_le_bytes());
    }
    Ok(out)
}

/// Reads a `.npy` file holding a little-endian `f32` C-order array.
///
/// # Errors
///
/// [`ErrorKind::Io`] if the file cannot be read, [`ErrorKind::Npy`] if its
/// contents are malformed or unsupported (see [`decode_f32`]). Both messages
/// start with `npy: ` and name the path.
///
/// ```text
/// use crate::npy::read_f32;
///
/// let array = read_f32(std::path::Path::new("input.npy"))?;
/// ```
pub fn read_f32(path: &Path) -> Result<NpyF32> {
    let bytes = fs::read(path).map_err(|e| io_error("cannot read", path, e))?;
    decode_f32(&bytes).map_err(|e| {
        let detail = e.message().strip_prefix("npy: ").unwrap_or(e.message());
        Error::new(e.kind(), format!("npy: {}: {detail}", path_display(path)))
    })
}

/// Writes a C-order `f32` array to `path` as `numpy.save` would.
///
/// The bytes are those of [`encode_f32`]. They are first written to a
/// temporary file in the same directory (named after the target and the
/// process id), flushed to disk and then renamed over `path`, so `path` never
/// holds a partial file; the temporary file is removed if anything fails.
///
/// # Errors
///
/// The errors of [`encode_f32`] (nothing is written then), and
/// [`ErrorKind::Io`] with a message naming the path if the file cannot be
/// written.
///
/// ```text
/// use crate::npy::write_f32;
///
/// write_f32(std::path::Path::new("output.npy"), &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
/// ```
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    const ATTEMPTS: u32 = 16;

    let bytes = encode_f32(shape, data)?;
    let file_name = path.file_name().ok_or_else(|| {
        Error::new(
            ErrorKind::Io,
            format!("npy: cannot write {}: no file name", path_display(path)),
        )
    })?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let pid = std::process::id();

    let mut attempt = 0;
    loop {
        attempt += 1;
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{pid}.{seq}.tmp"));
        let tmp = dir.join(tmp_name);

        let file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < ATTEMPTS => {
                continue;
            }
            Err(e) => {
                let action = format!(
                    "cannot create temporary file {} to write",
                    path_display(&tmp)
                );
                return Err(io_error(&action, path, e));
            }
        };

        let written = write_and_sync(file, &bytes).and_then(|()| fs::rename(&tmp, path));
        return written.map_err(|e| {
            // Best effort: the temp file may already be gone (e.g. after a successful rename).
            let _ = fs::remove_file(&tmp);
            io_error("cannot write", path, e)
        });
    }
}

/// Writes all bytes, flushes them to disk and closes the file.
fn write_and_sync(mut file: fs::File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// An [`ErrorKind::Npy`] error; `detail` is the message without the `npy: ` prefix.
fn npy_err(detail: impl AsRef<str>) -> Error {
    Error::new(ErrorKind::Npy, format!("npy: {}", detail.as_ref()))
}

/// An I/O error (via the crate's `From<std::io::Error>`) whose message names the path.
fn io_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    let base = Error::from(e);
    Error::new(
        base.kind(),
        format!("npy: {action} {}: {}", path_display(path), base.message()),
    )
}

/// A path, quoted and escaped so that the message stays on one line.
fn path_display(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// The number of elements of `shape`, or `None` if it overflows `usize`.
///
/// Like NumPy, the product of the non-zero dimensions must fit even when a
/// zero dimension makes the array empty, so the result does not depend on
/// the order of the dimensions.
fn element_count(shape: &[usize]) -> Option<usize> {
    let mut product: usize = 1;
    let mut empty = false;
    for &dim in shape {
        if dim == 0 {
            empty = true;
        } else {
            product = product.checked_mul(dim)?;
        }
    }
    Some(if empty { 0 } else { product })
}

/// The shape as Python's `repr` of a tuple: `()`, `(5,)`, `(1, 2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    let mut s = String::with_capacity(shape.len().saturating_mul(3).saturating_add(2));
    s.push('(');
    for (i, dim) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{dim}");
    }
    if shape.len() == 1 {
        s.push(',');
    }
    s.push(')');
    s
}

/// The shape for an error message: its repr, shortened if it has many dimensions.
fn shape_display(shape: &[usize]) -> String {
    if shape.len() <= SHAPE_SHOW_DIMS {
        return shape_repr(shape);
    }
    let head = shape_repr(&shape[..SHAPE_SHOW_DIMS]);
    format!(
        "{}, ...) [{} dimensions]",
        head.trim_end_matches(')'),
        shape.len()
    )
}

/// A string for an error message: escaped to one line and shortened if long.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(QUOTE_MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if s.chars().nth(QUOTE_MAX_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

/// Magic, version, header length field and header, exactly as NumPy writes them.
fn encode_header(shape: &[usize]) -> Result<Vec<u8>> {
    let mut dict = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': ");
    dict.push_str(&shape_repr(shape));
    dict.push_str(", }");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        let growth = GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits);
        dict.extend(std::iter::repeat_n(' ', growth));
    }

    // NumPy: hlen = len(header) + 1 (the newline); padlen = ALIGN - (prefix + hlen) % ALIGN,
    // which is 1..=ALIGN (a full block of spaces when already aligned).
    let hlen = dict.len() + 1;
    let padded_len = |prefix_len: usize| {
        let pad = ARRAY_ALIGN - (prefix_len + hlen) % ARRAY_ALIGN;
        hlen + pad
    };
    let (version, len_field): (u8, Vec<u8>) = match u16::try_from(padded_len(MAGIC_LEN + 2)) {
        Ok(n) => (1, n.to_le_bytes().to_vec()),
        Err(_) => match u32::try_from(padded_len(MAGIC_LEN + 4)) {
            Ok(n) => (2, n.to_le_bytes().to_vec()),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Overflow,
                    format!(
                        "npy: header for shape {} does not fit in 4 GiB",
                        shape_display(shape)
                    ),
                ));
            }
        },
    };
    let header_len = padded_len(MAGIC_LEN + len_field.len());

    let mut out = Vec::with_capacity(MAGIC_LEN + len_field.len() + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    out.extend_from_slice(&len_field);
    out.extend_from_slice(dict.as_bytes());
    out.resize(MAGIC_LEN + len_field.len() + header_len - 1, b' ');
    out.push(b'\n');
    Ok(out)
}

/// Checks magic and version, reads the header length and returns
/// `(header bytes, offset of the data, major version)`.
fn split_header(bytes: &[u8]) -> Result<(&[u8], usize, u8)> {
    let magic_seen = &bytes[..bytes.len().min(MAGIC.len())];
    if magic_seen != &MAGIC[..magic_seen.len()] {
        return Err(npy_err(format!(
            "bad magic string: expected \\x93NUMPY, found {}",
            magic_seen.escape_ascii()
        )));
    }
    if bytes.len() < MAGIC_LEN {
        return Err(npy_err(format!(
            "truncated header: the file has only {} bytes, fewer than the {MAGIC_LEN} of the magic string and version",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2 | 3, 0) => 4,
        _ => {
            return Err(npy_err(format!(
                "unsupported version {major}.{minor} of the .npy format (only 1.0, 2.0 and 3.0)"
            )));
        }
    };
    let prefix_len = MAGIC_LEN + len_size;
    let Some(len_bytes) = bytes.get(MAGIC_LEN..prefix_len) else {
        return Err(npy_err(format!(
            "truncated header: the file ends inside the {len_size}-byte header length field ({} bytes in all)",
            bytes.len()
        )));
    };
    let header_len = match *len_bytes {
        [a, b] => usize::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => usize::try_from(u32::from_le_bytes([a, b, c, d])).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    let available = bytes.len() - prefix_len;
    let end = match prefix_len.checked_add(header_len) {
        Some(end) if header_len <= available => end,
        _ => {
            return Err(npy_err(format!(
                "header length {header_len} bytes extends past end of file ({available} bytes follow the {prefix_len}-byte prefix)"
            )));
        }
    };
    Ok((&bytes[prefix_len..end], end, major))
}

/// The header bytes with the encoding of their format version.
#[derive(Clone, Copy)]
struct HeaderText<'a> {
    bytes: &'a [u8],
    /// Version 3.0 headers are UTF-8 (validated); earlier ones are latin1.
    utf8: bool,
}

impl<'a> HeaderText<'a> {
    fn new(bytes: &'a [u8], major: u8) -> Result<Self> {
        let utf8 = major >= 3;
        if utf8 && let Err(e) = std::str::from_utf8(bytes) {
            return Err(npy_err(format!(
                "version 3.0 header is not valid UTF-8 (at byte {} of the header)",
                e.valid_up_to()
            )));
        }
        Ok(HeaderText { bytes, utf8 })
    }

    /// Decodes a byte range that starts and ends at ASCII characters.
    fn decode(&self, range: std::ops::Range<usize>) -> String {
        let raw = &self.bytes[range];
        if self.utf8 {
            String::from_utf8_lossy(raw).into_owned()
        } else {
            raw.iter().map(|&b| char::from(b)).collect()
        }
    }

    /// The character at `pos` for an error message, or "the end of the header".
    fn describe(&self, pos: usize) -> String {
        let Some(&b) = self.bytes.get(pos) else {
            return "the end of the header".to_owned();
        };
        let c = if self.utf8 && !b.is_ascii() {
            // Validated UTF-8: decode the whole character (at most 4 bytes).
            let end = (pos + 4).min(self.bytes.len());
            let lossy = String::from_utf8_lossy(&self.bytes[pos..end]);
            lossy.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER)
        } else {
            char::from(b)
        };
        format!("'{}'", c.escape_debug())
    }
}

/// Parses a whole header: the dict, optional spaces, and the final newline.
fn parse_header(text: HeaderText<'_>) -> Result<HeaderDict> {
    let bytes = text.bytes;
    let Some((&b'\n', body)) = bytes.split_last() else {
        return Err(npy_err(format!(
            "header does not end with a newline ({} bytes, last byte {})",
            bytes.len(),
            match bytes.last() {
                Some(b) => format!("0x{b:02x}"),
                None => "none".to_owned(),
            }
        )));
    };
    // Only the final newline ends the header; everything before it belongs to the dict.
    let mut parser = Parser::new(HeaderText {
        bytes: body,
        utf8: text.utf8,
    });
    let dict = parser.parse_dict()?;
    while let Some(b' ') = parser.peek() {
        parser.pos += 1;
    }
    if parser.pos != body.len() {
        return Err(parser.syntax("only spaces between the closing '}' and the final newline"));
    }
    Ok(dict)
}

/// The values of a header dict.
struct HeaderDict {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A recursive-descent parser for the subset of Python literal syntax used by
/// `.npy` headers. It never recurses deeper than one tuple, so hostile input
/// cannot exhaust the stack.
struct Parser<'a> {
    text: HeaderText<'a>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: HeaderText<'a>) -> Self {
        Parser { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.bytes.get(self.pos).copied()
    }

    /// A syntax error at the current position.
    fn syntax(&self, expected: &str) -> Error {
        self.syntax_at(self.pos, expected)
    }

    fn syntax_at(&self, pos: usize, expected: &str) -> Error {
        npy_err(format!(
            "bad header dict syntax at byte {pos} of the header: expected {expected}, found {}",
            self.text.describe(pos)
        ))
    }

    /// Skips whitespace inside the dict (Python allows newlines within braces).
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, expected: &str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(expected))
        }
    }

    fn parse_dict(&mut self) -> Result<HeaderDict> {
        let mut descr: Option<String> = None;
        let mut fortran_order: Option<bool> = None;
        let mut shape: Option<Vec<usize>> = None;

        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
        self.expect(b'{', "'{' starting the header dict")?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                break;
            }
            let key_pos = self.pos;
            if !matches!(self.peek(), Some(b'\'' | b'"')) {
                return Err(self.syntax("a quoted key or '}'"));
            }
            let key = self.parse_string()?;
            let seen = match key.as_str() {
                "descr" => descr.is_some(),
                "fortran_order" => fortran_order.is_some(),
                "shape" => shape.is_some(),
                _ => {
                    return Err(npy_err(format!(
                        "unknown header key '{}' at byte {key_pos} of the header (expected 'descr', 'fortran_order' and 'shape')",
                        quote(&key)
                    )));
                }
            };
            if seen {
                return Err(npy_err(format!(
                    "duplicate header key '{key}' at byte {key_pos} of the header"
                )));
            }
            self.skip_ws();
            self.expect(b':', "':' after the key")?;
            self.skip_ws();
            match key.as_str() {
                "descr" => descr = Some(self.parse_descr()?),
                "fortran_order" => fortran_order = Some(self.parse_bool()?),
                _ => shape = Some(self.parse_shape()?),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.syntax("',' or '}' after a value")),
            }
        }
        self.pos += 1; // the '}'

        let missing = |key: &str| npy_err(format!("header dict is missing the key '{key}'"));
        Ok(HeaderDict {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }

    /// A string literal in single or double quotes, without escape sequences.
    fn parse_string(&mut self) -> Result<String> {
        let open_pos = self.pos;
        let Some(quote_char @ (b'\'' | b'"')) = self.peek() else {
            return Err(self.syntax("a quoted string"));
        };
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b) if b == quote_char => break,
                Some(b'\\') => {
                    return Err(npy_err(format!(
                        "bad header dict syntax at byte {} of the header: escape sequences in strings are not supported",
                        self.pos
                    )));
                }
                Some(b'\n' | b'\r') | None => {
                    return Err(npy_err(format!(
                        "bad header dict syntax at byte {open_pos} of the header: unterminated string"
                    )));
                }
                Some(_) => self.pos += 1,
            }
        }
        let value = self.text.decode(start..self.pos);
        self.pos += 1;
        Ok(value)
    }

    fn parse_descr(&mut self) -> Result<String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.parse_string(),
            Some(b'[') => Err(npy_err(format!(
                "structured dtype (a list descr at byte {} of the header) is not supported (only '<f4', little-endian float32)",
                self.pos
            ))),
            _ => Err(self.syntax("a quoted dtype string for 'descr'")),
        }
    }

    fn parse_bool(&mut self) -> Result<bool> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        match &self.text.bytes[start..self.pos] {
            b"True" => Ok(true),
            b"False" => Ok(false),
            _ => Err(self.syntax_at(start, "True or False for 'fortran_order'")),
        }
    }

    fn parse_shape(&mut self) -> Result<Vec<usize>> {
        let open_pos = self.pos;
        self.expect(b'(', "'(' starting the shape tuple")?;
        let mut shape = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(shape);
        }
        loop {
            shape.push(self.parse_dim()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        return Ok(shape);
                    }
                }
                Some(b')') if shape.len() == 1 => {
                    return Err(npy_err(format!(
                        "bad header dict syntax at byte {open_pos} of the header: shape ({}) is not a tuple (a one-element tuple needs a trailing comma)",
                        shape[0]
                    )));
                }
                Some(b')') => {
                    self.pos += 1;
                    return Ok(shape);
                }
                _ => return Err(self.syntax("',' or ')' in the shape tuple")),
            }
        }
    }

    /// A non-negative decimal integer that fits `usize`.
    fn parse_dim(&mut self) -> Result<usize> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            return Err(npy_err(format!(
                "negative dimension in the shape at byte {start} of the header"
            )));
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = &self.text.bytes[start..self.pos];
        if digits.is_empty() {
            return Err(self.syntax("a dimension (a non-negative integer)"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(npy_err(format!(
                "bad header dict syntax at byte {start} of the header: dimension with leading zeros"
            )));
        }
        let mut value: usize = 0;
        for &d in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(d - b'0')))
                .ok_or_else(|| {
                    npy_err(format!(
                        "dimension {} at byte {start} of the header overflows usize",
                        quote(&self.text.decode(start..self.pos))
                    ))
                })?;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `np.arange(n, dtype=np.float32) * 0.5 - 3`, the data of the golden files.
    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|k| k as f32 * 0.5 - 3.0).collect()
    }

    fn le_bytes(data: &[f32]) -> Vec<u8> {
        data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// A file with the given version, raw header bytes (newline included) and data bytes.
    fn build(major: u8, header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
        }
        out.extend_from_slice(header);
        out.extend_from_slice(data);
        out
    }

    /// A version 1.0 file with the given header text and `n` ramp values.
    fn with_header(header: &str, n: usize) -> Vec<u8> {
        build(1, header.as_bytes(), &le_bytes(&ramp(n)))
    }

    #[track_caller]
    fn assert_npy_err(bytes: &[u8], needle: &str) {
        match decode_f32(bytes) {
            Ok(a) => panic!("expected an error containing {needle:?}, got {a:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Npy, "{e}");
                let msg = e.message();
                assert!(msg.starts_with("npy: "), "{msg}");
                assert!(!msg.contains('\n'), "multi-line message {msg:?}");
                assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
            }
        }
    }

    // Headers written by numpy 2.4.6 (`np.save` of `np.arange(n, dtype=np.float32) * 0.5 - 3`
    // reshaped to the shape), copied byte for byte.
    const GOLDEN: &[(&[usize], &[u8])] = &[
        (
            &[],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }                                                              \n",
        ),
        (
            &[0],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }                                                            \n",
        ),
        (
            &[5],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }                                                            \n",
        ),
        (
            &[1, 2, 2, 16],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2, 16), }                                                   \n",
        ),
        (
            &[123456789, 0],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (123456789, 0), }                                                  \n",
        ),
        (
            &[3, 4],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }                                                          \n",
        ),
        (
            &[0, 3],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }                                                          \n",
        ),
        (
            &[10, 11],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (10, 11), }                                                        \n",
        ),
        (
            &[2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }                            \n",
        ),
        (
            &[1; 64],
            b"\x93NUMPY\x01\x006\x01{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }                                                                \n",
        ),
    ];

    /// `numpy.lib.format.write_array(f, np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 3,
    /// version=(2, 0))`, whole file.
    const NUMPY_V2: &[u8] = b"\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                        \n\x00\x00@\xc0\x00\x00 \xc0\x00\x00\x00\xc0\x00\x00\xc0\xbf\x00\x00\x80\xbf\x00\x00\x00\xbf";
    /// The same array written with `version=(3, 0)`.
    const NUMPY_V3: &[u8] = b"\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                        \n\x00\x00@\xc0\x00\x00 \xc0\x00\x00\x00\xc0\x00\x00\xc0\xbf\x00\x00\x80\xbf\x00\x00\x00\xbf";
    /// `write_array(f, np.zeros(2, dtype=[('é', '<f4')]), version=(3, 0))`: a UTF-8 header.
    const NUMPY_V3_STRUCTURED: &[u8] = b"\x93NUMPY\x03\x00t\x00\x00\x00{'descr': [('\xc3\xa9', '<f4')], 'fortran_order': False, 'shape': (2,), }                                                \n\x00\x00\x00\x00\x00\x00\x00\x00";
    /// Headers numpy writes for arrays this module rejects.
    const NUMPY_FORTRAN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }                                                           \n";
    const NUMPY_F8: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }                                                            \n";
    const NUMPY_BIG_ENDIAN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }                                                            \n";

    fn count(shape: &[usize]) -> usize {
        element_count(shape).unwrap()
    }

    #[test]
    fn writer_matches_numpy_golden_bytes() {
        for &(shape, header) in GOLDEN {
            let data = ramp(count(shape));
            let bytes = encode_f32(shape, &data).unwrap();
            assert_eq!(&bytes[..header.len()], header, "shape {shape:?}");
            assert_eq!(bytes[header.len()..], le_bytes(&data), "shape {shape:?}");
            assert_eq!(header.len() % ARRAY_ALIGN, 0);
        }
    }

    #[test]
    fn reader_reads_numpy_golden_files() {
        for &(shape, header) in GOLDEN {
            let data = ramp(count(shape));
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&le_bytes(&data));
            let array = decode_f32(&bytes).unwrap();
            assert_eq!(array.shape, shape);
            assert_eq!(array.data, data);
        }
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn writer_growth_padding_with_twenty_digit_first_dimension() {
        // numpy's `_write_array_header` for shape (18446744073709551615, 0).
        let expected: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 0), }                                       \n";
        assert_eq!(encode_f32(&[usize::MAX, 0], &[]).unwrap(), expected);
        let array = decode_f32(expected).unwrap();
        assert_eq!(array.shape, [usize::MAX, 0]);
        assert!(array.data.is_empty());
    }

    #[test]
    fn writer_falls_back_to_version_2_like_numpy() {
        // numpy's `_write_array_header` keeps version 1.0 for 21817 ones (65536 header bytes
        // in all) and switches to 2.0 for 21818 ones (65600 bytes).
        let v1 = encode_f32(&[1; 21817], &[7.5]).unwrap();
        assert_eq!(&v1[..10], b"\x93NUMPY\x01\x00\xf6\xff");
        assert_eq!(v1.len(), 65536 + 4);
        assert_eq!(&v1[65536 - 30..65536], b"1, 1), }                     \n");
        let v2 = encode_f32(&[1; 21818], &[7.5]).unwrap();
        assert_eq!(&v2[..12], b"\x93NUMPY\x02\x004\x00\x01\x00");
        assert_eq!(v2.len(), 65600 + 4);
        assert_eq!(
            &v2[65600 - 30..65600],
            &[b' '; 29].iter().chain(b"\n").copied().collect::<Vec<u8>>()[..]
        );
        for bytes in [&v1, &v2] {
            let array = decode_f32(bytes).unwrap();
            assert_eq!(array.data, [7.5]);
            assert!(array.shape.iter().all(|&d| d == 1));
        }
        assert_eq!(decode_f32(&v2).unwrap().shape.len(), 21818);
    }

    #[test]
    fn reads_numpy_version_2_and_3_files() {
        for bytes in [NUMPY_V2, NUMPY_V3] {
            let array = decode_f32(bytes).unwrap();
            assert_eq!(array.shape, [2, 3]);
            assert_eq!(array.data, [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5]);
        }
    }

    #[test]
    fn rejects_numpy_files_of_other_dtypes_and_orders() {
        let mut fortran = NUMPY_FORTRAN.to_vec();
        fortran.extend_from_slice(&[0; 24]);
        assert_npy_err(&fortran, "fortran_order is True");
        let mut f8 = NUMPY_F8.to_vec();
        f8.extend_from_slice(&[0; 24]);
        let e = decode_f32(&f8).unwrap_err();
        assert_eq!(
            e.message(),
            "npy: dtype '<f8' is not supported (only '<f4', little-endian float32)"
        );
        let mut big = NUMPY_BIG_ENDIAN.to_vec();
        big.extend_from_slice(&[0; 12]);
        assert_npy_err(&big, "dtype '>f4' is not supported");
        assert_npy_err(NUMPY_V3_STRUCTURED, "structured dtype");
    }

    #[test]
    fn version_3_utf8_strings_are_decoded() {
        let header = "{'descr': 'é<f4', 'fortran_order': False, 'shape': (), }\n";
        assert_npy_err(
            &build(3, header.as_bytes(), &[0; 4]),
            "dtype 'é<f4' is not supported",
        );
        // The same bytes in a latin1 (1.0) header are two latin1 characters.
        assert_npy_err(
            &build(1, header.as_bytes(), &[0; 4]),
            "dtype 'Ã©<f4' is not supported",
        );
        let bad = b"{'descr': '\xff', 'fortran_order': False, 'shape': (), }\n";
        assert_npy_err(&build(3, bad, &[0; 4]), "not valid UTF-8 (at byte 11");
        assert_npy_err(&build(2, bad, &[0; 4]), "dtype '\u{ff}' is not supported");
        let odd_key = "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'ключ': 1}\n";
        assert_npy_err(
            &build(3, odd_key.as_bytes(), &[0; 4]),
            "unknown header key 'ключ'",
        );
        let junk = "{'descr': '<f4', 'fortran_order': False, 'shape': ()}é\n";
        assert_npy_err(&build(3, junk.as_bytes(), &[0; 4]), "found 'é'");
    }

    #[test]
    fn round_trips() {
        let cases: Vec<(Vec<usize>, Vec<f32>)> = vec![
            (vec![], vec![42.25]),
            (vec![0], vec![]),
            (vec![3, 0, 2], vec![]),
            (vec![0, 0], vec![]),
            (vec![5], ramp(5)),
            (vec![1, 1, 1], vec![-1.0]),
            (vec![2, 3, 4], ramp(24)),
            (vec![1, 2, 2, 16], ramp(64)),
            (
                vec![8],
                vec![
                    -0.0,
                    0.0,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::MIN_POSITIVE,
                    f32::from_bits(1),
                    f32::MAX,
                    f32::MIN,
                ],
            ),
        ];
        for (shape, data) in cases {
            let bytes = encode_f32(&shape, &data).unwrap();
            let array = decode_f32(&bytes).unwrap();
            assert_eq!(array.shape, shape);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&array.data), bits(&data), "shape {shape:?}");
        }
    }

    #[test]
    fn nan_bit_patterns_are_preserved() {
        let bits = [
            0x7fc0_0000_u32, // quiet NaN
            0xffc0_0000,     // negative quiet NaN
            0x7f80_0001,     // signalling NaN
            0x7fa1_2345,     // signalling NaN with payload
            0xffff_ffff,
            0x7fff_ffff,
            0x8000_0000, // -0.0
        ];
        let data: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let bytes = encode_f32(&[bits.len()], &data).unwrap();
        let payload = &bytes[bytes.len() - 4 * bits.len()..];
        let expected: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        assert_eq!(payload, expected);
        let back: Vec<u32> = decode_f32(&bytes)
            .unwrap()
            .data
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(back, bits);
    }

    #[test]
    fn header_dict_variants_are_accepted() {
        let variants = [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
            "{'shape': (2, 3), 'descr': '<f4', 'fortran_order': False}\n",
            "{\"fortran_order\": False, \"shape\": (2,3), \"descr\": \"<f4\"}\n",
            "{'descr':'<f4','fortran_order':False,'shape':(2,3),}      \n",
            "  { 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }  \n",
            "{'descr': '<f4',\n 'fortran_order': False,\n\t'shape': (2, 3)\n}\n",
            "{'descr': \"<f4\", 'fortran_order': False, \"shape\": (2, 3)}\n",
        ];
        for header in variants {
            let array = decode_f32(&with_header(header, 6)).unwrap();
            assert_eq!(array.shape, [2, 3], "{header:?}");
            assert_eq!(array.data, ramp(6));
        }
        let scalar = decode_f32(&with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': ()}\n",
            1,
        ))
        .unwrap();
        assert_eq!(scalar.shape, [] as [usize; 0]);
        let one = decode_f32(&with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (5 ,)}\n",
            5,
        ))
        .unwrap();
        assert_eq!(one.shape, [5]);
        let many = decode_f32(&with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,1,3,1)}\n",
            6,
        ))
        .unwrap();
        assert_eq!(many.shape, [1, 2, 1, 3, 1]);
    }

    #[test]
    fn bad_magic_and_versions() {
        let good = encode_f32(&[2], &[1.0, 2.0]).unwrap();
        let mut bad = good.clone();
        bad[0] = b'\x94';
        assert_npy_err(&bad, "bad magic string");
        assert_npy_err(b"PK\x03\x04", "bad magic string");
        assert_npy_err(
            b"\x93NUMPX\x01\x00",
            "bad magic string: expected \\x93NUMPY, found \\x93NUMPX",
        );
        for (major, minor) in [(0, 0), (1, 1), (2, 1), (4, 0), (255, 255)] {
            let mut v = good.clone();
            v[6] = major;
            v[7] = minor;
            assert_npy_err(
                &v,
                &format!("unsupported version {major}.{minor} of the .npy format"),
            );
        }
    }

    #[test]
    fn truncated_headers() {
        assert_npy_err(b"", "truncated header: the file has only 0 bytes");
        assert_npy_err(b"\x93NUM", "truncated header");
        assert_npy_err(b"\x93NUMPY\x01", "truncated header");
        assert_npy_err(
            b"\x93NUMPY\x01\x00v",
            "file ends inside the 2-byte header length field",
        );
        assert_npy_err(
            b"\x93NUMPY\x02\x00v\x00\x00",
            "file ends inside the 4-byte header length field",
        );
    }

    #[test]
    fn header_length_past_end_of_file() {
        let good = encode_f32(&[2], &[1.0, 2.0]).unwrap();
        let mut v = good[..100].to_vec();
        assert_npy_err(
            &v,
            "header length 118 bytes extends past end of file (90 bytes follow",
        );
        v = good.clone();
        v[8] = 0xff;
        v[9] = 0xff;
        assert_npy_err(&v, "header length 65535 bytes extends past end of file");
        let mut v2 = build(2, b"{}\n", &[]);
        v2[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_npy_err(
            &v2,
            "header length 4294967295 bytes extends past end of file",
        );
    }

    #[test]
    fn header_must_end_with_newline() {
        assert_npy_err(
            &build(1, b"", &[]),
            "header does not end with a newline (0 bytes",
        );
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}  ",
                2,
            ),
            "header does not end with a newline",
        );
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n\n",
                2,
            ),
            "only spaces between the closing '}' and the final newline, found '\\n'",
        );
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x\n",
                2,
            ),
            "bad header dict syntax at byte 56 of the header: expected only spaces between the closing '}' and the final newline, found 'x'",
        );
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}}\n",
                2,
            ),
            "found '}'",
        );
    }

    #[test]
    fn unknown_missing_and_duplicate_keys() {
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n",
                2,
            ),
            "unknown header key 'extra' at byte 56",
        );
        assert_npy_err(
            &with_header("{'descr': '<f4', 'shape': (2,)}\n", 2),
            "missing the key 'fortran_order'",
        );
        assert_npy_err(
            &with_header("{'descr': '<f4', 'fortran_order': False}\n", 2),
            "missing the key 'shape'",
        );
        assert_npy_err(&with_header("{}\n", 2), "missing the key 'descr'");
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n",
                2,
            ),
            "duplicate header key 'descr'",
        );
        assert_npy_err(
            &with_header(
                "{'Descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n",
                2,
            ),
            "unknown header key 'Descr'",
        );
    }

    #[test]
    fn bad_dict_syntax() {
        let cases: &[(&str, &str)] = &[
            (
                "['descr', '<f4']\n",
                "at byte 0 of the header: expected '{'",
            ),
            (
                "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}\n",
                "at byte 9 of the header: expected ':' after the key",
            ),
            (
                "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}\n",
                "at byte 16 of the header: expected ',' or '}' after a value",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)\n",
                "expected ',' or '}' after a value, found the end of the header",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ,}\n",
                "expected a quoted key or '}'",
            ),
            (
                "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}\n",
                "at byte 1 of the header: expected a quoted key or '}', found 'd'",
            ),
            (
                "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}\n",
                "unknown header key 'descr: ' at byte 1",
            ),
            (
                "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}\n",
                "bad header dict syntax",
            ),
            (
                "{'descr': '<f4\n', 'fortran_order': False, 'shape': (2,)}\n",
                "at byte 10 of the header: unterminated string",
            ),
            (
                "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}\n",
                "escape sequences in strings are not supported",
            ),
            (
                "{'descr': <f4, 'fortran_order': False, 'shape': (2,)}\n",
                "expected a quoted dtype string for 'descr', found '<'",
            ),
            (
                "{'descr': b'<f4', 'fortran_order': False, 'shape': (2,)}\n",
                "found 'b'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}\n",
                "at byte 34 of the header: expected True or False for 'fortran_order'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}\n",
                "expected True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}\n",
                "expected True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}\n",
                "expected '(' starting the shape tuple, found '['",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': 2}\n",
                "expected '(' starting the shape tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}\n",
                "shape (2) is not a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2 2,)}\n",
                "expected ',' or ')' in the shape tuple, found '2'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}\n",
                "expected ',' or ')' in the shape tuple, found 'L'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}\n",
                "found '.'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1_0,)}\n",
                "found '_'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}\n",
                "expected a dimension (a non-negative integer), found ','",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}\n",
                "expected a dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (+2,)}\n",
                "expected a dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}\n",
                "negative dimension in the shape at byte 51",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}\n",
                "dimension with leading zeros",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,\n",
                "expected a dimension (a non-negative integer), found the end of the header",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': ((2,),)}\n",
                "expected a dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\x00\n",
                "found '\\0'",
            ),
            (
                "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}\n",
                "structured dtype",
            ),
        ];
        for &(header, needle) in cases {
            assert_npy_err(&with_header(header, 2), needle);
        }
    }

    #[test]
    fn unsupported_dtypes_and_fortran_order() {
        for descr in [
            "<f8", ">f4", "=f4", "|f4", "f4", "<i4", "float32", "", "<f4 ",
        ] {
            let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,)}}\n");
            let e = decode_f32(&with_header(&header, 2)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Npy);
            assert_eq!(
                e.message(),
                format!(
                    "npy: dtype '{descr}' is not supported (only '<f4', little-endian float32)"
                )
            );
        }
        let long = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': (2,)}}\n",
            "x".repeat(1000)
        );
        let e = decode_f32(&with_header(&long, 2)).unwrap_err();
        assert!(e.message().len() < 150, "{}", e.message());
        assert!(e.message().contains("xxx...'"));
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}\n",
                2,
            ),
            "fortran_order is True: fortran order (column-major) arrays are not supported",
        );
    }

    #[test]
    fn data_length_must_match_shape() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }\n";
        assert_npy_err(
            &with_header(header, 23),
            "npy: data length 92 bytes does not match shape (2, 3, 4) which needs 96 bytes",
        );
        let mut extra = with_header(header, 24);
        extra.push(0);
        assert_npy_err(
            &extra,
            "data length 97 bytes does not match shape (2, 3, 4) which needs 96 bytes",
        );
        assert_npy_err(
            &with_header("{'descr': '<f4', 'fortran_order': False, 'shape': ()}\n", 0),
            "data length 0 bytes does not match shape () which needs 4 bytes",
        );
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}\n",
                1,
            ),
            "data length 4 bytes does not match shape (0,) which needs 0 bytes",
        );
        // A huge claimed shape with no data is rejected without allocating for it.
        assert_npy_err(
            &with_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,)}\n",
                0,
            ),
            "which needs 4000000000000 bytes",
        );
        let many: String = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}\n",
            vec!["1"; 40].join(", ")
        );
        assert_npy_err(
            &with_header(&many, 2),
            "shape (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ...) [40 dimensions] which needs 4 bytes",
        );
    }

    #[test]
    fn overflowing_shapes() {
        let huge = "1".repeat(60);
        assert_npy_err(
            &with_header(
                &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({huge},)}}\n"),
                0,
            ),
            "overflows usize",
        );
        let max = usize::MAX;
        assert_npy_err(
            &with_header(
                &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({max}, 2)}}\n"),
                0,
            ),
            &format!("element count overflows usize for shape ({max}, 2)"),
        );
        // Like numpy, the non-zero dimensions must not overflow even if another one is 0.
        assert_npy_err(
            &with_header(
                &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({max}, 0, 2)}}\n"),
                0,
            ),
            "element count overflows usize for shape",
        );
        let quarter = max / 4 + 1;
        assert_npy_err(
            &with_header(
                &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({quarter},)}}\n"),
                0,
            ),
            "byte length overflows usize for shape",
        );
        let big = max.to_string() + "0";
        assert_npy_err(
            &with_header(
                &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({big},)}}\n"),
                0,
            ),
            &format!("dimension {big} at byte 51 of the header overflows usize"),
        );
        // usize::MAX itself is a valid dimension.
        let ok = decode_f32(&with_header(
            &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (0, {max})}}\n"),
            0,
        ))
        .unwrap();
        assert_eq!(ok.shape, [0, max]);
    }

    #[test]
    fn encode_errors() {
        let e = encode_f32(&[2, 3], &[0.0; 5]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidShape);
        assert_eq!(
            e.message(),
            "npy: data has 5 values but shape (2, 3) needs 6"
        );
        let e = encode_f32(&[], &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidShape);
        let e = encode_f32(&[0], &[1.0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidShape);
        let e = encode_f32(&[usize::MAX, 2], &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Overflow);
        assert!(e.message().contains("overflows usize"), "{}", e.message());
    }

    /// Valid files of each version and a few shapes.
    fn valid_files() -> Vec<Vec<u8>> {
        vec![
            encode_f32(&[2, 3], &ramp(6)).unwrap(),
            encode_f32(&[], &[1.0]).unwrap(),
            encode_f32(&[0], &[]).unwrap(),
            NUMPY_V2.to_vec(),
            NUMPY_V3.to_vec(),
            with_header(
                "{\"shape\":(1,2,),\"fortran_order\":False,\"descr\":\"<f4\"}\n",
                2,
            ),
        ]
    }

    #[test]
    fn every_truncation_is_an_error() {
        for file in valid_files() {
            assert!(decode_f32(&file).is_ok());
            for len in 0..file.len() {
                let e = decode_f32(&file[..len]).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Npy);
                assert!(e.message().starts_with("npy: "));
            }
        }
    }

    /// xorshift64*, enough for deterministic mutations.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Rewrites the header length field after an insertion or deletion in the header.
    fn fix_header_len(file: &mut [u8], delta: isize) {
        if file.len() < 12 {
            return;
        }
        if file[6] == 1 {
            let len = u16::from_le_bytes([file[8], file[9]]);
            let new = len.wrapping_add_signed(delta as i16);
            file[8..10].copy_from_slice(&new.to_le_bytes());
        } else {
            let len = u32::from_le_bytes([file[8], file[9], file[10], file[11]]);
            let new = len.wrapping_add_signed(delta as i32);
            file[8..12].copy_from_slice(&new.to_le_bytes());
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        const TOKENS: &[u8] = b"{}()[],:'\" \t\n0123456789-+_.LTrueFalsedescrshapefortran_order<>f4\\\xc3\xa9\xff\x00";
        let files = valid_files();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut ok, mut err) = (0, 0);
        for round in 0..6000 {
            let mut file = files[round % files.len()].clone();
            let header_end = 12.min(file.len()) + 100;
            for _ in 0..1 + rng.below(4) {
                if file.is_empty() {
                    break;
                }
                let len = file.len();
                match rng.below(8) {
                    0 => file[rng.below(len)] = rng.next() as u8,
                    1 => file[rng.below(len)] ^= 1 << rng.below(8),
                    2 => {
                        let at = rng.below(len.min(header_end));
                        file[at] = TOKENS[rng.below(TOKENS.len())];
                    }
                    3 => {
                        let at = 10 + rng.below(len.min(header_end).saturating_sub(10).max(1));
                        let at = at.min(len);
                        file.insert(at, TOKENS[rng.below(TOKENS.len())]);
                        fix_header_len(&mut file, 1);
                    }
                    4 => {
                        let at = 10 + rng.below(len.min(header_end).saturating_sub(10).max(1));
                        if at < len {
                            file.remove(at);
                            fix_header_len(&mut file, -1);
                        }
                    }
                    5 => file.truncate(rng.below(len + 1)),
                    6 => {
                        let extra = rng.below(9);
                        file.extend((0..extra).map(|_| rng.next() as u8));
                    }
                    _ => {
                        // Scramble the version or the header length field.
                        let at = 6 + rng.below(6);
                        if at < len {
                            file[at] = [0, 1, 2, 3, 0xff, rng.next() as u8][rng.below(6)];
                        }
                    }
                }
            }
            match decode_f32(&file) {
                Ok(array) => {
                    assert_eq!(array.data.len(), count(&array.shape));
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Npy);
                    assert!(e.message().starts_with("npy: "));
                    assert!(!e.message().contains('\n'), "{:?}", e.message());
                    err += 1;
                }
            }
        }
        assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("simdpool-npy-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn write_and_read_files() {
        let dir = TempDir::new("rw");
        let path = dir.0.join("a.npy");
        write_f32(&path, &[2, 3], &ramp(6)).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            encode_f32(&[2, 3], &ramp(6)).unwrap()
        );
        let array = read_f32(&path).unwrap();
        assert_eq!(
            array,
            NpyF32 {
                shape: vec![2, 3],
                data: ramp(6)
            }
        );
        // Overwriting replaces the file; no temporary files are left behind.
        write_f32(&path, &[], &[9.0]).unwrap();
        assert_eq!(read_f32(&path).unwrap().data, [9.0]);
        assert_eq!(dir.entries(), ["a.npy"]);
    }

    #[test]
    fn write_failures_leave_no_partial_files() {
        let dir = TempDir::new("wfail");
        let path = dir.0.join("a.npy");
        write_f32(&path, &[2], &[1.0, 2.0]).unwrap();
        // A shape mismatch fails before touching the file system.
        let e = write_f32(&path, &[3], &[1.0, 2.0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidShape);
        assert_eq!(read_f32(&path).unwrap().data, [1.0, 2.0]);
        // Renaming over a non-empty directory fails: the temporary file is removed.
        let target = dir.0.join("d.npy");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        let e = write_f32(&target, &[1], &[1.0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.message().starts_with("npy: cannot write "),
            "{}",
            e.message()
        );
        assert!(e.message().contains("d.npy"), "{}", e.message());
        assert_eq!(dir.entries(), ["a.npy", "d.npy"]);
        // A missing directory is reported with the path.
        let missing = dir.0.join("no-such-dir").join("b.npy");
        let e = write_f32(&missing, &[1], &[1.0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().contains("b.npy"), "{}", e.message());
        assert!(write_f32(Path::new("/"), &[1], &[1.0]).is_err());
    }

    #[test]
    fn read_errors_name_the_path() {
        let dir = TempDir::new("rerr");
        let missing = dir.0.join("missing.npy");
        let e = read_f32(&missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.message().starts_with("npy: cannot read "),
            "{}",
            e.message()
        );
        assert!(e.message().contains("missing.npy"), "{}", e.message());
        let bad = dir.0.join("bad.npy");
        fs::write(&bad, b"not an npy file").unwrap();
        let e = read_f32(&bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Npy);
        assert!(e.message().starts_with("npy: "), "{}", e.message());
        assert!(e.message().contains("bad.npy"), "{}", e.message());
        assert!(e.message().contains("bad magic string"), "{}", e.message());
    }
}

//! Type ids of VALUE-TYPED parameters and the typed reading of their bytes.
//!
//! Ids `0xffe9` to `0xffff` are predefined (never declared); any other non-zero id must have
//! been declared by the sender with a RESOURCE-CREATE of kind TYPE naming an afb type (`#UUID`
//! in practice). Id 0 means "unset" and is refused.
//!
//! Receiving, every predefined id is decoded as its table says: little- or big-endian, signed
//! or not, 32-bit float, widened to the afb type a binding sees (I8 and I16 as `#i32`, FLOAT as
//! `#double`...). Sending, C peers only understand BYTEARRAY, STRINGZ, JSON, BOOL (0 or 1),
//! I32, U32, I64, U64 and DOUBLE in little-endian: [`TypedValue::to_value`] gives that form.

use std::fmt;

use crate::value::{text_prefix, Scalar, Text, Value};

/// Predefined type ids.
pub mod type_id {
    /// Unset (refused as a value type).
    pub const UNSET: u16 = 0x0000;
    /// `#opaque`: the data bytes (normally none).
    pub const OPAQUE: u16 = 0xffff;
    /// `#bytearray`: any bytes.
    pub const BYTEARRAY: u16 = 0xfffe;
    /// `#stringz`: UTF-8 text and NUL; no bytes at all is the absent string.
    pub const STRINGZ: u16 = 0xfffd;
    /// `#json`: JSON text and NUL.
    pub const JSON: u16 = 0xfffc;
    /// `#bool`: 1 byte, non-zero is true.
    pub const BOOL: u16 = 0xfffb;
    /// 8-bit signed.
    pub const I8: u16 = 0xfffa;
    /// 8-bit unsigned.
    pub const U8: u16 = 0xfff9;
    /// 16-bit signed, little-endian.
    pub const I16: u16 = 0xfff8;
    /// 16-bit unsigned, little-endian.
    pub const U16: u16 = 0xfff7;
    /// `#i32`, little-endian.
    pub const I32: u16 = 0xfff6;
    /// `#u32`, little-endian.
    pub const U32: u16 = 0xfff5;
    /// `#i64`, little-endian.
    pub const I64: u16 = 0xfff4;
    /// `#u64`, little-endian.
    pub const U64: u16 = 0xfff3;
    /// 32-bit IEEE 754, little-endian.
    pub const FLOAT: u16 = 0xfff2;
    /// `#double`: 64-bit IEEE 754, little-endian.
    pub const DOUBLE: u16 = 0xfff1;
    /// 16-bit signed, big-endian.
    pub const I16_BE: u16 = 0xfff0;
    /// 16-bit unsigned, big-endian.
    pub const U16_BE: u16 = 0xffef;
    /// 32-bit signed, big-endian.
    pub const I32_BE: u16 = 0xffee;
    /// 32-bit unsigned, big-endian.
    pub const U32_BE: u16 = 0xffed;
    /// 64-bit signed, big-endian.
    pub const I64_BE: u16 = 0xffec;
    /// 64-bit unsigned, big-endian.
    pub const U64_BE: u16 = 0xffeb;
    /// 32-bit IEEE 754, big-endian.
    pub const FLOAT_BE: u16 = 0xffea;
    /// 64-bit IEEE 754, big-endian.
    pub const DOUBLE_BE: u16 = 0xffe9;
}

/// The lowest predefined type id.
pub const FIRST_PREDEFINED_ID: u16 = type_id::DOUBLE_BE;

/// The name of the afb type of uuids, the one declared type seen between C binders (16 bytes).
pub const TYPE_NAME_UUID: &str = "#UUID";

/// The names of the predefined afb types, which a RESOURCE-CREATE TYPE may name.
pub const AFB_TYPE_NAMES: [&str; 12] = [
    "#opaque",
    "#bytearray",
    "#stringz",
    "#json",
    "#json_c",
    "#bool",
    "#i32",
    "#u32",
    "#i64",
    "#u64",
    "#double",
    TYPE_NAME_UUID,
];

/// The predefined types, one per id of [`type_id`] (0 excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredefinedType {
    /// `OPAQUE` (`0xffff`).
    Opaque,
    /// `BYTEARRAY` (`0xfffe`).
    ByteArray,
    /// `STRINGZ` (`0xfffd`).
    Stringz,
    /// `JSON` (`0xfffc`).
    Json,
    /// `BOOL` (`0xfffb`).
    Bool,
    /// `I8` (`0xfffa`).
    I8,
    /// `U8` (`0xfff9`).
    U8,
    /// `I16` (`0xfff8`).
    I16,
    /// `U16` (`0xfff7`).
    U16,
    /// `I32` (`0xfff6`).
    I32,
    /// `U32` (`0xfff5`).
    U32,
    /// `I64` (`0xfff4`).
    I64,
    /// `U64` (`0xfff3`).
    U64,
    /// `FLOAT` (`0xfff2`).
    Float,
    /// `DOUBLE` (`0xfff1`).
    Double,
    /// `I16_BE` (`0xfff0`).
    I16Be,
    /// `U16_BE` (`0xffef`).
    U16Be,
    /// `I32_BE` (`0xffee`).
    I32Be,
    /// `U32_BE` (`0xffed`).
    U32Be,
    /// `I64_BE` (`0xffec`).
    I64Be,
    /// `U64_BE` (`0xffeb`).
    U64Be,
    /// `FLOAT_BE` (`0xffea`).
    FloatBe,
    /// `DOUBLE_BE` (`0xffe9`).
    DoubleBe,
}

impl PredefinedType {
    /// Every predefined type, from id `0xffff` down to `0xffe9`.
    pub const ALL: [PredefinedType; 23] = [
        PredefinedType::Opaque,
        PredefinedType::ByteArray,
        PredefinedType::Stringz,
        PredefinedType::Json,
        PredefinedType::Bool,
        PredefinedType::I8,
        PredefinedType::U8,
        PredefinedType::I16,
        PredefinedType::U16,
        PredefinedType::I32,
        PredefinedType::U32,
        PredefinedType::I64,
        PredefinedType::U64,
        PredefinedType::Float,
        PredefinedType::Double,
        PredefinedType::I16Be,
        PredefinedType::U16Be,
        PredefinedType::I32Be,
        PredefinedType::U32Be,
        PredefinedType::I64Be,
        PredefinedType::U64Be,
        PredefinedType::FloatBe,
        PredefinedType::DoubleBe,
    ];

    /// The predefined type of an id, `None` for 0 and declared ids.
    #[must_use]
    pub fn from_id(id: u16) -> Option<PredefinedType> {
        let index = usize::from(0xffffu16.checked_sub(id)?);
        PredefinedType::ALL.get(index).copied()
    }

    /// The id of this type.
    #[must_use]
    pub fn id(self) -> u16 {
        let index = PredefinedType::ALL.iter().position(|t| *t == self).unwrap_or(0);
        // ALL has 23 entries: the index always fits.
        0xffff - u16::try_from(index).unwrap_or(0)
    }

    /// The name of the id in the documentation (`STRINGZ`, `I16_BE`...).
    #[must_use]
    pub fn wire_name(self) -> &'static str {
        match self {
            PredefinedType::Opaque => "OPAQUE",
            PredefinedType::ByteArray => "BYTEARRAY",
            PredefinedType::Stringz => "STRINGZ",
            PredefinedType::Json => "JSON",
            PredefinedType::Bool => "BOOL",
            PredefinedType::I8 => "I8",
            PredefinedType::U8 => "U8",
            PredefinedType::I16 => "I16",
            PredefinedType::U16 => "U16",
            PredefinedType::I32 => "I32",
            PredefinedType::U32 => "U32",
            PredefinedType::I64 => "I64",
            PredefinedType::U64 => "U64",
            PredefinedType::Float => "FLOAT",
            PredefinedType::Double => "DOUBLE",
            PredefinedType::I16Be => "I16_BE",
            PredefinedType::U16Be => "U16_BE",
            PredefinedType::I32Be => "I32_BE",
            PredefinedType::U32Be => "U32_BE",
            PredefinedType::I64Be => "I64_BE",
            PredefinedType::U64Be => "U64_BE",
            PredefinedType::FloatBe => "FLOAT_BE",
            PredefinedType::DoubleBe => "DOUBLE_BE",
        }
    }

    /// The byte count of a fixed-size type (any other count is fatal), `None` for the
    /// variable-size ones (OPAQUE, BYTEARRAY, STRINGZ, JSON).
    #[must_use]
    pub fn fixed_size(self) -> Option<usize> {
        match self {
            PredefinedType::Opaque | PredefinedType::ByteArray | PredefinedType::Stringz | PredefinedType::Json => None,
            PredefinedType::Bool | PredefinedType::I8 | PredefinedType::U8 => Some(1),
            PredefinedType::I16 | PredefinedType::U16 | PredefinedType::I16Be | PredefinedType::U16Be => Some(2),
            PredefinedType::I32
            | PredefinedType::U32
            | PredefinedType::Float
            | PredefinedType::I32Be
            | PredefinedType::U32Be
            | PredefinedType::FloatBe => Some(4),
            PredefinedType::I64
            | PredefinedType::U64
            | PredefinedType::Double
            | PredefinedType::I64Be
            | PredefinedType::U64Be
            | PredefinedType::DoubleBe => Some(8),
        }
    }

    /// The afb type a value of this id becomes once received: the 8- and 16-bit integers
    /// widen to `#i32`/`#u32`, the floats to `#double`, big-endian ids as their little-endian
    /// counterparts.
    #[must_use]
    pub fn afb_type_name(self) -> &'static str {
        match self {
            PredefinedType::Opaque => "#opaque",
            PredefinedType::ByteArray => "#bytearray",
            PredefinedType::Stringz => "#stringz",
            PredefinedType::Json => "#json",
            PredefinedType::Bool => "#bool",
            PredefinedType::I8 | PredefinedType::I16 | PredefinedType::I32 => "#i32",
            PredefinedType::I16Be | PredefinedType::I32Be => "#i32",
            PredefinedType::U8 | PredefinedType::U16 | PredefinedType::U32 => "#u32",
            PredefinedType::U16Be | PredefinedType::U32Be => "#u32",
            PredefinedType::I64 | PredefinedType::I64Be => "#i64",
            PredefinedType::U64 | PredefinedType::U64Be => "#u64",
            PredefinedType::Float | PredefinedType::Double => "#double",
            PredefinedType::FloatBe | PredefinedType::DoubleBe => "#double",
        }
    }

    /// Whether a C peer reads values of this id correctly, i.e. whether we may send it to
    /// one: BYTEARRAY, STRINGZ, JSON, BOOL, I32, U32, I64, U64, DOUBLE. (The C receiver copies
    /// the 8/16-bit, FLOAT and big-endian ones without conversion, reading past the value;
    /// OPAQUE is a local handle, never meaningful remotely.)
    #[must_use]
    pub fn is_understood_by_c(self) -> bool {
        matches!(
            self,
            PredefinedType::ByteArray
                | PredefinedType::Stringz
                | PredefinedType::Json
                | PredefinedType::Bool
                | PredefinedType::I32
                | PredefinedType::U32
                | PredefinedType::I64
                | PredefinedType::U64
                | PredefinedType::Double
        )
    }
}

impl fmt::Display for PredefinedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// The byte count required by a type id, `None` when any count goes (variable-size
/// predefined types, declared types, 0).
#[must_use]
pub fn fixed_size(type_id: u16) -> Option<usize> {
    PredefinedType::from_id(type_id).and_then(PredefinedType::fixed_size)
}

/// Whether a type id is predefined (`0xffe9` to `0xffff`).
#[must_use]
pub fn is_predefined(type_id: u16) -> bool {
    type_id >= FIRST_PREDEFINED_ID
}

/// Why a value cannot be read as a typed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// Type id 0 (unset).
    TypeIdZero,
    /// A fixed-size type with another byte count.
    BadSize {
        /// The type id.
        type_id: u16,
        /// Its size.
        expected: usize,
        /// The byte count found.
        found: usize,
    },
    /// A VALUE-DATA reference (unsupported, as by C); holds the data id.
    DataReference(u16),
    /// A [`Value::Text`] of a variable-size type other than STRINGZ and JSON: its bytes are
    /// not contiguous, so they cannot be borrowed.
    NotRepresentable {
        /// The type id.
        type_id: u16,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::TypeIdZero => f.write_str("value of type id 0"),
            ValueError::BadSize {
                type_id,
                expected,
                found,
            } => write!(
                f,
                "value of type 0x{type_id:04x} has {found} bytes instead of {expected}"
            ),
            ValueError::DataReference(id) => write!(f, "unsupported VALUE-DATA reference {id}"),
            ValueError::NotRepresentable { type_id } => {
                write!(f, "text value of type 0x{type_id:04x} cannot be read in place")
            }
        }
    }
}

impl std::error::Error for ValueError {}

/// A value read according to its type id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TypedValue<'a> {
    /// OPAQUE bytes, or an untyped VALUE.
    Opaque(&'a [u8]),
    /// BYTEARRAY.
    ByteArray(&'a [u8]),
    /// STRINGZ: `None` for the absent string (no bytes); else the text up to its first NUL.
    Stringz(Option<Text<'a>>),
    /// JSON text (up to its first NUL; not checked).
    Json(Text<'a>),
    /// BOOL: non-zero is true.
    Bool(bool),
    /// I8.
    I8(i8),
    /// U8.
    U8(u8),
    /// I16 or I16_BE.
    I16(i16),
    /// U16 or U16_BE.
    U16(u16),
    /// I32 or I32_BE.
    I32(i32),
    /// U32 or U32_BE.
    U32(u32),
    /// I64 or I64_BE.
    I64(i64),
    /// U64 or U64_BE.
    U64(u64),
    /// FLOAT or FLOAT_BE.
    F32(f32),
    /// DOUBLE or DOUBLE_BE.
    F64(f64),
    /// A declared type: the receiver knows its name from the RESOURCE-CREATE TYPE.
    Declared {
        /// The id the sender declared.
        type_id: u16,
        /// The raw bytes.
        bytes: &'a [u8],
    },
}

impl<'a> TypedValue<'a> {
    /// Reads `bytes` as a value of type `type_id`.
    ///
    /// # Errors
    /// Type id 0, or a fixed-size type with another byte count.
    pub fn decode(type_id: u16, bytes: &'a [u8]) -> Result<TypedValue<'a>, ValueError> {
        Ok(match type_id {
            type_id::UNSET => return Err(ValueError::TypeIdZero),
            type_id::OPAQUE => TypedValue::Opaque(bytes),
            type_id::BYTEARRAY => TypedValue::ByteArray(bytes),
            type_id::STRINGZ => TypedValue::Stringz((!bytes.is_empty()).then(|| text_prefix(bytes))),
            type_id::JSON => TypedValue::Json(text_prefix(bytes)),
            id if is_predefined(id) => decode_fixed(id, bytes)?,
            _ => TypedValue::Declared { type_id, bytes },
        })
    }

    /// The value to send for this one: the form C peers read correctly (8/16-bit integers
    /// widened to I32/U32, FLOAT to DOUBLE, all numbers little-endian, BOOL as 0 or 1, texts
    /// with their NUL), borrowing the same bytes where there are any.
    #[must_use]
    pub fn to_value(&self) -> Value<'a> {
        match *self {
            TypedValue::Opaque(bytes) => Value::Typed {
                type_id: type_id::OPAQUE,
                bytes,
            },
            TypedValue::ByteArray(bytes) => Value::bytearray(bytes),
            TypedValue::Stringz(None) => Value::Typed {
                type_id: type_id::STRINGZ,
                bytes: &[],
            },
            TypedValue::Stringz(Some(text)) => Value::Text {
                type_id: type_id::STRINGZ,
                text,
            },
            TypedValue::Json(text) => Value::Text {
                type_id: type_id::JSON,
                text,
            },
            TypedValue::Bool(b) => Value::Scalar(Scalar::Bool(b)),
            TypedValue::I8(v) => Value::Scalar(Scalar::I32(i32::from(v))),
            TypedValue::I16(v) => Value::Scalar(Scalar::I32(i32::from(v))),
            TypedValue::I32(v) => Value::Scalar(Scalar::I32(v)),
            TypedValue::U8(v) => Value::Scalar(Scalar::U32(u32::from(v))),
            TypedValue::U16(v) => Value::Scalar(Scalar::U32(u32::from(v))),
            TypedValue::U32(v) => Value::Scalar(Scalar::U32(v)),
            TypedValue::I64(v) => Value::Scalar(Scalar::I64(v)),
            TypedValue::U64(v) => Value::Scalar(Scalar::U64(v)),
            TypedValue::F32(v) => Value::Scalar(Scalar::F64(f64::from(v))),
            TypedValue::F64(v) => Value::Scalar(Scalar::F64(v)),
            TypedValue::Declared { type_id, bytes } => Value::Typed { type_id, bytes },
        }
    }

    /// The afb type of this value once received (see [`PredefinedType::afb_type_name`]);
    /// `None` for a declared type (its name came with its RESOURCE-CREATE).
    #[must_use]
    pub fn afb_type_name(&self) -> Option<&'static str> {
        Some(match self {
            TypedValue::Opaque(_) => "#opaque",
            TypedValue::ByteArray(_) => "#bytearray",
            TypedValue::Stringz(_) => "#stringz",
            TypedValue::Json(_) => "#json",
            TypedValue::Bool(_) => "#bool",
            TypedValue::I8(_) | TypedValue::I16(_) | TypedValue::I32(_) => "#i32",
            TypedValue::U8(_) | TypedValue::U16(_) | TypedValue::U32(_) => "#u32",
            TypedValue::I64(_) => "#i64",
            TypedValue::U64(_) => "#u64",
            TypedValue::F32(_) | TypedValue::F64(_) => "#double",
            TypedValue::Declared { .. } => return None,
        })
    }
}

/// Reads a value of a fixed-size predefined type (BOOL and the numbers).
pub(crate) fn decode_fixed(id: u16, bytes: &[u8]) -> Result<TypedValue<'static>, ValueError> {
    fn arr<const N: usize>(id: u16, bytes: &[u8]) -> Result<[u8; N], ValueError> {
        <[u8; N]>::try_from(bytes).map_err(|_| ValueError::BadSize {
            type_id: id,
            expected: N,
            found: bytes.len(),
        })
    }
    Ok(match id {
        type_id::BOOL => TypedValue::Bool(arr::<1>(id, bytes)?[0] != 0),
        type_id::I8 => TypedValue::I8(i8::from_le_bytes(arr(id, bytes)?)),
        type_id::U8 => TypedValue::U8(u8::from_le_bytes(arr(id, bytes)?)),
        type_id::I16 => TypedValue::I16(i16::from_le_bytes(arr(id, bytes)?)),
        type_id::U16 => TypedValue::U16(u16::from_le_bytes(arr(id, bytes)?)),
        type_id::I32 => TypedValue::I32(i32::from_le_bytes(arr(id, bytes)?)),
        type_id::U32 => TypedValue::U32(u32::from_le_bytes(arr(id, bytes)?)),
        type_id::I64 => TypedValue::I64(i64::from_le_bytes(arr(id, bytes)?)),
        type_id::U64 => TypedValue::U64(u64::from_le_bytes(arr(id, bytes)?)),
        type_id::FLOAT => TypedValue::F32(f32::from_le_bytes(arr(id, bytes)?)),
        type_id::DOUBLE => TypedValue::F64(f64::from_le_bytes(arr(id, bytes)?)),
        type_id::I16_BE => TypedValue::I16(i16::from_be_bytes(arr(id, bytes)?)),
        type_id::U16_BE => TypedValue::U16(u16::from_be_bytes(arr(id, bytes)?)),
        type_id::I32_BE => TypedValue::I32(i32::from_be_bytes(arr(id, bytes)?)),
        type_id::U32_BE => TypedValue::U32(u32::from_be_bytes(arr(id, bytes)?)),
        type_id::I64_BE => TypedValue::I64(i64::from_be_bytes(arr(id, bytes)?)),
        type_id::U64_BE => TypedValue::U64(u64::from_be_bytes(arr(id, bytes)?)),
        type_id::FLOAT_BE => TypedValue::F32(f32::from_be_bytes(arr(id, bytes)?)),
        type_id::DOUBLE_BE => TypedValue::F64(f64::from_be_bytes(arr(id, bytes)?)),
        // Not a fixed-size id: callers only pass fixed-size ones.
        _ => return Err(ValueError::NotRepresentable { type_id: id }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_sizes_of_the_table() {
        let table: [(u16, &str, Option<usize>); 23] = [
            (0xffff, "OPAQUE", None),
            (0xfffe, "BYTEARRAY", None),
            (0xfffd, "STRINGZ", None),
            (0xfffc, "JSON", None),
            (0xfffb, "BOOL", Some(1)),
            (0xfffa, "I8", Some(1)),
            (0xfff9, "U8", Some(1)),
            (0xfff8, "I16", Some(2)),
            (0xfff7, "U16", Some(2)),
            (0xfff6, "I32", Some(4)),
            (0xfff5, "U32", Some(4)),
            (0xfff4, "I64", Some(8)),
            (0xfff3, "U64", Some(8)),
            (0xfff2, "FLOAT", Some(4)),
            (0xfff1, "DOUBLE", Some(8)),
            (0xfff0, "I16_BE", Some(2)),
            (0xffef, "U16_BE", Some(2)),
            (0xffee, "I32_BE", Some(4)),
            (0xffed, "U32_BE", Some(4)),
            (0xffec, "I64_BE", Some(8)),
            (0xffeb, "U64_BE", Some(8)),
            (0xffea, "FLOAT_BE", Some(4)),
            (0xffe9, "DOUBLE_BE", Some(8)),
        ];
        for (id, name, size) in table {
            let t = PredefinedType::from_id(id).unwrap();
            assert_eq!(t.id(), id);
            assert_eq!(t.wire_name(), name);
            assert_eq!(t.fixed_size(), size);
            assert_eq!(fixed_size(id), size);
            assert!(is_predefined(id));
        }
        assert_eq!(PredefinedType::from_id(0xffe8), None);
        assert_eq!(PredefinedType::from_id(0), None);
        assert!(!is_predefined(0xffe8));
        assert_eq!(fixed_size(17), None);
    }

    #[test]
    fn what_c_understands() {
        let ok: Vec<&str> = PredefinedType::ALL
            .iter()
            .filter(|t| t.is_understood_by_c())
            .map(|t| t.wire_name())
            .collect();
        assert_eq!(
            ok,
            [
                "BYTEARRAY",
                "STRINGZ",
                "JSON",
                "BOOL",
                "I32",
                "U32",
                "I64",
                "U64",
                "DOUBLE"
            ]
        );
        // Whatever is received, what we send back is understood by C.
        let samples: [(u16, &[u8]); 10] = [
            (type_id::I8, &[0xfe]),
            (type_id::U8, &[0xfe]),
            (type_id::I16, &[0xfe, 0xff]),
            (type_id::U16_BE, &[0x02, 0x01]),
            (type_id::FLOAT, &1.5f32.to_le_bytes()),
            (type_id::DOUBLE_BE, &2.5f64.to_be_bytes()),
            (type_id::I64_BE, &(-3i64).to_be_bytes()),
            (type_id::BOOL, &[7]),
            (type_id::STRINGZ, b"x\0"),
            (type_id::JSON, b"{}\0"),
        ];
        for (id, bytes) in samples {
            let v = TypedValue::decode(id, bytes).unwrap().to_value();
            let t = PredefinedType::from_id(v.type_id().unwrap()).unwrap();
            assert!(t.is_understood_by_c(), "{id:04x} sent as {t}");
        }
    }

    #[test]
    fn numbers_are_converted() {
        // The C receiver's wrong readings (spec: I8 fe -> -261890, U16_BE 513 -> 4294705410,
        // FLOAT 1.5 -> 5.28e-315) are what a conversion must not give.
        assert_eq!(TypedValue::decode(type_id::I8, &[0xfe]), Ok(TypedValue::I8(-2)));
        assert_eq!(TypedValue::decode(type_id::U8, &[0xfe]), Ok(TypedValue::U8(254)));
        assert_eq!(TypedValue::decode(type_id::I16, &[0xfe, 0xff]), Ok(TypedValue::I16(-2)));
        assert_eq!(
            TypedValue::decode(type_id::U16, &[0x01, 0x02]),
            Ok(TypedValue::U16(513))
        );
        assert_eq!(
            TypedValue::decode(type_id::U16_BE, &[0x02, 0x01]),
            Ok(TypedValue::U16(513))
        );
        assert_eq!(
            TypedValue::decode(type_id::I16_BE, &[0xff, 0xfe]),
            Ok(TypedValue::I16(-2))
        );
        assert_eq!(
            TypedValue::decode(type_id::I32_BE, &(-5i32).to_be_bytes()),
            Ok(TypedValue::I32(-5))
        );
        assert_eq!(
            TypedValue::decode(type_id::U32_BE, &[0, 0, 1, 0]),
            Ok(TypedValue::U32(256))
        );
        assert_eq!(
            TypedValue::decode(type_id::U64_BE, &7u64.to_be_bytes()),
            Ok(TypedValue::U64(7))
        );
        assert_eq!(
            TypedValue::decode(type_id::FLOAT, &1.5f32.to_le_bytes()),
            Ok(TypedValue::F32(1.5))
        );
        assert_eq!(
            TypedValue::decode(type_id::FLOAT_BE, &1.5f32.to_be_bytes()),
            Ok(TypedValue::F32(1.5))
        );
        assert_eq!(
            TypedValue::decode(type_id::DOUBLE, &0.1f64.to_le_bytes()),
            Ok(TypedValue::F64(0.1))
        );
        assert_eq!(TypedValue::decode(type_id::BOOL, &[2]), Ok(TypedValue::Bool(true)));
        assert_eq!(TypedValue::decode(type_id::BOOL, &[0]), Ok(TypedValue::Bool(false)));
        // Widened when sent.
        assert!(matches!(TypedValue::I8(-2).to_value(), Value::Scalar(Scalar::I32(-2))));
        assert!(matches!(
            TypedValue::U16(513).to_value(),
            Value::Scalar(Scalar::U32(513))
        ));
        assert!(matches!(
            TypedValue::F32(1.5).to_value(),
            Value::Scalar(Scalar::F64(v)) if v == 1.5
        ));
        assert_eq!(TypedValue::I16(-2).afb_type_name(), Some("#i32"));
        assert_eq!(TypedValue::F32(1.0).afb_type_name(), Some("#double"));
    }

    #[test]
    fn sizes_and_texts() {
        assert_eq!(
            TypedValue::decode(type_id::I32, &[1, 2, 3]),
            Err(ValueError::BadSize {
                type_id: type_id::I32,
                expected: 4,
                found: 3
            })
        );
        assert_eq!(TypedValue::decode(0, &[]), Err(ValueError::TypeIdZero));
        assert_eq!(TypedValue::decode(type_id::STRINGZ, &[]), Ok(TypedValue::Stringz(None)));
        assert_eq!(
            TypedValue::decode(type_id::STRINGZ, b"\0"),
            Ok(TypedValue::Stringz(Some(Text::from(""))))
        );
        assert_eq!(
            TypedValue::decode(type_id::STRINGZ, b"ab\0cd\0"),
            Ok(TypedValue::Stringz(Some(Text::from("ab"))))
        );
        assert_eq!(
            TypedValue::decode(type_id::JSON, b"[1]"),
            Ok(TypedValue::Json(Text::from("[1]")))
        );
        assert_eq!(
            TypedValue::decode(300, &[1; 16]),
            Ok(TypedValue::Declared {
                type_id: 300,
                bytes: &[1; 16]
            })
        );
        for t in PredefinedType::ALL {
            if let Some(n) = t.fixed_size() {
                assert!(TypedValue::decode(t.id(), &vec![0; n]).is_ok());
                assert!(TypedValue::decode(t.id(), &vec![0; n + 1]).is_err());
            }
        }
    }
}

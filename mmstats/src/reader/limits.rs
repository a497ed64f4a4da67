//! How much one read of one file may cost: [`Limits`].

/// The most a reader takes from one file, so that a file planted in a stats
/// directory cannot make a read take the reader's memory or time: a read
/// that would go past a limit stops with a typed error
/// ([`ReadError::TooLarge`], [`ReadError::TooManyFields`]) instead.
///
/// The defaults are far above what a writer makes: this crate's writer
/// puts at most 65,535 fields in a file (its metadata block counts them in
/// 16 bits) and a value of at most 16 MiB
/// ([`format::MAX_VALUE_SIZE`](crate::format::MAX_VALUE_SIZE)); the files
/// of the original implementation are a few pages.
///
/// [`ReadError::TooLarge`]: super::ReadError::TooLarge
/// [`ReadError::TooManyFields`]: super::ReadError::TooManyFields
///
/// ```
/// use mmstats::reader::{read_bytes_into, Frame, Limits, ReadError};
///
/// let file = [1u8, 1, 0, b'a', 1, 0, b'B', 0xff, 7, 1, 0, b'b', 1, 0, b'B', 0xff, 8];
/// let mut frame = Frame::with_limits(Limits::default().max_fields(1));
/// let e = read_bytes_into(&file, &mut frame).unwrap_err();
/// assert!(matches!(e, ReadError::TooManyFields { limit: 1, .. }), "{e}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes of a file a read looks at, from its start: the field
    /// list and the metadata block must end within them (a larger file is
    /// fine if what follows its fields is not needed). Default 64 MiB.
    pub max_bytes: usize,
    /// The most fields a file may have. Default 65,536.
    pub max_fields: usize,
}

impl Limits {
    /// The default limits (see the fields).
    pub const DEFAULT: Limits = Limits {
        max_bytes: 64 << 20,
        max_fields: 65_536,
    };

    /// The same limits with another [`Limits::max_bytes`].
    pub const fn max_bytes(mut self, bytes: usize) -> Limits {
        self.max_bytes = bytes;
        self
    }

    /// The same limits with another [`Limits::max_fields`].
    pub const fn max_fields(mut self, fields: usize) -> Limits {
        self.max_fields = fields;
        self
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_are_64_mib_and_65536_fields_each_set_on_its_own() {
        let default = Limits::default();
        assert_eq!(default, Limits::DEFAULT);
        assert_eq!(default.max_bytes, 64 * 1024 * 1024);
        assert_eq!(default.max_fields, 65_536);
        let bytes = default.max_bytes(10);
        assert_eq!((bytes.max_bytes, bytes.max_fields), (10, 65_536));
        let fields = default.max_fields(3);
        assert_eq!((fields.max_bytes, fields.max_fields), (64 << 20, 3));
    }
}

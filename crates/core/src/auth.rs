//! Session requirements of a verb (token check, LOA, renew, close) and the
//! two bit encodings the C bindings use for them.

use std::fmt;

/// A requirement on the session's level of assurance for the verb's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loa {
    /// `loa >= n` (the only form of v2/v3 bindings).
    AtLeast(u8),
    /// `loa <= n` (v1 only).
    AtMost(u8),
    /// `loa == n` (v1 only).
    Exactly(u8),
}

impl Loa {
    /// Whether `loa` satisfies the requirement.
    pub fn allows(self, loa: u8) -> bool {
        match self {
            Loa::AtLeast(n) => loa >= n,
            Loa::AtMost(n) => loa <= n,
            Loa::Exactly(n) => loa == n,
        }
    }
}

impl fmt::Display for Loa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loa::AtLeast(n) => write!(f, "LOA >= {n}"),
            Loa::AtMost(n) => write!(f, "LOA <= {n}"),
            Loa::Exactly(n) => write!(f, "LOA == {n}"),
        }
    }
}

/// The highest level of assurance.
pub const LOA_MAX: u8 = 7;

/// What a verb requires of, and does to, the caller's session.
///
/// Checked by the core before the verb runs: the token first (when
/// [`Auth::needs_token`]), then the LOA. `renew` gives the session a fresh
/// token before the verb runs (returned in the reply); `close` ends the
/// session's state for the API after the reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Auth {
    /// The request must present the session's current token.
    pub check: bool,
    /// Replace the session's token with a fresh one.
    pub renew: bool,
    /// End the session's state for this API after the reply.
    pub close: bool,
    /// LOA requirement.
    pub loa: Option<Loa>,
}

/// v1 bit values (binding guide, `afb-binding-v1.h`).
pub mod v1 {
    /// No requirement.
    pub const NONE: u32 = 0;
    /// Obsolete: LOA == 0 and renew.
    pub const CREATE: u32 = 1;
    /// Close the session after the reply, LOA back to 0.
    pub const CLOSE: u32 = 2;
    /// Refresh the token.
    pub const RENEW: u32 = 4;
    /// Require the token.
    pub const CHECK: u32 = 8;
    /// LOA comparison: greater or equal.
    pub const LOA_GE: u32 = 16;
    /// LOA comparison: lesser or equal.
    pub const LOA_LE: u32 = 32;
    /// LOA comparison: equal (GE and LE together).
    pub const LOA_EQ: u32 = 48;
    /// Shift of the LOA value.
    pub const LOA_SHIFT: u32 = 6;
    /// Mask of the LOA value (after the shift).
    pub const LOA_MASK: u32 = 7;
}

/// v2/v3 bit values (`afb-session-x2.h`).
pub mod v2 {
    /// No requirement.
    pub const NONE: u32 = 0;
    /// Mask of the "LOA at least n" value (0..3).
    pub const LOA_MASK: u32 = 3;
    /// Require the token.
    pub const CHECK: u32 = 4;
    /// Refresh the token.
    pub const REFRESH: u32 = 8;
    /// Close the session (for the API) after the reply.
    pub const CLOSE: u32 = 16;
}

impl Auth {
    /// No requirement.
    pub const NONE: Auth = Auth {
        check: false,
        renew: false,
        close: false,
        loa: None,
    };

    /// Requires the token.
    pub fn check() -> Self {
        Auth {
            check: true,
            ..Self::NONE
        }
    }

    /// Requires `loa >= n` (which implies the token check).
    pub fn loa(n: u8) -> Self {
        Auth {
            loa: Some(Loa::AtLeast(n)),
            ..Self::NONE
        }
    }

    /// Adds token renewal.
    pub fn renew(mut self) -> Self {
        self.renew = true;
        self
    }

    /// Adds close-after-reply.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// Whether the token must be checked: explicitly, or implied by a LOA
    /// requirement, a renewal or a close.
    pub fn needs_token(&self) -> bool {
        self.check || self.renew || self.close || self.loa.is_some()
    }

    /// Decodes the v1 flags of the binding guide.
    pub fn from_v1(bits: u32) -> Self {
        let n = ((bits >> v1::LOA_SHIFT) & v1::LOA_MASK) as u8;
        let mut a = Auth {
            check: bits & v1::CHECK != 0,
            renew: bits & v1::RENEW != 0,
            close: bits & v1::CLOSE != 0,
            loa: match bits & v1::LOA_EQ {
                v1::LOA_EQ => Some(Loa::Exactly(n)),
                v1::LOA_GE => Some(Loa::AtLeast(n)),
                v1::LOA_LE => Some(Loa::AtMost(n)),
                _ => None,
            },
        };
        if bits & v1::CREATE != 0 {
            // CREATE is LOA_EQ_0 | RENEW.
            a.renew = true;
            a.loa = Some(Loa::Exactly(0));
        }
        a
    }

    /// Decodes the v2/v3 flags (`LOA n`, `CHECK`, `REFRESH`, `CLOSE`).
    pub fn from_v2(bits: u32) -> Self {
        let n = (bits & v2::LOA_MASK) as u8;
        Auth {
            check: bits & v2::CHECK != 0,
            renew: bits & v2::REFRESH != 0,
            close: bits & v2::CLOSE != 0,
            loa: (n > 0).then_some(Loa::AtLeast(n)),
        }
    }

    /// Encodes as v2/v3 bits (LOA forms other than "at least 0..3" are
    /// rounded to what v2 can say).
    pub fn to_v2(&self) -> u32 {
        let mut bits = 0;
        if self.check {
            bits |= v2::CHECK;
        }
        if self.renew {
            bits |= v2::REFRESH;
        }
        if self.close {
            bits |= v2::CLOSE;
        }
        if let Some(Loa::AtLeast(n)) | Some(Loa::Exactly(n)) = self.loa {
            bits |= u32::from(n.min(3));
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_flags() {
        assert_eq!(Auth::from_v1(v1::NONE), Auth::NONE);
        assert!(Auth::from_v1(v1::CHECK).check);
        let a = Auth::from_v1(v1::LOA_GE | (2 << v1::LOA_SHIFT));
        assert_eq!(a.loa, Some(Loa::AtLeast(2)));
        assert!(a.needs_token());
        assert_eq!(Auth::from_v1(v1::LOA_LE | (1 << 6)).loa, Some(Loa::AtMost(1)));
        assert_eq!(Auth::from_v1(v1::LOA_EQ | (3 << 6)).loa, Some(Loa::Exactly(3)));
        let c = Auth::from_v1(v1::CREATE);
        assert!(c.renew);
        assert_eq!(c.loa, Some(Loa::Exactly(0)));
        let cl = Auth::from_v1(v1::CLOSE);
        assert!(cl.close && cl.needs_token());
    }

    #[test]
    fn v2_flags() {
        assert_eq!(Auth::from_v2(0), Auth::NONE);
        let a = Auth::from_v2(1 | v2::REFRESH);
        assert_eq!(a.loa, Some(Loa::AtLeast(1)));
        assert!(a.renew && a.needs_token());
        assert!(Auth::from_v2(v2::CHECK).check);
        assert!(Auth::from_v2(v2::CLOSE | 1).close);
        for bits in 0..32 {
            assert_eq!(Auth::from_v2(bits).to_v2(), bits);
        }
    }

    #[test]
    fn loa_checks() {
        assert!(Loa::AtLeast(1).allows(1));
        assert!(Loa::AtLeast(1).allows(7));
        assert!(!Loa::AtLeast(2).allows(1));
        assert!(Loa::AtMost(1).allows(0));
        assert!(!Loa::AtMost(1).allows(2));
        assert!(Loa::Exactly(2).allows(2));
        assert!(!Loa::Exactly(2).allows(3));
    }
}

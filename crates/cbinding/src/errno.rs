//! The status codes the entry points answer C code with, named after their
//! meaning: the binding headers' `AFB_ERRNO_*` codes (`afb-common.h`), the
//! few `errno.h` codes the v4 ABI borrows (negated), and the `-1` of the
//! v1-v3 functions that answer "0 or -1".

use std::ffi::c_int;

/// `AFB_ERRNO_INTERNAL_ERROR`: the binder failed (an entry point panicked).
pub(crate) const INTERNAL_ERROR: c_int = -1;
/// The failure of the functions documented as answering 0 (or a positive
/// value) on success and -1 on any error.
pub(crate) const FAILED: c_int = -1;
/// `AFB_ERRNO_UNKNOWN_API`: a required API does not exist.
pub(crate) const UNKNOWN_API: c_int = -3;
/// `AFB_ERRNO_NOT_AVAILABLE`: not available in this binder, or the binder
/// is shutting down.
pub(crate) const NOT_AVAILABLE: c_int = -5;
/// `AFB_ERRNO_INVALID_REQUEST`: a NULL or invalid argument.
pub(crate) const INVALID_REQUEST: c_int = -12;
/// `AFB_ERRNO_NO_ITEM`: no such verb, handler, job, cookie or type.
pub(crate) const NO_ITEM: c_int = -13;
/// `AFB_ERRNO_BAD_STATE`: the API is sealed, or the name already taken.
pub(crate) const BAD_STATE: c_int = -14;
/// `-EPERM`: refused (a sealed API's specification, a constant data).
pub(crate) const EPERM: c_int = -1;
/// `-EAGAIN`: a data lock is busy (the `try_lock` functions).
pub(crate) const EAGAIN: c_int = -11;
/// `-EEXIST`: a type of that name exists.
pub(crate) const EEXIST: c_int = -17;
/// `-EINVAL`: a conversion from or to `#UUID` of an invalid value.
pub(crate) const EINVAL: c_int = -22;
